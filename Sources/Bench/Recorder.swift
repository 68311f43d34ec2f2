import Foundation
import Synchronization

/// Shared counters of one run. Every client and writer reports here; a lock keeps it
/// cheap enough for tens of thousands of deliveries per second.
final class Recorder: Sendable {
    struct State {
        var latencies: [Double] = []
        var deliveries = 0
        var writes = 0
        var writeErrors = 0
        var writesByRoom: [Int: Int] = [:]
        var connectAttempts = 0
        var connected = 0
        var open = 0
        var ready = 0
        var subscribedEver = 0
        var connectErrors = 0
        var protocolErrors = 0
        var connectLatencies: [Double] = []
        var firstConnect: Double?
        var lastConnect: Double?
        var cycles = 0
        var perSecondDeliveries: [Int] = []
        var perSecondConnections: [Int] = []
        var streams: [ClientStream] = []
        var errorSamples: [String] = []
    }

    let start = monotonicSeconds()
    private let state = Mutex(State())

    func second() -> Int { Int(monotonicSeconds() - start) }

    func delivered(latencyMs: Double?) {
        let sec = second()
        state.withLock { s in
            s.deliveries += 1
            if let latencyMs { s.latencies.append(latencyMs) }
            while s.perSecondDeliveries.count <= sec { s.perSecondDeliveries.append(0) }
            s.perSecondDeliveries[sec] += 1
        }
    }

    func wrote(room: Int?) {
        state.withLock { s in
            s.writes += 1
            if let room { s.writesByRoom[room, default: 0] += 1 }
        }
    }

    func writeFailed(_ message: String) {
        state.withLock { s in
            s.writeErrors += 1
            if s.errorSamples.count < 20 { s.errorSamples.append("write: \(message)") }
        }
    }

    func connectStarted() { state.withLock { $0.connectAttempts += 1 } }

    func connectSucceeded(latencyMs: Double) {
        state.withLock { s in
            s.connected += 1
            s.open += 1
            s.connectLatencies.append(latencyMs)
            let now = monotonicSeconds()
            if s.firstConnect == nil { s.firstConnect = now - latencyMs / 1000 }
            s.lastConnect = now
        }
    }

    func becameReady() {
        state.withLock { s in
            s.ready += 1
            s.subscribedEver += 1
        }
    }

    func closed(wasReady: Bool) {
        state.withLock { s in
            s.open -= 1
            if wasReady { s.ready -= 1 }
        }
    }

    func cycleCompleted() { state.withLock { $0.cycles += 1 } }

    func connectFailed(_ message: String) {
        state.withLock { s in
            s.connectErrors += 1
            if s.errorSamples.count < 20 { s.errorSamples.append("connect: \(message)") }
        }
    }

    func protocolError(_ message: String) {
        state.withLock { s in
            s.protocolErrors += 1
            if s.errorSamples.count < 20 { s.errorSamples.append("protocol: \(message)") }
        }
    }

    func finished(stream: ClientStream) { state.withLock { $0.streams.append(stream) } }

    /// Called once per second by the progress task.
    func sampleConnections() {
        let sec = second()
        state.withLock { s in
            while s.perSecondConnections.count <= sec { s.perSecondConnections.append(s.open) }
            s.perSecondConnections[sec] = s.open
        }
    }

    func snapshot() -> State { state.withLock { $0 } }

    func writes(room: Int) -> Int { state.withLock { $0.writesByRoom[room] ?? 0 } }
    func totalWrites() -> Int { state.withLock { $0.writes } }
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
    func stop(at t: Double = monotonicSeconds()) { stopAt.withLock { $0 = t } }
    var isStopped: Bool { monotonicSeconds() >= stopAt.withLock { $0 } }
    func wait() async {
        while !isStopped && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
