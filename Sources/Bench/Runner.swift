import Foundation
import SwitchboardCore
import Synchronization

/// How a run's client connections are laid out over processes and source addresses,
/// and which limits cut it down. Pure, so it is tested without sockets.
struct FleetPlan: Equatable {
    var connections: Int
    var workers: Int
    var sources: [String]
    var notes: [String] = []

    var inProcess: Bool { workers == 1 }

    /// Free ephemeral ports per (source address, target) pair we allow ourselves to use.
    static func usablePorts(range: ClosedRange<Int>) -> Int { Swift.max(1, range.count - 1000) }

    static func make(
        wanted: Int, targets: Int, maxConnections: Int, perTarget: Int, perWorker: Int, workers: Int?,
        sources: [String], fileLimit: Int, portRange: ClosedRange<Int>
    ) -> FleetPlan {
        var notes: [String] = []
        var n = wanted
        if n > maxConnections {
            notes.append("requested \(n) connections, capped by --max-connections \(maxConnections)")
            n = maxConnections
        }
        let targets = Swift.max(targets, 1)
        if n > perTarget * targets {
            notes.append(
                "server side: \(n) connections over \(targets) target(s) exceeds --per-target \(perTarget) "
                    + "(a replica may open at most 20,000 files); capped at \(perTarget * targets), add replicas (--ws) to go further"
            )
            n = perTarget * targets
        }
        // Each process keeps ~256 descriptors for itself (pipes, event loops, HTTP writer).
        let perProcess = Swift.max(1, Swift.min(perWorker, fileLimit - 256))
        var count = workers ?? Swift.max(1, (n + perProcess - 1) / perProcess)
        if count > 200 {
            notes.append("\(count) worker processes needed; capped at 200")
            count = 200
        }
        if n > count * perProcess {
            notes.append(
                "client side: \(count) worker(s) × \(perProcess) sockets (open-file limit \(fileLimit) per process) "
                    + "hold \(count * perProcess); capped there, use more --workers")
            n = count * perProcess
        }
        var addresses = sources
        if addresses.isEmpty && count > 1 {
            addresses = (0..<count).map { "127.0.0.\(2 + $0 % 250)" }
        }
        let pairs = Swift.max(addresses.count, 1) * targets
        let ports = usablePorts(range: portRange)
        if n > ports * pairs {
            notes.append(
                "ephemeral ports: \(n) connections over \(Swift.max(addresses.count, 1)) source address(es) × \(targets) target(s) "
                    + "exceeds \(ports) ports per pair (ip_local_port_range \(portRange.lowerBound)-\(portRange.upperBound)); "
                    + "capped at \(ports * pairs), add --source addresses")
            n = ports * pairs
        }
        return FleetPlan(connections: n, workers: count, sources: addresses, notes: notes)
    }

    /// The kernel's ephemeral port range.
    static func localPortRange() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        guard parts.count == 2, parts[0] <= parts[1] else { return 32768...60999 }
        return parts[0]...parts[1]
    }
}

/// Drives one scenario: plans the fleets, runs the phases, merges what they measured
/// and writes the report.
struct Runner {
    var common: CommonOptions
    var scenario: String
    var notes: [String] = []
    private var loggedIn = false
    /// Parent-side measurements (REST writes).
    let recorder: Recorder
    let baseEpochSecond: Int
    let startedAt = ISO8601DateFormatter().string(from: Date())

    init(common: CommonOptions, scenario: String) {
        self.common = common
        self.scenario = scenario
        self.baseEpochSecond = Int(nowMillis() / 1000)
        self.recorder = Recorder(baseEpochSecond: baseEpochSecond)
    }

    // MARK: fleets

    mutating func makeFleets(mode: Assignment.Mode, wanted: Int, urls: [String], rooms: Int?) throws -> [any Fleet] {
        let limits = ProcessResources.openFileLimit(raise: true)
        let plan = FleetPlan.make(
            wanted: wanted, targets: urls.count, maxConnections: common.maxConnections, perTarget: common.perTarget,
            perWorker: common.perWorker, workers: common.workers, sources: common.source,
            fileLimit: Int(clamping: limits.soft), portRange: FleetPlan.localPortRange())
        notes += plan.notes
        if !plan.inProcess {
            notes.append("\(plan.workers) worker processes, source addresses \(plan.sources.joined(separator: ", "))")
        }
        for n in notes { FileHandle.standardError.write(Data("note: \(n)\n".utf8)) }
        let template = Assignment(
            mode: mode, urls: urls, token: common.token, collection: common.collection, nchan: common.nchan, count: 0,
            rooms: rooms, connectRate: common.connectRate, baseEpochSecond: baseEpochSecond,
            deadlineSeconds: common.durationSeconds + common.connectTimeout + common.drain + 120)
        let slices = Assignment.split(template, total: plan.connections, workers: plan.workers, sources: plan.sources)
        if plan.inProcess { return [try LocalFleet(slices[0])] }
        return slices.enumerated().map { RemoteFleet($0.element, index: $0.offset) }
    }

    func start(_ fleets: [any Fleet]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for f in fleets { group.addTask { try await f.start() } }
            try await group.waitForAll()
        }
    }

    func total(_ fleets: [any Fleet]) -> Progress { Self.total(fleets, recorder: recorder) }

    static func total(_ fleets: [any Fleet], recorder: Recorder) -> Progress {
        var p = Progress(settled: true)
        for f in fleets {
            let q = f.progress()
            p.add(q)
            p.settled = p.settled && q.settled
        }
        let own = recorder.progress(settledAt: nil)
        p.writes += own.writes
        p.errors += own.errors
        return p
    }

    /// Waits until every planned connection subscribed or failed, or the connect timeout.
    func waitSettled(_ fleets: [any Fleet]) async {
        let deadline = monotonicSeconds() + common.connectTimeout
        while monotonicSeconds() < deadline && !total(fleets).settled {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    func ticker(_ fleets: [any Fleet], phase: PhaseBox) -> Task<Void, Never> {
        let begin = monotonicSeconds()
        let recorder = self.recorder
        return Task {
            var lastDeliveries = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let p = Self.total(fleets, recorder: recorder)
                let line = String(
                    format: "\r[%4ds] %@ open=%d subscribed=%d writes=%d deliveries=%d (+%d/s) errors=%d   ",
                    Int(monotonicSeconds() - begin), phase.value, p.open, p.ready, p.writes, p.deliveries,
                    p.deliveries - lastDeliveries, p.errors)
                lastDeliveries = p.deliveries
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }

    func finish(_ fleets: [any Fleet], _ expectation: Expectation?) async -> (Tally, CompletenessTotals) {
        var tally = recorder.tally()
        var totals = CompletenessTotals()
        await withTaskGroup(of: FleetResult.self) { group in
            for f in fleets { group.addTask { await f.finish(expectation) } }
            for await r in group {
                tally.merge(r.tally)
                totals.merge(r.completeness)
            }
        }
        return (tally, totals)
    }

    /// The connected clients of one run, its phase label and its progress line.
    struct Session {
        let fleets: [any Fleet]
        let phase: PhaseBox
        let tick: Task<Void, Never>
    }

    /// With --email/--password: logs in over REST once; the access token stands in for --token.
    mutating func logIn() async throws {
        guard !loggedIn, let email = common.email, let password = common.password else { return }
        let (token, expiresMs) = try await Login.accessToken(rest: common.rest, email: email, password: password)
        common.token = token
        loggedIn = true
        let runSeconds = common.durationSeconds + common.connectTimeout + common.drain
        if let expiresMs, Double(expiresMs) / 1000 < runSeconds {
            notes.append(
                "the access token from --email expires after \(expiresMs / 1000) s, before this run ends "
                    + "(the harness does not refresh it): use a static --token for long runs")
        }
    }

    /// Plans and starts the fleets; with `settle`, waits until every client subscribed or failed.
    mutating func connect(
        mode: Assignment.Mode, urls: [String], rooms: Int?, phase: String = "connecting", settle: Bool = true
    ) async throws -> Session {
        try await logIn()
        let fleets = try makeFleets(mode: mode, wanted: common.subscribers, urls: urls, rooms: rooms)
        let box = PhaseBox(phase)
        let session = Session(fleets: fleets, phase: box, tick: ticker(fleets, phase: box))
        try await start(fleets)
        if settle { await waitSettled(fleets) }
        return session
    }

    /// Closes every client and merges what they measured.
    func end(_ session: Session, _ expectation: Expectation?) async -> (Tally, CompletenessTotals) {
        session.phase.value = "closing"
        let result = await finish(session.fleets, expectation)
        session.tick.cancel()
        FileHandle.standardError.write(Data("\n".utf8))
        return result
    }

    /// Waits for late deliveries: until none arrived for `--quiet` seconds, at most `--drain`.
    /// (Under overload events are still in flight when the writer stops; counting them as
    /// lost after a fixed window would blame the server for the harness's impatience.)
    func drain(_ fleets: [any Fleet]) async {
        let begin = monotonicSeconds()
        var last = total(fleets).deliveries
        var lastChange = begin
        while monotonicSeconds() - begin < common.drain {
            await sleep(0.1)
            let now = total(fleets).deliveries
            if now != last {
                last = now
                lastChange = monotonicSeconds()
            } else if monotonicSeconds() - lastChange >= common.quiet {
                return
            }
        }
    }

    func sleep(_ seconds: Double) async {
        try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
    }

    // MARK: scenarios

    /// fanout / filtered / crossnode: subscribers hold; this process writes over REST.
    mutating func subscribeAndWrite(rooms: Int?, subscriberURLs: [String]) async throws {
        let session = try await connect(mode: .hold, urls: subscriberURLs, rooms: rooms)
        session.phase.value = "writing"
        let begin = monotonicSeconds()
        let writer = Writer(
            rest: common.rest, token: common.token, collection: common.collection, rate: common.rate, rooms: rooms,
            nchan: common.nchan)
        await writer.run(duration: common.durationSeconds, recorder: recorder)
        let writeSeconds = monotonicSeconds() - begin
        session.phase.value = "draining"
        await drain(session.fleets)
        let measured = monotonicSeconds() - begin
        let own = recorder.tally()
        let (tally, totals) = await end(session, Expectation(all: own.writes, byRoom: own.writesByRoom))
        try report(
            tally, totals: totals, seconds: measured, rateSeconds: writeSeconds, memory: nil,
            extra: [
                "subscribers": "\(common.subscribers)", "rate": "\(common.rate)", "rooms": rooms.map(String.init) ?? "-",
                "ws": subscriberURLs.joined(separator: " "), "workers": "\(session.fleets.count)",
            ])
    }

    /// chat: every user subscribes to its room and writes over its own socket.
    mutating func chat(rooms: Int) async throws {
        let session = try await connect(mode: .chat, urls: common.ws, rooms: rooms)
        let fleets = session.fleets
        session.phase.value = "chatting"
        let begin = monotonicSeconds()
        // Each fleet writes in proportion to the users it holds.
        let ready = fleets.map { Swift.max($0.progress().ready, 0) }
        let allReady = Swift.max(ready.reduce(0, +), 1)
        for (f, r) in zip(fleets, ready) { await f.startWrites(rate: common.rate * Double(r) / Double(allReady)) }
        await sleep(common.durationSeconds)
        var writes = WriteCount()
        for f in fleets { writes.add(await f.stopWrites()) }
        let writeSeconds = monotonicSeconds() - begin
        session.phase.value = "draining"
        await drain(session.fleets)
        let measured = monotonicSeconds() - begin
        let (tally, totals) = await end(session, Expectation(all: writes.ok, byRoom: writes.byRoom))
        try report(
            tally, totals: totals, seconds: measured, rateSeconds: writeSeconds, memory: nil,
            extra: [
                "users": "\(common.subscribers)", "rooms": "\(rooms)", "rate": "\(common.rate)",
                "workers": "\(fleets.count)",
            ])
    }

    mutating func churn() async throws {
        let begin = monotonicSeconds()
        let session = try await connect(mode: .churn, urls: common.ws, rooms: nil, phase: "churn", settle: false)
        await sleep(common.durationSeconds)
        let seconds = monotonicSeconds() - begin
        let (tally, totals) = await end(session, nil)
        try report(
            tally, totals: totals, seconds: seconds, memory: nil,
            extra: ["loops": "\(common.subscribers)", "workers": "\(session.fleets.count)"])
    }

    mutating func idle() async throws {
        try await logIn()
        let measuresMemory = !common.pid.isEmpty || !common.metrics.isEmpty
        if !measuresMemory { notes.append("no --pid or --metrics given: server memory not measured") }
        let baseline = await serverKiB()
        let session = try await connect(mode: .hold, urls: common.ws, rooms: nil)
        session.phase.value = "holding"
        let begin = monotonicSeconds()
        await sleep(common.durationSeconds)
        let loaded = await serverKiB()
        let held = total(session.fleets).ready
        let seconds = monotonicSeconds() - begin
        let (tally, totals) = await end(session, nil)
        let memory =
            measuresMemory
            ? Report.MemoryStats(
                pids: common.pid, metricsURLs: common.metrics.isEmpty ? nil : common.metrics, baselineKiB: baseline,
                loadedKiB: loaded, connections: held,
                kibPerConnection: held > 0 ? Double(loaded - baseline) / Double(held) : 0)
            : nil
        try report(
            tally, totals: totals, seconds: seconds, memory: memory,
            extra: ["connections": "\(common.subscribers)", "held": "\(held)", "workers": "\(session.fleets.count)"])
    }

    /// Server memory now: VmRSS of --pid processes plus process_resident_memory_bytes of
    /// each --metrics URL, in KiB.
    func serverKiB() async -> Int {
        var kib = common.pid.compactMap { ProcessResources.residentKiB(pid: $0) }.reduce(0, +)
        for url in common.metrics {
            let auth = common.metricsToken.map { "Metrics \($0)" } ?? "Bearer \(common.token)"
            if let bytes = await MetricsScrape.residentBytes(url: url, authorization: auth) {
                kib += bytes / 1024
            } else {
                FileHandle.standardError.write(Data("note: could not read process_resident_memory_bytes from \(url)\n".utf8))
            }
        }
        return kib
    }

    // MARK: report

    func report(
        _ t: Tally, totals: CompletenessTotals, seconds: Double, rateSeconds: Double? = nil,
        memory: Report.MemoryStats?, extra: [String: String]
    ) throws {
        // Write and delivery rates are per second of the write phase (deliveries that land
        // in the drain window still count: those writes caused them).
        let elapsed = Swift.max(rateSeconds ?? seconds, 0.001)
        let connectWindow = Swift.max(((t.lastConnectMs ?? 0) - (t.firstConnectMs ?? 0)) / 1000, 0.001)
        var params = extra
        params["duration"] = common.duration
        params["max-connections"] = "\(common.maxConnections)"
        params["collection"] = common.collection
        params["rest"] = common.rest
        let report = Report(
            scenario: scenario, target: common.target, startedAt: startedAt, durationSeconds: seconds, parameters: params,
            connections: .init(
                attempted: t.connectAttempts, connected: t.connected,
                subscribed: scenario == "churn" ? t.cycles : t.subscribedEver,
                errors: t.connectErrors, protocolErrors: t.protocolErrors,
                connectRatePerSecond: scenario == "churn" ? Double(t.cycles) / elapsed : Double(t.connected) / connectWindow,
                connectLatencyMs: LatencySummary(t.connectLatency), churnCycles: t.cycles),
            writes: .init(
                ok: t.writes, errors: t.writeErrors, ratePerSecond: Double(t.writes) / elapsed,
                latencyMs: LatencySummary(t.writeLatency)),
            deliveries: .init(total: t.deliveries, perSecond: Double(t.deliveries) / elapsed),
            latencyMs: LatencySummary(t.latency), completeness: totals, memory: memory,
            latencyCDF: Percentile.cdf(t.latency), deliveriesPerSecond: t.perSecondDeliveries,
            connectionsPerSecond: t.perSecondConnections, errors: t.errorSamples, notes: notes)
        print(ReportWriter.table(report), terminator: "")
        if let json = common.json {
            try ReportWriter.json(report).write(to: URL(fileURLWithPath: json))
        }
        if let html = common.html {
            try Data(ReportWriter.html([report]).utf8).write(to: URL(fileURLWithPath: html))
        }
    }
}

/// The phase label shown in the progress line.
final class PhaseBox: Sendable {
    private let text: Mutex<String>
    init(_ text: String) { self.text = Mutex(text) }
    var value: String {
        get { text.withLock { $0 } }
        set { text.withLock { $0 = newValue } }
    }
}
