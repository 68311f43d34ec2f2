import Query
import SwitchboardCore

/// Compiles a resolved `Filter` to an SQL condition on one collection.
/// Relational paths become `IN (subquery)` on the related collection, with that
/// collection's read permission applied, so a filter can never reveal rows or
/// fields the caller could not read directly.
struct FilterCompiler {
    let schema: Schema
    let dialect: SQLDialect
    let context: ItemsContext
    let variables: DynamicVariables
    private var aliasCounter = 0

    init(schema: Schema, dialect: SQLDialect, context: ItemsContext, variables: DynamicVariables) {
        self.schema = schema
        self.dialect = dialect
        self.context = context
        self.variables = variables
    }

    mutating func nextAlias() -> String {
        aliasCounter += 1
        return "t\(aliasCounter)"
    }

    /// The condition for `filter` on rows of `collection` aliased as `alias`.
    mutating func compile(
        _ filter: Filter, on collection: CollectionSchema, alias: String
    ) throws(SwitchboardError) -> SQLStatement {
        switch filter {
        case .and(let parts):
            return try join(parts, with: " AND ", empty: "1=1", on: collection, alias: alias)
        case .or(let parts):
            return try join(parts, with: " OR ", empty: "1=0", on: collection, alias: alias)
        case .condition(let path, let op, let value):
            if path.count == 1 {
                return try condition(field: path[0], op: op, value: value, on: collection, alias: alias)
            }
            let rest = Filter.condition(path: Array(path.dropFirst()), op: op, value: value)
            return try relational(path[0], on: collection, alias: alias, negate: false, inner: rest)
        case .some(let path, let inner):
            return try quantified(path, inner, negate: false, on: collection, alias: alias)
        case .none(let path, let inner):
            return try quantified(path, inner, negate: true, on: collection, alias: alias)
        }
    }

    /// `(a AND b AND …)`, nested as a balanced tree past a few terms: a flat
    /// chain of N terms is N levels deep to SQLite's parser (limit 1000).
    private mutating func join(
        _ parts: [Filter], with separator: String, empty: String, on collection: CollectionSchema, alias: String
    ) throws(SwitchboardError) -> SQLStatement {
        guard !parts.isEmpty else { return SQLStatement(empty) }
        return try balanced(parts[...], with: separator, on: collection, alias: alias)
    }

    private mutating func balanced(
        _ parts: ArraySlice<Filter>, with separator: String, on collection: CollectionSchema, alias: String
    ) throws(SwitchboardError) -> SQLStatement {
        var out = SQLStatement("(")
        if parts.count <= 8 {
            for (i, part) in parts.enumerated() {
                if i > 0 { out.append(separator) }
                out.append(try compile(part, on: collection, alias: alias))
            }
        } else {
            let middle = parts.startIndex + parts.count / 2
            out.append(try balanced(parts[..<middle], with: separator, on: collection, alias: alias))
            out.append(separator)
            out.append(try balanced(parts[middle...], with: separator, on: collection, alias: alias))
        }
        out.append(")")
        return out
    }

    private mutating func quantified(
        _ path: [String], _ inner: Filter, negate: Bool, on collection: CollectionSchema, alias: String
    ) throws(SwitchboardError) -> SQLStatement {
        if path.count == 1 {
            return try relational(path[0], on: collection, alias: alias, negate: negate, inner: inner)
        }
        let nested: Filter = negate ? .none(path: Array(path.dropFirst()), inner) : .some(path: Array(path.dropFirst()), inner)
        return try relational(path[0], on: collection, alias: alias, negate: false, inner: nested)
    }

    /// `alias.fk IN (SELECT pk FROM related WHERE inner)` for m2o,
    /// `alias.pk IN (SELECT fk FROM child WHERE inner)` for o2m.
    private mutating func relational(
        _ field: String, on collection: CollectionSchema, alias: String, negate: Bool, inner: Filter
    ) throws(SwitchboardError) -> SQLStatement {
        try checkReadable(field, collection)
        let sub = nextAlias()
        var out = SQLStatement()
        let outerColumn: String
        let innerCollection: CollectionSchema
        let innerColumn: String
        let isManyToOne = schema.manyToOne(collection.name, field) != nil
        if let relation = schema.manyToOne(collection.name, field) {
            guard let related = schema.collection(relation.oneCollection) else { throw unknownField(field, collection) }
            outerColumn = "\(alias).\(dialect.quote(field))"
            innerCollection = related
            innerColumn = related.primaryKey
        } else if let relation = schema.oneToMany(collection.name, field) {
            guard let child = schema.collection(relation.manyCollection) else { throw unknownField(field, collection) }
            outerColumn = "\(alias).\(dialect.quote(collection.primaryKey))"
            innerCollection = child
            innerColumn = relation.manyField
        } else {
            throw SwitchboardError.invalidQuery(
                "Invalid filter: field \"\(field)\" of \"\(collection.name)\" is not a relation.")
        }
        guard let permission = context.permissions.permission(.read, innerCollection.name) else {
            throw SwitchboardError.forbiddenCollection(innerCollection.name)
        }
        out.append(
            "\(outerColumn) \(negate ? "NOT IN" : "IN") (SELECT \(sub).\(dialect.quote(innerColumn)) FROM \(dialect.quote(innerCollection.name)) AS \(sub) WHERE \(sub).\(dialect.quote(innerColumn)) IS NOT NULL AND "
        )
        out.append(try compile(inner, on: innerCollection, alias: sub))
        if let rowFilter = permission.filter {
            out.append(" AND ")
            out.append(try compileTrusted(rowFilter, on: innerCollection, alias: sub))
        }
        out.append(")")
        if negate { return SQLStatement("(\(outerColumn) IS NULL OR ").appending(out).appending(")") }
        // Directus joins an m2o (LEFT JOIN): with no related row every related field reads as NULL,
        // so a condition that holds on NULLs (`_null`, `_nin: []`, …) holds for a NULL key too.
        if isManyToOne, inner.matches(JSONObject()) {
            return SQLStatement("(\(outerColumn) IS NULL OR ").appending(out).appending(")")
        }
        return out
    }

    private func unknownField(_ field: String, _ collection: CollectionSchema) -> SwitchboardError {
        SwitchboardError.forbiddenFields(collection.name, [field])
    }

    /// Unknown and unreadable fields answer the same (as in Directus): the filter can't probe the schema.
    private func checkReadable(_ field: String, _ collection: CollectionSchema) throws(SwitchboardError) {
        guard collection.field(field) != nil, let permission = context.permissions.permission(.read, collection.name),
            permission.allows(field: field)
        else { throw unknownField(field, collection) }
    }

    private mutating func condition(
        field name: String, op: FilterOperator, value: JSONValue, on collection: CollectionSchema, alias: String
    ) throws(SwitchboardError) -> SQLStatement {
        if let function = FieldFunction(name) {
            let result = FieldSchema(collection: collection.name, field: function.key, type: .integer)
            if function.kind == .count, collection.field(function.field)?.type == .alias {
                return try relatedCount(function, op: op, value: value, as: result, on: collection, alias: alias)
            }
            return try compare(try functionColumn(function, on: collection, alias: alias), as: result, op: op, value: value)
        }
        try checkReadable(name, collection)
        guard let field = collection.field(name) else { throw unknownField(name, collection) }
        if field.type == .alias {
            // An o2m alias compared directly: Directus reads it as "has some related row matching".
            guard let relation = schema.oneToMany(collection.name, name), let child = schema.collection(relation.manyCollection)
            else { throw SwitchboardError.invalidQuery("Invalid filter on alias field \"\(name)\".") }
            return try relational(
                name, on: collection, alias: alias, negate: false,
                inner: .condition(path: [child.primaryKey], op: op, value: value))
        }
        return try compare("\(alias).\(dialect.quote(name))", as: field, op: op, value: value)
    }

    /// The SQL value of a date part or of `count` of a JSON field. Temporal values are stored
    /// as canonical text (`2026-12-03T07:05:09`, `07:05:09`), so date parts are fixed substrings
    /// in both databases; `week` is the ISO week, `weekday` 0 = Sunday.
    func functionColumn(
        _ function: FieldFunction, on collection: CollectionSchema, alias: String
    ) throws(SwitchboardError) -> String {
        let field = try functionArgument(function, on: collection)
        let column = "\(alias).\(dialect.quote(function.field))"
        func part(_ start: Int) -> String { "CAST(substr(\(column), \(start), 2) AS INTEGER)" }
        let day = "substr(\(column), 1, 10)"
        switch function.kind {
        case .count where field.type == .json:
            switch dialect {
            case .sqlite: return "json_array_length(\(column))"
            case .postgres:
                let json = "CAST(\(column) AS json)"
                return
                    "(CASE WHEN json_typeof(\(json)) = 'array' THEN json_array_length(\(json)) WHEN \(column) IS NULL THEN NULL ELSE 0 END)"
            }
        case .count: throw function.invalid(on: field)  // of an o2m: `relatedCount`
        case _ where !function.reads(field, in: collection, schema: schema): throw function.invalid(on: field)
        case .year: return "CAST(substr(\(column), 1, 4) AS INTEGER)"
        case .month: return part(6)
        case .day: return part(9)
        case .hour: return part(field.type == .time ? 1 : 12)
        case .minute: return part(field.type == .time ? 4 : 15)
        case .second: return part(field.type == .time ? 7 : 18)
        case .weekday:
            switch dialect {
            case .sqlite: return "CAST(strftime('%w', \(day)) AS INTEGER)"
            case .postgres: return "CAST(EXTRACT(DOW FROM CAST(\(day) AS date)) AS INTEGER)"
            }
        case .week:
            switch dialect {
            // The ISO week is the week of the year of its Thursday.
            case .sqlite: return "((CAST(strftime('%j', date(\(day), '-3 days', 'weekday 4')) AS INTEGER) - 1) / 7 + 1)"
            case .postgres: return "CAST(EXTRACT(WEEK FROM CAST(\(day) AS date)) AS INTEGER)"
            }
        }
    }

    /// `count(comments)` of an o2m: the related rows this caller may read, as a relational filter
    /// would see them. An aggregate without `GROUP BY` always yields one row, so a row with no
    /// related rows counts 0.
    private mutating func relatedCount(
        _ function: FieldFunction, op: FilterOperator, value: JSONValue, as result: FieldSchema,
        on collection: CollectionSchema, alias: String
    ) throws(SwitchboardError) -> SQLStatement {
        let field = try functionArgument(function, on: collection)
        guard let relation = schema.oneToMany(collection.name, function.field),
            let child = schema.collection(relation.manyCollection)
        else { throw function.invalid(on: field) }
        guard let permission = context.permissions.permission(.read, child.name) else {
            throw SwitchboardError.forbiddenCollection(child.name)
        }
        let sub = nextAlias()
        // `COUNT(*) >= 0` keeps the subquery an aggregate (one row, also for no related row) when
        // the comparison itself names no count: `_nin: []` compiles to a constant.
        var out = SQLStatement("(SELECT CASE WHEN COUNT(*) >= 0 AND ")
        out.append(try compare("COUNT(*)", as: result, op: op, value: value))
        out.append(
            " THEN 1 ELSE 0 END FROM \(dialect.quote(child.name)) AS \(sub) WHERE \(sub).\(dialect.quote(relation.manyField)) = \(alias).\(dialect.quote(collection.primaryKey))"
        )
        if let rowFilter = permission.filter {
            out.append(" AND ")
            out.append(try compileTrusted(rowFilter, on: child, alias: sub))
        }
        out.append(") = 1")
        return out
    }

    /// `count(comments)` of an o2m as a value, for `sort` and `groupBy`: the related rows this
    /// caller may read, as `count(comments)` in `fields` counts them (their read permission's
    /// row filter applies; it is ours, not the caller's, so it may name fields the caller can't read).
    mutating func relatedCountColumn(
        _ function: FieldFunction, on collection: CollectionSchema, alias: String
    ) throws(SwitchboardError) -> SQLStatement {
        let field = try functionArgument(function, on: collection)
        guard function.kind == .count, let relation = schema.oneToMany(collection.name, function.field),
            let child = schema.collection(relation.manyCollection)
        else { throw function.invalid(on: field) }
        guard let permission = context.permissions.permission(.read, child.name) else {
            throw SwitchboardError.forbiddenCollection(child.name)
        }
        let sub = nextAlias()
        var out = SQLStatement(
            "(SELECT COUNT(*) FROM \(dialect.quote(child.name)) AS \(sub) WHERE \(sub).\(dialect.quote(relation.manyField)) = \(alias).\(dialect.quote(collection.primaryKey))"
        )
        if let rowFilter = permission.filter {
            out.append(" AND ")
            out.append(try compileTrusted(rowFilter, on: child, alias: sub))
        }
        out.append(")")
        return out
    }

    /// A related collection's read permission row filter: ours, not the caller's, so it may name
    /// fields the caller cannot read, and its own relations are followed without the caller's
    /// permissions (as the read's own row filter is, `ItemReader.whereClause`). The trusted
    /// compiler goes on with this one's aliases, so its subqueries can't shadow the caller's.
    private mutating func compileTrusted(_ rowFilter: Filter, on collection: CollectionSchema, alias: String)
        throws(SwitchboardError) -> SQLStatement
    {
        var trusted = FilterCompiler(schema: schema, dialect: dialect, context: .system, variables: variables)
        trusted.aliasCounter = aliasCounter
        defer { aliasCounter = trusted.aliasCounter }
        return try trusted.compile(rowFilter.resolvingVariables(variables), on: collection, alias: alias)
    }

    /// Whether `function` counts an o2m's related rows (rather than reading a column).
    func countsRelatedRows(_ function: FieldFunction, on collection: CollectionSchema) -> Bool {
        function.kind == .count && collection.field(function.field)?.type == .alias
    }

    /// The field a function reads, if the caller may read it.
    private func functionArgument(_ function: FieldFunction, on collection: CollectionSchema) throws(SwitchboardError)
        -> FieldSchema
    {
        try checkReadable(function.field, collection)
        guard let field = collection.field(function.field) else { throw unknownField(function.field, collection) }
        return field
    }

    /// A comparison of `storedColumn` (a column, or a function of one) read as `field`.
    private func compare(
        _ storedColumn: String, as field: FieldSchema, op: FilterOperator, value: JSONValue
    ) throws(SwitchboardError) -> SQLStatement {
        try Self.checkOperands(op, value, field)
        let isText = field.type == .string || field.type == .text || field.type == .uuid || field.type.isTemporal
        let rawColumn = isText ? dialect.binaryText(storedColumn) : storedColumn
        let textColumn: String
        switch field.type {
        case .string, .text, .uuid: textColumn = rawColumn
        // Booleans read as the API shows them, so `_contains: "tru"` means the same in SQL and in memory.
        case .boolean:
            textColumn = dialect.binaryText(
                "(CASE WHEN \(storedColumn) IS NULL THEN NULL WHEN \(storedColumn) THEN 'true' ELSE 'false' END)")
        case .float: textColumn = dialect.binaryText(dialect.floatToText(storedColumn))
        default: textColumn = dialect.binaryText(dialect.castToText(storedColumn))
        }
        let loweredNeedle = "lower(\(dialect.binaryText("?")))"
        let textOperators: Set<FilterOperator> = [
            ._contains, ._ncontains, ._icontains, ._nicontains, ._starts_with, ._nstarts_with, ._istarts_with,
            ._nistarts_with, ._ends_with, ._nends_with, ._iends_with, ._niends_with,
        ]
        // A text test against null has no text to look for: it holds for no row, negated or not (as in memory).
        if textOperators.contains(op), value.isNull { return SQLStatement("1=0") }
        func encoded(_ v: JSONValue) -> SQLValue { ValueCodec.encodeOperand(v, for: field, dialect: dialect) }
        func text(_ v: JSONValue) -> SQLValue { .text(v.textValue ?? "") }
        // PostgreSQL refuses `integer = text` where SQLite just finds no match: when a value is not of a
        // numeric or boolean field's type, the column and every value are compared as text ("abc" matches nothing).
        let typed: Set<FieldType> = [.integer, .bigInteger, .float, .decimal, .boolean]
        let scalars = value.arrayValue ?? [value]
        let mismatched =
            dialect == .postgres && typed.contains(field.type)
            && scalars.contains { v in
                guard !v.isNull, case .text = encoded(v) else { return false }
                return true
            }
        let column = mismatched ? textColumn : rawColumn
        // Equality is byte equality under every collation a database can have as its default, so it
        // compares the column as stored: an index on it stays usable (the "C" collation would not match it).
        let equalityColumn = mismatched ? textColumn : storedColumn
        func operand(_ v: JSONValue) -> SQLValue { mismatched ? text(v) : encoded(v) }
        var out = SQLStatement()
        switch op {
        case ._eq:
            if value.isNull {
                out.append("\(equalityColumn) IS NULL")
            } else {
                out.append("\(equalityColumn) = ")
                out.bind(operand(value))
            }
        case ._neq:
            if value.isNull {
                out.append("\(equalityColumn) IS NOT NULL")
            } else {
                // Plain SQL `<>`: a NULL field is not "not equal" (as in Directus).
                out.append("\(equalityColumn) <> ")
                out.bind(operand(value))
            }
        case ._lt, ._lte, ._gt, ._gte:
            let sym = op == ._lt ? "<" : op == ._lte ? "<=" : op == ._gt ? ">" : ">="
            if value.isNull { return SQLStatement("1=0") }
            out.append("\(column) \(sym) ")
            out.bind(operand(value))
        case ._in, ._nin:
            let all = value.arrayValue ?? [value]
            let list = all.filter { !$0.isNull }
            // SQL's NOT IN with a NULL in the list is never true; NULL rows never pass either test.
            if op == ._nin, list.count != all.count { return SQLStatement("1=0") }
            if list.isEmpty { return SQLStatement(op == ._in ? "1=0" : "1=1") }
            out.append(op == ._in ? "\(equalityColumn) IN (" : "\(equalityColumn) NOT IN (")
            for (i, v) in list.enumerated() {
                if i > 0 { out.append(", ") }
                out.bind(operand(v))
            }
            out.append(")")
        case ._null, ._nnull:
            let wantNull = (value.boolValue ?? true) == (op == ._null)
            out.append("\(equalityColumn) IS \(wantNull ? "" : "NOT ")NULL")
        case ._empty, ._nempty:
            let wantEmpty = (value.boolValue ?? true) == (op == ._empty)
            let empty = "(\(column) IS NULL OR \(textColumn) = '' OR \(textColumn) = '[]')"
            out.append(wantEmpty ? empty : "NOT \(empty)")
        case ._contains, ._ncontains:
            out.append(op == ._contains ? "" : "NOT ")
            out.append("(" + dialect.containsExpression(textColumn) + ")")
            out.binds.append(text(value))
        case ._icontains, ._nicontains:
            out.append(op == ._icontains ? "" : "NOT ")
            let position = dialect == .sqlite ? "instr" : "strpos"
            out.append("(\(position)(lower(\(textColumn)), \(loweredNeedle)) > 0)")
            out.binds.append(text(value))
        case ._starts_with, ._nstarts_with, ._istarts_with, ._nistarts_with:
            let needle = value.textValue ?? ""
            let insensitive = op == ._istarts_with || op == ._nistarts_with
            let negated = op == ._nstarts_with || op == ._nistarts_with
            let lhs = "substr(\(textColumn), 1, \(needle.unicodeScalars.count))"
            out.append("\(negated ? "NOT " : "")(\(insensitive ? "lower(\(lhs))" : lhs) = \(insensitive ? loweredNeedle : "?"))")
            out.binds.append(.text(needle))
        case ._ends_with, ._nends_with, ._iends_with, ._niends_with:
            let needle = value.textValue ?? ""
            let insensitive = op == ._iends_with || op == ._niends_with
            let negated = op == ._nends_with || op == ._niends_with
            let length = needle.unicodeScalars.count  // SQL lengths count code points
            let lhs = dialect == .sqlite ? "substr(\(textColumn), -\(max(length, 1)))" : "right(\(textColumn), \(length))"
            if needle.isEmpty {
                out.append(negated ? "1=0" : "\(column) IS NOT NULL")
            } else {
                let test = insensitive ? "lower(\(lhs)) = \(loweredNeedle)" : "\(lhs) = ?"
                out.append("\(negated ? "NOT " : "")(\(test))")
                out.binds.append(.text(needle))
            }
        case ._regex, ._submitted:
            // `Filter.parse` keeps these to validation rules, which are never compiled to SQL.
            throw SwitchboardError.invalidQuery("\"\(op.rawValue)\" is a validation operator, not a read filter")
        case ._between, ._nbetween:
            guard let bounds = value.arrayValue, bounds.count == 2 else {
                throw SwitchboardError.invalidQuery("\"\(op.rawValue)\" needs exactly two values.")
            }
            out.append("\(column) \(op == ._between ? "" : "NOT ")BETWEEN ")
            out.bind(operand(bounds[0]))
            out.append(" AND ")
            out.bind(operand(bounds[1]))
        }
        return out
    }
}

extension FilterCompiler {
    /// Refuses operands that cannot be of the field's type, as Directus does (`Invalid numeric
    /// value`; PostgreSQL's refusal of a bad date or boolean): SQL and memory would otherwise
    /// each guess differently what `price < "abc"` means.
    static func checkOperands(_ op: FilterOperator, _ value: JSONValue, _ field: FieldSchema) throws(SwitchboardError) {
        switch op {
        case ._null, ._nnull, ._empty, ._nempty: return
        default: break
        }
        let comparison: Set<FilterOperator> = [._eq, ._neq, ._lt, ._lte, ._gt, ._gte, ._in, ._nin, ._between, ._nbetween]
        for v in value.arrayValue ?? [value] where !v.isNull {
            if field.type.isNumeric {
                guard isNumeric(v) else {
                    throw SwitchboardError.invalidQuery(
                        "Invalid numeric value \(v.jsonString) for \"\(op.rawValue)\" on field \"\(field.field)\".")
                }
            } else if field.type == .boolean, comparison.contains(op) {
                guard v.boolValue != nil || ["true", "false", "1", "0"].contains(v.textValue ?? "") else {
                    throw SwitchboardError.invalidQuery(
                        "Invalid boolean value \(v.jsonString) for \"\(op.rawValue)\" on field \"\(field.field)\".")
                }
            } else if field.type == .date || field.type == .dateTime || field.type == .timestamp, comparison.contains(op) {
                guard case .string(let text) = v, ISOTimestamp(parsing: text) != nil else {
                    throw SwitchboardError.invalidQuery(
                        "Invalid date value \(v.jsonString) for \"\(op.rawValue)\" on field \"\(field.field)\".")
                }
            }
        }
    }

    private static func isNumeric(_ v: JSONValue) -> Bool {
        switch v {
        case .int, .double, .bool: return true
        case .string("true"), .string("false"): return true
        case .string(let s): return Double(s.trimmed).map(\.isFinite) ?? false
        default: return false
        }
    }
}

extension SQLStatement {
    func appending(_ other: SQLStatement) -> SQLStatement {
        var copy = self
        copy.append(other)
        return copy
    }

    func appending(_ sql: String) -> SQLStatement {
        var copy = self
        copy.append(sql)
        return copy
    }
}
