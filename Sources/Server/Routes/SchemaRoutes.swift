import Hummingbird
import Store
import SwitchboardCore

/// `/collections`, `/fields`, `/relations`: read by anyone for the collections
/// they may read, changed by admins only (as in Directus).
struct SchemaRoutes {
    let store: Store
    let callers: CallerResolver
    let maxPayload: Int

    func register(on router: Router<SwitchboardRequestContext>) {
        router.get("collections") { request, context in
            let ctx = try await callers.itemsContext(request, context)
            return HTTPSupport.data(
                .array(store.allCollectionsJSON().filter { readable($0["collection"], ctx) }.map(JSONValue.object)))
        }
        router.get("collections/:collection") { request, context in
            let ctx = try await callers.itemsContext(request, context)
            let name = try param(context, "collection")
            guard readable(.string(name), ctx), let c = store.collectionJSON(name) else { throw SwitchboardError.forbidden() }
            return HTTPSupport.data(.object(c))
        }
        router.post("collections") { request, context in
            try await requireAdmin(request, context)
            let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
            let name = try await store.changeSchema { editor in try await editor.createCollection(body) }
            return HTTPSupport.data(.object(store.collectionJSON(name) ?? ["collection": .string(name)]))
        }
        router.patch("collections/:collection") { request, context in
            try await requireAdmin(request, context)
            let name = try param(context, "collection")
            let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
            let meta = body["meta"]?.objectValue ?? [:]
            try await store.changeSchema { editor in try await editor.updateCollection(name, meta: meta) }
            guard let c = store.collectionJSON(name) else { throw SwitchboardError.forbidden() }
            return HTTPSupport.data(.object(c))
        }
        router.delete("collections/:collection") { request, context in
            try await requireAdmin(request, context)
            let name = try param(context, "collection")
            try await store.changeSchema { editor in try await editor.deleteCollection(name) }
            return HTTPSupport.noContent()
        }

        router.get("fields") { request, context in
            let ctx = try await callers.itemsContext(request, context)
            return HTTPSupport.data(
                .array(store.fieldsJSON(nil).filter { readable($0["collection"], ctx) }.map(JSONValue.object)))
        }
        router.get("fields/:collection") { request, context in
            let ctx = try await callers.itemsContext(request, context)
            let name = try param(context, "collection")
            guard readable(.string(name), ctx), store.schema.collection(name) != nil else { throw SwitchboardError.forbidden() }
            return HTTPSupport.data(.array(store.fieldsJSON(name).map(JSONValue.object)))
        }
        router.get("fields/:collection/:field") { request, context in
            let ctx = try await callers.itemsContext(request, context)
            let name = try param(context, "collection")
            let field = try param(context, "field")
            guard readable(.string(name), ctx),
                let f = store.fieldsJSON(name).first(where: { $0["field"]?.stringValue == field })
            else { throw SwitchboardError.forbidden() }
            return HTTPSupport.data(.object(f))
        }
        router.post("fields/:collection") { request, context in
            try await requireAdmin(request, context)
            let name = try param(context, "collection")
            let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
            let field = try await store.changeSchema { editor in try await editor.createField(name, body) }
            return HTTPSupport.data(.object(store.fieldsJSON(name).first { $0["field"]?.stringValue == field } ?? [:]))
        }
        router.patch("fields/:collection/:field") { request, context in
            try await requireAdmin(request, context)
            let name = try param(context, "collection")
            let field = try param(context, "field")
            let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
            try await store.changeSchema { editor in try await editor.updateField(name, field, body) }
            return HTTPSupport.data(.object(store.fieldsJSON(name).first { $0["field"]?.stringValue == field } ?? [:]))
        }
        router.delete("fields/:collection/:field") { request, context in
            try await requireAdmin(request, context)
            let name = try param(context, "collection")
            let field = try param(context, "field")
            try await store.changeSchema { editor in try await editor.deleteField(name, field) }
            return HTTPSupport.noContent()
        }

        router.get("relations") { request, context in
            let ctx = try await callers.itemsContext(request, context)
            return HTTPSupport.data(
                .array(store.relationsJSON(nil).filter { readable($0["collection"], ctx) }.map(JSONValue.object)))
        }
        router.get("relations/:collection") { request, context in
            let ctx = try await callers.itemsContext(request, context)
            let name = try param(context, "collection")
            guard readable(.string(name), ctx) else { throw SwitchboardError.forbidden() }
            return HTTPSupport.data(.array(store.relationsJSON(name).map(JSONValue.object)))
        }
        router.post("relations") { request, context in
            try await requireAdmin(request, context)
            let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
            try await store.changeSchema { editor in try await editor.createRelation(body) }
            let many = body["collection"]?.stringValue
            let field = body["field"]?.stringValue
            let created = store.relationsJSON(many).first { $0["field"]?.stringValue == field } ?? [:]
            return HTTPSupport.data(.object(created))
        }
        router.delete("relations/:collection/:field") { request, context in
            try await requireAdmin(request, context)
            let name = try param(context, "collection")
            let field = try param(context, "field")
            try await store.changeSchema { editor in try await editor.deleteRelation(name, field) }
            return HTTPSupport.noContent()
        }
    }

    private func readable(_ collection: JSONValue?, _ ctx: ItemsContext) -> Bool {
        guard let name = collection?.stringValue else { return false }
        return ctx.permissions.permission(.read, name) != nil
    }

    private func requireAdmin(_ request: Request, _ context: SwitchboardRequestContext) async throws {
        let accountability = try await callers.accountability(request, context)
        guard accountability.admin else { throw SwitchboardError.forbidden() }
    }

    private func param(_ context: SwitchboardRequestContext, _ name: String) throws -> String {
        guard let value = context.parameters.get(name) else { throw SwitchboardError.forbidden() }
        return value
    }
}
