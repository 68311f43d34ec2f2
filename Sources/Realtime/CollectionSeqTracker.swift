import Store

/// Per-collection delivery order on one replica, as a pure state machine:
/// in order → gap (holding later events) → backfilling → in order.
///
/// Events arrive from local commits and from other replicas (through the
/// messenger) in any order and possibly twice. The tracker lets each seq
/// through exactly once and in increasing order; a jump opens a gap that the
/// caller fills from the outbox.
public struct CollectionSeqTracker: Sendable {
    /// The last seq delivered.
    public private(set) var last: Int64
    /// Events above a gap, waiting for it to close.
    public private(set) var held: [Int64: ChangeEvent] = [:]
    /// Whether an outbox read is under way.
    public private(set) var backfilling = false

    public enum Action: Sendable, Equatable {
        /// Hand these to subscribers, in this order.
        case deliver([ChangeEvent])
        /// Read the outbox after `after`, then call `backfilled`.
        case backfill(after: Int64)
        /// Nothing to do (duplicate, or waiting for a backfill already asked for).
        case none
    }

    public init(startingAfter seq: Int64) { last = seq }

    public var isInOrder: Bool { held.isEmpty && !backfilling }

    /// An event arrived.
    public mutating func receive(_ event: ChangeEvent) -> Action {
        if event.seq <= last || held[event.seq] != nil { return .none }
        if event.seq == last + 1 && !backfilling {
            return .deliver(drain(startingWith: event))
        }
        held[event.seq] = event
        if backfilling { return .none }
        backfilling = true
        return .backfill(after: last)
    }

    /// Something suggests events after `last` exist (reconnect, periodic check): ask for a backfill.
    public mutating func suspectGap() -> Action {
        if backfilling { return .none }
        backfilling = true
        return .backfill(after: last)
    }

    /// The outbox answered with the events after the requested seq, in order.
    /// Returns what to deliver; `complete` says whether the outbox had everything
    /// up to the held events (false when it was trimmed and events were skipped).
    public mutating func backfilled(_ events: [ChangeEvent]) -> (deliver: [ChangeEvent], complete: Bool) {
        backfilling = false
        for e in events where e.seq > last && held[e.seq] == nil { held[e.seq] = e }
        var out: [ChangeEvent] = []
        while let next = held.removeValue(forKey: last + 1) {
            out.append(next)
            last = next.seq
        }
        guard !held.isEmpty else { return (out, true) }
        // A hole the outbox could not fill (trimmed): skip it rather than stall forever.
        let rest = held.values.sorted { $0.seq < $1.seq }
        held = [:]
        out += rest
        if let newest = rest.last { last = newest.seq }
        return (out, false)
    }

    private mutating func drain(startingWith event: ChangeEvent) -> [ChangeEvent] {
        var out = [event]
        last = event.seq
        while let next = held.removeValue(forKey: last + 1) {
            out.append(next)
            last = next.seq
        }
        return out
    }
}
