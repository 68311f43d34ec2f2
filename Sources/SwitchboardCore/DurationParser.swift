/// Parses durations the way Directus does (the npm `ms` package): `"15m"`,
/// `"7d"`, `"30s"`, `"1h"`, `"2 days"`, `"500ms"`, `"1.5h"`. A bare number is
/// a count of milliseconds.
public enum DurationParser {
    /// Milliseconds per unit, keyed by every spelling `ms` accepts (lowercase).
    private static let unitMilliseconds: [String: Double] = {
        var table: [String: Double] = [:]
        let groups: [([String], Double)] = [
            (["ms", "msec", "msecs", "millisecond", "milliseconds"], 1),
            (["s", "sec", "secs", "second", "seconds"], 1_000),
            (["m", "min", "mins", "minute", "minutes"], 60_000),
            (["h", "hr", "hrs", "hour", "hours"], 3_600_000),
            (["d", "day", "days"], 86_400_000),
            (["w", "week", "weeks"], 604_800_000),
            (["y", "yr", "yrs", "year", "years"], 31_557_600_000),  // 365.25 days, like `ms`
        ]
        for (names, factor) in groups {
            for name in names { table[name] = factor }
        }
        return table
    }()

    /// The duration in milliseconds (rounded to the nearest millisecond), or
    /// `nil` when `text` is not a duration. Negative durations are accepted
    /// here, as `ms` does; callers decide whether they make sense.
    public static func milliseconds(from text: String) -> Int64? {
        let trimmed = trim(text)
        guard let (number, rest) = splitLeadingNumber(trimmed) else { return nil }
        let unit = trim(rest).lowercased()
        let factor: Double
        if unit.isEmpty {
            factor = 1
        } else if let f = unitMilliseconds[unit] {
            factor = f
        } else {
            return nil
        }
        let value = (number * factor).rounded()
        guard value.isFinite, abs(value) < 9.0e18 else { return nil }
        return Int64(value)
    }

    /// The shortest exact `ms`-style spelling: 900000 → `15m`, 86400000 → `1d`, 1500 → `1500ms`.
    public static func format(milliseconds ms: Int64) -> String {
        for (unit, factor) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        where ms != 0 && ms % factor == 0 {
            return "\(ms / factor)\(unit)"
        }
        return "\(ms)ms"
    }

    /// Splits `"-1.5 hours"` into `(-1.5, " hours")`. The number follows the
    /// `ms` grammar: optional minus, digits with at most one decimal point.
    static func splitLeadingNumber(_ text: Substring) -> (Double, Substring)? {
        var index = text.startIndex
        if index < text.endIndex, text[index] == "-" { index = text.index(after: index) }
        var sawDigit = false
        var sawPoint = false
        while index < text.endIndex {
            let c = text[index]
            if c.isASCII, c.isNumber {
                sawDigit = true
            } else if c == ".", !sawPoint {
                sawPoint = true
            } else {
                break
            }
            index = text.index(after: index)
        }
        guard sawDigit, let number = Double(String(text[text.startIndex..<index])), number.isFinite else {
            return nil
        }
        return (number, text[index...])
    }

    /// `text` without leading and trailing ASCII whitespace (space, tab, CR, LF).
    static func trim<S: StringProtocol>(_ text: S) -> Substring {
        let s = Substring(text)
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = s.firstIndex(where: { !isSpace($0) }), let last = s.lastIndex(where: { !isSpace($0) })
        else { return Substring() }
        return s[first...last]
    }
}
