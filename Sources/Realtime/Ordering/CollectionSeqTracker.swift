import Store

/// Per-collection delivery order on one replica, as a pure state machine:
/// in order → backfilling → (retry wait → backfilling)* → in order.
///
/// Events arrive from local commits and from other replicas (through the
/// messenger) in any order and possibly twice. The tracker lets each seq
/// through exactly once and in increasing order. A jump, a reconnect or a
/// periodic check that finds the database ahead asks for an outbox read;
/// held events stay held until the read closes the gap, however many reads
/// fail first.
///
/// A hole is skipped only on proof that the outbox no longer has it: a
/// successful read that started after a later seq had committed (seqs commit
/// in order, so every lower seq was visible to that read) did not return it.
public struct CollectionSeqTracker: Sendable {
    /// The last seq delivered.
    public private(set) var last: Int64
    /// Events above a gap, waiting for it to close.
    public private(set) var held: [Int64: ChangeEvent] = [:]
    public private(set) var phase: Phase = .inOrder
    /// Events an outbox read asks for at most; a full page means "read on".
    public let pageSize: Int
    /// Failed reads in a row, for the retry backoff.
    public private(set) var failures = 0

    public enum Phase: Sendable, Equatable {
        /// No read outstanding.
        case inOrder
        /// An outbox read is under way; it sees every seq up to `covers` (committed before it started).
        case backfilling(covers: Int64)
        /// The last read failed; `retryDue()` starts the next one.
        case waitingToRetry(covers: Int64)
    }

    /// What the caller does next after an outbox read.
    public enum Next: Sendable, Equatable {
        case none
        /// Read at most `limit` outbox events with seq > `after`, then call `backfilled` or `backfillFailed`.
        case backfill(after: Int64, limit: Int)
        /// Wait this long, then call `retryDue()`.
        case retry(after: Duration)
    }

    /// The answer to every input.
    public struct Output: Sendable, Equatable {
        /// Hand these to subscribers, in this order.
        public var deliver: [ChangeEvent] = []
        public var next: Next = .none
        /// Seqs the outbox proved it no longer holds (trimmed); subscribers skip them.
        public var skipped: [ClosedRange<Int64>] = []

        public static let nothing = Output()
    }

    public init(startingAfter seq: Int64, pageSize: Int = 500) {
        last = seq
        self.pageSize = max(1, pageSize)
    }

    public var isInOrder: Bool { held.isEmpty && phase == .inOrder }

    /// The retry delay after `failures` failed reads in a row: 100 ms doubling, at most 5 s.
    public static func retryDelay(failures: Int) -> Duration {
        .milliseconds(min(5000, 100 << min(max(failures - 1, 0), 6)))
    }

    private var heldMax: Int64 { held.keys.max() ?? last }

    /// The highest seq known to exist: delivered, held above a gap, or committed as far as
    /// the outstanding read covers. `knownHead - last` is how far delivery is behind.
    public var knownHead: Int64 {
        switch phase {
        case .inOrder: heldMax
        case .backfilling(let covers), .waitingToRetry(let covers): max(heldMax, covers)
        }
    }

    // MARK: Inputs

    /// An event arrived (a local commit, or from another replica).
    public mutating func receive(_ event: ChangeEvent) -> Output {
        if event.seq <= last || held[event.seq] != nil { return .nothing }
        if event.seq == last + 1 {
            // In order: deliver now, whatever read is outstanding (its answer is then partly stale; harmless).
            held[event.seq] = event
            return Output(deliver: drain())
        }
        held[event.seq] = event
        guard phase == .inOrder else { return .nothing }
        return startRead(covers: heldMax)
    }

    /// Something suggests events after `last` exist: the messenger reconnected
    /// (nil), or the database's seq is `committedThrough`.
    public mutating func suspectGap(committedThrough seq: Int64? = nil) -> Output {
        guard phase == .inOrder else { return .nothing }
        if let seq, seq <= last { return .nothing }
        return startRead(covers: max(heldMax, seq ?? last))
    }

    /// The outbox answered the last `.backfill` with these events (seq order).
    public mutating func backfilled(_ events: [ChangeEvent]) -> Output {
        guard case .backfilling(let covers) = phase else { return .nothing }
        failures = 0
        for e in events where e.seq > last && held[e.seq] == nil { held[e.seq] = e }
        var out = Output(deliver: drain())
        if events.count >= pageSize {
            // More may follow: read on from where this page ended.
            out.next = startRead(covers: max(covers, heldMax)).next
            return out
        }
        // The read saw everything committed up to `covers`: what it lacks below that is gone.
        while true {
            guard let lowest = held.keys.min() else {
                if covers > last {
                    out.skipped.append((last + 1)...covers)
                    last = covers
                }
                phase = .inOrder
                return out
            }
            if lowest <= covers {
                out.skipped.append((last + 1)...(lowest - 1))
                last = lowest - 1
                out.deliver += drain()
                continue
            }
            // Held events that arrived during the read: their predecessors may have committed after it began.
            let next = startRead(covers: heldMax)
            out.next = next.next
            return out
        }
    }

    /// The last `.backfill` failed (database unreachable, timeout). Nothing is skipped or dropped.
    public mutating func backfillFailed() -> Output {
        guard case .backfilling(let covers) = phase else { return .nothing }
        failures += 1
        phase = .waitingToRetry(covers: covers)
        return Output(next: .retry(after: Self.retryDelay(failures: failures)))
    }

    /// The retry delay asked for by `backfillFailed` has passed.
    public mutating func retryDue() -> Output {
        guard case .waitingToRetry(let covers) = phase else { return .nothing }
        return startRead(covers: max(covers, heldMax))
    }

    // MARK: Helpers

    private mutating func startRead(covers: Int64) -> Output {
        phase = .backfilling(covers: covers)
        return Output(next: .backfill(after: last, limit: pageSize))
    }

    /// Removes and returns the held run that continues `last`.
    private mutating func drain() -> [ChangeEvent] {
        var out: [ChangeEvent] = []
        while let next = held.removeValue(forKey: last + 1) {
            out.append(next)
            last = next.seq
        }
        return out
    }
}
