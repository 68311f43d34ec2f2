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
