import Hummingbird
import Store
import SwitchboardCore

/// `/items/:collection` for user collections (system collections have their own endpoints).
struct ItemsRoutes {
    let items: ItemsEndpoints

    func register(on router: Router<SwitchboardRequestContext>) {
        let group = router.group("items")
        group.get(":collection") { request, context in try await items.list(try collection(context), request, context) }
        if let search = HTTPRequest.Method("SEARCH") {
            group.on(":collection", method: search) { request, context in
                try await items.search(try collection(context), request, context)
            }
        }
        group.post(":collection") { request, context in try await items.create(try collection(context), request, context) }
        group.patch(":collection") { request, context in try await items.updateMany(try collection(context), request, context) }
        group.delete(":collection") { request, context in try await items.deleteMany(try collection(context), request, context) }
        group.get(":collection/:id") { request, context in
            try await items.get(try collection(context), try id(context), request, context)
        }
        group.patch(":collection/:id") { request, context in
            try await items.updateOne(try collection(context), try id(context), request, context)
        }
        group.delete(":collection/:id") { request, context in
            try await items.deleteOne(try collection(context), try id(context), request, context)
        }
    }

    /// The collection named in the path; `directus_*` collections are not served here (as in Directus).
    private func collection(_ context: SwitchboardRequestContext) throws -> String {
        guard let name = context.parameters.get("collection"), !SystemCollections.isSystem(name),
            items.store.schema.collection(name) != nil
        else { throw SwitchboardError.forbiddenCollection(context.parameters.get("collection") ?? "") }
        return name
    }

    private func id(_ context: SwitchboardRequestContext) throws -> String {
        guard let id = context.parameters.get("id") else { throw SwitchboardError.forbidden() }
        return id
    }
}

/// The system collections' REST endpoints (`/users`, `/roles`, `/policies`,
/// `/permissions`, `/access`, `/activity`, `/notifications`), served by the
/// same items machinery with each collection's permissions.
struct SystemRoutes {
    let items: ItemsEndpoints

    static let endpoints: [(path: String, collection: String, readOnly: Bool)] = [
        ("users", SystemCollections.users, false), ("roles", SystemCollections.roles, false),
        ("policies", SystemCollections.policies, false), ("permissions", SystemCollections.permissions, false),
        ("access", SystemCollections.access, false), ("activity", SystemCollections.activity, true),
        ("notifications", SystemCollections.notifications, false),
    ]

    func register(on router: Router<SwitchboardRequestContext>) {
        registerMe(on: router)
        for endpoint in Self.endpoints {
            let c = endpoint.collection
            let group = router.group(RouterPath(endpoint.path))
            group.get { request, context in try await items.list(c, request, context) }
            group.get(":id") { request, context in try await items.get(c, try id(context), request, context) }
            if endpoint.readOnly { continue }
            group.post { request, context in try await items.create(c, request, context) }
            group.patch { request, context in try await items.updateMany(c, request, context) }
            group.delete { request, context in try await items.deleteMany(c, request, context) }
            group.patch(":id") { request, context in try await items.updateOne(c, try id(context), request, context) }
            group.delete(":id") { request, context in try await items.deleteOne(c, try id(context), request, context) }
        }
    }

    /// `/users/me`: the caller's own user; users without read permission on
    /// themselves still learn their id (as in Directus).
    private func registerMe(on router: Router<SwitchboardRequestContext>) {
        router.get("users/me") { request, context in
            let ctx = try await items.callers.itemsContext(request, context)
            guard let userID = ctx.accountability.userID else {
                throw SwitchboardError(.invalidCredentials, "You must be logged in to access this.")
            }
            do {
                let me = try await items.store.readItem(
                    SystemCollections.users, key: .string(userID),
                    query: try HTTPSupport.itemQuery(request, limits: items.store.environment.limits), context: ctx)
                return HTTPSupport.data(.object(me))
            } catch let error as SwitchboardError where error.code == .forbidden {
                return HTTPSupport.data(["id": .string(userID)])
            }
        }
        router.patch("users/me") { request, context in
            let ctx = try await items.callers.itemsContext(request, context)
            guard let userID = ctx.accountability.userID else {
                throw SwitchboardError(.invalidCredentials, "You must be logged in to access this.")
            }
            return try await items.updateOne(SystemCollections.users, userID, request, context)
        }
    }

    private func id(_ context: SwitchboardRequestContext) throws -> String {
        guard let id = context.parameters.get("id") else { throw SwitchboardError.forbidden() }
        return id
    }
}
