import Query
import RealtimeProtocol
import Store
import SwitchboardCore

/// What a subscription asks for, as far as the events it receives go (its
/// `after` only shapes its start).
struct SubscriptionRequest: Sendable, Hashable {
    var collection: String
    var query: ItemQuery
    var event: ChangeEvent.Action?
    var item: JSONValue?
    /// [extension] rows leaving the filter produce `delete` with `reason: "left"`.
    var live: Bool = false
}

/// The identity part of a class key, present only when the query or the
/// permissions refer to the caller (`$CURRENT_USER`, `$CURRENT_ROLE`, …).
struct IdentityKey: Sendable, Hashable {
    var userID: String?
    var roleID: String?
    var roles: [String]
    var policies: [String]
    /// What `$CURRENT_USER.<path>` (and kin) resolve to: a user whose team changed is another class.
    var variableRows: VariableRows
}

/// Subscriptions that would receive byte-identical data: same request, same
/// effective permissions (and same identity where it matters).
struct QueryClassKey: Sendable, Hashable {
    var request: SubscriptionRequest
    var permissions: PermissionSet
    var identity: IdentityKey?

    init(request: SubscriptionRequest, context: ItemsContext) {
        self.request = request
        self.permissions = context.permissions
        let needsIdentity =
            request.query.filter.map(Self.mentionsIdentity) == true
            || context.permissions.rules.values.contains { byAction in
                byAction.values.contains { (p: CollectionPermission) -> Bool in
                    p.allFilters.contains(where: Self.mentionsIdentity)
                        || p.presets.contains { Self.mentionsIdentity($0.value) }
                }
            }
        let a = context.accountability
        identity =
            needsIdentity
            ? IdentityKey(
                userID: a.userID, roleID: a.roleID, roles: a.roles, policies: a.policies, variableRows: context.variableRows)
            : nil
    }

    static func mentionsIdentity(_ filter: Filter) -> Bool {
        switch filter {
        case .and(let parts), .or(let parts): return parts.contains(where: mentionsIdentity)
        case .condition(_, _, let value): return mentionsIdentity(value)
        case .some(_, let inner), .none(_, let inner): return mentionsIdentity(inner)
        }
    }

    static func mentionsIdentity(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s): return s.hasPrefix("$CURRENT_")
        case .array(let items): return items.contains(where: mentionsIdentity)
        case .object(let o): return o.contains { mentionsIdentity($0.value) }
        default: return false
        }
    }
}

/// A query class: the shared request and a context to evaluate it with.
struct QueryClass: Sendable {
    let key: QueryClassKey
    let context: ItemsContext
}

/// Candidate classes per collection, by class id: classes whose filter pins a
/// field to a value (`room _eq 42`) are found by that value's `filterEqualityKey`
/// (so `"42"`, `42.0` and a UUID in capitals find them too); the rest are always checked.
struct EqualityIndex: Sendable {
    var unindexed: Set<UInt64> = []
    /// field → value → classes
    var pinned: [String: [String: Set<UInt64>]] = [:]

    static func pin(_ key: QueryClassKey) -> (field: String, value: String)? {
        // `$NOW` is a value only once resolved (`day _eq $NOW`: rows dated today): never pinned.
        guard key.identity == nil, let filter = key.request.query.filter, !filter.containsNowVariable,
            let eq = filter.topLevelEqualities.first, let value = eq.value.filterEqualityKey
        else { return nil }
        return (eq.field, value)
    }

    mutating func insert(_ id: UInt64, _ key: QueryClassKey) {
        if let p = Self.pin(key) {
            pinned[p.field, default: [:]][p.value, default: []].insert(id)
        } else {
            unindexed.insert(id)
        }
    }

    mutating func remove(_ id: UInt64, _ key: QueryClassKey) {
        if let p = Self.pin(key) {
            pinned[p.field]?[p.value]?.remove(id)
            if pinned[p.field]?[p.value]?.isEmpty == true { pinned[p.field]?[p.value] = nil }
            if pinned[p.field]?.isEmpty == true { pinned[p.field] = nil }
        } else {
            unindexed.remove(id)
        }
    }

    var isEmpty: Bool { unindexed.isEmpty && pinned.isEmpty }

    /// Classes that may care about an event touching `rows`.
    func candidates(_ rows: [JSONObject]) -> Set<UInt64> {
        guard !pinned.isEmpty else { return unindexed }
        var out = unindexed
        for (field, byValue) in pinned {
            for row in rows {
                if let v = row[field]?.filterEqualityKey, let ids = byValue[v] { out.formUnion(ids) }
            }
        }
        return out
    }
}
