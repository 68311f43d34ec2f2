import Store

/// What a caller may read, as far as its GraphQL schema is concerned: which
/// collections and which of their fields. Callers with equal `ReadAccess` (and
/// the same schema version) get the same GraphQL schema, whatever their row
/// filters, so the schema cache is shared by every user of the same policies.
public struct ReadAccess: Sendable, Hashable {
    public enum Fields: Sendable, Hashable {
        case all
        case only(Set<String>)

        func allows(_ field: String) -> Bool {
            switch self {
            case .all: return true
            case .only(let names): return names.contains(field)
            }
        }
    }

    /// Readable collections; a collection that is absent cannot be read.
    public var collections: [String: Fields]
    /// Per collection, the fields only some policies grant (null on the other rows), so never non-null.
    public var conditional: [String: Set<String>]

    public init(collections: [String: Fields], conditional: [String: Set<String>] = [:]) {
        self.collections = collections
        self.conditional = conditional
    }

    /// The read permissions of `permissions` over the collections of `schema`.
    public init(_ permissions: PermissionSet, schema: Schema) {
        var collections: [String: Fields] = [:]
        var conditional: [String: Set<String>] = [:]
        for (name, collection) in schema.collections {
            guard let read = permissions.permission(.read, name) else { continue }
            collections[name] = read.fields.map(Fields.only) ?? .all
            guard !read.cases.isEmpty else { continue }
            let restricted = collection.fields.filter { read.allows(field: $0.field) && read.condition(for: $0.field) != nil }
            if !restricted.isEmpty { conditional[name] = Set(restricted.map(\.field)) }
        }
        self.collections = collections
        self.conditional = conditional
    }
}
