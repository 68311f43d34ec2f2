import Query
import SwitchboardCore

/// The four actions permissions are granted for.
public enum PermissionAction: String, Sendable, Hashable, CaseIterable {
    case create, read, update, delete
}

/// One policy's row filter with the fields it grants on the rows that filter admits
/// (Directus 11 "cases"; rows of policies with identical filters are one case).
public struct PermissionCase: Sendable, Hashable {
    /// Rows this case admits; `nil` means all rows.
    public var filter: Filter?
    /// Fields granted on those rows; `nil` means every field (`*`).
    public var fields: Set<String>?

    public init(filter: Filter?, fields: Set<String>?) {
        self.filter = filter
        self.fields = fields
    }

    public func grants(_ field: String) -> Bool { fields?.contains(field) ?? true }
}

/// What one action on one collection allows, merged over the caller's policies.
/// Filters keep their dynamic variables (`$CURRENT_USER`, `$NOW`); they are
/// resolved when a request runs, so one set serves every user with the same policies.
///
/// When policies grant different fields under different filters, `cases` keeps
/// them apart: a field is readable on a row only if some case granting it admits
/// the row (otherwise the field reads as null). `cases` is empty when the merged
/// `fields`/`filter` already give that answer (one policy, identical filters, or
/// every field granted wherever a row is visible): the cheap common path.
public struct CollectionPermission: Sendable, Hashable {
    /// Allowed fields (the union over the policies); `nil` means every field (`*`).
    public var fields: Set<String>?
    /// Rows the action may touch (the OR of the policies' filters); `nil` means all rows.
    public var filter: Filter?
    /// Rule the written payload must satisfy (create/update): every policy's rule must hold.
    public var validation: Filter?
    /// Default values merged under the payload (create/update).
    public var presets: JSONObject
    /// Per-policy field grants; empty when the merged fields apply on every visible row.
    public var cases: [PermissionCase]

    public init(
        fields: Set<String>? = nil, filter: Filter? = nil, validation: Filter? = nil, presets: JSONObject = [:],
        cases: [PermissionCase] = []
    ) {
        self.fields = fields
        self.filter = filter
        self.validation = validation
        self.presets = presets
        self.cases = cases
    }

    public static let unrestricted = CollectionPermission()

    public func allows(field: String) -> Bool { fields?.contains(field) ?? true }

    /// The rows on which `field` may be read beyond the row filter: `nil` when on
    /// every row the row filter admits, otherwise the OR of the filters of the cases
    /// granting it (a case with no filter makes it unconditional).
    public func condition(for field: String) -> Filter? {
        guard !cases.isEmpty else { return nil }
        var filters: [Filter] = []
        for c in cases where c.grants(field) {
            guard let f = c.filter else { return nil }
            if !filters.contains(f) { filters.append(f) }
        }
        return filters.count == 1 ? filters[0] : .or(filters)
    }

    /// The row filter of a read that returns the fields `requested` (unaliased
    /// top-level names): as in Directus, a case none of whose fields is requested
    /// does not make rows visible. `nil` means all rows.
    public func rowFilter(requesting requested: Set<String>) -> Filter? {
        guard !cases.isEmpty, !requested.isEmpty else { return filter }
        var filters: [Filter] = []
        for c in cases where c.fields.map({ !$0.isDisjoint(with: requested) }) ?? true {
            guard let f = c.filter else { return nil }
            filters.append(f)
        }
        return filters.count == 1 ? filters[0] : .or(filters)
    }

    /// Combines policy grants the Directus 11 way: union of fields, OR of row
    /// filters, AND of validation rules, presets applied in order; `cases` when
    /// some field is granted on fewer rows than the merged filter admits.
    public static func combining(_ grants: [PermissionGrantRow]) -> CollectionPermission? {
        guard let first = grants.first else { return nil }
        var cases: [PermissionCase] = []
        var fields: Set<String>? = first.fields
        var validations: [Filter] = []
        var presets = JSONObject()
        for g in grants {
            if let i = cases.firstIndex(where: { $0.filter == g.filter }) {
                if let f = g.fields, cases[i].fields != nil { cases[i].fields?.formUnion(f) } else { cases[i].fields = nil }
            } else {
                cases.append(PermissionCase(filter: g.filter, fields: g.fields))
            }
            if let f = g.fields, fields != nil { fields?.formUnion(f) } else { fields = nil }
            if let v = g.validation, !validations.contains(v) { validations.append(v) }
            for (k, v) in g.presets { presets[k] = v }
        }
        let filter: Filter? =
            cases.contains { $0.filter == nil } ? nil : (cases.count == 1 ? cases[0].filter : .or(cases.compactMap(\.filter)))
        let validation: Filter? = validations.isEmpty ? nil : (validations.count == 1 ? validations[0] : .and(validations))
        return CollectionPermission(
            fields: fields, filter: filter, validation: validation, presets: presets,
            cases: needsCases(cases, union: fields) ? cases : [])
    }

    /// Whether some granted field is readable on fewer rows than the union of the
    /// cases: it is not granted by every case, nor by a case without a filter.
    static func needsCases(_ cases: [PermissionCase], union: Set<String>?) -> Bool {
        guard cases.count > 1 else { return false }
        let unfiltered = cases.filter { $0.filter == nil }
        func everywhere(_ field: String?) -> Bool {
            func has(_ c: PermissionCase) -> Bool { field.map(c.grants) ?? (c.fields == nil) }
            return cases.allSatisfy(has) || unfiltered.contains(where: has)
        }
        var tokens: [String?] = cases.flatMap { $0.fields.map { Array($0) } ?? [] }
        if union == nil { tokens.append(nil) }
        return !tokens.allSatisfy(everywhere)
    }
}

/// One permission row of one policy, as `CollectionPermission.combining` takes it.
public struct PermissionGrantRow: Sendable, Hashable {
    public var fields: Set<String>?
    public var filter: Filter?
    public var validation: Filter?
    public var presets: JSONObject

    public init(fields: Set<String>?, filter: Filter?, validation: Filter?, presets: JSONObject) {
        self.fields = fields
        self.filter = filter
        self.validation = validation
        self.presets = presets
    }
}

/// The effective permissions of a set of policies.
public struct PermissionSet: Sendable, Hashable {
    public var admin: Bool
    public var rules: [String: [PermissionAction: CollectionPermission]] {
        didSet { variablePaths = Self.variablePaths(of: rules) }
    }
    /// The `$CURRENT_*.<path>` variables of every rule (row filters, case filters, validation,
    /// presets): found once per set, not on each request that needs them.
    public private(set) var variablePaths: VariablePaths

    public init(admin: Bool, rules: [String: [PermissionAction: CollectionPermission]] = [:]) {
        self.admin = admin
        self.rules = rules
        variablePaths = Self.variablePaths(of: rules)
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

extension CollectionPermission {
    /// The unaliased top-level fields a read with `tree` requests among those allowed
    /// (`*` stands for every allowed field; `year(at)` requests `at`).
    public func requestedFields(_ tree: FieldTree, in collection: CollectionSchema) -> Set<String> {
        var out = Set<String>()
        if tree.includesAll {
            for f in collection.fields where allows(field: f.field) { out.insert(f.field) }
        }
        for name in tree.names + tree.nestedOrder {
            let field = FieldFunction(name)?.field ?? name
            if collection.field(field) != nil, allows(field: field) { out.insert(field) }
        }
        return out
    }

    /// The row filter of a read of `collection` with the `fields` parameter given
    /// (default `*`); the merged filter when no cases apply.
    public func rowFilter(fields: [String]?, in collection: CollectionSchema) -> Filter? {
        guard !cases.isEmpty else { return filter }
        guard let tree = try? FieldTree.parse(fields ?? ["*"]) else { return filter }
        return rowFilter(requesting: requestedFields(tree, in: collection))
    }

    /// Every filter the permission evaluates: the row filter and the cases' filters.
    public var allFilters: [Filter] { [filter].compactMap { $0 } + cases.compactMap(\.filter) }
}
