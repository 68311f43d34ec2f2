import Query
import SwitchboardCore
import Testing

@Suite struct NowWindowTests {
    func windows(_ text: String) throws -> [NowWindow] { NowWindow.required(by: try filter(text)) }

    func ms(_ iso: String) -> Int64 { ISOTimestamp(parsing: iso)?.epochMilliseconds ?? -1 }

    @Test func requiredWindowsAreFoundThroughAndChainsOnly() throws {
        #expect(
            try windows(#"{"last_seen":{"_gte":"$NOW(-5 minutes)"}}"#) == [
                NowWindow(field: "last_seen", adjustment: .seconds(-300), inclusive: true)
            ])
        #expect(
            try windows(#"{"_and":[{"room":{"_eq":1}},{"_and":[{"t":{"_gt":"$NOW"}}]}]}"#) == [
                NowWindow(field: "t", adjustment: .seconds(0), inclusive: false)
            ])
        #expect(
            try windows(#"{"t":{"_between":["$NOW(-1 day)","$NOW(+1 day)"]}}"#) == [
                NowWindow(field: "t", adjustment: .seconds(-86_400), inclusive: true)
            ])
        #expect(try windows(#"{"_or":[{"t":{"_gte":"$NOW(-1 hour)"}}]}"#).count == 1)
        #expect(try windows(#"{"t":{"_gte":"$NOW(-1 month)"}}"#).first?.adjustment == .months(-1))
    }

    @Test func windowsThatDoNotDecideAloneOrDoNotCloseAreNotTracked() throws {
        // Under a real `_or`: the other branch may keep the row.
        #expect(try windows(#"{"_or":[{"t":{"_gte":"$NOW(-1 hour)"}},{"pinned":{"_eq":true}}]}"#).isEmpty)
        // Rows enter these as time passes; they never leave.
        #expect(try windows(#"{"t":{"_lt":"$NOW"}}"#).isEmpty)
        #expect(try windows(#"{"t":{"_lte":"$NOW(+1 day)"}}"#).isEmpty)
        #expect(try windows(#"{"t":{"_between":["2020-01-01","$NOW"]}}"#).isEmpty)
        #expect(try windows(#"{"t":{"_nbetween":["$NOW(-1 day)","$NOW"]}}"#).isEmpty)
        // Through a relation, or not a `$NOW` value.
        #expect(try windows(#"{"author":{"last_seen":{"_gte":"$NOW(-1 hour)"}}}"#).isEmpty)
        #expect(try windows(#"{"t":{"_gte":"2026-01-01"}}"#).isEmpty)
        #expect(try windows(#"{"t":{"_gte":"$NOW(soon)"}}"#).isEmpty)
    }

    @Test func theExitIsTheFirstMillisecondTheFilterNoLongerMatches() throws {
        let window = try #require(try windows(#"{"t":{"_gte":"$NOW(-2 seconds)"}}"#).first)
        let row = object(#"{"t":"2026-12-02T16:00:00.000Z"}"#)
        let exit = try #require(window.exit(of: row))
        #expect(exit == ms("2026-12-02T16:00:02.001Z"))
        let rule = try filter(#"{"t":{"_gte":"$NOW(-2 seconds)"}}"#)
        #expect(rule.resolvingVariables(DynamicVariables(now: Double(exit - 1) / 1000)).matches(row))
        #expect(!rule.resolvingVariables(DynamicVariables(now: Double(exit) / 1000)).matches(row))
        // Strict: out at the edge itself.
        let strict = try #require(try windows(#"{"t":{"_gt":"$NOW"}}"#).first)
        #expect(strict.exit(of: row) == ms("2026-12-02T16:00:00.000Z"))
        // A SQLite-style value without a zone is UTC.
        #expect(window.exit(of: object(#"{"t":"2026-12-02 16:00:00"}"#)) == exit)
    }

    @Test func rowsWithoutADateHaveNoExit() throws {
        let window = try #require(try windows(#"{"t":{"_gte":"$NOW(-2 seconds)"}}"#).first)
        #expect(window.exit(of: object(#"{"t":null}"#)) == nil)
        #expect(window.exit(of: object(#"{}"#)) == nil)
        #expect(window.exit(of: object(#"{"t":"soon"}"#)) == nil)
        #expect(window.exit(of: object(#"{"t":5}"#)) == nil)
    }

    @Test func severalWindowsCloseAtTheEarliest() throws {
        let ws = try windows(#"{"_and":[{"a":{"_gte":"$NOW(-1 hour)"}},{"b":{"_gt":"$NOW"}}]}"#)
        let row = object(#"{"a":"2026-12-02T16:00:00.000Z","b":"2026-12-02T16:30:00.000Z"}"#)
        #expect(NowWindow.exit(of: row, through: ws) == ms("2026-12-02T16:30:00.000Z"))
        #expect(NowWindow.exit(of: row, through: []) == nil)
    }

    @Test(arguments: ["2026-03-31T10:00:00.000Z", "2026-01-15T00:00:00.000Z", "2024-02-29T23:59:59.999Z"])
    func calendarWindowsCloseWhereTheFilterStopsMatching(value: String) throws {
        let text = #"{"t":{"_gte":"$NOW(-1 month)"}}"#
        let window = try #require(try windows(text).first)
        let row = object(#"{"t":"\#(value)"}"#)
        let exit = try #require(window.exit(of: row))
        let rule = try filter(text)
        #expect(rule.resolvingVariables(DynamicVariables(now: Double(exit - 1) / 1000)).matches(row))
        #expect(!rule.resolvingVariables(DynamicVariables(now: Double(exit) / 1000)).matches(row))
        #expect(abs(exit - ms(value) - 31 * 86_400_000) < 4 * 86_400_000)
    }
}
