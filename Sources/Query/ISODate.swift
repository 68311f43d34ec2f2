/// ISO-8601 instants as filters see them. Written by hand (no Foundation) because
/// only a handful of fixed forms occur: dates and datetimes as SQLite stores them
/// and `$NOW` as Directus prints it.
enum ISODate {
    private static let secondsPerDay = 86_400

    /// Seconds since the Unix epoch for `2026-11-24`, `2026-11-24T23:05:41`,
    /// `2026-11-24 23:05:41` (optional `:ss`, fraction, `Z` or `±hh[:mm]`);
    /// nil for anything else. Without a zone the time is taken as UTC.
    static func parse(_ text: String) -> Double? {
        let utf8 = text.utf8
        guard utf8.count >= 10 else { return nil }
        if let result = utf8.withContiguousStorageIfAvailable({ parse(bytes: $0) }) { return result }
        return Array(utf8).withUnsafeBufferPointer { parse(bytes: $0) }
    }

    private static func parse(bytes: UnsafeBufferPointer<UInt8>) -> Double? {
        var s = Scanner(bytes: bytes)
        guard let year = s.number(digits: 4), s.take("-"), let month = s.number(digits: 2), s.take("-"),
            let day = s.number(digits: 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var seconds = Double(daysFromCivil(year: year, month: month, day: day) * secondsPerDay)
        if s.atEnd { return seconds }
        guard s.take("T") || s.take("t") || s.take(" "), let hour = s.number(digits: 2), s.take(":"),
            let minute = s.number(digits: 2), hour < 24, minute < 60
        else { return nil }
        seconds += Double(hour * 3600 + minute * 60)
        if s.take(":") {
            guard let second = s.number(digits: 2), second <= 60 else { return nil }
            seconds += Double(second)
            if s.take(".") {
                var scale = 0.1
                guard s.peekDigit != nil else { return nil }
                while let digit = s.peekDigit {
                    s.advance()
                    seconds += Double(digit) * scale
                    scale /= 10
                }
            }
        }
        if s.atEnd { return seconds }
        if s.take("Z") || s.take("z") { return s.atEnd ? seconds : nil }
        // `+02:00` means local = UTC + 2h, so the offset is subtracted.
        let sign: Double
        if s.take("+") { sign = -1 } else if s.take("-") { sign = 1 } else { return nil }
        guard let offsetHours = s.number(digits: 2) else { return nil }
        _ = s.take(":")
        let offsetMinutes = s.atEnd ? 0 : s.number(digits: 2)
        guard let offsetMinutes, s.atEnd else { return nil }
        return seconds + sign * Double(offsetHours * 3600 + offsetMinutes * 60)
    }

    /// `2026-11-24T23:05:41.123Z`, the form Directus gives `$NOW`.
    static func format(_ seconds: Double) -> String {
        let millis = Int((seconds * 1000).rounded(.down))
        let days = floorDiv(millis, secondsPerDay * 1000)
        let msOfDay = millis - days * secondsPerDay * 1000
        let (year, month, day) = civilFromDays(days)
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(msOfDay / 3_600_000, 2) + ":"
            + pad(msOfDay / 60_000 % 60, 2) + ":" + pad(msOfDay / 1000 % 60, 2) + "." + pad(msOfDay % 1000, 3) + "Z"
    }

    /// Moves an instant by calendar months, keeping the time of day. A day past
    /// the end of the target month rolls over (Jan 31 + 1 month = Mar 3), as
    /// JavaScript's `setMonth` does in Directus.
    static func adding(months: Int, to seconds: Double) -> Double {
        let days = Int((seconds / Double(secondsPerDay)).rounded(.down))
        let timeOfDay = seconds - Double(days * secondsPerDay)
        let (year, month, day) = civilFromDays(days)
        let total = year * 12 + (month - 1) + months
        let newDays = daysFromCivil(year: floorDiv(total, 12), month: total - floorDiv(total, 12) * 12 + 1, day: day)
        return Double(newDays * secondsPerDay) + timeOfDay
    }

    // Howard Hinnant's civil-calendar algorithms (proleptic Gregorian).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, dayOfYear - (153 * mp + 2) / 5 + 1)
    }

    private static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func pad(_ n: Int, _ width: Int) -> String {
        let digits = String(n)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var pos = 0

        var atEnd: Bool { pos == bytes.count }

        var peekDigit: Int? {
            guard pos < bytes.count, bytes[pos] >= 0x30, bytes[pos] <= 0x39 else { return nil }
            return Int(bytes[pos] - 0x30)
        }

        mutating func advance() { pos += 1 }

        mutating func take(_ c: Unicode.Scalar) -> Bool {
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: c) else { return false }
            pos += 1
            return true
        }

        mutating func number(digits: Int) -> Int? {
            var value = 0
            for _ in 0..<digits {
                guard let d = peekDigit else { return nil }
                value = value * 10 + d
                pos += 1
            }
            return value
        }
    }
}
