import Query
import Store
import SwitchboardCore
import Testing

@testable import Realtime

@Suite struct WindowExitsTests {
    static let window = NowWindow(field: "seen", adjustment: .seconds(-2), inclusive: true)
    /// 2026-12-02T16:00:00.000Z
    static let t0: Int64 = 1_796_227_200_000

    static func row(seenAt ms: Int64) -> JSONObject {
        JSONObject([("seen", .string(ISOTimestamp(epochMilliseconds: ms).iso8601))])
    }

    func exits(limit: Int = 100) -> WindowExits { WindowExits(windows: [Self.window], limit: limit) }

    @Test func aShownRowLeavesAtItsExitOnce() {
        var e = exits()
        #expect(e.show(1, row: Self.row(seenAt: Self.t0)) == .tracked)
        #expect(e.due(now: Self.t0 + 2000).isEmpty)
        #expect(e.due(now: Self.t0 + 2001) == [1])
        #expect(e.due(now: Self.t0 + 10_000).isEmpty)
        #expect(e.tracked.isEmpty)
    }

    @Test func dueRowsComeEarliestFirst() {
        var e = exits()
        for (key, at) in [(3, 300), (1, 100), (2, 200)] { e.show(.int(Int64(key)), row: Self.row(seenAt: Self.t0 + Int64(at))) }
        #expect(e.due(now: Self.t0 + 2250) == [1, 2])
        #expect(e.due(now: Self.t0 + 5000) == [3])
    }

    @Test func aBumpedRowLeavesAtItsNewExitOnly() {
        var e = exits()
        e.show("a", row: Self.row(seenAt: Self.t0))
        e.show("a", row: Self.row(seenAt: Self.t0 + 1500))
        #expect(e.due(now: Self.t0 + 2500).isEmpty)
        #expect(e.due(now: Self.t0 + 3501) == ["a"])
    }

    @Test func aForgottenRowNeverLeaves() {
        var e = exits()
        e.show(1, row: Self.row(seenAt: Self.t0))
        e.forget(1, seq: 7, now: Self.t0)
        #expect(e.due(now: Self.t0 + 10_000).isEmpty)
    }

    @Test func aRowWithoutADateIsNotTrackedAndDropsAnEarlierExit() {
        var e = exits()
        e.show(1, row: Self.row(seenAt: Self.t0))
        #expect(e.show(1, row: JSONObject([("seen", .null)])) == .untracked)
        #expect(e.tracked.isEmpty)
        #expect(e.due(now: Self.t0 + 10_000).isEmpty)
    }

    @Test func initRowsDoNotOverrideEventsNorBringBackWhatAnEventRemovedAfterTheirBoundary() {
        var e = exits()
        // An event (newer than the read) bumped the row: the read's older value is ignored.
        e.show(1, row: Self.row(seenAt: Self.t0 + 5000))
        #expect(e.introduce(1, row: Self.row(seenAt: Self.t0), boundary: 10) == .untracked)
        #expect(e.due(now: Self.t0 + 2500).isEmpty)
        // An event after the read's boundary deleted it: not back.
        e.forget(2, seq: 11, now: Self.t0)
        #expect(e.introduce(2, row: Self.row(seenAt: Self.t0), boundary: 10) == .untracked)
        // Removed before the boundary: the read is newer, and shows it again.
        e.forget(3, seq: 9, now: Self.t0)
        #expect(e.introduce(3, row: Self.row(seenAt: Self.t0), boundary: 10) == .tracked)
        #expect(e.introduce(4, row: Self.row(seenAt: Self.t0), boundary: 10) == .tracked)
        #expect(Set(e.due(now: Self.t0 + 2001)) == [3, 4])
        #expect(e.due(now: Self.t0 + 7001) == [1])
    }

    @Test func anInitReadSpanningAnExitDoesNotBringTheRowBack() {
        var e = exits()
        e.show(1, row: Self.row(seenAt: Self.t0))
        #expect(e.due(now: Self.t0 + 2001) == [1])
        // A member's `init`, read just before the exit, arrives after it: that member got the left.
        #expect(e.introduce(1, row: Self.row(seenAt: Self.t0), boundary: 50) == .untracked)
        #expect(e.due(now: Self.t0 + 3000).isEmpty)
        // A write bringing it back in is an event: timed again.
        #expect(e.show(1, row: Self.row(seenAt: Self.t0 + 2500)) == .tracked)
        #expect(e.due(now: Self.t0 + 4501) == [1])
    }

    @Test func removalsStopBlockingInitRowsAfterAWhile() {
        var e = exits()
        e.forget(2, seq: 11, now: Self.t0)
        _ = e.due(now: Self.t0 + WindowExits.forgottenFor)
        #expect(e.introduce(2, row: Self.row(seenAt: Self.t0 + 90_000), boundary: 10) == .tracked)
    }

    @Test func showingARowAgainClearsItsRemoval() {
        var e = exits()
        e.forget(2, seq: 11, now: Self.t0)
        e.show(2, row: Self.row(seenAt: Self.t0))
        #expect(e.due(now: Self.t0 + 2001) == [2])
    }

    @Test func rowsBeyondTheLimitAreRefusedAndReportedOnce() {
        var e = exits(limit: 2)
        #expect(e.show(1, row: Self.row(seenAt: Self.t0)) == .tracked)
        #expect(e.show(2, row: Self.row(seenAt: Self.t0)) == .tracked)
        #expect(e.show(3, row: Self.row(seenAt: Self.t0)) == .refused(first: true))
        #expect(e.introduce(4, row: Self.row(seenAt: Self.t0), boundary: 0) == .refused(first: false))
        // A tracked row still moves.
        #expect(e.show(1, row: Self.row(seenAt: Self.t0 + 1000)) == .tracked)
        #expect(e.due(now: Self.t0 + 2001) == [2])
        // Room again once rows left.
        #expect(e.show(3, row: Self.row(seenAt: Self.t0 + 1000)) == .tracked)
        #expect(e.overflowed)
    }

    @Test func aHeartbeatDoesNotGrowTheSchedule() {
        var e = exits()
        for beat in 0..<1000 { e.show(1, row: Self.row(seenAt: Self.t0 + Int64(beat))) }
        #expect(e.scheduledCount <= 2 * e.tracked.count + 65)
        #expect(e.due(now: Self.t0 + 2999).isEmpty)
        #expect(e.due(now: Self.t0 + 3000) == [1])
    }

    @Test func aMovedSubscriptionKeepsTheExitsOfTheRowsItWasShown() {
        var from = exits()
        from.show(1, row: Self.row(seenAt: Self.t0))
        from.show(2, row: Self.row(seenAt: Self.t0 + 500))
        var to = exits()
        to.show(2, row: Self.row(seenAt: Self.t0 + 1000))
        to.adopt(from)
        #expect(to.due(now: Self.t0 + 2001) == [1])
        #expect(to.due(now: Self.t0 + 2501).isEmpty)  // the class's own, newer exit for 2 stands
        #expect(to.due(now: Self.t0 + 3001) == [2])
        #expect(from.tracked.count == 2)  // copied, not taken: other members stay there
        var other = WindowExits(windows: [NowWindow(field: "seen", adjustment: .seconds(-60), inclusive: true)], limit: 10)
        other.adopt(from)
        #expect(other.tracked.isEmpty)
    }

    @Test func removalsArePrunedAfterTheirTime() {
        var e = exits()
        e.forget(5, seq: 20, now: Self.t0)
        _ = e.due(now: Self.t0 + 1000)
        #expect(e.introduce(5, row: Self.row(seenAt: Self.t0 + 90_000), boundary: 10) == .untracked)
        _ = e.due(now: Self.t0 + WindowExits.forgottenFor + 1)
        #expect(e.introduce(5, row: Self.row(seenAt: Self.t0 + 90_000), boundary: 10) == .tracked)
    }

    @Test func onlyLiveClassesWithRequiredWindowsAreTracked() throws {
        let admin = ItemsContext(accountability: Accountability(admin: true), permissions: .administrator)
        func key(_ filter: String, live: Bool = true, event: ChangeEvent.Action? = nil, aggregate: Bool = false) throws
            -> QueryClassKey
        {
            var query = try ItemQuery.parse(json: ["filter": try JSONValue(parsing: filter)])
            if aggregate {
                query = try ItemQuery.parse(json: ["filter": try JSONValue(parsing: filter), "aggregate": ["count": "*"]])
            }
            return QueryClassKey(
                request: SubscriptionRequest(collection: "p", query: query, event: event, item: nil, live: live), context: admin)
        }
        let presence = #"{"seen":{"_gte":"$NOW(-2 seconds)"}}"#
        #expect(WindowExits.windows(for: try key(presence), permissionFilter: nil) == [Self.window])
        #expect(WindowExits.windows(for: try key(presence, live: false), permissionFilter: nil).isEmpty)
        #expect(WindowExits.windows(for: try key(presence, event: .create), permissionFilter: nil).isEmpty)
        #expect(WindowExits.windows(for: try key(presence, event: .delete), permissionFilter: nil).count == 1)
        #expect(WindowExits.windows(for: try key(presence, aggregate: true), permissionFilter: nil).isEmpty)
        // A permission's window counts too.
        let owned = try Filter.parse(try JSONValue(parsing: presence))
        #expect(WindowExits.windows(for: try key(#"{"room":{"_eq":1}}"#), permissionFilter: owned) == [Self.window])
    }
}
