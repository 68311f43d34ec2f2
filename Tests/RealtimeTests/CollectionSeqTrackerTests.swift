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

    func events(_ seqs: ClosedRange<Int64>) -> [ChangeEvent] { seqs.map(event) }

    func read(after: Int64, _ t: CollectionSeqTracker) -> CollectionSeqTracker.Next {
        .backfill(after: after, limit: t.pageSize)
    }

    // MARK: receive

    @Test func inOrderEventsPassStraightThrough() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.receive(event(5)).deliver.map(\.seq) == [5])
        #expect(t.receive(event(6)).deliver.map(\.seq) == [6])
        #expect(t.last == 6 && t.isInOrder)
    }

    @Test func duplicatesAndOldEventsAreDropped() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.receive(event(3)) == .nothing)
        #expect(t.receive(event(4)) == .nothing)
        _ = t.receive(event(5))
        #expect(t.receive(event(5)) == .nothing)
    }

    @Test func aJumpOpensAGapAndAsksForOneBackfill() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.receive(event(7)).next == read(after: 4, t))
        #expect(t.phase == .backfilling(covers: 7))
        #expect(t.receive(event(8)) == .nothing)  // held; a read is already under way
        #expect(t.receive(event(7)) == .nothing)  // duplicate of a held event
        #expect(t.held.count == 2 && !t.isInOrder)
    }

    @Test func theMissingEventArrivingDuringABackfillIsDeliveredAtOnceWithWhatItUnblocks() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(6))
        #expect(t.receive(event(5)).deliver.map(\.seq) == [5, 6])
        // The read's answer, now stale, delivers nothing twice.
        let out = t.backfilled([event(5), event(6)])
        #expect(out.deliver.isEmpty && out.skipped.isEmpty && t.isInOrder && t.last == 6)
    }

    // MARK: backfilled

    @Test func backfillClosesTheGapAndReleasesHeldEventsInOrder() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(7))
        _ = t.receive(event(8))
        let out = t.backfilled([event(5), event(6), event(7)])
        #expect(out.deliver.map(\.seq) == [5, 6, 7, 8])
        #expect(out.next == .none && out.skipped.isEmpty && t.isInOrder && t.last == 8)
    }

    @Test func aFullPageReadsOnFromWhereItEnded() {
        var t = CollectionSeqTracker(startingAfter: 0, pageSize: 3)
        _ = t.receive(event(9))
        let first = t.backfilled(events(1...3))
        #expect(first.deliver.map(\.seq) == [1, 2, 3])
        #expect(first.next == read(after: 3, t) && first.skipped.isEmpty)
        let second = t.backfilled(events(4...6))
        #expect(second.next == read(after: 6, t))
        let third = t.backfilled(events(7...8))
        #expect(third.deliver.map(\.seq) == [7, 8, 9] && third.next == .none && t.isInOrder)
    }

    @Test func aHoleBelowAnEventHeldBeforeTheReadBeganIsSkippedAsTrimmed() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(9))
        let out = t.backfilled([event(7), event(8)])
        #expect(out.skipped == [5...6])
        #expect(out.deliver.map(\.seq) == [7, 8, 9])
        #expect(t.last == 9 && t.isInOrder)
    }

    @Test func aHoleBelowAnEventThatArrivedDuringTheReadIsReadAgainNotSkipped() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(6))  // read 1 covers up to 6
        _ = t.receive(event(9))  // arrives while read 1 runs: 7 and 8 may have committed after it began
        let out = t.backfilled([event(5), event(6)])
        #expect(out.deliver.map(\.seq) == [5, 6])
        #expect(out.skipped.isEmpty && out.next == read(after: 6, t))
        #expect(t.phase == .backfilling(covers: 9) && t.held.keys.sorted() == [9])
        let again = t.backfilled([event(7), event(8), event(9)])
        #expect(again.deliver.map(\.seq) == [7, 8, 9] && t.isInOrder)
    }

    @Test func aBackfillAnswerWithoutARequestIsIgnored() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.backfilled([event(5)]) == .nothing)
        #expect(t.last == 4)
    }

    // MARK: failures

    @Test func aFailedBackfillKeepsHeldEventsAndRetriesWithBackoff() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(7))
        _ = t.receive(event(8))
        let failed = t.backfillFailed()
        #expect(failed.deliver.isEmpty && failed.skipped.isEmpty)
        #expect(failed.next == .retry(after: .milliseconds(100)))
        #expect(t.held.keys.sorted() == [7, 8] && t.last == 4 && t.phase == .waitingToRetry(covers: 7))
        #expect(t.retryDue().next == read(after: 4, t))
        #expect(t.backfillFailed().next == .retry(after: .milliseconds(200)))
        #expect(t.retryDue().next == read(after: 4, t))
        #expect(t.backfillFailed().next == .retry(after: .milliseconds(400)))
        #expect(t.held.count == 2 && t.last == 4)
    }

    @Test func theGapClosesWhenTheDatabaseAnswersAgain() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(7))
        _ = t.backfillFailed()
        _ = t.retryDue()
        let out = t.backfilled([event(5), event(6)])
        #expect(out.deliver.map(\.seq) == [5, 6, 7] && out.skipped.isEmpty && t.isInOrder && t.failures == 0)
    }

    @Test func backoffIsCappedAtFiveSeconds() {
        #expect(CollectionSeqTracker.retryDelay(failures: 1) == .milliseconds(100))
        #expect(CollectionSeqTracker.retryDelay(failures: 6) == .milliseconds(3200))
        #expect(CollectionSeqTracker.retryDelay(failures: 7) == .seconds(5))
        #expect(CollectionSeqTracker.retryDelay(failures: 1000) == .seconds(5))
    }

    @Test func eventsArrivingWhileWaitingToRetryAreHeldOrDeliveredInOrder() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.receive(event(6))
        _ = t.backfillFailed()
        #expect(t.receive(event(8)) == .nothing)  // held, no second read while waiting
        #expect(t.receive(event(5)).deliver.map(\.seq) == [5, 6])  // the gap's own event closes part of it
        #expect(t.phase == .waitingToRetry(covers: 6))
        #expect(t.retryDue().next == read(after: 6, t))
        #expect(t.phase == .backfilling(covers: 8))
        #expect(t.backfilled([event(7), event(8)]).deliver.map(\.seq) == [7, 8])
    }

    @Test func aRetryDueOrAFailureWithoutOutstandingReadIsIgnored() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.retryDue() == .nothing)
        #expect(t.backfillFailed() == .nothing)
        #expect(t.isInOrder)
    }

    @Test func suspectingAGapWhileWaitingToRetryStartsNoSecondRead() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.suspectGap()
        _ = t.backfillFailed()
        #expect(t.suspectGap() == .nothing)
        #expect(t.suspectGap(committedThrough: 9) == .nothing)
    }

    // MARK: suspectGap

    @Test func knownHeadSaysHowFarDeliveryIsBehind() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.knownHead == 4)
        _ = t.receive(event(5))
        #expect(t.knownHead - t.last == 0)
        _ = t.receive(event(9))  // 6, 7, 8 missing: held above the gap
        #expect(t.knownHead == 9 && t.last == 5)
        _ = t.backfillFailed()
        _ = t.suspectGap(committedThrough: 12)  // no second read while waiting, but still behind
        #expect(t.knownHead - t.last == 4)
        _ = t.retryDue()
        _ = t.backfilled(events(6...9))
        #expect(t.knownHead == t.last && t.last == 9)
        _ = t.suspectGap(committedThrough: 15)  // the periodic check saw the database ahead
        #expect(t.knownHead == 15)
    }

    @Test func suspectedGapsAskForABackfillOnce() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.suspectGap().next == read(after: 4, t))
        #expect(t.suspectGap() == .nothing)
        let out = t.backfilled([event(5)])
        #expect(out.deliver.map(\.seq) == [5] && out.skipped.isEmpty)
        #expect(t.suspectGap().next == read(after: 5, t))
    }

    @Test func aDatabaseSeqAtOrBelowLastIsNoGap() {
        var t = CollectionSeqTracker(startingAfter: 4)
        #expect(t.suspectGap(committedThrough: 4) == .nothing)
        #expect(t.suspectGap(committedThrough: 2) == .nothing)
        #expect(t.isInOrder)
    }

    @Test func aDatabaseAheadOfAnOutboxThatLostItsEventsMovesPastThem() {
        var t = CollectionSeqTracker(startingAfter: 4)
        _ = t.suspectGap(committedThrough: 7)
        let out = t.backfilled([event(7)])
        #expect(out.deliver.map(\.seq) == [7] && out.skipped == [5...6])
        #expect(t.last == 7 && t.isInOrder)
        _ = t.suspectGap(committedThrough: 9)
        #expect(t.backfilled([]).skipped == [8...9] && t.last == 9)
    }
}
