import Query
import SwitchboardCore

/// A write of items of one collection, as REST and the socket's `items` requests ask for it:
/// one place for what each kind of write does (`Store.write(_:to:context:)`).
public enum ItemWrite: Sendable {
    case create([JSONObject])
    /// `data` applied to each of `keys`.
    case update(keys: [JSONValue], data: JSONObject)
    /// `data` applied to the items `query`'s filter selects (that the caller may read and update).
    case updateMatching(ItemQuery, data: JSONObject)
    /// A batch: each object carries its primary key and its own changes.
    case updateEach([JSONObject])
}

extension ItemWrite {
    /// The write that applies `data` to `selection` (a bulk PATCH's keys or query).
    public static func updating(_ selection: Store.Selection, data: JSONObject) -> ItemWrite {
        switch selection {
        case .keys(let keys): return .update(keys: keys, data: data)
        case .query(let query): return .updateMatching(query, data: data)
        }
    }
}

/// The items a write touched, with the rows it committed (its change events' post-images), to
/// answer the caller with (`Store.read(_:query:)`).
public struct WrittenItems: Sendable {
    public let collection: String
    /// In the order the write touched them.
    public let keys: [JSONValue]
    /// Each key's row as committed (by key text), when the write's events hold all of them.
    let rows: [String: JSONObject]?
    /// The writer's context, with the `$CURRENT_*` rows its permissions read.
    public let context: ItemsContext

    init(collection: String, primaryKey: String?, keys: [JSONValue], events: [ChangeEvent], context: ItemsContext) {
        self.collection = collection
        self.keys = keys
        self.context = context
        self.rows = primaryKey.flatMap { pk in Self.committedRows(of: collection, primaryKey: pk, keys: keys, in: events) }
    }

    /// The last committed row of each key, or nil when one is missing or the write deleted rows
    /// of the collection (a cascade back onto it): those are read, not guessed.
    private static func committedRows(
        of collection: String, primaryKey: String, keys: [JSONValue], in events: [ChangeEvent]
    ) -> [String: JSONObject]? {
        var rows: [String: JSONObject] = [:]
        for event in events where event.collection == collection {
            if event.action == .delete { return nil }
            for row in event.rows { if let key = row[primaryKey]?.textValue { rows[key] = row } }
        }
        return keys.allSatisfy({ $0.textValue.map { rows[$0] != nil } ?? false }) ? rows : nil
    }
}

extension Store {
    /// Runs `write` on `collection` in one transaction (publishing its events after the commit).
    public func write(_ write: ItemWrite, to collection: String, context: ItemsContext) async throws -> WrittenItems {
        let filters: [Filter?]
        if case .updateMatching(let query, _) = write { filters = [query.filter] } else { filters = [] }
        let context = try await withVariableRows(context, for: filters)
        let schema = self.schema
        let (keys, events) = try await writeCollectingEvents(context: context) { tx -> [JSONValue] in
            switch write {
            case .create(let items):
                return try await tx.create(collection, items)
            case .update(let keys, let data):
                return try await tx.update(collection, keys: keys, data: data)
            case .updateMatching(let query, let data):
                let keys = try await tx.keys(collection, action: .update, query: query)
                return try await tx.update(collection, keys: keys, data: data)
            case .updateEach(let items):
                guard let c = schema.collection(collection) else { throw SwitchboardError.forbidden() }
                var keys: [JSONValue] = []
                for var item in items {
                    guard let key = item.removeValue(forKey: c.primaryKey), !key.isNull else {
                        throw SwitchboardError.invalidPayload(
                            "Each item of a batch update needs its primary key \"\(c.primaryKey)\".")
                    }
                    keys += try await tx.update(collection, keys: [key], data: item)
                }
                return keys
            }
        }
        return WrittenItems(
            collection: collection, primaryKey: schema.collection(collection)?.primaryKey, keys: keys, events: events,
            context: context)
    }

    /// The written items as their writer may read them with `query`: what
    /// `readItems(_:keys:query:context:)` answers, in its order. Answered from the committed rows
    /// without a read when that read would need nothing else (`answerFromRows`).
    public func read(_ written: WrittenItems, query: ItemQuery) async throws -> [JSONObject] {
        if let items = answerFromRows(written, query: query) { return items }
        return try await readItems(written.collection, keys: written.keys, query: query, context: written.context)
    }

    /// The in-memory answer, or nil when only the database can give it: the read must be of a
    /// user collection with an integer key (whose order, the read's default, is the keys'), with
    /// fields the caller may read, no filter, search, sort, aggregate or `deep`, and nothing in the
    /// fields or the read permission that goes through a relation (`InMemoryRead.suffices`).
    /// A field the caller may not read, or a function its field has not, is left to the read,
    /// which refuses it.
    func answerFromRows(_ written: WrittenItems, query: ItemQuery) -> [JSONObject]? {
        let schema = self.schema
        guard let rows = written.rows, query.filter == nil, query.search == nil, query.sort.isEmpty,
            query.aggregate.isEmpty, query.groupBy.isEmpty,
            !written.collection.hasPrefix("directus_"),
            let collection = schema.collection(written.collection),
            let pkType = collection.primaryKeyField?.type, pkType == .integer || pkType == .bigInteger,
            let permission = written.context.permissions.permission(.read, collection.name),
            let tree = try? FieldTree.parse(query.fields ?? ["*"])
        else { return nil }
        for name in tree.names {
            let function = FieldFunction(name)
            let field = function?.field ?? name
            guard let f = collection.field(field), f.type.hasColumn, permission.allows(field: field),
                function?.reads(f, in: collection, schema: schema) ?? true
            else { return nil }
        }
        guard InMemoryRead.suffices(for: query, tree: tree, permission: permission, collection: collection, schema: schema)
        else { return nil }
        let read = InMemoryRead(
            query: query, tree: tree, permission: permission, collection: collection, schema: schema,
            variables: written.context.variables())
        var seen = Set<Int64>()
        let ordered = written.keys.compactMap { key -> (Int64, JSONObject)? in
            guard let text = key.textValue, let number = Int64(text), seen.insert(number).inserted, let row = rows[text]
            else { return nil }
            return (number, row)
        }
        return ordered.sorted { $0.0 < $1.0 }.map(\.1).filter(read.admits).map(read.projection.apply)
    }
}
