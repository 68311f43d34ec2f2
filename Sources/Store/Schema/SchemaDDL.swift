import SwitchboardCore

/// Generates the DDL that backs collections and fields, per dialect.
struct SchemaDDL {
    let dialect: SQLDialect

    func columnDefinition(_ field: FieldSchema) -> String {
        var def = dialect.quote(field.field) + " "
        if field.isPrimaryKey && field.autoIncrement {
            switch dialect {
            case .sqlite: return def + "INTEGER PRIMARY KEY AUTOINCREMENT"
            case .postgres: return def + (field.type == .bigInteger ? "BIGSERIAL PRIMARY KEY" : "SERIAL PRIMARY KEY")
            }
        }
        def += field.type.columnType(dialect, maxLength: field.maxLength)
        if field.isPrimaryKey {
            def += " PRIMARY KEY"
        } else {
            if !field.nullable { def += " NOT NULL" }
            if field.unique { def += " UNIQUE" }
        }
        if let literal = defaultLiteral(field) { def += " DEFAULT " + literal }
        return def
    }

    func defaultLiteral(_ field: FieldSchema) -> String? {
        switch field.defaultValue {
        case .null: return nil
        case .bool(let b):
            if dialect == .postgres && field.type == .boolean { return b ? "TRUE" : "FALSE" }
            return b ? "1" : "0"
        case .int(let i): return String(i)
        case .double(let d): return "\(d)"
        case .string(let s):
            if field.type == .boolean {
                return dialect == .postgres ? (s == "true" ? "TRUE" : "FALSE") : (s == "true" ? "1" : "0")
            }
            return quoteLiteral(s)
        case .array, .object:
            return quoteLiteral(field.defaultValue.jsonString)
        }
    }

    func quoteLiteral(_ s: String) -> String {
        var out = "'"
        for ch in s {
            if ch == "'" { out += "''" } else { out.append(ch) }
        }
        return out + "'"
    }

    func createTable(_ collection: CollectionSchema, extraColumns: [(name: String, type: FieldType)] = []) -> String {
        var columns = collection.columnFields.map(columnDefinition)
        for extra in extraColumns {
            columns.append(dialect.quote(extra.name) + " " + extra.type.columnType(dialect, maxLength: nil))
        }
        return "CREATE TABLE IF NOT EXISTS \(dialect.quote(collection.name)) (" + columns.joined(separator: ", ") + ")"
    }

    /// Statements that add one column to an existing table. SQLite cannot add
    /// UNIQUE or NOT NULL-without-default columns, so those become an index / are relaxed.
    func addColumn(_ field: FieldSchema) -> [String] {
        var copy = field
        let unique = copy.unique
        copy.unique = false
        if dialect == .sqlite && !copy.nullable && copy.defaultValue.isNull { copy.nullable = true }
        var statements = ["ALTER TABLE \(dialect.quote(field.collection)) ADD COLUMN " + columnDefinition(copy)]
        if unique {
            statements.append(
                "CREATE UNIQUE INDEX IF NOT EXISTS \(dialect.quote("\(field.collection)_\(field.field)_unique")) ON \(dialect.quote(field.collection)) (\(dialect.quote(field.field)))"
            )
        }
        return statements
    }

    func dropColumn(_ collection: String, _ field: String) -> [String] {
        [
            "DROP INDEX IF EXISTS \(dialect.quote("\(collection)_\(field)_unique"))",
            "ALTER TABLE \(dialect.quote(collection)) DROP COLUMN \(dialect.quote(field))",
        ]
    }

    func dropTable(_ collection: String) -> String {
        "DROP TABLE IF EXISTS \(dialect.quote(collection))"
    }

    func index(_ table: String, _ columns: [String]) -> String {
        let name = dialect.quote("\(table)_\(columns.joined(separator: "_"))_index")
        return "CREATE INDEX IF NOT EXISTS \(name) ON \(dialect.quote(table)) ("
            + columns.map(dialect.quote).joined(separator: ", ") + ")"
    }
}
