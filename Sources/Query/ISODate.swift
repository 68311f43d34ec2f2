import SwitchboardCore

/// Dates for filters, in seconds since the epoch, through `ISOTimestamp`.
enum ISODate {
    /// Seconds since the epoch for the ISO-8601 forms Directus uses; nil if `text` isn't one.
    static func parse(_ text: String) -> Double? {
        ISOTimestamp(parsing: text).map { Double($0.epochMilliseconds) / 1000 }
    }

    /// `2026-11-24T23:05:41.123Z`.
    static func format(_ seconds: Double) -> String {
        ISOTimestamp(epochSeconds: seconds).iso8601
    }

    /// Calendar-month arithmetic for `$NOW(+1 month)`.
    static func adding(months: Int, to seconds: Double) -> Double {
        Double(ISOTimestamp(epochSeconds: seconds).adding(months: months).epochMilliseconds) / 1000
    }
}
