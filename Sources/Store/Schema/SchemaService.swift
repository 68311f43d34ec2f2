import SwitchboardCore

/// Reads and changes the user schema in Directus's shapes (`/collections`,
/// `/fields`, `/relations`, schema snapshots). Metadata lives in
/// `directus_collections` / `directus_fields` / `directus_relations`; the
/// storage attributes of each field (type, key, nullability) in the internal
/// `switchboard_schema` column, so no database introspection is needed.
struct SchemaService {
    let executor: any SQLExecutor
    let dialect: SQLDialect

    static let fieldMetaColumns = [
        "special", "interface", "options", "display", "display_options", "readonly", "hidden", "sort", "width",
        "translations", "note", "conditions", "required", "group", "validation", "validation_message", "searchable",
    ]

    static let relationMetaColumns = [
        "one_field", "one_collection_field", "one_allowed_collections", "junction_field", "sort_field",
        "one_deselect_action",
    ]

    // MARK: Loading

    static func load(_ executor: any SQLExecutor) async throws -> Schema {
        let system = SystemCollections.all
        let collectionRows = try await executor.query("SELECT * FROM directus_collections ORDER BY sort, collection")
        let fieldRows = try await executor.query("SELECT * FROM directus_fields ORDER BY collection, sort, id")
        let relationRows = try await executor.query("SELECT * FROM directus_relations ORDER BY id")
        guard let collectionsSchema = system.first(where: { $0.name == SystemCollections.collections }),
            let fieldsSchema = system.first(where: { $0.name == SystemCollections.fields }),
            let relationsSchema = system.first(where: { $0.name == SystemCollections.relations })
        else { return Schema(collections: system, relations: SystemCollections.relationList) }

        var fieldsByCollection: [String: [FieldSchema]] = [:]
        for row in fieldRows {
            let meta = decodeRow(row, fieldsSchema)
            guard let collection = meta["collection"]?.stringValue, let name = meta["field"]?.stringValue else { continue }
            let storage = (row["switchboard_schema"].text).flatMap { try? JSONValue(parsing: $0) }?.objectValue ?? [:]
            let type = storage["type"]?.stringValue.flatMap(FieldType.init(rawValue:)) ?? .alias
            let special = meta["special"]?.arrayValue?.compactMap(\.stringValue) ?? []
            fieldsByCollection[collection, default: []].append(
                FieldSchema(
                    collection: collection, field: name, type: type,
                    isPrimaryKey: storage["is_primary_key"]?.boolValue ?? false,
                    autoIncrement: storage["has_auto_increment"]?.boolValue ?? false,
                    nullable: storage["is_nullable"]?.boolValue ?? true,
                    unique: storage["is_unique"]?.boolValue ?? false,
                    defaultValue: storage["default_value"] ?? .null,
                    maxLength: storage["max_length"]?.intValue.map(Int.init),
                    special: special, meta: meta))
        }
        var collections = system
        for row in collectionRows {
            let meta = decodeRow(row, collectionsSchema)
            guard let name = meta["collection"]?.stringValue, !SystemCollections.isSystem(name),
                let fields = fieldsByCollection[name], let pk = fields.first(where: \.isPrimaryKey)
            else { continue }
            collections.append(
                CollectionSchema(
                    name: name, primaryKey: pk.field, fields: fields, meta: meta,
                    recordsActivity: meta["accountability"]?.stringValue != nil))
        }
        var relations = SystemCollections.relationList
        for row in relationRows {
            let r = decodeRow(row, relationsSchema)
            guard let many = r["many_collection"]?.stringValue, let field = r["many_field"]?.stringValue,
                let one = r["one_collection"]?.stringValue
            else { continue }
            relations.append(
                RelationSchema(
                    manyCollection: many, manyField: field, oneCollection: one, oneField: r["one_field"]?.stringValue,
                    onDelete: r["one_deselect_action"]?.stringValue == "delete" ? "CASCADE" : "SET NULL", meta: r))
        }
        return Schema(collections: collections, relations: relations)
    }

    private static func decodeRow(_ row: SQLRow, _ schema: CollectionSchema) -> JSONObject {
        var out = JSONObject()
        for field in schema.columnFields { out[field.field] = ValueCodec.decode(row[field.field], for: field) }
        return out
    }

    // MARK: Directus shapes

    static func collectionJSON(_ c: CollectionSchema) -> JSONObject {
        var meta: JSONValue = .null
        if !c.isSystem {
            meta = .object(c.meta)
        } else {
            meta = .object(["collection": .string(c.name), "hidden": false, "singleton": false, "system": true])
        }
        return ["collection": .string(c.name), "meta": meta, "schema": ["name": .string(c.name)]]
    }

    static func fieldJSON(_ f: FieldSchema, dialect: SQLDialect) -> JSONObject {
        var schema: JSONValue = .null
        if f.type.hasColumn {
            schema = [
                "name": .string(f.field), "table": .string(f.collection),
                "data_type": .string(f.type.columnType(dialect, maxLength: f.maxLength).lowercased()),
                "default_value": f.defaultValue,
                "max_length": f.type == .string ? .int(Int64(f.maxLength ?? 255)) : .null,
                "numeric_precision": .null, "numeric_scale": .null,
                "is_nullable": .bool(f.nullable), "is_unique": .bool(f.unique || f.isPrimaryKey),
                "is_primary_key": .bool(f.isPrimaryKey), "is_generated": false, "generation_expression": .null,
                "has_auto_increment": .bool(f.autoIncrement), "foreign_key_table": .null, "foreign_key_column": .null,
            ]
        }
        var meta: JSONValue = .null
        if !f.meta.isEmpty {
            meta = .object(f.meta)
        } else if !f.special.isEmpty {
            meta = [
                "collection": .string(f.collection), "field": .string(f.field),
                "special": .array(f.special.map(JSONValue.string)), "system": true,
            ]
        }
        return [
            "collection": .string(f.collection), "field": .string(f.field), "type": .string(f.type.rawValue), "schema": schema,
            "meta": meta,
        ]
    }

    static func relationJSON(_ r: RelationSchema) -> JSONObject {
        var meta: JSONObject =
            r.meta.isEmpty
            ? [
                "many_collection": .string(r.manyCollection), "many_field": .string(r.manyField),
                "one_collection": .string(r.oneCollection), "one_field": r.oneField.map(JSONValue.string) ?? .null,
                "system": true,
            ] : r.meta
        if meta["id"] == nil { meta["id"] = .null }
        return [
            "collection": .string(r.manyCollection), "field": .string(r.manyField),
            "related_collection": .string(r.oneCollection),
            "schema": [
                "table": .string(r.manyCollection), "column": .string(r.manyField),
                "foreign_key_table": .string(r.oneCollection), "foreign_key_column": "id",
                "on_update": "NO ACTION", "on_delete": .string(r.onDelete),
            ],
            "meta": .object(meta),
        ]
    }

    // MARK: Changes

    static func validateName(_ name: String, what: String) throws(SwitchboardError) {
        let ok =
            !name.isEmpty && name.count <= 64
            && name.utf8.allSatisfy { c in
                (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 95
            } && !(name.utf8.first.map { $0 >= 48 && $0 <= 57 } ?? false)
        guard ok else {
            throw SwitchboardError.invalidPayload(
                "Invalid \(what) name \"\(name)\": use letters, digits and underscores, starting with a letter.")
        }
    }

    func createCollection(_ payload: JSONObject, schema: Schema) async throws -> String {
        guard let name = payload["collection"]?.stringValue else {
            throw SwitchboardError.invalidPayload("\"collection\" is required.")
        }
        try Self.validateName(name, what: "collection")
        guard !SystemCollections.isSystem(name) else {
            throw SwitchboardError.invalidPayload("Collections starting with \"directus_\" are reserved.")
        }
        guard name != SystemCollections.replicas else {
            throw SwitchboardError.invalidPayload(
                "\"\(name)\" is reserved: it is the realtime socket's view of the replicas (see the README's Admin view).")
        }
        let existing = try await executor.query("SELECT collection FROM directus_collections WHERE collection = ?", [.text(name)])
        guard existing.isEmpty, schema.collection(name) == nil else {
            throw SwitchboardError(
                .invalidPayload, "Collection \"\(name)\" already exists.", extensions: ["collection": .string(name)])
        }
        var fieldPayloads = payload["fields"]?.arrayValue?.compactMap(\.objectValue) ?? []
        let isFolder = payload["schema"]?.isNull ?? false
        var fields: [FieldSchema] = []
        if !isFolder {
            if !fieldPayloads.contains(where: { $0["schema"]?["is_primary_key"]?.boolValue == true }) {
                fieldPayloads.insert(
                    [
                        "field": "id", "type": "integer", "meta": ["hidden": true, "interface": "input", "readonly": true],
                        "schema": ["is_primary_key": true, "has_auto_increment": true],
                    ], at: 0)
            }
            for (i, fp) in fieldPayloads.enumerated() {
                fields.append(try Self.fieldSchema(from: fp, collection: name, sort: i + 1))
            }
            guard fields.filter(\.isPrimaryKey).count == 1 else {
                throw SwitchboardError.invalidPayload("A collection needs exactly one primary key field.")
            }
            let collection = CollectionSchema(
                name: name, primaryKey: fields.first(where: \.isPrimaryKey)?.field ?? "id", fields: fields)
            try await executor.execute(SchemaDDL(dialect: dialect).createTable(collection))
        }
        var meta = payload["meta"]?.objectValue ?? [:]
        meta["collection"] = .string(name)
        try await insertRow(SystemCollections.collections, meta)
        for field in fields { try await insertFieldMeta(field) }
        return name
    }

    func deleteCollection(_ name: String, schema: Schema) async throws {
        guard !SystemCollections.isSystem(name) else { throw SwitchboardError.forbidden() }
        let existing = try await executor.query("SELECT collection FROM directus_collections WHERE collection = ?", [.text(name)])
        guard !existing.isEmpty else { throw SwitchboardError.forbidden() }
        try await executor.execute(SchemaDDL(dialect: dialect).dropTable(name))
        try await executor.execute("DELETE FROM directus_fields WHERE collection = ?", [.text(name)])
        try await executor.execute(
            "DELETE FROM directus_relations WHERE many_collection = ? OR one_collection = ?", [.text(name), .text(name)])
        try await executor.execute("DELETE FROM directus_permissions WHERE collection = ?", [.text(name)])
        try await executor.execute("DELETE FROM directus_collections WHERE collection = ?", [.text(name)])
        try await Outbox.forget(name, executor)
    }

    func updateCollectionMeta(_ name: String, _ meta: JSONObject) async throws {
        guard !SystemCollections.isSystem(name) else { throw SwitchboardError.forbidden() }
        try await updateRow(SystemCollections.collections, keyColumn: "collection", key: .text(name), meta)
    }

    func createField(_ collectionName: String, _ payload: JSONObject, schema: Schema) async throws -> String {
        guard let collection = schema.collection(collectionName), !collection.isSystem else {
            throw SwitchboardError.forbidden()
        }
        let sort = collection.fields.count + 1
        let field = try Self.fieldSchema(from: payload, collection: collectionName, sort: sort)
        guard collection.field(field.field) == nil else {
            throw SwitchboardError(
                .invalidPayload, "Field \"\(field.field)\" already exists in collection \"\(collectionName)\".",
                extensions: ["field": .string(field.field)])
        }
        guard !field.isPrimaryKey else { throw SwitchboardError.invalidPayload("A collection has only one primary key.") }
        if field.type.hasColumn {
            for statement in SchemaDDL(dialect: dialect).addColumn(field) { try await executor.execute(statement) }
        }
        try await insertFieldMeta(field)
        return field.field
    }

    func updateField(_ collectionName: String, _ fieldName: String, _ payload: JSONObject, schema: Schema) async throws {
        guard let collection = schema.collection(collectionName), !collection.isSystem, collection.field(fieldName) != nil else {
            throw SwitchboardError.forbidden()
        }
        if let meta = payload["meta"]?.objectValue {
            var row = JSONObject()
            for (k, v) in meta where Self.fieldMetaColumns.contains(k) { row[k] = v }
            if !row.isEmpty {
                try await executor.execute(
                    Self.updateStatement(
                        SystemCollections.fields, row, dialect: dialect,
                        where: "collection = ? AND field = ?", [.text(collectionName), .text(fieldName)]))
            }
        }
    }

    func deleteField(_ collectionName: String, _ fieldName: String, schema: Schema) async throws {
        guard let collection = schema.collection(collectionName), !collection.isSystem, let field = collection.field(fieldName)
        else {
            throw SwitchboardError.forbidden()
        }
        guard !field.isPrimaryKey else { throw SwitchboardError.invalidPayload("The primary key field can't be deleted.") }
        if field.type.hasColumn {
            for statement in SchemaDDL(dialect: dialect).dropColumn(collectionName, fieldName) {
                try await executor.execute(statement)
            }
        }
        try await executor.execute(
            "DELETE FROM directus_fields WHERE collection = ? AND field = ?", [.text(collectionName), .text(fieldName)])
        try await executor.execute(
            "DELETE FROM directus_relations WHERE (many_collection = ? AND many_field = ?)",
            [.text(collectionName), .text(fieldName)])
        try await executor.execute(
            "UPDATE directus_relations SET one_field = NULL WHERE one_collection = ? AND one_field = ?",
            [.text(collectionName), .text(fieldName)])
    }

    func createRelation(_ payload: JSONObject, schema: Schema) async throws {
        guard let many = payload["collection"]?.stringValue, let field = payload["field"]?.stringValue,
            let one = payload["related_collection"]?.stringValue
        else {
            throw SwitchboardError.invalidPayload("\"collection\", \"field\" and \"related_collection\" are required.")
        }
        guard let manyCollection = schema.collection(many), !manyCollection.isSystem, let fk = manyCollection.field(field) else {
            throw SwitchboardError.invalidPayload("Field \"\(field)\" doesn't exist in collection \"\(many)\".")
        }
        guard let oneCollection = schema.collection(one), let pk = oneCollection.primaryKeyField else {
            throw SwitchboardError.invalidPayload("Collection \"\(one)\" doesn't exist.")
        }
        guard schema.manyToOne(many, field) == nil else {
            throw SwitchboardError.invalidPayload("Field \"\(many).\(field)\" already has a relation.")
        }
        let compatible =
            fk.type == pk.type || (fk.type.isNumeric && pk.type.isNumeric)
            || ([.string, .uuid].contains(fk.type) && [.string, .uuid].contains(pk.type))
        guard compatible else {
            throw SwitchboardError.invalidPayload(
                "Field \"\(many).\(field)\" (\(fk.type.rawValue)) can't reference \"\(one).\(pk.field)\" (\(pk.type.rawValue)).")
        }
        var meta = payload["meta"]?.objectValue ?? [:]
        if let oneField = meta["one_field"]?.stringValue {
            guard let alias = oneCollection.field(oneField), alias.type == .alias else {
                throw SwitchboardError.invalidPayload(
                    "One-to-many field \"\(one).\(oneField)\" must exist as an alias field (type \"alias\", special \"o2m\") first."
                )
            }
        }
        if payload["schema"]?["on_delete"]?.stringValue?.uppercased() == "CASCADE" { meta["one_deselect_action"] = "delete" }
        var row = JSONObject()
        row["many_collection"] = .string(many)
        row["many_field"] = .string(field)
        row["one_collection"] = .string(one)
        for (k, v) in meta where Self.relationMetaColumns.contains(k) { row[k] = v }
        try await insertRow(SystemCollections.relations, row)
        if !fk.has("m2o") {
            let special = (fk.special + ["m2o"]).map(JSONValue.string)
            try await executor.execute(
                "UPDATE directus_fields SET special = ? WHERE collection = ? AND field = ?",
                [.text(special.compactMap(\.stringValue).joined(separator: ",")), .text(many), .text(field)])
        }
    }

    func deleteRelation(_ many: String, _ field: String) async throws {
        let n = try await executor.execute(
            "DELETE FROM directus_relations WHERE many_collection = ? AND many_field = ?", [.text(many), .text(field)])
        guard n > 0 else { throw SwitchboardError.forbidden() }
    }

    // MARK: Helpers

    /// Directus field payload → storage definition.
    static func fieldSchema(from payload: JSONObject, collection: String, sort: Int) throws(SwitchboardError) -> FieldSchema {
        guard let name = payload["field"]?.stringValue else { throw SwitchboardError.invalidPayload("\"field\" is required.") }
        try validateName(name, what: "field")
        let typeName = payload["type"]?.stringValue ?? "alias"
        guard let type = FieldType(rawValue: typeName) else {
            throw SwitchboardError.invalidPayload(
                "Unknown field type \"\(typeName)\". Use one of: \(FieldType.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        let s = payload["schema"]?.objectValue ?? [:]
        var meta = payload["meta"]?.objectValue ?? [:]
        let special: [String]
        switch meta["special"] {
        case .array(let items)?: special = items.compactMap(\.stringValue)
        case .string(let text)?: special = text.split(separator: ",").map(String.init)
        default: special = []
        }
        meta["special"] = special.isEmpty ? .null : .array(special.map(JSONValue.string))
        meta["collection"] = .string(collection)
        meta["field"] = .string(name)
        if meta["sort"] == nil || meta["sort"]?.isNull == true { meta["sort"] = .int(Int64(sort)) }
        let isPK = s["is_primary_key"]?.boolValue ?? false
        let auto = s["has_auto_increment"]?.boolValue ?? false
        if isPK, !(type == .integer || type == .bigInteger || type == .uuid || type == .string) {
            throw SwitchboardError.invalidPayload("A primary key must be integer, bigInteger, uuid or string.")
        }
        if auto, !(type == .integer || type == .bigInteger) {
            throw SwitchboardError.invalidPayload("Only integer fields can auto-increment.")
        }
        return FieldSchema(
            collection: collection, field: name, type: type, isPrimaryKey: isPK, autoIncrement: auto,
            nullable: s["is_nullable"]?.boolValue ?? true, unique: s["is_unique"]?.boolValue ?? false,
            defaultValue: s["default_value"] ?? .null, maxLength: s["max_length"]?.intValue.map(Int.init),
            special: special, meta: meta)
    }

    private func insertFieldMeta(_ field: FieldSchema) async throws {
        var row = JSONObject()
        row["collection"] = .string(field.collection)
        row["field"] = .string(field.field)
        for (k, v) in field.meta where Self.fieldMetaColumns.contains(k) { row[k] = v }
        let storage: JSONObject = [
            "type": .string(field.type.rawValue), "is_primary_key": .bool(field.isPrimaryKey),
            "has_auto_increment": .bool(field.autoIncrement), "is_nullable": .bool(field.nullable),
            "is_unique": .bool(field.unique), "default_value": field.defaultValue,
            "max_length": field.maxLength.map { .int(Int64($0)) } ?? .null,
        ]
        row["switchboard_schema"] = .object(storage)
        try await insertRow(SystemCollections.fields, row, extra: ["switchboard_schema"])
    }

    private func insertRow(_ table: String, _ values: JSONObject, extra: Set<String> = []) async throws {
        guard let collection = SystemCollections.all.first(where: { $0.name == table }) else { return }
        var columns: [String] = []
        var binds: [SQLValue] = []
        for (k, v) in values {
            if extra.contains(k) {
                columns.append(k)
                binds.append(.text(v.jsonString))
            } else if let field = collection.field(k), field.type.hasColumn, !(field.isPrimaryKey && field.autoIncrement) {
                columns.append(k)
                binds.append(try ValueCodec.encode(v, for: field, dialect: dialect))
            }
        }
        let sql =
            "INSERT INTO \(dialect.quote(table)) (" + columns.map(dialect.quote).joined(separator: ", ") + ") VALUES ("
            + columns.map { _ in "?" }.joined(separator: ", ") + ")"
        try await executor.execute(sql, binds)
    }

    private func updateRow(_ table: String, keyColumn: String, key: SQLValue, _ values: JSONObject) async throws {
        try await executor.execute(
            Self.updateStatement(table, values, dialect: dialect, where: "\(dialect.quote(keyColumn)) = ?", [key]))
    }

    static func updateStatement(
        _ table: String, _ values: JSONObject, dialect: SQLDialect, where condition: String, _ whereBinds: [SQLValue]
    ) throws -> SQLStatement {
        guard let collection = SystemCollections.all.first(where: { $0.name == table }) else { return SQLStatement("SELECT 1") }
        var sql = SQLStatement("UPDATE \(dialect.quote(table)) SET ")
        var first = true
        for (k, v) in values {
            guard let field = collection.field(k), field.type.hasColumn, !field.isPrimaryKey else { continue }
            if !first { sql.append(", ") }
            first = false
            sql.append("\(dialect.quote(k)) = ")
            sql.bind(try ValueCodec.encode(v, for: field, dialect: dialect))
        }
        if first { return SQLStatement("SELECT 1") }
        sql.append(" WHERE " + condition)
        sql.binds += whereBinds
        return sql
    }
}
