import Store
import SwitchboardCore
import Testing

@testable import Realtime

@Suite struct CollectionSeqTrackerTests {
    func event(_ seq: Int64) -> ChangeEvent {
        ChangeEvent(
            collection: "c", seq: seq, action: .create, keys: [.int(seq)], rows: [["id": .int(seq)]], origin: "r1",
            userID: nil, timestamp: ISOTimestamp(epochMilliseconds: 0))
    }

    func seqs(_ action: CollectionSeqTracker.Action) -> [Int64]? {
        if case .deliver(let events) = action { return events.map(\.seq) }
        return nil
    }

    @Test func inOrderEventsPassStraightThrough() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(seqs(t.receive(event(5))) == [5])
        #expect(seqs(t.receive(event(6))) == [6])
        #expect(t.last == 6 && t.isInOrder)
    }

    @Test func duplicatesAndOldEventsAreDropped() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.receive(event(3)) == .none)
        #expect(t.receive(event(4)) == .none)
        _ = t.receive(event(5))
        #expect(t.receive(event(5)) == .none)
    }

    @Test func aJumpOpensAGapAndAsksForOneBackfill() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.receive(event(7)) == .backfill(after: 4))
        #expect(t.receive(event(8)) == .none)  // held; backfill already under way
        #expect(t.receive(event(7)) == .none)  // duplicate of a held event
        #expect(t.backfilling && t.held.count == 2)
    }

    @Test func backfillClosesTheGapAndReleasesHeldEventsInOrder() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(7))
        _ = t.receive(event(8))
        let (deliver, complete) = t.backfilled([event(5), event(6), event(7)])
        #expect(deliver.map(\.seq) == [5, 6, 7, 8])
        #expect(complete && t.isInOrder && t.last == 8)
    }

    @Test func liveEventsArrivingDuringBackfillAreHeldNotDeliveredEarly() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(6))
        #expect(t.receive(event(5)) == .none)  // the gap's event came after all, but a backfill is running
        let (deliver, _) = t.backfilled([event(5), event(6)])
        #expect(deliver.map(\.seq) == [5, 6])
    }

    @Test func aTrimmedOutboxSkipsTheHoleInsteadOfStalling() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(9))
        let (deliver, complete) = t.backfilled([])
        #expect(deliver.map(\.seq) == [9])
        #expect(!complete && t.last == 9 && t.isInOrder)
    }

    @Test func suspectedGapsAskForABackfillOnce() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.suspectGap() == .backfill(after: 4))
        #expect(t.suspectGap() == .none)
        let (deliver, complete) = t.backfilled([event(5)])
        #expect(deliver.map(\.seq) == [5] && complete)
        #expect(t.suspectGap() == .backfill(after: 5))
    }
}
