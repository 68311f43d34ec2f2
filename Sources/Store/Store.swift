import Logging
import Query
import SwitchboardCore
import Synchronization

/// The data layer: schema, items CRUD with permissions applied, and the
/// outbox of committed changes. One instance per process; safe to share.
public final class Store: Sendable {
    public let database: any SQLDatabase
    public let environment: StoreEnvironment
    private let currentSchema: Mutex<Schema>
    private let schemaLoads = Atomic<UInt64>(0)
    private let sinks = Mutex<[any ChangeEventSink]>([])
    private let schemaObservers = Mutex<[@Sendable () async -> Void]>([])
    private let logger: Logger

    public init(database: any SQLDatabase, environment: StoreEnvironment, logger: Logger = Logger(label: "switchboard.store")) {
        self.database = database
        self.environment = environment
        self.logger = logger
        self.currentSchema = Mutex(Schema(collections: SystemCollections.all, relations: SystemCollections.relationList))
    }

    public var dialect: SQLDialect { database.dialect }

    /// Committed changes by collection and seq (backfill, resume, retention).
    public var outbox: Outbox { Outbox(database: database) }

    /// The schema as of the last load; replaced atomically on change.
    public var schema: Schema { currentSchema.withLock { $0 } }

    /// Creates missing system tables and loads the schema.
    public func migrate() async throws {
        let dialect = database.dialect
        try await database.transaction { executor in try await Migrations.run(executor, dialect: dialect) }
        try await reloadSchema()
    }

    public func reloadSchema() async throws {
        let schema = try await database.read { executor in try await SchemaService.load(executor) }
        currentSchema.withLock { $0 = schema }
        schemaLoads.add(1, ordering: .relaxed)
    }

    /// Counts schema loads: whatever was derived from the schema before a change has a lower number.
    public var schemaGeneration: UInt64 { schemaLoads.load(ordering: .relaxed) }

    /// Registers a function told after every schema change made through this store.
    public func addSchemaObserver(_ observer: @escaping @Sendable () async -> Void) {
        schemaObservers.withLock { $0.append(observer) }
    }

    /// Registers a receiver of committed change events (the realtime engine, a messenger).
    public func addSink(_ sink: any ChangeEventSink) {
        sinks.withLock { $0.append(sink) }
    }

    // MARK: Reads

    public func readItems(_ collection: String, query: ItemQuery, context: ItemsContext) async throws -> ReadResult {
        let context = try await withVariableRows(context, for: [query.filter])
        let schema = self.schema
        let dialect = database.dialect
        let limits = environment.limits
        return try await database.read { executor in
            try await ItemReader(
                schema: schema, dialect: dialect, context: context, variables: context.variables(), limits: limits,
                executor: executor
            ).read(collection, query: query)
        }
    }

    /// A read of `query` together with the seq of the last change it includes: the collection's
    /// seq row is locked first (writers of the collection wait, the way they wait for each other),
    /// so no change commits between the seq and the read. For aggregate subscriptions' base.
    public func readAtSeq(_ collection: String, query: ItemQuery, context: ItemsContext) async throws
        -> (result: ReadResult, seq: Int64)
    {
        let schema = self.schema
        let dialect = database.dialect
        let limits = environment.limits
        return try await database.transaction(
            { executor in
                let seqRows = try await executor.query(
                    "INSERT INTO switchboard_seq (collection, seq) VALUES (?, 0) ON CONFLICT (collection) DO UPDATE SET seq = switchboard_seq.seq RETURNING seq",
                    [.text(collection)])
                guard let seq = seqRows.first?[0].int else { throw SwitchboardError.internalError("sequence read failed") }
                let result = try await ItemReader(
                    schema: schema, dialect: dialect, context: context, variables: context.variables(), limits: limits,
                    executor: executor
                ).read(collection, query: query)
                return (result, seq)
            }, afterCommit: { _ in })
    }

    /// Reads the items with the given keys (in no particular order) shaped by `query`.
    public func readItems(_ collection: String, keys: [JSONValue], query: ItemQuery, context: ItemsContext) async throws
        -> [JSONObject]
    {
        guard let c = schema.collection(collection) else { throw SwitchboardError.forbidden() }
        let context = try await withVariableRows(context, for: [query.filter])
        var q = query
        q.filter = Filter.conjunction([.condition(path: [c.primaryKey], op: ._in, value: .array(keys)), query.filter])
        q.limit = -1
        q.offset = nil
        q.page = nil
        q.meta = []
        var unlimited = environment.limits
        unlimited.maxLimit = nil
        let limits = unlimited
        let schema = self.schema
        let dialect = database.dialect
        let byKeys = q
        return try await database.read { executor in
            try await ItemReader(
                schema: schema, dialect: dialect, context: context, variables: context.variables(), limits: limits,
                executor: executor
            ).read(collection, query: byKeys).data
        }
    }

    /// One item; FORBIDDEN when it doesn't exist or the caller may not read it.
    public func readItem(_ collection: String, key: JSONValue, query: ItemQuery, context: ItemsContext) async throws -> JSONObject
    {
        guard let item = try await readItems(collection, keys: [key], query: query, context: context).first else {
            throw SwitchboardError.forbidden()
        }
        return item
    }

    /// Keys of items matching `query.filter` that `action` may touch.
    func keys(
        _ executor: any SQLExecutor, _ collection: String, action: PermissionAction, query: ItemQuery, context: ItemsContext
    ) async throws -> [JSONValue] {
        guard let c = schema.collection(collection) else { throw SwitchboardError.forbidden() }
        // Keys come from a read: rows the caller can't read are never touched by a query (as in Directus).
        guard let permission = context.permissions.permission(action, collection),
            let read = context.permissions.permission(.read, collection)
        else { throw SwitchboardError.forbidden() }
        let reader = ItemReader(
            schema: schema, dialect: database.dialect, context: context, variables: context.variables(),
            limits: environment.limits, executor: executor)
        let limit = reader.effectiveLimit(query.limit)
        return try await reader.keys(
            c, permission: permission, filter: Filter.conjunction([query.filter, read.filter]), limit: limit)
    }

    // MARK: Writes

    /// Runs `body` with an item writer in one transaction; publishes the events after commit.
    /// `variablesFor`: filters the body will use (a bulk write's query), whose `$CURRENT_USER.<path>`
    /// variables are read with the permissions' before the transaction.
    public func write<T: Sendable>(
        context: ItemsContext, variablesFor filters: [Filter?] = [],
        _ body: @Sendable (inout ItemsTransaction) async throws -> T
    ) async throws -> T {
        try await writeCollectingEvents(context: try await withVariableRows(context, for: filters), body).result
    }

    /// `write`'s transaction, answering the body's result and the events it committed;
    /// `context` already holds the variable rows the body needs.
    func writeCollectingEvents<T: Sendable>(
        context: ItemsContext, _ body: @Sendable (inout ItemsTransaction) async throws -> T
    ) async throws -> (result: T, events: [ChangeEvent]) {
        let schema = self.schema
        let dialect = database.dialect
        let environment = self.environment
        return try await database.transaction(
            { executor -> (result: T, events: [ChangeEvent]) in
                var tx = ItemsTransaction(
                    store: self,
                    writer: ItemWriter(
                        schema: schema, dialect: dialect, context: context, executor: executor, environment: environment),
                    executor: executor)
                let result = try await body(&tx)
                try await tx.writer.finish()
                return (result, tx.writer.events)
            }, afterCommit: { output in await self.publish(output.events) })
    }

    func publish(_ events: [ChangeEvent]) async {
        guard !events.isEmpty else { return }
        for sink in sinks.withLock({ $0 }) { await sink.publish(events) }
    }

    public func createItems(_ collection: String, _ items: [JSONObject], context: ItemsContext) async throws -> [JSONValue] {
        try await write(.create(items), to: collection, context: context).keys
    }

    public func updateItems(_ collection: String, keys: [JSONValue], data: JSONObject, context: ItemsContext) async throws
        -> [JSONValue]
    {
        try await write(.update(keys: keys, data: data), to: collection, context: context).keys
    }

    public func updateItems(_ collection: String, query: ItemQuery, data: JSONObject, context: ItemsContext) async throws
        -> [JSONValue]
    {
        try await write(.updateMatching(query, data: data), to: collection, context: context).keys
    }

    /// Batch update: each object carries its primary key.
    public func updateBatch(_ collection: String, _ items: [JSONObject], context: ItemsContext) async throws -> [JSONValue] {
        try await write(.updateEach(items), to: collection, context: context).keys
    }

    /// Which items a bulk update or delete touches.
    public enum Selection: Sendable {
        case keys([JSONValue])
        case query(ItemQuery)
    }

    public func delete(_ collection: String, selection: Selection, context: ItemsContext) async throws -> [JSONValue] {
        switch selection {
        case .keys(let keys): return try await deleteItems(collection, keys: keys, context: context)
        case .query(let query): return try await deleteItems(collection, query: query, context: context)
        }
    }

    public func deleteItems(_ collection: String, keys: [JSONValue], context: ItemsContext) async throws -> [JSONValue] {
        try await write(context: context) { tx in try await tx.delete(collection, keys: keys) }
    }

    public func deleteItems(_ collection: String, query: ItemQuery, context: ItemsContext) async throws -> [JSONValue] {
        try await write(context: context, variablesFor: [query.filter]) { tx in
            let keys = try await tx.keys(collection, action: .delete, query: query)
            return try await tx.delete(collection, keys: keys)
        }
    }

    // MARK: Schema

    /// Runs a schema change in one transaction, then reloads the schema.
    public func changeSchema<T: Sendable>(_ body: @Sendable (SchemaEditor) async throws -> T) async throws -> T {
        let schema = self.schema
        let dialect = database.dialect
        let result = try await database.transaction { executor in
            try await body(SchemaEditor(service: SchemaService(executor: executor, dialect: dialect), schema: schema))
        }
        try await reloadSchema()
        for observer in schemaObservers.withLock({ $0 }) { await observer() }
        return result
    }

    public func collectionJSON(_ name: String) -> JSONObject? {
        schema.collection(name).map(SchemaService.collectionJSON)
    }

    public func allCollectionsJSON() -> [JSONObject] {
        let s = schema
        return s.collectionNames.compactMap { s.collection($0).map(SchemaService.collectionJSON) }
    }

    public func fieldsJSON(_ collection: String?) -> [JSONObject] {
        let s = schema
        let names = collection.map { [$0] } ?? s.collectionNames
        return names.flatMap { name in
            (s.collection(name)?.fields ?? []).map { SchemaService.fieldJSON($0, dialect: database.dialect) }
        }
    }

    public func relationsJSON(_ collection: String?) -> [JSONObject] {
        schema.relations.filter { collection == nil || $0.manyCollection == collection }.map(SchemaService.relationJSON)
    }
}

/// The operations available inside one write transaction.
public struct ItemsTransaction: Sendable {
    let store: Store
    var writer: ItemWriter
    let executor: any SQLExecutor

    public mutating func create(_ collection: String, _ items: [JSONObject]) async throws -> [JSONValue] {
        try await writer.create(collection, items)
    }

    public mutating func update(_ collection: String, keys: [JSONValue], data: JSONObject) async throws -> [JSONValue] {
        try await writer.update(collection, keys: keys, data: data)
    }

    public mutating func delete(_ collection: String, keys: [JSONValue]) async throws -> [JSONValue] {
        try await writer.delete(collection, keys: keys)
    }

    public func keys(_ collection: String, action: PermissionAction, query: ItemQuery) async throws -> [JSONValue] {
        try await store.keys(executor, collection, action: action, query: query, context: writer.context)
    }

    /// Raw SQL inside the transaction (sessions, counters); no events are produced.
    public var sql: any SQLExecutor { executor }
}

/// Schema changes available inside `Store.changeSchema`.
public struct SchemaEditor: Sendable {
    let service: SchemaService
    public let schema: Schema

    public func createCollection(_ payload: JSONObject) async throws -> String {
        try await service.createCollection(payload, schema: schema)
    }

    public func deleteCollection(_ name: String) async throws { try await service.deleteCollection(name, schema: schema) }

    public func updateCollection(_ name: String, meta: JSONObject) async throws {
        try await service.updateCollectionMeta(name, meta)
    }

    public func createField(_ collection: String, _ payload: JSONObject) async throws -> String {
        try await service.createField(collection, payload, schema: schema)
    }

    public func updateField(_ collection: String, _ field: String, _ payload: JSONObject) async throws {
        try await service.updateField(collection, field, payload, schema: schema)
    }

    public func deleteField(_ collection: String, _ field: String) async throws {
        try await service.deleteField(collection, field, schema: schema)
    }

    public func createRelation(_ payload: JSONObject) async throws { try await service.createRelation(payload, schema: schema) }

    public func deleteRelation(_ collection: String, _ field: String) async throws {
        try await service.deleteRelation(collection, field)
    }
}
