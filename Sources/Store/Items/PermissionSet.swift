import Query
import SwitchboardCore

/// The four actions permissions are granted for.
public enum PermissionAction: String, Sendable, Hashable, CaseIterable {
    case create, read, update, delete
}

/// What one action on one collection allows, merged over the caller's policies.
/// Filters keep their dynamic variables (`$CURRENT_USER`, `$NOW`); they are
/// resolved when a request runs, so one set serves every user with the same policies.
public struct CollectionPermission: Sendable, Hashable {
    /// Allowed fields; `nil` means every field (`*`).
    public var fields: Set<String>?
    /// Rows the action may touch; `nil` means all rows.
    public var filter: Filter?
    /// Rule the written payload must satisfy (create/update).
    public var validation: Filter?
    /// Default values merged under the payload (create/update).
    public var presets: JSONObject

    public init(fields: Set<String>? = nil, filter: Filter? = nil, validation: Filter? = nil, presets: JSONObject = [:]) {
        self.fields = fields
        self.filter = filter
        self.validation = validation
        self.presets = presets
    }

    public static let unrestricted = CollectionPermission()

    public func allows(field: String) -> Bool { fields?.contains(field) ?? true }
}

/// The effective permissions of a set of policies.
public struct PermissionSet: Sendable, Hashable {
    public var admin: Bool
    public var rules: [String: [PermissionAction: CollectionPermission]]

    public init(admin: Bool, rules: [String: [PermissionAction: CollectionPermission]] = [:]) {
        self.admin = admin
        self.rules = rules
    }

    public static let administrator = PermissionSet(admin: true)

    /// `nil` when the action is not allowed at all.
    public func permission(_ action: PermissionAction, _ collection: String) -> CollectionPermission? {
        if admin { return .unrestricted }
        return rules[collection]?[action]
    }
}

/// Everything an item operation needs to know about its caller.
public struct ItemsContext: Sendable {
    public var accountability: Accountability
    public var permissions: PermissionSet
    /// The caller's rows for `$CURRENT_USER.<path>` and its kin (`Store.withVariableRows`).
    public var variableRows = VariableRows()

    public init(accountability: Accountability, permissions: PermissionSet) {
        self.accountability = accountability
        self.permissions = permissions
    }

    public static let system = ItemsContext(accountability: .system, permissions: .administrator)

    /// Values for `$CURRENT_USER`, `$NOW`, … at this moment.
    public func variables(now: ISOTimestamp = .now()) -> DynamicVariables {
        var variables = DynamicVariables(
            userID: accountability.userID.map(JSONValue.string) ?? .null,
            roleID: accountability.roleID.map(JSONValue.string) ?? .null,
            roles: accountability.roles.map(JSONValue.string),
            policies: accountability.policies.map(JSONValue.string),
            now: Double(now.epochMilliseconds) / 1000)
        variables.rows = variableRows
        return variables
    }
}
