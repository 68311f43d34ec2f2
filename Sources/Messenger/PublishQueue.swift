import NIOCore
import Synchronization

/// A payload waiting to be published.
struct PendingPayload: Sendable {
    let channel: String
    let payload: [UInt8]
    let queuedAt: ContinuousClock.Instant
}

/// The bounded queue between `publish` (which never waits) and a messenger's publishing
/// task: when full the oldest payload is dropped, and payloads older than `expiry` are
/// dropped when taken. Both are counted; other replicas recover them from the outbox.
final class PublishQueue: Sendable {
    private struct State {
        var queue = CircularBuffer<PendingPayload>()
        var waiter: CheckedContinuation<Void, Never>?
        var stopped = false
        var dropped: UInt64 = 0
        var expired: UInt64 = 0
    }

    private let limit: Int
    private let expiry: Duration
    private let shared = Mutex(State())

    init(limit: Int, expiry: Duration) {
        self.limit = max(1, limit)
        self.expiry = expiry
    }

    /// Payloads pushed out of the full queue.
    var dropped: UInt64 { shared.withLock { $0.dropped } }
    /// Payloads that waited longer than `expiry`.
    var expired: UInt64 { shared.withLock { $0.expired } }
    var count: Int { shared.withLock { $0.queue.count } }
    var isEmpty: Bool { shared.withLock { $0.queue.isEmpty } }

    /// `stats` (a messenger's own counts) with the queue's added: what waits, what was dropped or expired.
    func counted(in stats: MessengerStats) -> MessengerStats {
        var stats = stats
        shared.withLock { s in
            stats.queued = s.queue.count
            stats.dropped += s.dropped
            stats.failed += s.expired
        }
        return stats
    }

    func append(_ payload: [UInt8], to channel: String) {
        let waiter = shared.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.stopped else { return nil }
            if s.queue.count >= limit {
                _ = s.queue.popFirst()
                s.dropped += 1
            }
            s.queue.append(PendingPayload(channel: channel, payload: payload, queuedAt: .now))
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Up to `max` payloads in queue order, waiting for the first; nil once stopped or cancelled.
    func next(max: Int) async -> [PendingPayload]? {
        while true {
            let taken = shared.withLock { s -> [PendingPayload]? in
                if s.stopped { return nil }
                let now = ContinuousClock.now
                var batch: [PendingPayload] = []
                while batch.count < max, let next = s.queue.popFirst() {
                    if now - next.queuedAt > expiry {
                        s.expired += 1
                    } else {
                        batch.append(next)
                    }
                }
                return batch
            }
            guard let batch = taken else { return nil }
            if !batch.isEmpty { return batch }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = shared.withLock { s -> Bool in
                        if s.stopped || !s.queue.isEmpty || Task.isCancelled { return true }
                        s.waiter = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                stop()
            }
        }
    }

    /// Gives queued payloads up to `timeout` to leave, while `reachable` says the broker can take them.
    func drain(within timeout: Duration, while reachable: () -> Bool) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !isEmpty, reachable() {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Refuses further payloads and wakes the publishing task (its `next` returns nil).
    func stop() {
        let waiter = shared.withLock { s -> CheckedContinuation<Void, Never>? in
            s.stopped = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }
}
