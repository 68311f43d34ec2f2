import Foundation
import Histogram
import Synchronization

/// What one process measured, in a form that adds up across worker processes:
/// histograms merge, counters add, per-second series add index by index (indexes are
/// seconds since the run's common `baseEpochSecond`).
struct Tally: Codable, Sendable {
    var latency = LatencyHistogram.latency()
    var connectLatency = LatencyHistogram.latency()
    /// Each successful write's time until its response (REST: committed, its event queued to publish).
    var writeLatency = LatencyHistogram.latency()
    var deliveries = 0
    var writes = 0
    var writeErrors = 0
    var writesByRoom: [Int: Int] = [:]
    var connectAttempts = 0
    var connected = 0
    var subscribedEver = 0
    var connectErrors = 0
    var protocolErrors = 0
    var cycles = 0
    /// Wall-clock ms of the first connect attempt and the last successful upgrade.
    var firstConnectMs: Double?
    var lastConnectMs: Double?
    var perSecondDeliveries: [Int] = []
    var perSecondConnections: [Int] = []
    var errorSamples: [String] = []

    static let maxErrorSamples = 20

    mutating func merge(_ o: Tally) {
        latency.add(o.latency)
        connectLatency.add(o.connectLatency)
        writeLatency.add(o.writeLatency)
        deliveries += o.deliveries
        writes += o.writes
        writeErrors += o.writeErrors
        for (room, n) in o.writesByRoom { writesByRoom[room, default: 0] += n }
        connectAttempts += o.connectAttempts
        connected += o.connected
        subscribedEver += o.subscribedEver
        connectErrors += o.connectErrors
        protocolErrors += o.protocolErrors
        cycles += o.cycles
        firstConnectMs = [firstConnectMs, o.firstConnectMs].compactMap { $0 }.min()
        lastConnectMs = [lastConnectMs, o.lastConnectMs].compactMap { $0 }.max()
        Self.addSeries(&perSecondDeliveries, o.perSecondDeliveries)
        Self.addSeries(&perSecondConnections, o.perSecondConnections)
        for e in o.errorSamples where errorSamples.count < Self.maxErrorSamples { errorSamples.append(e) }
    }

    static func addSeries(_ a: inout [Int], _ b: [Int]) {
        if a.count < b.count { a += Array(repeating: 0, count: b.count - a.count) }
        for (i, v) in b.enumerated() { a[i] += v }
    }
}

/// Live numbers for the progress line (summed over workers).
struct Progress: Codable, Sendable, Equatable {
    var open = 0
    var ready = 0
    var deliveries = 0
    var writes = 0
    var errors = 0
    /// Every planned connection has either subscribed or failed (hold/chat modes).
    var settled = false

    mutating func add(_ o: Progress) {
        open += o.open
        ready += o.ready
        deliveries += o.deliveries
        writes += o.writes
        errors += o.errors
    }
}

/// Shared counters of one process. Every connection and writer reports here. Deliveries,
/// the one count at tens of thousands a second, go to one of several shards (by connection)
/// so the event loops do not queue on one lock; the rest shares one mutex.
final class Recorder: Sendable {
    private struct State {
        var tally = Tally()
        var open = 0
        var ready = 0
    }

    /// One shard of the delivery counts: merged into the tally when it is read.
    private struct Deliveries {
        var latency = LatencyHistogram.latency()
        var count = 0
        var perSecond: [Int] = []
    }

    /// A lock of its own per shard (a `Mutex` cannot sit in an array by value).
    private final class DeliveryShard: Sendable {
        let counts = Mutex(Deliveries())
    }

    static let deliveryShardCount = 8

    let baseEpochSecond: Int
    private let state = Mutex(State())
    private let deliveryShards: [DeliveryShard]

    init(baseEpochSecond: Int = Int(nowMillis() / 1000)) {
        self.baseEpochSecond = baseEpochSecond
        self.deliveryShards = (0..<Self.deliveryShardCount).map { _ in DeliveryShard() }
    }

    func second() -> Int { Swift.max(0, Int(nowMillis() / 1000) - baseEpochSecond) }

    /// One frame's rows: one delivery per `sent_at`, their latencies from `received` (ms);
    /// a frame without rows still counts as one delivery.
    func delivered(sentAt: [Double], received: Double, shard: Int) {
        delivered(count: Swift.max(1, sentAt.count), shard: shard) { h in
            for sent in sentAt { h.record(milliseconds: Swift.max(0, received - sent)) }
        }
    }

    private func delivered(count: Int, shard: Int, record: (inout LatencyHistogram) -> Void) {
        let sec = second()
        deliveryShards[shard % Self.deliveryShardCount].counts.withLock { d in
            d.count += count
            record(&d.latency)
            if d.perSecond.count <= sec { d.perSecond += Array(repeating: 0, count: sec + 1 - d.perSecond.count) }
            d.perSecond[sec] += count
        }
    }

    private var deliveryCount: Int { deliveryShards.reduce(0) { $0 + $1.counts.withLock { $0.count } } }

    func wrote(room: Int?, latencyMs: Double? = nil) {
        state.withLock { s in
            s.tally.writes += 1
            if let latencyMs { s.tally.writeLatency.record(milliseconds: latencyMs) }
            if let room { s.tally.writesByRoom[room, default: 0] += 1 }
        }
    }

    func writeFailed(_ message: String, count: Int = 1) {
        state.withLock { s in
            s.tally.writeErrors += count
            Self.sample(&s.tally, "write: \(message)")
        }
    }

    func connectStarted() {
        let now = nowMillis()
        state.withLock { s in
            s.tally.connectAttempts += 1
            if s.tally.firstConnectMs == nil { s.tally.firstConnectMs = now }
        }
    }

    func connectSucceeded(latencyMs: Double) {
        let now = nowMillis()
        state.withLock { s in
            s.tally.connected += 1
            s.open += 1
            s.tally.connectLatency.record(milliseconds: latencyMs)
            s.tally.lastConnectMs = now
        }
    }

    func becameReady() {
        state.withLock { s in
            s.ready += 1
            s.tally.subscribedEver += 1
        }
    }

    func closed(wasOpen: Bool, wasReady: Bool) {
        state.withLock { s in
            if wasOpen { s.open -= 1 }
            if wasReady { s.ready -= 1 }
        }
    }

    func cycleCompleted() { state.withLock { $0.tally.cycles += 1 } }

    func connectFailed(_ message: String) {
        state.withLock { s in
            s.tally.connectErrors += 1
            Self.sample(&s.tally, "connect: \(message)")
        }
    }

    func protocolError(_ message: String) {
        state.withLock { s in
            s.tally.protocolErrors += 1
            Self.sample(&s.tally, "protocol: \(message)")
        }
    }

    private static func sample(_ t: inout Tally, _ message: String) {
        if t.errorSamples.count < Tally.maxErrorSamples { t.errorSamples.append(message) }
    }

    /// Called about once per second: records how many connections are open now.
    func sampleConnections() {
        let sec = second()
        state.withLock { s in
            let series = s.tally.perSecondConnections
            if series.count <= sec {
                s.tally.perSecondConnections += Array(repeating: series.last ?? 0, count: sec + 1 - series.count)
            }
            s.tally.perSecondConnections[sec] = s.open
        }
    }

    func progress(settledAt planned: Int?) -> Progress {
        let deliveries = deliveryCount
        return state.withLock { s in
            let t = s.tally
            return Progress(
                open: s.open, ready: s.ready, deliveries: deliveries, writes: t.writes,
                errors: t.connectErrors + t.protocolErrors + t.writeErrors,
                settled: planned.map { s.ready + t.connectErrors + t.protocolErrors >= $0 } ?? false)
        }
    }

    func tally() -> Tally {
        var tally = state.withLock { $0.tally }
        for shard in deliveryShards {
            shard.counts.withLock { d in
                tally.deliveries += d.count
                tally.latency.add(d.latency)
                Tally.addSeries(&tally.perSecondDeliveries, d.perSecond)
            }
        }
        return tally
    }
}

/// What one subscriber saw: its filter room (nil = whole collection) and the `seq`
/// values in arrival order.
struct ClientStream: Sendable, Codable, Equatable {
    var room: Int?
    var seqs: [Int]
}

/// A stop time that can be moved while clients wait on it.
final class StopSignal: Sendable {
    private let stopAt = Mutex<Double>(Double.greatestFiniteMagnitude)
    func stop(at t: Double = monotonicSeconds()) { stopAt.withLock { $0 = Swift.min($0, t) } }
    var isStopped: Bool { monotonicSeconds() >= stopAt.withLock { $0 } }
}
