import ArgumentParser
import Foundation

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-bench",
        abstract: "Load-testing harness for Switchboard (Directus Realtime protocol).",
        subcommands: [Fanout.self, Filtered.self, Churn.self, Idle.self, Crossnode.self, Merge.self]
    )
}

struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("ws"), help: "WebSocket URL (repeatable: several replicas, used round-robin).")
    var ws: [String] = []

    @Option(help: "REST base URL for writes (POST /items/<collection>).")
    var rest: String = "http://127.0.0.1:8055"

    @Option(help: "Static access token used for WebSocket auth and REST writes.")
    var token: String = ""

    @Option(help: "Collection to subscribe to and write into.")
    var collection: String = "bench"

    @Option(help: "Measured phase length: 10s, 500ms, 2m.")
    var duration: String = "10s"

    @Option(help: "Upper bound on client connections this run may open.")
    var maxConnections: Int = 1000

    @Option(help: "Writes per second (REST POST).")
    var rate: Double = 10

    @Option(help: "Number of subscriber connections.")
    var subscribers: Int = 100

    @Option(help: "Server process id(s) whose VmRSS is sampled (repeatable).")
    var pid: [Int32] = []

    @Flag(help: "Target is an nchan server: --ws are /sub/<channel> URLs, writes POST <rest>/pub/<collection>.")
    var nchan = false

    @Option(help: "Label for the target in reports.")
    var target: String = "switchboard"

    @Option(help: "Write the JSON report here.")
    var json: String?

    @Option(help: "Write the self-contained HTML report here.")
    var html: String?

    @Option(help: "Seconds to wait for late deliveries after the last write.")
    var drain: Double = 2

    @Option(help: "Seconds allowed for all subscribers to connect and subscribe.")
    var connectTimeout: Double = 30

    var durationSeconds: Double { DurationParser.seconds(duration) ?? 10 }

    func validate() throws {
        if ws.isEmpty { throw ValidationError("at least one --ws URL is required") }
        guard DurationParser.seconds(duration) != nil else { throw ValidationError("bad --duration '\(duration)'") }
        for url in ws + [rest] {
            guard let host = URL(string: url)?.host else { throw ValidationError("bad URL '\(url)'") }
            if !(host.hasPrefix("127.") || host == "localhost" || host == "::1" || host == "[::1]") {
                throw ValidationError("only loopback targets are allowed (got \(host))")
            }
        }
        if subscribers < 0 || maxConnections < 1 { throw ValidationError("counts must be positive") }
    }
}

protocol Scenario: AsyncParsableCommand {
    var common: CommonOptions { get }
}

// MARK: - scenarios

struct Fanout: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "N subscribers of one collection; one writer at --rate over REST.")
    @OptionGroup var common: CommonOptions
    func run() async throws {
        var runner = Runner(common: common, scenario: "fanout")
        try await runner.fanout(rooms: nil, subscriberURLs: common.ws)
    }
}

struct Filtered: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "N subscribers spread over K `_eq` filters on the integer `room` field.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Number of distinct filters (rooms).") var filters: Int = 10
    func run() async throws {
        var runner = Runner(common: common, scenario: "filtered")
        try await runner.fanout(rooms: Swift.max(1, filters), subscriberURLs: common.ws)
    }
}

struct Crossnode: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "Subscribers on --ws[1...] (other replicas), writes via --rest (first replica).")
    @OptionGroup var common: CommonOptions
    func run() async throws {
        let urls = common.ws.count > 1 ? Array(common.ws.dropFirst()) : common.ws
        var runner = Runner(common: common, scenario: "crossnode")
        if common.ws.count < 2 { runner.notes.append("only one --ws given: not actually cross-node") }
        try await runner.fanout(rooms: nil, subscriberURLs: urls)
    }
}

struct Churn: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "Connect/auth/subscribe/disconnect loops with --subscribers concurrent loops.")
    @OptionGroup var common: CommonOptions
    func run() async throws {
        var runner = Runner(common: common, scenario: "churn")
        try await runner.churn()
    }
}

struct Idle: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "Hold N authenticated, subscribed connections; report server RSS per connection (--pid).")
    @OptionGroup var common: CommonOptions
    func run() async throws {
        var runner = Runner(common: common, scenario: "idle")
        try await runner.idle()
    }
}

struct Merge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine JSON reports into one HTML page and a Markdown summary (with Switchboard/nchan ratios).")
    @Option(help: "Combined HTML report.") var html: String?
    @Option(help: "Markdown summary table.") var summary: String?
    @Argument(help: "JSON reports written by --json.") var reports: [String]

    func run() async throws {
        let decoded = try reports.map { try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: $0))) }
        if let html { try Data(ReportWriter.html(decoded).utf8).write(to: URL(fileURLWithPath: html)) }
        let md = ReportWriter.summary(decoded)
        if let summary { try Data(md.utf8).write(to: URL(fileURLWithPath: summary)) } else { print(md) }
    }
}

// MARK: - runner

struct Runner {
    var common: CommonOptions
    var scenario: String
    var notes: [String] = []
    let recorder = Recorder()
    let startedAt = ISO8601DateFormatter().string(from: Date())

    init(common: CommonOptions, scenario: String) {
        self.common = common
        self.scenario = scenario
    }

    /// Checks the connection budget against --max-connections and RLIMIT_NOFILE.
    mutating func connectionBudget(_ wanted: Int) -> Int {
        let limits = raiseOpenFileLimit()
        var n = wanted
        if n > common.maxConnections {
            notes.append("requested \(n) connections, capped by --max-connections \(common.maxConnections)")
            n = common.maxConnections
        }
        let usable = Int(limits.soft) - 64
        if n > usable {
            notes.append(
                "open-file limit: RLIMIT_NOFILE soft=\(limits.soft) hard=\(limits.hard) allows ~\(usable) sockets in this process; "
                    + "capped at \(usable) (run several bench processes to go further)")
            n = Swift.max(0, usable)
        }
        for n in notes { FileHandle.standardError.write(Data("note: \(n)\n".utf8)) }
        return n
    }

    func progress(_ phase: @escaping @Sendable () -> String) -> Task<Void, Never> {
        let recorder = self.recorder
        return Task {
            var lastDeliveries = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                recorder.sampleConnections()
                let s = recorder.snapshot()
                let line = String(
                    format: "\r[%4ds] %@ open=%d subscribed=%d writes=%d deliveries=%d (+%d/s) errors=%d   ",
                    recorder.second(), phase(), s.open, s.ready, s.writes, s.deliveries,
                    s.deliveries - lastDeliveries, s.connectErrors + s.protocolErrors + s.writeErrors)
                lastDeliveries = s.deliveries
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }

    func spec(_ i: Int, urls: [String], room: Int?, churn: Bool = false) -> SubscriberSpec {
        SubscriberSpec(
            url: urls[i % urls.count], token: common.token, collection: common.collection, room: room, churn: churn,
            nchan: common.nchan)
    }

    /// Opens `n` subscribers (ramped, ~50 per 20 ms) that hold until `stop`; waits until
    /// all are subscribed or failed, or the connect timeout passes.
    func openSubscribers(
        _ n: Int, urls: [String], rooms: Int?, stop: StopSignal, group: inout TaskGroup<Void>
    ) async {
        for i in 0..<n {
            let s = spec(i, urls: urls, room: rooms.map { i % $0 })
            let recorder = self.recorder
            group.addTask { await Client.run(s, recorder: recorder, stop: stop) }
            if i % 50 == 49 { try? await Task.sleep(for: .milliseconds(20)) }
        }
        let deadline = monotonicSeconds() + common.connectTimeout
        while monotonicSeconds() < deadline {
            let s = recorder.snapshot()
            if s.ready + s.connectErrors + s.protocolErrors >= n { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    mutating func fanout(rooms: Int?, subscriberURLs: [String]) async throws {
        let n = connectionBudget(common.subscribers)
        let stop = StopSignal()
        let phase = PhaseBox("connecting")
        let ticker = progress { phase.value }
        let common = self.common
        let recorder = self.recorder
        var measured = (start: 0.0, end: 0.0, writeEnd: 0.0)
        await withTaskGroup(of: Void.self) { group in
            await openSubscribers(n, urls: subscriberURLs, rooms: rooms, stop: stop, group: &group)
            phase.value = "writing"
            measured.start = monotonicSeconds()
            let writer = Writer(
                rest: common.rest, token: common.token, collection: common.collection, rate: common.rate, rooms: rooms,
                nchan: common.nchan)
            await writer.run(duration: common.durationSeconds, recorder: recorder)
            measured.writeEnd = monotonicSeconds()
            phase.value = "draining"
            try? await Task.sleep(for: .milliseconds(Int(common.drain * 1000)))
            measured.end = monotonicSeconds()
            phase.value = "closing"
            stop.stop()
            await group.waitForAll()
        }
        ticker.cancel()
        FileHandle.standardError.write(Data("\n".utf8))
        let snap = recorder.snapshot()
        var totals = CompletenessTotals()
        for stream in snap.streams {
            let expected = stream.room.map { snap.writesByRoom[$0] ?? 0 } ?? snap.writes
            totals.add(Completeness.check(seqs: stream.seqs, expected: expected))
        }
        try finish(
            snap, totals: totals, seconds: measured.end - measured.start,
            rateSeconds: measured.writeEnd - measured.start, memory: nil,
            extra: [
                "subscribers": "\(n)", "rate": "\(common.rate)", "rooms": rooms.map(String.init) ?? "-",
                "ws": subscriberURLs.joined(separator: " "),
            ])
    }

    mutating func churn() async throws {
        let loops = connectionBudget(common.subscribers)
        let stop = StopSignal()
        let ticker = progress { "churn" }
        let common = self.common
        let recorder = self.recorder
        let begin = monotonicSeconds()
        stop.stop(at: begin + common.durationSeconds)
        let specs = (0..<loops).map { spec($0, urls: common.ws, room: nil, churn: true) }
        await withTaskGroup(of: Void.self) { group in
            for s in specs {
                group.addTask {
                    while !stop.isStopped {
                        await Client.run(s, recorder: recorder, stop: stop)
                    }
                }
            }
            await group.waitForAll()
        }
        ticker.cancel()
        FileHandle.standardError.write(Data("\n".utf8))
        try finish(
            recorder.snapshot(), totals: CompletenessTotals(), seconds: monotonicSeconds() - begin, memory: nil,
            extra: ["loops": "\(loops)"])
    }

    mutating func idle() async throws {
        let n = connectionBudget(common.subscribers)
        if common.pid.isEmpty { notes.append("no --pid given: server memory not measured") }
        let baseline = common.pid.compactMap(residentKiB).reduce(0, +)
        let stop = StopSignal()
        let phase = PhaseBox("connecting")
        let ticker = progress { phase.value }
        let common = self.common
        let recorder = self.recorder
        var loaded = 0
        var held = 0
        var seconds = 0.0
        await withTaskGroup(of: Void.self) { group in
            await openSubscribers(n, urls: common.ws, rooms: nil, stop: stop, group: &group)
            phase.value = "holding"
            let begin = monotonicSeconds()
            var peak = 0
            while monotonicSeconds() - begin < common.durationSeconds {
                try? await Task.sleep(for: .milliseconds(500))
                peak = Swift.max(peak, common.pid.compactMap(residentKiB).reduce(0, +))
            }
            loaded = common.pid.compactMap(residentKiB).reduce(0, +)
            _ = peak
            held = recorder.snapshot().ready
            seconds = monotonicSeconds() - begin
            phase.value = "closing"
            stop.stop()
            await group.waitForAll()
        }
        ticker.cancel()
        FileHandle.standardError.write(Data("\n".utf8))
        let memory =
            common.pid.isEmpty
            ? nil
            : Report.MemoryStats(
                pids: common.pid, baselineKiB: baseline, loadedKiB: loaded, connections: held,
                kibPerConnection: held > 0 ? Double(loaded - baseline) / Double(held) : 0)
        try finish(
            recorder.snapshot(), totals: CompletenessTotals(), seconds: seconds, memory: memory,
            extra: [
                "connections": "\(n)"
            ])
    }

    func finish(
        _ snap: Recorder.State, totals: CompletenessTotals, seconds: Double, rateSeconds: Double? = nil,
        memory: Report.MemoryStats?,
        extra: [String: String]
    ) throws {
        let sorted = snap.latencies.sorted()
        // Write and delivery rates are per second of the write phase (deliveries that land
        // in the drain window still count: they were caused by those writes).
        let elapsed = Swift.max(rateSeconds ?? seconds, 0.001)
        // Connect rate: successful upgrades over the span from the first attempt to the last success.
        let connectWindow = Swift.max((snap.lastConnect ?? 0) - (snap.firstConnect ?? 0), 0.001)
        var params = extra
        params["duration"] = common.duration
        params["max-connections"] = "\(common.maxConnections)"
        params["collection"] = common.collection
        params["rest"] = common.rest
        let report = Report(
            scenario: scenario, target: common.target, startedAt: startedAt, durationSeconds: seconds, parameters: params,
            connections: .init(
                attempted: snap.connectAttempts, connected: snap.connected,
                subscribed: scenario == "churn" ? snap.cycles : snap.subscribedEver,
                errors: snap.connectErrors, protocolErrors: snap.protocolErrors,
                connectRatePerSecond: scenario == "churn"
                    ? Double(snap.cycles) / elapsed : Double(snap.connected) / connectWindow,
                connectLatencyMs: LatencySummary(samples: snap.connectLatencies), churnCycles: snap.cycles),
            writes: .init(ok: snap.writes, errors: snap.writeErrors, ratePerSecond: Double(snap.writes) / elapsed),
            deliveries: .init(total: snap.deliveries, perSecond: Double(snap.deliveries) / elapsed),
            latencyMs: LatencySummary(samples: sorted), completeness: totals, memory: memory,
            latencyCDF: Percentile.cdf(sorted), deliveriesPerSecond: snap.perSecondDeliveries,
            connectionsPerSecond: snap.perSecondConnections, errors: snap.errorSamples, notes: notes)
        print(ReportWriter.table(report), terminator: "")
        if let json = common.json {
            try ReportWriter.json(report).write(to: URL(fileURLWithPath: json))
        }
        if let html = common.html {
            try Data(ReportWriter.html([report]).utf8).write(to: URL(fileURLWithPath: html))
        }
    }
}

final class PhaseBox: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String
    init(_ text: String) { self.text = text }
    var value: String {
        get { lock.withLock { text } }
        set { lock.withLock { text = newValue } }
    }
}
