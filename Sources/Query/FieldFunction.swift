import SwitchboardCore

/// A Directus field function, as a filter key (`{"year(date_created)": {"_eq": 2026}}`):
/// a date part of a date, date-time, timestamp or time field, or `count` of a JSON array
/// or of an o2m's related rows. Kept in the filter path as written (`year(date_created)`),
/// and read the same way by the SQL compiler and the in-memory evaluator.
///
/// Date parts are read in UTC from the stored value (Directus reads `timestamp` in UTC and
/// `dateTime` in the server's zone: the same when the server runs in UTC). `week` is the
/// ISO-8601 week (1–53, weeks start on Monday; PostgreSQL's `EXTRACT(WEEK)`), `weekday`
/// 0 (Sunday) to 6, as both databases' `dow` / `%w`.
public struct FieldFunction: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        case year, month, week, day, weekday, hour, minute, second, count
    }

    public let kind: Kind
    /// The field the function reads.
    public let field: String

    public init(kind: Kind, field: String) {
        self.kind = kind
        self.field = field
    }

    /// `kind(field)`; nil for a key that is not a function call.
    public init?(_ key: String) {
        guard key.last == ")", let open = key.firstIndex(of: "("),
            let kind = Kind(rawValue: String(key[..<open]))
        else { return nil }
        let field = String(key[key.index(after: open)..<key.index(before: key.endIndex)])
        guard QuerySyntax.isValidName(field) else { return nil }
        self.init(kind: kind, field: field)
    }

    /// Whether `key` looks like a function call (`name(…)`), valid or not.
    static func looksLikeCall(_ key: String) -> Bool { key.contains("(") || key.contains(")") }

    /// As written in a filter key or a `fields` entry.
    public var key: String { "\(kind.rawValue)(\(field))" }

    /// The key of its value in an item, as Directus names it: `year(date_created)` → `date_created_year`.
    public var outputName: String { "\(field)_\(kind.rawValue)" }

    /// Whether a date part works on values of this Directus type (`date`, `dateTime`,
    /// `timestamp`, `time`), as Directus's `getFunctionsForType`.
    public func appliesToTemporal(_ type: String) -> Bool {
        switch (kind, type) {
        case (.count, _): return false
        case (_, "dateTime"), (_, "timestamp"): return true
        case (.year, "date"), (.month, "date"), (.week, "date"), (.day, "date"), (.weekday, "date"): return true
        case (.hour, "time"), (.minute, "time"), (.second, "time"): return true
        default: return false
        }
    }

    /// The function's value for a stored value (as the API shows it): an integer, or null
    /// for null or for a value it cannot read.
    public func apply(to value: JSONValue) -> JSONValue {
        switch (kind, value) {
        case (_, .null): return .null
        case (.count, .array(let items)): return .int(Int64(items.count))
        // A JSON field holding something other than an array counts 0, as `json_array_length`.
        case (.count, _): return .int(0)
        case (_, .string(let text)): return Self.datePart(kind, of: text).map { .int(Int64($0)) } ?? .null
        default: return .null
        }
    }

    private static func datePart(_ kind: Kind, of text: String) -> Int? {
        if text.count <= 8, text.contains(":"), !text.contains("-") {  // a time: HH:MM[:SS]
            let parts = text.split(separator: ":").compactMap { Int($0) }
            guard parts.count >= 2 else { return nil }
            switch kind {
            case .hour: return parts[0]
            case .minute: return parts[1]
            case .second: return parts.count > 2 ? parts[2] : 0
            default: return nil
            }
        }
        guard let t = ISOTimestamp(parsing: text) else { return nil }
        let p = t.parts
        switch kind {
        case .year: return p.year
        case .month: return p.month
        case .day: return p.day
        case .hour: return p.hour
        case .minute: return p.minute
        case .second: return p.second
        case .weekday: return t.weekday
        case .week: return t.isoWeek
        case .count: return nil
        }
    }
}
