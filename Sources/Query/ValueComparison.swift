import SwitchboardCore

/// The loose, SQL-like value semantics of filters and aggregates: numbers compare
/// numerically across int/double and numeric strings, ISO dates compare as
/// instants, booleans equal `true`/`false`/1/0.
enum ValueComparison {
    /// Equality as `_eq` sees it; `null` equals only `null`.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.null, _), (_, .null): return false
        case (.array, _), (_, .array), (.object, _), (_, .object): return a == b
        default: return order(a, b) == 0
        }
    }

    /// -1, 0 or 1; nil when the values cannot be compared (the comparison is
    /// then false, as SQL's NULL result would be).
    static func order(_ a: JSONValue, _ b: JSONValue) -> Int? {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            return sign(x, y)
        case (.string(let x), .string(let y)):
            if x == y { return 0 }
            // UUIDs are stored lowercased; an operand in capitals still names the same row.
            if x.utf8.count == 36, y.utf8.count == 36, x.lowercased() == y.lowercased() { return 0 }
            if let dx = ISODate.parse(x), let dy = ISODate.parse(y) {
                // A date-only value meets a timestamp by calendar day (UTC), as a DATE column
                // compares with a timestamp operand cast to its type.
                if x.utf8.count == 10, y.utf8.count > 10, let day = ISOTimestamp(parsing: y)?.dateString {
                    return x == day ? 0 : (x.utf8.lexicographicallyPrecedes(day.utf8) ? -1 : 1)
                }
                return sign(dx, dy)
            }
            // Byte order, like SQLite's BINARY collation.
            return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1
        case (.int(let x), .string(let t)) where Int64(t) != nil:
            // An integer as text (`"9007199254740993"`) compares exactly, as SQL casts it to the column's type.
            return sign(x, Int64(t) ?? 0)
        case (.string(let t), .int(let y)) where Int64(t) != nil:
            return sign(Int64(t) ?? 0, y)
        default:
            if let x = number(a), let y = number(b) { return sign(x, y) }
            // Text that is not a number, against a number: a text column compares as text.
            if case .string(let x) = a, let y = b.textValue {
                return x == y ? 0 : (x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1)
            }
            return nil
        }
    }

    /// A key for hashing by `equal`: values `equal` calls equal have the same key (the
    /// converse need not hold). Numbers, booleans and numeric text by their number, ISO dates by
    /// their UTC day, other text lowercased; nil for null, arrays and objects.
    static func equalityKey(_ value: JSONValue) -> String? {
        if let n = number(value) { return "n:" + JSONWriter.formatDouble(n == 0 ? 0 : n) }
        guard case .string(let text) = value else { return nil }
        if let day = ISOTimestamp(parsing: text)?.dateString { return "d:" + day }
        return "t:" + text.lowercased()
    }

    /// A value read as a number: numbers, booleans (0/1) and numeric strings.
    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        case .string("true"): return 1
        case .string("false"): return 0
        case .string(let s):
            guard let d = Double(s), d.isFinite else { return nil }
            return d
        default: return nil
        }
    }

    private static func sign<T: Comparable>(_ x: T, _ y: T) -> Int {
        x < y ? -1 : (x == y ? 0 : 1)
    }
}

extension JSONValue {
    /// The value's key for an index of filter equalities: two values a filter's `_eq` calls
    /// equal have the same key (see `ValueComparison.equalityKey`).
    public var filterEqualityKey: String? { ValueComparison.equalityKey(self) }
}
