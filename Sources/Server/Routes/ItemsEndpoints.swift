import Hummingbird
import Query
import Store
import SwitchboardCore

/// The Directus items endpoints for one collection (shared by `/items/:collection`
/// and the system endpoints such as `/users` and `/notifications`).
struct ItemsEndpoints: Sendable {
    let store: Store
    let callers: CallerResolver
    let maxPayload: Int

    func list(_ collection: String, _ request: Request, _ context: SwitchboardRequestContext) async throws -> Response {
        let ctx = try await callers.itemsContext(request, context)
        let result = try await store.readItems(
            collection, query: try HTTPSupport.itemQuery(request, limits: store.environment.limits), context: ctx)
        return HTTPSupport.data(.array(result.data.map(JSONValue.object)), meta: result.meta)
    }

    /// `SEARCH`: a read whose query travels in the body (`{"query": {…}}`), for queries too long for a URL.
    func search(_ collection: String, _ request: Request, _ context: SwitchboardRequestContext) async throws -> Response {
        let ctx = try await callers.itemsContext(request, context)
        let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
        guard case .object(let q)? = body["query"] else { throw SwitchboardError.invalidPayload("\"query\" is required.") }
        let result = try await store.readItems(
            collection, query: try ItemQuery.parse(json: q, limits: store.environment.limits), context: ctx)
        return HTTPSupport.data(.array(result.data.map(JSONValue.object)), meta: result.meta)
    }

    func get(_ collection: String, _ id: String, _ request: Request, _ context: SwitchboardRequestContext) async throws
        -> Response
    {
        let ctx = try await callers.itemsContext(request, context)
        let item = try await store.readItem(
            collection, key: key(id, collection), query: try HTTPSupport.itemQuery(request, limits: store.environment.limits),
            context: ctx)
        return HTTPSupport.data(.object(item))
    }

    func create(_ collection: String, _ request: Request, _ context: SwitchboardRequestContext) async throws -> Response {
        let ctx = try await callers.itemsContext(request, context)
        let query = try HTTPSupport.itemQuery(request, limits: store.environment.limits)
        guard let body = try await HTTPSupport.body(request, limit: maxPayload) else {
            throw SwitchboardError.invalidPayload("The request body is empty.")
        }
        switch body {
        case .object(let item):
            let written = try await store.write(.create([item]), to: collection, context: ctx)
            return try await readBack(written, single: true, query: query)
        case .array(let items):
            let objects = try items.map { item -> JSONObject in
                guard case .object(let o) = item else { throw SwitchboardError.invalidPayload("Each item must be an object.") }
                return o
            }
            let written = try await store.write(.create(objects), to: collection, context: ctx)
            return try await readBack(written, single: false, query: query)
        default:
            throw SwitchboardError.invalidPayload("The request body must be an object or an array of objects.")
        }
    }

    /// PATCH on the collection: a batch (array with keys), `{keys, data}` or `{query, data}`.
    func updateMany(_ collection: String, _ request: Request, _ context: SwitchboardRequestContext) async throws -> Response {
        let ctx = try await callers.itemsContext(request, context)
        let query = try HTTPSupport.itemQuery(request, limits: store.environment.limits)
        guard let body = try await HTTPSupport.body(request, limit: maxPayload) else {
            throw SwitchboardError.invalidPayload("The request body is empty.")
        }
        let write: ItemWrite
        switch body {
        case .array(let items):
            let objects = try items.map { item -> JSONObject in
                guard case .object(let o) = item else { throw SwitchboardError.invalidPayload("Each item must be an object.") }
                return o
            }
            write = .updateEach(objects)
        case .object(let o):
            guard case .object(let data)? = o["data"] else { throw SwitchboardError.invalidPayload("\"data\" is required.") }
            write = .updating(try selection(o), data: data)
        default:
            throw SwitchboardError.invalidPayload("The request body must be an object or an array.")
        }
        let written = try await store.write(write, to: collection, context: ctx)
        return try await readBack(written, single: false, query: query)
    }

    func updateOne(_ collection: String, _ id: String, _ request: Request, _ context: SwitchboardRequestContext) async throws
        -> Response
    {
        let ctx = try await callers.itemsContext(request, context)
        let query = try HTTPSupport.itemQuery(request, limits: store.environment.limits)
        let data = try await HTTPSupport.objectBody(request, limit: maxPayload)
        let written = try await store.write(
            .update(keys: [key(id, collection)], data: data), to: collection, context: ctx)
        return try await readBack(written, single: true, query: query)
    }

    /// DELETE on the collection: an array of keys, `{keys}` or `{query}`.
    func deleteMany(_ collection: String, _ request: Request, _ context: SwitchboardRequestContext) async throws -> Response {
        let ctx = try await callers.itemsContext(request, context)
        guard let body = try await HTTPSupport.body(request, limit: maxPayload) else {
            throw SwitchboardError.invalidPayload("The request body must list \"keys\" or a \"query\".")
        }
        switch body {
        case .array(let keys):
            _ = try await store.deleteItems(collection, keys: keys, context: ctx)
        case .object(let o):
            _ = try await store.delete(collection, selection: try selection(o), context: ctx)
        default:
            throw SwitchboardError.invalidPayload("The request body must list \"keys\" or a \"query\".")
        }
        return HTTPSupport.noContent()
    }

    func deleteOne(_ collection: String, _ id: String, _ request: Request, _ context: SwitchboardRequestContext) async throws
        -> Response
    {
        let ctx = try await callers.itemsContext(request, context)
        _ = try await store.deleteItems(collection, keys: [key(id, collection)], context: ctx)
        return HTTPSupport.noContent()
    }

    // MARK: Helpers

    /// A key from the URL, typed like the collection's primary key.
    func key(_ id: String, _ collection: String) throws -> JSONValue {
        guard let pk = store.schema.collection(collection)?.primaryKeyField else { throw SwitchboardError.forbidden() }
        if pk.type == .integer || pk.type == .bigInteger {
            guard let i = Int64(id) else { throw SwitchboardError.forbidden() }
            return .int(i)
        }
        return .string(id)
    }

    private func selection(_ body: JSONObject) throws -> Store.Selection {
        let keys = body["keys"]
        let query = body["query"]
        switch (keys, query) {
        case (.array(let k)?, nil): return .keys(k)
        case (nil, .object(let q)?): return .query(try ItemQuery.parse(json: q, limits: store.environment.limits))
        case (nil, nil): throw SwitchboardError.invalidPayload("Either \"keys\" or \"query\" is required.")
        case (.some, .some): throw SwitchboardError.invalidPayload("Use either \"keys\" or \"query\", not both.")
        default: throw SwitchboardError.invalidPayload("\"keys\" must be an array and \"query\" an object.")
        }
    }

    /// Directus answers writes with the written items as the caller can read
    /// them, or 204 when it can't read them.
    private func readBack(_ written: WrittenItems, single: Bool, query: ItemQuery) async throws -> Response {
        guard written.context.permissions.permission(.read, written.collection) != nil else {
            return HTTPSupport.noContent()
        }
        let items: [JSONObject]
        do {
            items = try await store.read(written, query: query)
        } catch let error as SwitchboardError where error.code == .forbidden {
            return HTTPSupport.noContent()
        }
        if single {
            guard let first = items.first else { return HTTPSupport.noContent() }
            return HTTPSupport.data(.object(first))
        }
        let pk = store.schema.collection(written.collection)?.primaryKey ?? "id"
        var byKey: [String: JSONObject] = [:]
        for item in items { if let k = item[pk]?.textValue { byKey[k] = item } }
        let ordered = written.keys.compactMap { $0.textValue.flatMap { byKey[$0] } }
        return HTTPSupport.data(.array((ordered.count == items.count ? ordered : items).map(JSONValue.object)))
    }
}
