import SwitchboardCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The values Directus's dynamic filter variables (`$CURRENT_USER`, `$NOW`, …)
/// stand for in one request or subscription.
public struct DynamicVariables: Sendable {
    /// `$CURRENT_USER`; null when unauthenticated.
    public var userID: JSONValue
    /// `$CURRENT_ROLE`.
    public var roleID: JSONValue
    /// `$CURRENT_ROLES`.
    public var roles: [JSONValue]
    /// `$CURRENT_POLICIES`.
    public var policies: [JSONValue]
    /// `$NOW`, in seconds since the Unix epoch.
    public var now: Double
    /// The caller's rows that `$CURRENT_USER.<path>` and its kin read.
    public var rows: VariableRows = VariableRows()

    /// Variables for one requester; the defaults describe an anonymous request at the current time.
    public init(
        userID: JSONValue = .null, roleID: JSONValue = .null, roles: [JSONValue] = [], policies: [JSONValue] = [],
        now: Double = DynamicVariables.currentTime()
    ) {
        self.userID = userID
        self.roleID = roleID
        self.roles = roles
        self.policies = policies
        self.now = now
    }

    /// The wall-clock time in seconds since the Unix epoch.
    public static func currentTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Replaces variables anywhere in a value (arrays and objects included, so
    /// this also serves permission presets). A list variable inside an array
    /// (`_in: ["$CURRENT_ROLES"]`) is spliced in rather than nested. Strings that
    /// are not variables, including malformed `$NOW(…)`, are left as they are.
    public func resolve(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let s) where s.hasPrefix("$"):
            return variable(s) ?? value
        case .array(let items):
            return .array(
                items.flatMap { item -> [JSONValue] in
                    let resolved = resolve(item)
                    if case .string = item, case .array(let list) = resolved { return list }
                    return [resolved]
                })
        case .object(let object):
            return .object(JSONObject(object.map { ($0.key, resolve($0.value)) }))
        default:
            return value
        }
    }

    private func variable(_ name: String) -> JSONValue? {
        if name.contains("."), let (root, path) = VariablePaths.split(name) {
            return Self.lodashGet(rows[root], path)
        }
        switch name {
        case "$CURRENT_USER": return userID
        case "$CURRENT_ROLE": return roleID
        case "$CURRENT_ROLES": return .array(roles)
        case "$CURRENT_POLICIES": return .array(policies)
        default:
            guard let adjustment = NowAdjustment(variable: name) else { return nil }
            return .string(ISODate.format(adjustment.applied(to: now)))
        }
    }
}

extension DynamicVariables {
    /// lodash's `get(row, path, null)`, which Directus resolves `$CURRENT_USER.role.name` with:
    /// object keys, and array indexes (`teams.0.id`); anything else is null.
    static func lodashGet(_ value: JSONValue, _ path: [String]) -> JSONValue {
        var current = value
        for key in path {
            switch current {
            case .object(let object): current = object[key] ?? .null
            case .array(let items):
                guard let index = Int(key), items.indices.contains(index) else { return .null }
                current = items[index]
            default: return .null
            }
        }
        return current
    }
}

/// The caller's rows behind `$CURRENT_USER.<path>`, `$CURRENT_ROLE.<path>`, `$CURRENT_ROLES.<path>`
/// and `$CURRENT_POLICIES.<path>`, read (as Directus reads them) with the fields the caller's
/// permissions and query name: objects for the user and role, arrays for roles and policies.
public struct VariableRows: Sendable, Hashable {
    public enum Root: String, Sendable, Hashable, CaseIterable {
        case user = "$CURRENT_USER", role = "$CURRENT_ROLE", roles = "$CURRENT_ROLES", policies = "$CURRENT_POLICIES"
    }

    public var user: JSONValue = .null
    public var role: JSONValue = .null
    public var roles: JSONValue = .null
    public var policies: JSONValue = .null
    /// The field paths each root was read with (what a later filter may need beyond them).
    public var loaded = VariablePaths()

    public init() {}

    public subscript(root: Root) -> JSONValue {
        get {
            switch root {
            case .user: user
            case .role: role
            case .roles: roles
            case .policies: policies
            }
        }
        set {
            switch root {
            case .user: user = newValue
            case .role: role = newValue
            case .roles: roles = newValue
            case .policies: policies = newValue
            }
        }
    }
}

/// The field paths that `$CURRENT_USER.<path>` (and `_ROLE`, `_ROLES`, `_POLICIES`) variables in
/// filters, validation rules and presets read, per root: what must be read before resolving.
public struct VariablePaths: Sendable, Hashable {
    private var byRoot: [VariableRows.Root: Set<String>] = [:]

    public init() {}

    public var isEmpty: Bool { byRoot.values.allSatisfy(\.isEmpty) }

    /// Field paths (dotted, array indexes dropped: `teams.0.id` reads `teams.id`) of one root.
    public func fields(_ root: VariableRows.Root) -> Set<String> { byRoot[root] ?? [] }

    public mutating func insert(_ root: VariableRows.Root, _ field: String) { byRoot[root, default: []].insert(field) }

    public mutating func formUnion(_ other: VariablePaths) {
        for (root, fields) in other.byRoot { byRoot[root, default: []].formUnion(fields) }
    }

    /// What `self` needs that `loaded` lacks.
    public func subtracting(_ loaded: VariablePaths) -> VariablePaths {
        var out = VariablePaths()
        for (root, fields) in byRoot {
            let missing = fields.subtracting(loaded.fields(root))
            if !missing.isEmpty { out.byRoot[root] = missing }
        }
        return out
    }

    /// Every variable path in a value (a filter's operand, presets), nested arrays and objects included.
    public mutating func collect(_ value: JSONValue) {
        switch value {
        case .string(let text) where text.hasPrefix("$CURRENT_") && text.contains("."):
            if let (root, path) = Self.split(text) {
                let field = path.filter { Int($0) == nil }.joined(separator: ".")
                if !field.isEmpty { insert(root, field) }
            }
        case .array(let items): for item in items { collect(item) }
        case .object(let object): for (_, item) in object { collect(item) }
        default: break
        }
    }

    /// `$CURRENT_USER.role.name` → (.user, ["role", "name"]); nil for anything else.
    static func split(_ name: String) -> (VariableRows.Root, [String])? {
        guard let dot = name.firstIndex(of: ".") else { return nil }
        guard let root = VariableRows.Root(rawValue: String(name[..<dot])) else { return nil }
        let path = name[name.index(after: dot)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty }) else { return nil }
        return (root, path)
    }
}

extension Filter {
    /// The `$CURRENT_*.<path>` variables this filter's values use.
    public var variablePaths: VariablePaths {
        var paths = VariablePaths()
        func walk(_ filter: Filter) {
            switch filter {
            case .and(let parts), .or(let parts): parts.forEach(walk)
            case .condition(_, _, let value): paths.collect(value)
            case .some(_, let inner), .none(_, let inner): walk(inner)
            }
        }
        walk(self)
        return paths
    }
}

/// The offset of a `$NOW` or `$NOW(…)` variable from the current time: `-7 days`, `+1 hour`,
/// `3 weeks` (units as Directus accepts them, singular, plural or abbreviated).
public enum NowAdjustment: Sendable, Hashable {
    /// A fixed length (seconds to weeks).
    case seconds(Int)
    /// Calendar months (months and years), with JavaScript's rollover at month ends.
    case months(Int)

    /// nil when `name` is not a well-formed `$NOW` variable (such text stays as it is).
    public init?(variable name: String) {
        if name == "$NOW" {
            self = .seconds(0)
            return
        }
        guard name.hasPrefix("$NOW("), name.hasSuffix(")") else { return nil }
        var rest = Substring(QuerySyntax.trimmed(name.dropFirst(5).dropLast()))
        var sign = 1
        if rest.first == "-" {
            sign = -1
            rest = rest.dropFirst()
        } else if rest.first == "+" {
            rest = rest.dropFirst()
        }
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        // Nine digits keep every unit product far from overflow.
        guard digits.count <= 9, let amount = Int(digits) else { return nil }
        let unit = rest.dropFirst(digits.count).drop { $0 == " " }.lowercased()
        let n = sign * amount
        switch unit {
        case "s", "sec", "secs", "second", "seconds": self = .seconds(n)
        case "m", "min", "mins", "minute", "minutes": self = .seconds(n * 60)
        case "h", "hour", "hours": self = .seconds(n * 3600)
        case "d", "day", "days": self = .seconds(n * 86_400)
        case "w", "week", "weeks": self = .seconds(n * 604_800)
        case "month", "months": self = .months(n)
        case "y", "year", "years": self = .months(n * 12)
        default: return nil
        }
    }

    /// The variable's value at `time` (seconds since the epoch).
    public func applied(to time: Double) -> Double {
        switch self {
        case .seconds(let n): return time + Double(n)
        case .months(let n): return ISODate.adding(months: n, to: time)
        }
    }
}
