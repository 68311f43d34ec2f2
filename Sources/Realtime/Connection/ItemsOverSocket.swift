import Query
import Store
import SwitchboardCore

/// `type: items` requests: the same operations, permissions and events as REST.
struct ItemsOverSocket {
    let store: Store
    let context: ItemsContext

    func perform(_ action: String, collection: String, message: JSONObject, query: ItemQuery) async throws -> (
        JSONValue, JSONObject?
    ) {
        let id = message["id"].flatMap { $0.isNull ? nil : $0 }
        let ids = message["ids"]?.arrayValue
        switch action {
        case "create":
            switch message["data"] {
            case .object(let item)?:
                let written = try await store.write(.create([item]), to: collection, context: context)
                return (.object(try await readOne(written, query)), nil)
            case .array(let items)?:
                let objects = try items.map { item -> JSONObject in
                    guard case .object(let o) = item else {
                        throw SwitchboardError.invalidPayload("Each item must be an object.")
                    }
                    return o
                }
                let written = try await store.write(.create(objects), to: collection, context: context)
                return (.array(try await store.read(written, query: query).map(JSONValue.object)), nil)
            default:
                throw SwitchboardError.invalidPayload("\"data\" must be an object or an array of objects.")
            }
        case "read":
            if let id {
                return (.object(try await store.readItem(collection, key: id, query: query, context: context)), nil)
            }
            if let ids {
                return (
                    .array(
                        try await store.readItems(collection, keys: ids, query: query, context: context).map(JSONValue.object)),
                    nil
                )
            }
            let result = try await store.readItems(collection, query: query, context: context)
            return (.array(result.data.map(JSONValue.object)), result.meta)
        case "update":
            guard case .object(let data)? = message["data"] else {
                throw SwitchboardError.invalidPayload("\"data\" must be an object.")
            }
            if let id {
                let written = try await store.write(.update(keys: [id], data: data), to: collection, context: context)
                return (.object(try await readOne(written, query)), nil)
            }
            let write: ItemWrite = ids.map { .update(keys: $0, data: data) } ?? .updateMatching(query, data: data)
            let written = try await store.write(write, to: collection, context: context)
            return (.array(try await store.read(written, query: query).map(JSONValue.object)), nil)
        default:  // delete
            if let id {
                _ = try await store.deleteItems(collection, keys: [id], context: context)
                return (id, nil)
            }
            if let ids {
                return (.array(try await store.deleteItems(collection, keys: ids, context: context)), nil)
            }
            guard message["query"] != nil else {
                throw SwitchboardError.invalidPayload("delete needs \"id\", \"ids\" or \"query\".")
            }
            return (.array(try await store.deleteItems(collection, query: query, context: context)), nil)
        }
    }

    /// The one written item, read without the request's filter; FORBIDDEN when it can't be read.
    private func readOne(_ written: WrittenItems, _ query: ItemQuery) async throws -> JSONObject {
        guard !written.keys.isEmpty else { throw SwitchboardError.forbidden() }
        var q = query
        q.filter = nil
        guard let item = try await store.read(written, query: q).first else { throw SwitchboardError.forbidden() }
        return item
    }
}
