import Query
import SwitchboardCore

extension PermissionSet {
    static func variablePaths(of rules: [String: [PermissionAction: CollectionPermission]]) -> VariablePaths {
        var paths = VariablePaths()
        for byAction in rules.values {
            for permission in byAction.values {
                if let filter = permission.filter { paths.formUnion(filter.variablePaths) }
                if let validation = permission.validation { paths.formUnion(validation.variablePaths) }
                for policyCase in permission.cases { if let f = policyCase.filter { paths.formUnion(f.variablePaths) } }
                paths.collect(.object(permission.presets))
            }
        }
        return paths
    }
}

extension Store {
    /// The context with the caller's user, role, roles and policies rows read for every
    /// `$CURRENT_USER.<path>` (`_ROLE`, `_ROLES`, `_POLICIES`) that its permissions and `filters`
    /// use, as Directus's fetch-dynamic-variable-data.ts reads them: with administrator rights,
    /// only the fields named. What the context already holds is not read again; a context that
    /// needs nothing more is returned as it is, without a query.
    public func withVariableRows(_ context: ItemsContext, for filters: [Filter?] = []) async throws -> ItemsContext {
        var needed = VariablePaths()
        for filter in filters { if let filter { needed.formUnion(filter.variablePaths) } }
        return try await withVariableRows(context, paths: needed)
    }

    /// The same for the given paths (and the permissions').
    public func withVariableRows(_ context: ItemsContext, paths: VariablePaths) async throws -> ItemsContext {
        var needed = context.permissions.variablePaths
        needed.formUnion(paths)
        let missing = needed.subtracting(context.variableRows.loaded)
        guard !missing.isEmpty else { return context }
        var rows = context.variableRows
        let a = context.accountability
        for root in VariableRows.Root.allCases where !missing.fields(root).isEmpty {
            let fields = Array(missing.fields(root).union(rows.loaded.fields(root))).sorted()
            let (collection, keys): (String, [String]) =
                switch root {
                case .user: (SystemCollections.users, a.userID.map { [$0] } ?? [])
                case .role: (SystemCollections.roles, a.roleID.map { [$0] } ?? [])
                case .roles: (SystemCollections.roles, a.roles)
                case .policies: (SystemCollections.policies, a.policies)
                }
            var found: [JSONObject] = []
            if !keys.isEmpty {
                var query = ItemQuery()
                query.fields = fields + ["id"]
                do {
                    found = try await readItems(collection, keys: keys.map(JSONValue.string), query: query, context: .system)
                } catch let error as SwitchboardError {
                    throw SwitchboardError.invalidQuery(
                        "\(root.rawValue).\(fields.joined(separator: ", ")) can't be read: \(error.message)")
                }
            }
            // Rows in the order of the accountability's list, as Directus returns them by key.
            let byKey = Dictionary(found.map { ($0["id"]?.textValue ?? "", $0) }, uniquingKeysWith: { first, _ in first })
            let ordered = keys.compactMap { byKey[$0] }.map(JSONValue.object)
            switch root {
            case .user, .role: rows[root] = ordered.first ?? .null
            case .roles, .policies: rows[root] = .array(ordered)
            }
            for field in fields { rows.loaded.insert(root, field) }
        }
        var enriched = context
        enriched.variableRows = rows
        return enriched
    }
}
