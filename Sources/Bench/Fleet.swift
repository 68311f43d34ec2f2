import Foundation
import NIOCore
import NIOPosix
import SwitchboardCore
import Synchronization

/// The slice of a run's client connections one process owns.
struct Assignment: Codable, Sendable, Equatable {
    enum Mode: String, Codable, Sendable {
        /// Connect, subscribe, hold until the run ends, record events.
        case hold
        /// Connect, subscribe, disconnect at once, repeat until the run ends.
        case churn
        /// Like hold, plus these clients write `items` creates over their own sockets.
        case chat
    }

    var mode: Mode
    var urls: [String]
    var token: String
    var collection: String
    var nchan = false
    /// Global index of this slice's first client (rooms and targets are assigned by it).
    var firstIndex = 0
    var count: Int
    /// Number of `_eq` filters (rooms); nil subscribes to the whole collection.
    var rooms: Int?
    /// Source addresses in 127.0.0.0/8 to bind client sockets to (empty: the kernel's choice).
    var sources: [String] = []
    /// New connections per second this slice opens while ramping up.
    var connectRate: Double = 2000
    /// Seconds since the epoch that per-second series count from (shared by all workers).
    var baseEpochSecond: Int
    /// A worker exits on its own after this many seconds, whatever its parent does.
    var deadlineSeconds: Double = 600

    /// Splits `total` clients into `workers` contiguous slices, sources dealt round-robin.
    static func split(_ template: Assignment, total: Int, workers: Int, sources: [String]) -> [Assignment] {
        let workers = Swift.max(1, Swift.min(workers, Swift.max(total, 1)))
        var out: [Assignment] = []
        var first = 0
        for w in 0..<workers {
            let n = total / workers + (w < total % workers ? 1 : 0)
            var a = template
            a.firstIndex = first
            a.count = n
            a.connectRate = template.connectRate / Double(workers)
            if !sources.isEmpty {
                // Each worker gets its own share of the addresses (at least one).
                a.sources =
                    sources.count >= workers
                    ? sources.indices.filter { $0 % workers == w }.map { sources[$0] } : [sources[w % sources.count]]
            }
            out.append(a)
            first += n
        }
        return out
    }
}

/// What the parent tells a fleet to expect when it finishes: writes per room and in all.
struct Expectation: Codable, Sendable, Equatable {
    var all: Int
    var byRoom: [Int: Int]
}

/// Writes acknowledged by the server, in all and per room.
struct WriteCount: Codable, Sendable, Equatable {
    var ok = 0
    var byRoom: [Int: Int] = [:]

    mutating func add(_ o: WriteCount) {
        ok += o.ok
        for (room, n) in o.byRoom { byRoom[room, default: 0] += n }
    }
}

struct FleetResult: Codable, Sendable {
    var tally: Tally
    var completeness: CompletenessTotals
}

/// A group of client connections, in this process or in a worker process.
protocol Fleet: Sendable {
    func start() async throws
    func progress() -> Progress
    /// Chat: start writing `items` creates at `rate` per second over the ready sockets.
    func startWrites(rate: Double) async
    /// Chat: stop writing, wait (bounded) for outstanding acknowledgements, and say
    /// how many writes the server acknowledged.
    func stopWrites() async -> WriteCount
    /// Closes everything and returns what was measured; completeness is checked against
    /// `expectation` when given.
    func finish(_ expectation: Expectation?) async -> FleetResult
}

/// Connections owned by this process, on their own NIO event loops.
final class LocalFleet: Fleet, ConnectionObserver {
    let assignment: Assignment
    let recorder: Recorder
    private let group: MultiThreadedEventLoopGroup
    private let stop = StopSignal()
    private let state = Mutex(State())
    private let pendingWrites = Atomic<Int>(0)

    private struct State {
        var live: [ObjectIdentifier: any Channel] = [:]
        var ready: [(channel: any Channel, room: Int?)] = []
        var streams: [ClientStream] = []
        var tasks: [Task<Void, Never>] = []
        var writer: Task<Void, Never>?
    }

    private let endpoints: [(endpoint: Endpoint, address: SocketAddress)]
    private let sources: [SocketAddress]
    private let authFrame: ByteBuffer

    init(_ assignment: Assignment, threads: Int = System.coreCount) throws {
        self.assignment = assignment
        self.endpoints = try assignment.urls.map { url in
            guard let e = Endpoint(url: url) else { throw BenchError("bad WebSocket URL '\(url)'") }
            return (e, try SocketAddress(ipAddress: e.host == "localhost" ? "127.0.0.1" : e.host, port: e.port))
        }
        guard !endpoints.isEmpty else { throw BenchError("no WebSocket URL") }
        self.sources = try assignment.sources.map { try SocketAddress(ipAddress: $0, port: 0) }
        self.authFrame = Connection.text(Frames.auth(token: assignment.token))
        self.recorder = Recorder(baseEpochSecond: assignment.baseEpochSecond)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: Swift.max(1, threads))
    }

    /// Target and source address of the client at `localIndex` in this slice.
    private func addresses(for localIndex: Int) -> (SocketAddress, SocketAddress?) {
        let global = assignment.firstIndex + localIndex
        let address = endpoints[global % endpoints.count].address
        return (address, sources.isEmpty ? nil : sources[localIndex % sources.count])
    }

    func start() async throws {
        let a = assignment
        let ramp = Task { [self] in
            let interval = 1.0 / Swift.max(a.connectRate, 1)
            let begin = monotonicSeconds()
            for i in 0..<a.count {
                if stop.isStopped || Task.isCancelled { break }
                let wait = begin + Double(i) * interval - monotonicSeconds()
                if wait > 0.002 { try? await Task.sleep(for: .microseconds(Int(wait * 1_000_000))) }
                openClient(i)
            }
        }
        let sampler = Task { [recorder, stop] in
            while !Task.isCancelled && !stop.isStopped {
                recorder.sampleConnections()
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        state.withLock { $0.tasks += [ramp, sampler] }
    }

    private func openClient(_ i: Int) {
        let a = assignment
        let global = a.firstIndex + i
        let room = a.rooms.map { global % Swift.max($0, 1) }
        let plan = ConnectionPlan(
            index: global, room: room, endpoint: endpoints[global % endpoints.count].endpoint, mode: a.mode,
            nchan: a.nchan, authFrame: authFrame,
            subscribeFrame: Connection.text(Frames.subscribe(collection: a.collection, room: room)))
        let (address, source) = addresses(for: i)
        Connection.open(plan, address: address, source: source, group: group, recorder: recorder, observer: self)
    }

    // MARK: ConnectionObserver (called on event loops)

    func connectionReady(_ plan: ConnectionPlan, channel: any Channel) {
        state.withLock { s in
            s.live[ObjectIdentifier(channel)] = channel
            s.ready.append((channel, plan.room))
        }
        // A socket that got ready after the run stopped is closed at once.
        if stop.isStopped { Connection.closePolitely(channel) }
    }

    func connectionEnded(_ plan: ConnectionPlan, stream: ClientStream, wasReady: Bool) {
        guard assignment.mode == .churn else {
            if wasReady { state.withLock { $0.streams.append(stream) } }
            return
        }
        guard !stop.isStopped else { return }
        // Churn: the same client slot connects again (after a short pause on failure).
        let delay: TimeAmount = wasReady ? .zero : .milliseconds(50)
        group.next().scheduleTask(in: delay) { [self] in
            guard !stop.isStopped else { return }
            let (address, source) = addresses(for: plan.index - assignment.firstIndex)
            Connection.open(plan, address: address, source: source, group: group, recorder: recorder, observer: self)
        }
    }

    func chatWriteAcknowledged(ok: Bool) {
        pendingWrites.subtract(1, ordering: .relaxed)
    }

    // MARK: Fleet

    func progress() -> Progress {
        recorder.progress(settledAt: assignment.mode == .churn ? nil : assignment.count)
    }

    func startWrites(rate: Double) async {
        guard rate > 0 else { return }
        let a = assignment
        let writer = Task { [self] in
            let interval = 1.0 / rate
            let begin = monotonicSeconds()
            var n = 0
            var generator = SystemRandomNumberGenerator()
            while !Task.isCancelled && !stop.isStopped {
                let due = begin + Double(n) * interval
                let wait = due - monotonicSeconds()
                if wait > 0.001 { try? await Task.sleep(for: .microseconds(Int(wait * 1_000_000))) }
                if Task.isCancelled { break }
                n += 1
                let target = state.withLock { s -> (any Channel, Int?)? in
                    s.ready.isEmpty ? nil : s.ready[Int.random(in: 0..<s.ready.count, using: &generator)]
                }
                guard let (channel, room) = target, channel.isActive else {
                    recorder.writeFailed("no open socket to write from")
                    continue
                }
                if pendingWrites.load(ordering: .relaxed) >= 512 {
                    recorder.writeFailed("skipped: 512 writes awaiting acknowledgement")
                    continue
                }
                pendingWrites.add(1, ordering: .relaxed)
                let frame = Frames.chatCreate(collection: a.collection, room: room, sentAt: Int64(nowMillis()), n: n)
                channel.writeAndFlush(Connection.maskedText(Connection.text(frame)), promise: nil)
            }
        }
        state.withLock { $0.writer = writer }
    }

    func stopWrites() async -> WriteCount {
        let writer = state.withLock { s -> Task<Void, Never>? in
            defer { s.writer = nil }
            return s.writer
        }
        writer?.cancel()
        await writer?.value
        let deadline = monotonicSeconds() + 5
        while pendingWrites.load(ordering: .relaxed) > 0 && monotonicSeconds() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let unacked = pendingWrites.exchange(0, ordering: .relaxed)
        if unacked > 0 { recorder.writeFailed("\(unacked) writes unacknowledged after 5 s", count: unacked) }
        let t = recorder.tally()
        return WriteCount(ok: t.writes, byRoom: t.writesByRoom)
    }

    func finish(_ expectation: Expectation?) async -> FleetResult {
        stop.stop()
        let (tasks, writer) = state.withLock { ($0.tasks, $0.writer) }
        writer?.cancel()
        for t in tasks { t.cancel() }
        for t in tasks { await t.value }
        recorder.sampleConnections()
        let channels = state.withLock { Array($0.live.values) }
        for c in channels { Connection.closePolitely(c) }
        let deadline = monotonicSeconds() + 5
        while monotonicSeconds() < deadline {
            if recorder.progress(settledAt: nil).open == 0 { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        for c in channels { c.close(promise: nil) }
        try? await Task.sleep(for: .milliseconds(50))
        var totals = CompletenessTotals()
        if let expectation {
            for stream in state.withLock({ $0.streams }) {
                let expected = stream.room.map { expectation.byRoom[$0] ?? 0 } ?? expectation.all
                totals.add(Completeness.check(seqs: stream.seqs, expected: expected))
            }
        }
        try? await group.shutdownGracefully()
        return FleetResult(tally: recorder.tally(), completeness: totals)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Client frames, built once per connection (with the project's own JSON writer).
enum Frames {
    static func auth(token: String) -> String {
        JSONValue.object(["type": "auth", "access_token": .string(token)]).jsonString
    }

    static func subscribe(collection: String, room: Int?) -> String {
        var frame: JSONObject = ["type": "subscribe", "collection": .string(collection), "event": "create", "uid": "1"]
        if let room { frame["query"] = ["filter": ["room": ["_eq": .int(Int64(room))]]] }
        return frame.jsonString
    }

    static func chatCreate(collection: String, room: Int?, sentAt: Int64, n: Int) -> String {
        var data: JSONObject = ["text": .string("chat \(n)"), "sent_at": .int(sentAt)]
        if let room { data["room"] = .int(Int64(room)) }
        let frame: JSONObject = [
            "type": "items", "collection": .string(collection), "action": "create", "data": .object(data),
            "uid": .string("w\(n)"),
        ]
        return frame.jsonString
    }
}
