import Query
import SwitchboardCore

/// Performs item writes inside one transaction: permission checks, presets,
/// validation, server-filled fields, the write itself, activity rows and the
/// outbox events. Nothing here is visible to anyone until the commit.
struct ItemWriter {
    let schema: Schema
    let dialect: SQLDialect
    let context: ItemsContext
    let variables: DynamicVariables
    let executor: any SQLExecutor
    let environment: StoreEnvironment
    /// Events produced so far in this transaction, in order.
    var events: [ChangeEvent] = []
    /// Rows appended to `directus_activity`, published as one event at the end.
    private var activityRows: [JSONObject] = []
    /// PostgreSQL: the latest event, built but not stored yet. The next event's append stores
    /// it, or `finish()` does, together with the activity row in one statement.
    private var unstored: ChangeEvent?

    init(schema: Schema, dialect: SQLDialect, context: ItemsContext, executor: any SQLExecutor, environment: StoreEnvironment) {
        self.schema = schema
        self.dialect = dialect
        self.context = context
        self.variables = context.variables()
        self.executor = executor
        self.environment = environment
    }

    private func collection(_ name: String) throws(SwitchboardError) -> CollectionSchema {
        guard let c = schema.collection(name) else { throw SwitchboardError.forbiddenCollection(name) }
        return c
    }

    private func permission(_ action: PermissionAction, _ collection: String) throws(SwitchboardError) -> CollectionPermission {
        guard let p = context.permissions.permission(action, collection) else { throw SwitchboardError.forbidden() }
        return p
    }

    // MARK: Create

    mutating func create(_ collectionName: String, _ items: [JSONObject]) async throws -> [JSONValue] {
        let collection = try collection(collectionName)
        let permission = try permission(.create, collectionName)
        let rules = try fieldRules(collection)
        var keys: [JSONValue] = []
        var rows: [JSONObject] = []
        let now = ISOTimestamp(epochSeconds: variables.now)
        for item in items {
            try checkFields(item, collection, permission)
            var payload =
                permission.presets.isEmpty ? JSONObject() : (variables.resolve(.object(permission.presets)).objectValue ?? [:])
            for (k, v) in item { payload[k] = v }
            try validate(payload, rules, permission)
            for field in collection.fields {
                if field.isPrimaryKey, field.type == .uuid, payload[field.field]?.isNull ?? true {
                    payload[field.field] = .string(environment.newUUID())
                }
                if field.has("date-created") {
                    payload[field.field] = .string(temporal(now, field))
                }
                if field.has("user-created") {
                    payload[field.field] = context.accountability.userID.map(JSONValue.string) ?? .null
                }
            }
            var columns: [String] = []
            var values: [SQLValue] = []
            for (name, value) in payload {
                guard let field = collection.field(name) else { continue }
                columns.append(name)
                values.append(try encode(value, field))
            }
            try await checkForeignKeys(payload, collection)
            var sql = SQLStatement("INSERT INTO \(dialect.quote(collection.name)) ")
            if columns.isEmpty {
                sql.append("DEFAULT VALUES")
            } else {
                sql.append("(" + columns.map(dialect.quote).joined(separator: ", ") + ") VALUES (")
                for (i, v) in values.enumerated() {
                    if i > 0 { sql.append(", ") }
                    sql.bind(v)
                }
                sql.append(")")
            }
            // The inserted row comes back whole (defaults, serials): the event's post-image
            // without another round trip.
            sql.append(" RETURNING *")
            let row: JSONObject
            do {
                guard let inserted = try await executor.query(sql).first else { throw SwitchboardError.internalError() }
                row = decodeFull(inserted, collection)
            } catch let error as SQLError {
                throw error.clientError(collection: collection.name)
            }
            let key = row[collection.primaryKey] ?? .null
            keys.append(key)
            rows.append(row)
            recordActivity(.create, collection, keys: [key])
        }
        try await appendEvent(collection, .create, keys: keys, rows: rows)
        return keys
    }

    // MARK: Update

    mutating func update(_ collectionName: String, keys: [JSONValue], data: JSONObject) async throws -> [JSONValue] {
        let collection = try collection(collectionName)
        let permission = try permission(.update, collectionName)
        try checkFields(data, collection, permission)
        guard !keys.isEmpty else { return [] }
        let before = try await rowsAllowed(collection, keys: keys, filter: permission.filter)
        // As Directus 11: each field written must be granted on each row by an update
        // policy whose filter admits that row (several policies may share the fields).
        var checked: [Filter] = []
        for name in data.keys.sorted() {
            guard let condition = permission.condition(for: name), !checked.contains(condition) else { continue }
            checked.append(condition)
            _ = try await rowsAllowed(collection, keys: keys, filter: condition)
        }
        var payload =
            permission.presets.isEmpty ? JSONObject() : (variables.resolve(.object(permission.presets)).objectValue ?? [:])
        for (k, v) in data { payload[k] = v }
        // Directus validates what the update writes (with presets), not the stored row.
        try validate(payload, try fieldRules(collection), permission)
        let now = ISOTimestamp(epochSeconds: variables.now)
        for field in collection.fields {
            if field.has("date-updated") { payload[field.field] = .string(temporal(now, field)) }
            if field.has("user-updated") { payload[field.field] = context.accountability.userID.map(JSONValue.string) ?? .null }
        }
        if payload[collection.primaryKey] != nil, keys.count == 1, payload[collection.primaryKey] == keys[0] {
            payload.removeValue(forKey: collection.primaryKey)
        }
        try await checkForeignKeys(payload, collection)
        var assignments = SQLStatement()
        for (name, value) in payload {
            guard let field = collection.field(name) else { continue }
            if !assignments.text.isEmpty { assignments.append(", ") }
            assignments.append("\(dialect.quote(name)) = ")
            assignments.bind(try encode(value, field))
        }
        let newKeys = payload[collection.primaryKey].map { [$0] } ?? keys
        let rows: [JSONObject]
        if assignments.text.isEmpty {
            rows = try await postImages(collection, newKeys)
        } else {
            // Each updated row comes back whole: the event's post-images without another read.
            var updated: [JSONObject] = []
            for key in keys {
                var sql = SQLStatement("UPDATE \(dialect.quote(collection.name)) SET ")
                sql.append(assignments)
                sql.append(" WHERE \(dialect.quote(collection.primaryKey)) = ")
                sql.bind(try encodeKey(key, collection))
                sql.append(" RETURNING *")
                do {
                    updated += try await executor.query(sql).map { decodeFull($0, collection) }
                } catch let error as SQLError {
                    throw error.clientError(collection: collection.name)
                }
            }
            rows = updated
        }
        recordActivity(.update, collection, keys: newKeys)
        try await appendEvent(collection, .update, keys: newKeys, rows: rows, previous: keys.compactMap { before[$0.hashKey] })
        return newKeys
    }

    // MARK: Delete

    mutating func delete(_ collectionName: String, keys: [JSONValue]) async throws -> [JSONValue] {
        let collection = try collection(collectionName)
        let permission = try permission(.delete, collectionName)
        guard !keys.isEmpty else { return [] }
        let before = try await rowsAllowed(collection, keys: keys, filter: permission.filter)
        let preImages = keys.compactMap { before[$0.hashKey] }
        try await cascade(from: collection, keys: keys)
        var sql = SQLStatement("DELETE FROM \(dialect.quote(collection.name)) WHERE \(dialect.quote(collection.primaryKey)) IN ")
        sql.append(try keyList(keys, collection))
        do { try await executor.execute(sql) } catch let error as SQLError {
            throw error.clientError(collection: collection.name)
        }
        recordActivity(.delete, collection, keys: keys)
        try await appendEvent(collection, .delete, keys: keys, rows: preImages)
        return keys
    }

    /// Rows that point at deleted rows, as the relation's `ON DELETE` says: deleted with them
    /// (`CASCADE`, and what points at those in turn) or set to NULL (`SET NULL`). Each change
    /// has its event, so live views of the related collections follow. Sessions change
    /// silently: their rows are tokens. No permission applies, as in the database's own cascade.
    private mutating func cascade(from collection: CollectionSchema, keys: [JSONValue]) async throws {
        var deleted = Set(keys.map { collection.name + "\u{0}" + $0.hashKey })
        var pending: [(CollectionSchema, [JSONValue])] = [(collection, keys)]
        while !pending.isEmpty {
            let (parent, parentKeys) = pending.removeFirst()
            for relation in schema.relations where relation.oneCollection == parent.name {
                guard let many = schema.collection(relation.manyCollection) else { continue }
                for chunk in Self.chunks(parentKeys) {
                    var select = SQLStatement(
                        "SELECT * FROM \(dialect.quote(many.name)) WHERE \(dialect.quote(relation.manyField)) IN ")
                    select.append(try keyList(chunk, parent))
                    let rows = try await executor.query(select).map { decodeFull($0, many) }.filter { row in
                        !deleted.contains(many.name + "\u{0}" + (row[many.primaryKey] ?? .null).hashKey)
                    }
                    for rows in Self.chunks(rows) {
                        let childKeys = rows.compactMap { $0[many.primaryKey] }
                        let cascades = relation.onDelete == "CASCADE"
                        var sql = SQLStatement(
                            cascades
                                ? "DELETE FROM \(dialect.quote(many.name))"
                                : "UPDATE \(dialect.quote(many.name)) SET \(dialect.quote(relation.manyField)) = NULL")
                        sql.append(" WHERE \(dialect.quote(many.primaryKey)) IN ")
                        sql.append(try keyList(childKeys, many))
                        try await executor.execute(sql)
                        guard many.name != SystemCollections.sessions else { continue }
                        if cascades {
                            for key in childKeys { deleted.insert(many.name + "\u{0}" + key.hashKey) }
                            pending.append((many, childKeys))
                            try await appendEvent(many, .delete, keys: childKeys, rows: rows)
                        } else {
                            let after = try await postImages(many, childKeys)
                            try await appendEvent(many, .update, keys: childKeys, rows: after, previous: rows)
                        }
                    }
                }
            }
        }
    }

    /// Keys and rows in statement-sized batches (SQLite binds at most 32,766 values).
    private static func chunks<T>(_ items: [T]) -> [[T]] {
        stride(from: 0, to: items.count, by: 500).map { Array(items[$0..<min($0 + 500, items.count)]) }
    }

    // MARK: Activity and outbox

    private mutating func recordActivity(_ action: ChangeEvent.Action, _ collection: CollectionSchema, keys: [JSONValue]) {
        guard collection.recordsActivity, collection.name != SystemCollections.activity else { return }
        let a = context.accountability
        for key in keys {
            activityRows.append([
                "action": .string(action.rawValue), "user": a.userID.map(JSONValue.string) ?? .null,
                "timestamp": .string(ISOTimestamp(epochSeconds: variables.now).iso8601),
                "ip": a.ip.map(JSONValue.string) ?? .null, "user_agent": a.userAgent.map(JSONValue.string) ?? .null,
                "collection": .string(collection.name), "item": .string(key.textValue ?? key.jsonString),
                "origin": a.origin.map(JSONValue.string) ?? .null,
            ])
        }
    }

    /// Stores what is pending: the last event, the activity rows and their event; call once,
    /// last in the transaction: its last statement commits it. On PostgreSQL a write of one item
    /// (one activity row) ends in one statement, with the commit right behind it.
    mutating func finish() async throws {
        guard !activityRows.isEmpty, let activity = schema.collection(SystemCollections.activity) else {
            return try await storeUnstored(committing: true)
        }
        if dialect == .postgres, activityRows.count == 1, activity.primaryKeyField?.type == .integer,
            unstored?.collection != activity.name
        {
            let row = activityRows[0]
            var insert = activityInsert(activity, row)
            insert.append(" AS row_key")
            let stored = try await Outbox.append(executor, pending: unstored, insert: insert, committing: true) { key in
                makeEvent(
                    activity, .create, keys: [key], rows: [JSONObject([("id", key)] + row.entries.map { ($0.key, $0.value) })])
            }
            if let pending = stored.pending { events.append(pending) }
            events.append(stored.row)
            unstored = nil
            activityRows = []
            return
        }
        try await storeUnstored()
        var keys: [JSONValue] = []
        var rows: [JSONObject] = []
        for row in activityRows {
            let key = try await executor.query(activityInsert(activity, row)).first.map { ValueCodec.key($0[0]) } ?? .null
            keys.append(key)
            rows.append(JSONObject([("id", key)] + row.entries.map { ($0.key, $0.value) }))
        }
        activityRows = []
        try await appendEvent(activity, .create, keys: keys, rows: rows)
        try await storeUnstored(committing: true)
    }

    /// `INSERT INTO directus_activity (…) VALUES (…) RETURNING "id"`.
    private func activityInsert(_ activity: CollectionSchema, _ row: JSONObject) -> SQLStatement {
        let columns = row.keys
        var sql = SQLStatement(
            "INSERT INTO \(dialect.quote(activity.name)) (" + columns.map(dialect.quote).joined(separator: ", ") + ") VALUES (")
        for (i, c) in columns.enumerated() {
            if i > 0 { sql.append(", ") }
            sql.bind(ValueCodec.plain(row[c] ?? .null))
        }
        sql.append(") RETURNING \(dialect.quote("id"))")
        return sql
    }

    private mutating func appendEvent(
        _ collection: CollectionSchema, _ action: ChangeEvent.Action, keys: [JSONValue], rows: [JSONObject],
        previous: [JSONObject] = []
    ) async throws {
        guard !keys.isEmpty else { return }
        let event = makeEvent(collection, action, keys: keys, rows: rows, previous: previous)
        guard dialect == .postgres else { return events.append(try await Outbox.append(executor, dialect: dialect, event)) }
        try await storeUnstored()
        unstored = event
    }

    private mutating func storeUnstored(committing: Bool = false) async throws {
        guard let event = unstored else { return }
        events.append(try await Outbox.append(executor, dialect: dialect, event, committing: committing))
        unstored = nil
    }

    /// An event of this transaction; its seq is allocated when it is stored.
    private func makeEvent(
        _ collection: CollectionSchema, _ action: ChangeEvent.Action, keys: [JSONValue], rows: [JSONObject],
        previous: [JSONObject] = []
    ) -> ChangeEvent {
        ChangeEvent(
            collection: collection.name, seq: 0, action: action, keys: keys, rows: rows, previous: previous,
            origin: environment.replicaID, userID: context.accountability.userID,
            timestamp: ISOTimestamp(epochSeconds: variables.now))
    }

    // MARK: Helpers

    private func checkFields(_ payload: JSONObject, _ collection: CollectionSchema, _ permission: CollectionPermission)
        throws(SwitchboardError)
    {
        for (name, _) in payload {
            guard let field = collection.field(name) else {
                throw SwitchboardError(
                    .invalidPayload, "Field \"\(name)\" doesn't exist in collection \"\(collection.name)\".",
                    extensions: ["field": .string(name)])
            }
            guard permission.allows(field: name) else { throw SwitchboardError.forbiddenFields(collection.name, [name]) }
            if field.type == .alias {
                throw SwitchboardError(
                    .invalidPayload, "Nested writes through \"\(name)\" are not supported; write the related items directly.",
                    extensions: ["field": .string(name)])
            }
        }
    }

    /// Directus's payload validation: every field's own `validation` rule (for everyone, admins
    /// included) and the permission's, all of which must hold (Joi semantics: `Filter.validates`).
    private func validate(_ payload: JSONObject, _ rules: [Filter], _ permission: CollectionPermission) throws {
        for rule in rules { try check(rule, payload) }
        if let rule = permission.validation?.resolvingVariables(variables) { try check(rule, payload) }
    }

    /// The fields' own `validation` rules, parsed and resolved once per write.
    private func fieldRules(_ collection: CollectionSchema) throws(SwitchboardError) -> [Filter] {
        var rules: [Filter] = []
        for field in collection.fields {
            guard let json = field.meta["validation"], case .object(let object) = json, !object.isEmpty else { continue }
            do { rules.append(try Filter.parse(json, validation: true).resolvingVariables(variables)) } catch {
                throw SwitchboardError(
                    .invalidPayload,
                    "The validation rule of field \"\(collection.name).\(field.field)\" is not a valid filter: \(error.message)",
                    extensions: ["field": .string(field.field)])
            }
        }
        return rules
    }

    private func check(_ rule: Filter, _ payload: JSONObject) throws(SwitchboardError) {
        guard let failure = rule.validationFailure(payload) else { return }
        throw Self.failedValidation(path: failure.path, op: failure.op, value: failure.value)
    }

    /// `FAILED_VALIDATION` as Directus words it: the field, the operator as `type` (`required`
    /// for `_submitted`) and the expected or refused value.
    static func failedValidation(path: [String], op: FilterOperator, value: JSONValue) -> SwitchboardError {
        let field = path.first ?? ""
        let type = op == ._submitted ? "required" : String(op.rawValue.dropFirst())
        var extensions: JSONObject = [
            "field": .string(field), "path": .array(path.dropFirst().map(JSONValue.string)), "type": .string(type),
        ]
        var message = "Validation failed for field \"\(field)\"."
        func quoted(_ v: JSONValue) -> String { "\"\(v.stringValue ?? v.jsonString)\"" }
        let shown = value.arrayValue.map { $0.map(quoted).joined(separator: ", ") } ?? quoted(value)
        switch op {
        case ._eq, ._lt, ._lte, ._gt, ._gte, ._in:
            extensions["valid"] = value
            let what = [
                FilterOperator._eq: "", ._lt: "less than ", ._lte: "less than or equal to ", ._gt: "greater than ",
                ._gte: "greater than or equal to ", ._in: "one of ",
            ][op, default: ""]
            message += " Value has to be \(what)\(shown)."
        case ._neq, ._nin:
            extensions["invalid"] = value
            message += op == ._neq ? " Value can't be \(shown)." : " Value can't be one of \(shown)."
        case ._contains, ._icontains, ._ncontains:
            extensions["substring"] = value
            message += op == ._ncontains ? " Value can't contain \(shown)." : " Value has to contain \(shown)."
        case ._regex:
            message += " Value doesn't have the correct format."
        case ._submitted:
            message += " Value is required."
        case ._null: message += " Value has to be null."
        case ._nnull: message += " Value can't be null."
        case ._empty: message += " Value has to be empty."
        case ._nempty: message += " Value can't be empty."
        default: break
        }
        return SwitchboardError(.failedValidation, message, extensions: extensions)
    }

    private func temporal(_ now: ISOTimestamp, _ field: FieldSchema) -> String {
        switch field.type {
        case .date: return now.dateString
        case .dateTime: return now.dateTimeString
        default: return now.iso8601
        }
    }

    private func encode(_ value: JSONValue, _ field: FieldSchema) throws -> SQLValue {
        var value = value
        // An m2o given as the related object stands for its key.
        if case .object(let o) = value, let relation = schema.manyToOne(field.collection, field.field),
            let related = schema.collection(relation.oneCollection)
        {
            guard let key = o[related.primaryKey] else {
                throw SwitchboardError(
                    .invalidPayload, "Nested creation through \"\(field.field)\" is not supported; pass the related key.",
                    extensions: ["field": .string(field.field)])
            }
            value = key
        }
        if field.type == .hash, case .string(let plain) = value {
            return .text(try environment.hashPassword(plain))
        }
        return try ValueCodec.encode(value, for: field, dialect: dialect)
    }

    /// `(?, ?, …)` bound to `keys`, typed like the collection's primary key.
    private func keyList(_ keys: [JSONValue], _ collection: CollectionSchema) throws(SwitchboardError) -> SQLStatement {
        var list = SQLStatement("(")
        for (i, key) in keys.enumerated() {
            if i > 0 { list.append(", ") }
            list.bind(try encodeKey(key, collection))
        }
        list.append(")")
        return list
    }

    func encodeKey(_ key: JSONValue, _ collection: CollectionSchema) throws(SwitchboardError) -> SQLValue {
        guard let field = collection.primaryKeyField else { throw SwitchboardError.internalError("no primary key") }
        do {
            return try ValueCodec.encode(key, for: field, dialect: dialect)
        } catch {
            throw SwitchboardError.forbidden()
        }
    }

    private func checkForeignKeys(_ payload: JSONObject, _ collection: CollectionSchema) async throws {
        for (name, value) in payload where !value.isNull {
            guard let relation = schema.manyToOne(collection.name, name), let related = schema.collection(relation.oneCollection),
                let pk = related.primaryKeyField
            else { continue }
            let key = value.objectValue?[related.primaryKey] ?? value
            let encoded: SQLValue
            do { encoded = try ValueCodec.encode(key, for: pk, dialect: dialect) } catch {
                throw SwitchboardError(
                    .invalidForeignKey, "Invalid foreign key for field \"\(name)\".", extensions: ["field": .string(name)])
            }
            let rows = try await executor.query(
                "SELECT 1 FROM \(dialect.quote(related.name)) WHERE \(dialect.quote(related.primaryKey)) = ?", [encoded])
            if rows.isEmpty {
                throw SwitchboardError(
                    .invalidForeignKey, "Invalid foreign key \"\(key.textValue ?? "")\" for field \"\(name)\".",
                    extensions: ["field": .string(name)])
            }
        }
    }

    /// Full rows of `keys`, keyed by `hashKey`. Throws FORBIDDEN unless every key
    /// exists and matches `filter` (missing and not allowed look the same).
    private func rowsAllowed(_ collection: CollectionSchema, keys: [JSONValue], filter: Filter?) async throws -> [String:
        JSONObject]
    {
        var sql = SQLStatement(
            "SELECT * FROM \(dialect.quote(collection.name)) AS t0 WHERE t0.\(dialect.quote(collection.primaryKey)) IN ")
        sql.append(try keyList(keys, collection))
        if let filter = filter?.resolvingVariables(variables) {
            var compiler = FilterCompiler(schema: schema, dialect: dialect, context: .system, variables: variables)
            sql.append(" AND ")
            sql.append(try compiler.compile(filter, on: collection, alias: "t0"))
        }
        let rows = try await executor.query(sql).map { decodeFull($0, collection) }
        var byKey: [String: JSONObject] = [:]
        for row in rows { byKey[(row[collection.primaryKey] ?? .null).hashKey] = row }
        for key in keys where byKey[key.hashKey] == nil { throw SwitchboardError.forbidden() }
        return byKey
    }

    private func postImages(_ collection: CollectionSchema, _ keys: [JSONValue]) async throws -> [JSONObject] {
        var sql = SQLStatement(
            "SELECT * FROM \(dialect.quote(collection.name)) WHERE \(dialect.quote(collection.primaryKey)) IN ")
        sql.append(try keyList(keys, collection))
        return try await executor.query(sql).map { decodeFull($0, collection) }
    }

    private func decodeFull(_ row: SQLRow, _ collection: CollectionSchema) -> JSONObject {
        var out = JSONObject()
        for field in collection.columnFields {
            out[field.field] = ValueCodec.decode(row[field.field], for: field)
        }
        return out
    }
}
