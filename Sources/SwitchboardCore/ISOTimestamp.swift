#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Parsing and formatting of the ISO-8601 forms Directus uses for dates,
/// without Foundation's formatters (they are slow and locale-sensitive).
public struct ISOTimestamp: Sendable, Hashable, Comparable {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var epochMilliseconds: Int64

    public init(epochMilliseconds: Int64) { self.epochMilliseconds = epochMilliseconds }

    public init(epochSeconds: Double) { self.epochMilliseconds = Int64((epochSeconds * 1000).rounded()) }

    public static func < (a: ISOTimestamp, b: ISOTimestamp) -> Bool { a.epochMilliseconds < b.epochMilliseconds }

    /// Parses `2026-11-24`, `2026-11-24T23:05:41`, `2026-11-24 23:05:41.123`,
    /// with optional `Z` or `±hh:mm` / `±hhmm`. No zone means UTC.
    public init?(parsing text: String) {
        var bytes = Array(text.utf8)
        guard bytes.count >= 10 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= bytes.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                let c = bytes[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let year = num(0, 4), bytes[4] == UInt8(ascii: "-"), let month = num(5, 2), bytes[7] == UInt8(ascii: "-"),
            let day = num(8, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var millis = 0
        var offsetMinutes = 0
        var i = 10
        if i < bytes.count, bytes[i] == UInt8(ascii: "T") || bytes[i] == UInt8(ascii: " ") {
            guard let h = num(i + 1, 2), i + 3 < bytes.count, bytes[i + 3] == UInt8(ascii: ":"), let m = num(i + 4, 2)
            else { return nil }
            hour = h
            minute = m
            i += 6
            if i < bytes.count, bytes[i] == UInt8(ascii: ":") {
                guard let s = num(i + 1, 2) else { return nil }
                second = s
                i += 3
                if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                    i += 1
                    var digits = 0
                    var frac = 0
                    while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                        if digits < 3 {
                            frac = frac * 10 + Int(bytes[i] - 48)
                            digits += 1
                        }
                        i += 1
                    }
                    guard digits > 0 else { return nil }
                    while digits < 3 {
                        frac *= 10
                        digits += 1
                    }
                    millis = frac
                }
            }
            if i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "Z") || c == UInt8(ascii: "z") {
                    i += 1
                } else if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                    guard let oh = num(i + 1, 2) else { return nil }
                    var om = 0
                    if i + 3 < bytes.count, bytes[i + 3] == UInt8(ascii: ":") {
                        guard let m = num(i + 4, 2) else { return nil }
                        om = m
                        i += 6
                    } else if let m = num(i + 3, 2) {
                        om = m
                        i += 5
                    } else {
                        i += 3
                    }
                    offsetMinutes = (oh * 60 + om) * (c == UInt8(ascii: "-") ? -1 : 1)
                }
            }
        }
        guard i == bytes.count, hour < 24, minute < 60, second < 61 else { return nil }
        bytes.removeAll()
        let days = ISOTimestamp.daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        epochMilliseconds = seconds * 1000 + Int64(millis)
    }

    /// Calendar parts in UTC.
    public var parts: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int) {
        var ms = epochMilliseconds
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        ms -= days * 86_400_000
        let (y, m, d) = ISOTimestamp.civilFromDays(Int(days))
        let secs = Int(ms / 1000)
        return (y, m, d, secs / 3600, (secs / 60) % 60, secs % 60, Int(ms % 1000))
    }

    /// Days since 1970-01-01 (UTC), rounded down.
    private var epochDays: Int {
        let ms = epochMilliseconds
        return Int(ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000)
    }

    /// 0 (Sunday) to 6 (Saturday), in UTC.
    public var weekday: Int {
        let r = (epochDays + 4) % 7  // 1970-01-01 was a Thursday
        return r < 0 ? r + 7 : r
    }

    /// The ISO-8601 week of the year (1–53; weeks start on Monday, week 1 holds the year's
    /// first Thursday), in UTC.
    public var isoWeek: Int {
        let isoWeekday = weekday == 0 ? 7 : weekday
        let thursday = epochDays - isoWeekday + 4
        let (year, _, _) = ISOTimestamp.civilFromDays(thursday)
        let dayOfYear = thursday - ISOTimestamp.daysFromCivil(year: year, month: 1, day: 1)
        return dayOfYear / 7 + 1
    }

    /// `2026-11-24T23:05:41.123Z`, as JavaScript's `Date.toISOString()`.
    public var iso8601: String {
        let p = parts
        return
            "\(pad(p.year, 4))-\(pad(p.month, 2))-\(pad(p.day, 2))T\(pad(p.hour, 2)):\(pad(p.minute, 2)):\(pad(p.second, 2)).\(pad(p.millisecond, 3))Z"
    }

    /// `2026-11-24T23:05:41` (Directus `dateTime`).
    public var dateTimeString: String {
        let p = parts
        return "\(pad(p.year, 4))-\(pad(p.month, 2))-\(pad(p.day, 2))T\(pad(p.hour, 2)):\(pad(p.minute, 2)):\(pad(p.second, 2))"
    }

    /// `2026-11-24` (Directus `date`).
    public var dateString: String {
        let p = parts
        return "\(pad(p.year, 4))-\(pad(p.month, 2))-\(pad(p.day, 2))"
    }

    private func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    // Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension ISOTimestamp {
    /// This instant moved by whole calendar months, rolling day overflow
    /// forward the way JavaScript's `Date` does (Jan 31 + 1 month = Mar 3).
    public func adding(months: Int) -> ISOTimestamp {
        let p = parts
        let total = p.year * 12 + (p.month - 1) + months
        let year = total >= 0 ? total / 12 : (total - 11) / 12
        let month = total - year * 12 + 1
        let days = ISOTimestamp.daysFromCivil(year: year, month: month, day: 1) + p.day - 1
        let msOfDay = Int64(p.hour * 3600 + p.minute * 60 + p.second) * 1000 + Int64(p.millisecond)
        return ISOTimestamp(epochMilliseconds: Int64(days) * 86_400_000 + msOfDay)
    }

    /// The current time.
    public static func now() -> ISOTimestamp {
        ISOTimestamp(epochMilliseconds: Int64(ContinuousClockReference.unixMilliseconds()))
    }
}

/// Wall-clock time without Foundation.
enum ContinuousClockReference {
    static func unixMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
