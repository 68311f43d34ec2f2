import Foundation
import SwitchboardCore
import Testing

@Suite struct ISOTimestampTests {
    /// 2026-11-24T23:05:41Z
    static let base: Int64 = 1_795_561_541_000

    /// Each accepted form with its distance in milliseconds from `base`.
    static let acceptedForms: [(String, Int64)] = [
        ("2026-11-24", -83_141_000),
        ("2026-11-24T23:05", -41_000),
        ("2026-11-24T23:05:41", 0),
        ("2026-11-24 23:05:41", 0),
        ("2026-11-24T23:05:41Z", 0),
        ("2026-11-24T23:05:41z", 0),
        ("2026-11-24T23:05Z", -41_000),
        ("2026-11-24T23:05:41.1Z", 100),
        ("2026-11-24T23:05:41.12Z", 120),
        ("2026-11-24T23:05:41.123Z", 123),
        ("2026-11-24 23:05:41.123", 123),
        ("2026-11-24T23:05:41.1234Z", 123),
        ("2026-11-24T23:05:41.123456Z", 123),
        ("2026-11-24T23:05:41.123456789Z", 123),
        ("2026-11-24T23:05:41.999999999Z", 999),
        ("2026-11-25T01:05:41+02:00", 0),
        ("2026-11-25T04:35:41+05:30", 0),
        ("2026-11-25T04:35:41+0530", 0),
        ("2026-11-24T18:05:41-05:00", 0),
        ("2026-11-24T18:05:41-0500", 0),
        ("2026-11-24T18:05:41-05", 0),
        ("2026-11-24T23:05:41+00:00", 0),
        ("2026-11-24T23:05:41.500-00:00", 500),
        ("2026-11-24T21:35:41.123-0130", 123),
    ]

    @Test(arguments: acceptedForms)
    func parsesDirectusForms(_ text: String, _ offsetFromBase: Int64) throws {
        let parsed = try #require(ISOTimestamp(parsing: text))
        #expect(parsed.epochMilliseconds == Self.base + offsetFromBase)
    }

    @Test(arguments: [
        "", "2026", "2026-11", "2026-11-2", "26-11-24", "2026/11/24", "2026-1-24", "20261124",
        "2026-13-01", "2026-00-10", "2026-11-00", "2026-11-32",
        "2026-11-24T", "2026-11-24T23", "2026-11-24T2:05", "2026-11-24T23:5", "2026-11-24T23:05:4",
        "2026-11-24T24:00:00", "2026-11-24T23:60:00", "2026-11-24T23:05:61",
        "2026-11-24T23:05:41.", "2026-11-24T23:05:41.Z", "2026-11-24T23:05:41Zjunk", "2026-11-24T23:05:41 Z",
        "2026-11-24T23:05:41+5", "2026-11-24T23:05:41+05:3", "2026-11-24T23:05:41+05:", "2026-11-24T23:05:41UTC",
        "2026-11-24X23:05:41", "2026-11-24Z", "2026-11-24 ", " 2026-11-24", "2026-11-24T23:05:41.123ZZ",
        "abcd-ef-gh", "２０２６-11-24",
    ])
    func rejectsInvalidText(_ text: String) {
        #expect(ISOTimestamp(parsing: text) == nil)
    }

    @Test func formatsTheThreeDirectusShapes() {
        let t = ISOTimestamp(epochMilliseconds: Self.base + 7)
        #expect(t.iso8601 == "2026-11-24T23:05:41.007Z")
        #expect(t.dateTimeString == "2026-11-24T23:05:41")
        #expect(t.dateString == "2026-11-24")
    }

    @Test func formatsTheEpochAndZeroPadsEveryPart() {
        #expect(ISOTimestamp(epochMilliseconds: 0).iso8601 == "1970-01-01T00:00:00.000Z")
        #expect(ISOTimestamp(parsing: "0005-02-03T04:05:06.009Z")?.iso8601 == "0005-02-03T04:05:06.009Z")
        #expect(ISOTimestamp(parsing: "9999-12-31T23:59:59.999Z")?.iso8601 == "9999-12-31T23:59:59.999Z")
    }

    @Test(arguments: [
        (Int64(-1), "1969-12-31T23:59:59.999Z"),
        (-1000, "1969-12-31T23:59:59.000Z"),
        (-86_400_000, "1969-12-31T00:00:00.000Z"),
        (-86_400_001, "1969-12-30T23:59:59.999Z"),
        (-14_182_800_000, "1969-07-20T20:20:00.000Z"),
        (-2_208_988_800_000, "1900-01-01T00:00:00.000Z"),
        (-11_644_473_600_000, "1601-01-01T00:00:00.000Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
    ])
    func handlesDatesBefore1970(_ milliseconds: Int64, _ text: String) throws {
        #expect(ISOTimestamp(epochMilliseconds: milliseconds).iso8601 == text)
        #expect(try #require(ISOTimestamp(parsing: text)).epochMilliseconds == milliseconds)
    }

    @Test(arguments: [
        ("2024-02-29", "2024-03-01"), ("2000-02-29", "2000-03-01"), ("1600-02-29", "1600-03-01"),
        ("2023-02-28", "2023-03-01"), ("1900-02-28", "1900-03-01"), ("2100-02-28", "2100-03-01"),
        ("1968-02-29", "1968-03-01"), ("2024-12-31", "2025-01-01"),
    ])
    func knowsLeapYears(_ day: String, _ next: String) throws {
        let t = try #require(ISOTimestamp(parsing: day))
        #expect(t.dateString == day)
        #expect(ISOTimestamp(epochMilliseconds: t.epochMilliseconds + 86_400_000).dateString == next)
    }

    @Test func countsLeapDaysAcrossCenturies() throws {
        let start = try #require(ISOTimestamp(parsing: "2000-01-01"))
        let end = try #require(ISOTimestamp(parsing: "2100-01-01"))
        // 100 years with 25 leap days (2000 is one, 2100 is outside the range).
        #expect(end.epochMilliseconds - start.epochMilliseconds == Int64(36_525) * 86_400_000)
        let gregorian = try #require(ISOTimestamp(parsing: "1900-03-01"))
        let beforeNonLeap = try #require(ISOTimestamp(parsing: "1900-02-28"))
        #expect(gregorian.epochMilliseconds - beforeNonLeap.epochMilliseconds == 86_400_000)
    }

    @Test func partsAreInUTC() {
        let p = ISOTimestamp(epochMilliseconds: -1).parts
        #expect(p.year == 1969 && p.month == 12 && p.day == 31)
        #expect(p.hour == 23 && p.minute == 59 && p.second == 59 && p.millisecond == 999)
    }

    @Test func secondsInitializerRoundsToTheNearestMillisecond() {
        #expect(ISOTimestamp(epochSeconds: 1.0004).epochMilliseconds == 1000)
        #expect(ISOTimestamp(epochSeconds: 1.0006).epochMilliseconds == 1001)
        #expect(ISOTimestamp(epochSeconds: -0.0016).epochMilliseconds == -2)
    }

    @Test func ordersByInstantNotByText() throws {
        let utc = try #require(ISOTimestamp(parsing: "2026-11-24T23:00:00Z"))
        let earlierButLaterText = try #require(ISOTimestamp(parsing: "2026-11-24T23:30:00+01:00"))
        #expect(earlierButLaterText < utc)
        #expect(ISOTimestamp(parsing: "2026-11-24T23:00:00+00:00") == utc)
    }

    @Test func formattedTextParsesBackToTheSameInstant() throws {
        var rng = SplitMix64(seed: 0x5EED)
        for _ in 0..<2_000 {
            // From 1600 to 9999, the range Foundation's Gregorian calendar agrees on.
            let ms = Int64.random(in: -11_676_096_000_000...253_402_300_799_999, using: &rng)
            let t = ISOTimestamp(epochMilliseconds: ms)
            #expect(ISOTimestamp(parsing: t.iso8601) == t)
            #expect(ISOTimestamp(parsing: t.dateTimeString)?.epochMilliseconds == ms - ms.modulo(1000))
            #expect(ISOTimestamp(parsing: t.dateString)?.epochMilliseconds == ms - ms.modulo(86_400_000))
        }
    }

    @Test func agreesWithFoundationOnRandomInstants() throws {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        withFraction.timeZone = TimeZone(identifier: "UTC")
        let withoutFraction = ISO8601DateFormatter()
        withoutFraction.timeZone = TimeZone(identifier: "UTC")
        var rng = SplitMix64(seed: 20_261_124)
        for _ in 0..<1_000 {
            // Whole seconds, so that Foundation's floating-point fraction can't round differently.
            let seconds = Int64.random(in: -11_676_096_000...253_402_300_799, using: &rng)
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            let ours = ISOTimestamp(epochMilliseconds: seconds * 1000)
            #expect(ours.iso8601 == withFraction.string(from: date))
            #expect(ours.dateTimeString + "Z" == withoutFraction.string(from: date))
            // Foundation's text, with its own offset form, parses to the same instant.
            let shifted = ISO8601DateFormatter()
            shifted.timeZone = TimeZone(secondsFromGMT: Int((seconds.modulo(27) - 13) * 3600))
            let zoned = shifted.string(from: date)
            #expect(ISOTimestamp(parsing: zoned)?.epochMilliseconds == seconds * 1000, "\(zoned)")
            let parsedByFoundation = try #require(withFraction.date(from: ours.iso8601))
            #expect(Int64(parsedByFoundation.timeIntervalSince1970) == seconds)
        }
    }

    @Test func agreesWithFoundationOnMilliseconds() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var rng = SplitMix64(seed: 42)
        for _ in 0..<1_000 {
            let ms = Int64.random(in: 0...4_102_444_800_000, using: &rng)
            let text = ISOTimestamp(epochMilliseconds: ms).iso8601
            let date = try #require(formatter.date(from: text))
            #expect(Int64((date.timeIntervalSince1970 * 1000).rounded()) == ms, "\(text)")
        }
    }
}

extension Int64 {
    /// The non-negative remainder (floor modulo).
    fileprivate func modulo(_ m: Int64) -> Int64 { ((self % m) + m) % m }
}
