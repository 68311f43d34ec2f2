import Logging
import Query
import Store
import SwitchboardCore
import Synchronization

/// Turns identities into accountabilities and policy sets into effective
/// permissions, the Directus 11 way: users get their role's (and its parents')
/// policies plus their own; users without a role, and anonymous callers, get
/// the public policies (access rows with neither role nor user).
///
/// Results are cached and dropped whenever users, roles, policies, access rows
/// or permissions change (it listens to the store's change events, which on a
/// cluster also arrive from other replicas).
public final class PermissionResolver: ChangeEventSink {
    private let store: Store
    private let logger: Logger
    private struct Cache {
        var accountabilities: [String: Accountability] = [:]
        /// Static token → user id, for tokens that were valid (never for unknown ones).
        var staticTokens: [String: String] = [:]
        var publicIdentity: PublicIdentity?
        var permissionSets: [String: PermissionSet] = [:]
        /// The rows `$CURRENT_USER.<path>` (and kin) read, per identity (`variableKey`).
        var variableRows: [String: VariableRows] = [:]
    }

    private struct PublicIdentity {
        var policies: [String]
        var admin: Bool
        var app: Bool

        func accountability(ip: String?, userAgent: String?, origin: String?) -> Accountability {
            Accountability(policies: policies, admin: admin, app: app, ip: ip, userAgent: userAgent, origin: origin)
        }
    }

    private let cache = Mutex(Cache())
    /// Variable paths subscriptions asked for beyond their permissions', per identity: kept when
    /// the cache is dropped, so a refreshed context still reads them.
    private let subscribedVariablePaths = Mutex([String: VariablePaths]())

    public init(store: Store, logger: Logger = Logger(label: "switchboard.access")) {
        self.store = store
        self.logger = logger
    }

    public func publish(_ events: [ChangeEvent]) async {
        if events.contains(where: { SystemCollections.accessControl.contains($0.collection) }) { invalidate() }
    }

    /// Forgets every cached identity and permission set.
    public func invalidate() {
        cache.withLock { $0 = Cache() }
    }

    // MARK: Accountability

    /// The anonymous caller.
    public func publicAccountability(ip: String? = nil, userAgent: String? = nil, origin: String? = nil) async throws
        -> Accountability
    {
        if let known = cachedPublicAccountability(ip: ip, userAgent: userAgent, origin: origin) { return known }
        let rows = try await store.database.read { db in
            try await db.query("SELECT policy FROM directus_access WHERE role IS NULL AND \"user\" IS NULL ORDER BY sort, id")
        }
        let policies = rows.compactMap { $0["policy"].text }
        let flags = try await policyFlags(policies)
        let identity = PublicIdentity(policies: policies, admin: flags.admin, app: flags.app)
        cache.withLock { $0.publicIdentity = identity }
        return identity.accountability(ip: ip, userAgent: userAgent, origin: origin)
    }

    /// The accountability of an active user; `nil` if the user doesn't exist or isn't active.
    /// Most static tokens remembered; past this the map starts over (a connect storm of
    /// distinct valid tokens costs one query each, as without the cache).
    static let maxCachedStaticTokens = 10_000

    /// The user a static token (`directus_users.token`) belongs to. Valid tokens are
    /// cached until any change to users, roles, policies, access or permissions
    /// (`invalidate()`), like the rest of this cache: a reconnect storm of static-token
    /// clients then costs no query per connect.
    public func userID(forStaticToken token: String) async throws -> String? {
        if let cached = cache.withLock({ $0.staticTokens[token] }) { return cached }
        let rows = try await store.database.read { db in
            try await db.query("SELECT id FROM directus_users WHERE token = ?", [.text(token)])
        }
        guard let userID = rows.first?["id"].text else { return nil }
        cache.withLock { c in
            if c.staticTokens.count >= Self.maxCachedStaticTokens { c.staticTokens = [:] }
            c.staticTokens[token] = userID
        }
        return userID
    }

    public func accountability(userID: String) async throws -> Accountability? {
        if let cached = cache.withLock({ $0.accountabilities[userID] }) { return cached }
        let rows = try await store.database.read { db in
            try await db.query("SELECT id, role, status FROM directus_users WHERE id = ?", [.text(userID)])
        }
        guard let row = rows.first, row["status"].text == "active" else { return nil }
        var roles: [String] = []
        var next = row["role"].text
        while let role = next, !roles.contains(role), roles.count < 32 {
            roles.append(role)
            next = try await store.database.read { db in
                try await db.query("SELECT parent FROM directus_roles WHERE id = ?", [.text(role)])
            }.first?["parent"].text
        }
        let roleList = roles
        let accessRows = try await store.database.read { db -> [SQLRow] in
            var sql = SQLStatement("SELECT policy, role FROM directus_access WHERE \"user\" = ?", [.text(userID)])
            if roleList.isEmpty {
                sql.append(" OR (role IS NULL AND \"user\" IS NULL)")
            } else {
                sql.append(" OR role IN (" + roleList.map { _ in "?" }.joined(separator: ", ") + ")")
                sql.binds += roleList.map(SQLValue.text)
            }
            sql.append(" ORDER BY sort, id")
            return try await db.query(sql)
        }
        var policies: [String] = []
        for r in accessRows {
            if let p = r["policy"].text, !policies.contains(p) { policies.append(p) }
        }
        let flags = try await policyFlags(policies)
        let accountability = Accountability(
            userID: userID, roleID: roles.first, roles: roles, policies: policies, admin: flags.admin, app: flags.app)
        cache.withLock { $0.accountabilities[userID] = accountability }
        return accountability
    }

    private func policyFlags(_ policies: [String]) async throws -> (admin: Bool, app: Bool) {
        guard !policies.isEmpty else { return (false, false) }
        let rows = try await store.database.read { db in
            try await db.query(
                "SELECT admin_access, app_access FROM directus_policies WHERE id IN ("
                    + policies.map { _ in "?" }.joined(separator: ", ") + ")", policies.map(SQLValue.text))
        }
        var admin = false
        var app = false
        for r in rows {
            admin = admin || (r["admin_access"].int ?? 0) != 0 || r["admin_access"] == .bool(true)
            app = app || (r["app_access"].int ?? 0) != 0 || r["app_access"] == .bool(true)
        }
        return (admin, admin || app)
    }

    // MARK: Permissions

    /// The merged permissions of the accountability's policies.
    public func permissions(for accountability: Accountability) async throws -> PermissionSet {
        if accountability.admin { return .administrator }
        let key = Self.permissionKey(accountability)
        if let cached = cache.withLock({ $0.permissionSets[key] }) { return cached }
        let policies = accountability.policies
        var rows: [SQLRow] = []
        if !policies.isEmpty {
            rows = try await store.database.read { db in
                try await db.query(
                    "SELECT collection, action, permissions, validation, presets, fields FROM directus_permissions WHERE policy IN ("
                        + policies.map { _ in "?" }.joined(separator: ", ") + ") ORDER BY id", policies.map(SQLValue.text))
            }
        }
        var grants: [PermissionGrant] = []
        for row in rows {
            do {
                grants.append(try PermissionGrant(row: row))
            } catch {
                logger.warning(
                    "ignoring unreadable permission row",
                    metadata: ["collection": "\(row["collection"].text ?? "?")", "error": "\(error)"])
            }
        }
        if accountability.app { grants += PermissionGrant.appAccessMinimal }
        let set = PermissionGrant.merge(grants)
        cache.withLock { $0.permissionSets[key] = set }
        return set
    }

    /// Accountability plus permissions, ready for the store, with the caller's rows read for the
    /// `$CURRENT_USER.<path>` variables its permissions use (and `filters`', which later contexts
    /// of the same identity keep reading: a subscription's filter stays resolvable).
    public func context(for accountability: Accountability, variablesFor filters: [Filter] = []) async throws
        -> ItemsContext
    {
        var context = ItemsContext(accountability: accountability, permissions: try await permissions(for: accountability))
        let key = Self.variableKey(accountability)
        var extra = VariablePaths()
        for filter in filters { extra.formUnion(filter.variablePaths) }
        if !extra.isEmpty { subscribedVariablePaths.withLock { $0[key, default: VariablePaths()].formUnion(extra) } }
        let remembered = subscribedVariablePaths.withLock { $0[key] }
        var needed = context.permissions.variablePaths
        if let remembered { needed.formUnion(remembered) }
        guard !needed.isEmpty else { return context }
        context.variableRows = cache.withLock { $0.variableRows[key] } ?? VariableRows()
        guard !needed.subtracting(context.variableRows.loaded).isEmpty else { return context }
        context = try await store.withVariableRows(context, paths: needed)
        let rows = context.variableRows
        cache.withLock { $0.variableRows[key] = rows }
        return context
    }

    private static func variableKey(_ accountability: Accountability) -> String {
        [
            accountability.userID ?? "-", accountability.roleID ?? "-", accountability.roles.joined(separator: ","),
            accountability.policies.joined(separator: ","),
        ].joined(separator: "|")
    }

    private static func permissionKey(_ accountability: Accountability) -> String {
        accountability.policies.sorted().joined(separator: ",") + (accountability.app ? "|app" : "")
    }

    // MARK: Without waiting

    // What the cache already holds, for callers that must not wait (an event loop):
    // nil means a lookup is needed, which the async functions above do.

    public func cachedUserID(forStaticToken token: String) -> String? { cache.withLock { $0.staticTokens[token] } }

    public func cachedAccountability(userID: String) -> Accountability? { cache.withLock { $0.accountabilities[userID] } }

    public func cachedPublicAccountability(ip: String?, userAgent: String?, origin: String?) -> Accountability? {
        cache.withLock { $0.publicIdentity }?.accountability(ip: ip, userAgent: userAgent, origin: origin)
    }

    public func cachedContext(for accountability: Accountability) -> ItemsContext? {
        let permissions: PermissionSet
        if accountability.admin {
            permissions = .administrator
        } else {
            let key = Self.permissionKey(accountability)
            guard let cached = cache.withLock({ $0.permissionSets[key] }) else { return nil }
            permissions = cached
        }
        var context = ItemsContext(accountability: accountability, permissions: permissions)
        var needed = permissions.variablePaths
        // Most identities need no variable rows: then the key is not even built.
        guard !needed.isEmpty || !subscribedVariablePaths.withLock({ $0.isEmpty }) else { return context }
        let variableKey = Self.variableKey(accountability)
        if let remembered = subscribedVariablePaths.withLock({ $0[variableKey] }) { needed.formUnion(remembered) }
        guard !needed.isEmpty else { return context }
        // The rows must cover every path, or a lookup (`context(for:)`) reads them.
        guard let rows = cache.withLock({ $0.variableRows[variableKey] }), needed.subtracting(rows.loaded).isEmpty
        else { return nil }
        context.variableRows = rows
        return context
    }
}

/// One permission row as parsed; merged with others into a `PermissionSet`.
struct PermissionGrant {
    var collection: String
    var action: PermissionAction
    var fields: Set<String>?
    var filter: Filter?
    var validation: Filter?
    var presets: JSONObject

    init(
        collection: String, action: PermissionAction, fields: Set<String>? = nil, filter: Filter? = nil,
        validation: Filter? = nil, presets: JSONObject = [:]
    ) {
        self.collection = collection
        self.action = action
        self.fields = fields
        self.filter = filter
        self.validation = validation
        self.presets = presets
    }

    init(row: SQLRow) throws {
        guard let collection = row["collection"].text, let action = row["action"].text.flatMap(PermissionAction.init(rawValue:))
        else { throw SwitchboardError.invalidPayload("permission row without collection or action") }
        self.collection = collection
        self.action = action
        let fieldList = (row["fields"].text ?? "").split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
        fields = fieldList.contains("*") ? nil : Set(fieldList)
        filter = try Self.filter(row["permissions"])
        validation = try Self.filter(row["validation"], validation: true)
        presets = row["presets"].text.flatMap { try? JSONValue(parsing: $0) }?.objectValue ?? [:]
    }

    private static func filter(_ value: SQLValue, validation: Bool = false) throws -> Filter? {
        guard let text = value.text, !text.isEmpty, text != "null" else { return nil }
        let json = try JSONValue(parsing: text)
        if case .object(let o) = json, o.isEmpty { return nil }
        return try Filter.parse(json, validation: validation)
    }

    /// Several grants for one collection and action, combined as Directus 11 does
    /// (`CollectionPermission.combining`: per-policy field cases where they differ).
    static func merge(_ grants: [PermissionGrant]) -> PermissionSet {
        var grouped: [String: [PermissionAction: [PermissionGrantRow]]] = [:]
        for g in grants {
            grouped[g.collection, default: [:]][g.action, default: []].append(
                PermissionGrantRow(fields: g.fields, filter: g.filter, validation: g.validation, presets: g.presets))
        }
        let rules = grouped.mapValues { byAction in byAction.compactMapValues(CollectionPermission.combining) }
        return PermissionSet(admin: false, rules: rules)
    }

    /// What every app-access policy grants in Directus (own user, own notifications, own activity, own roles).
    static let appAccessMinimal: [PermissionGrant] = {
        let me: Filter = .condition(path: ["id"], op: ._eq, value: "$CURRENT_USER")
        return [
            PermissionGrant(
                collection: SystemCollections.activity, action: .read,
                filter: .condition(path: ["user"], op: ._eq, value: "$CURRENT_USER")),
            PermissionGrant(
                collection: SystemCollections.roles, action: .read,
                filter: .condition(path: ["id"], op: ._in, value: "$CURRENT_ROLES")),
            PermissionGrant(
                collection: SystemCollections.notifications, action: .read,
                filter: .condition(path: ["recipient"], op: ._eq, value: "$CURRENT_USER")),
            PermissionGrant(
                collection: SystemCollections.notifications, action: .update, fields: ["status"],
                filter: .condition(path: ["recipient"], op: ._eq, value: "$CURRENT_USER")),
            PermissionGrant(
                collection: SystemCollections.users, action: .read,
                fields: [
                    "id", "first_name", "last_name", "last_page", "email", "password", "location", "title",
                    "description", "tags", "provider", "avatar", "language", "status", "role",
                ],
                filter: me),
        ]
    }()
}
