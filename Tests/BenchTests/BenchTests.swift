import ArgumentParser
import Foundation
import Histogram
import Testing

@testable import Bench

@Suite struct FlagParsingTests {
    @Test func fanoutFlags() throws {
        let cmd = try Fanout.parse([
            "--ws", "ws://127.0.0.1:8055/websocket", "--ws", "ws://127.0.0.2:8056/websocket",
            "--rest", "http://127.0.0.1:8055", "--token", "tok", "--collection", "msgs",
            "--duration", "15s", "--max-connections", "500", "--rate", "50", "--subscribers", "200",
            "--json", "/tmp/x.json", "--html", "/tmp/x.html", "--pid", "42",
        ])
        #expect(cmd.common.ws.count == 2)
        #expect(cmd.common.token == "tok")
        #expect(cmd.common.collection == "msgs")
        #expect(cmd.common.durationSeconds == 15)
        #expect(cmd.common.maxConnections == 500)
        #expect(cmd.common.rate == 50)
        #expect(cmd.common.subscribers == 200)
        #expect(cmd.common.json == "/tmp/x.json")
        #expect(cmd.common.html == "/tmp/x.html")
        #expect(cmd.common.pid == [42])
    }

    @Test func filteredTakesFilterCount() throws {
        let cmd = try Filtered.parse(["--ws", "ws://127.0.0.1:1/websocket", "--filters", "7"])
        #expect(cmd.filters == 7)
    }

    @Test func chatAndScalingFlags() throws {
        let cmd = try Chat.parse([
            "--ws", "ws://127.0.0.1:8055/websocket", "--rooms", "25", "--subscribers", "500", "--rate", "100",
            "--workers", "2", "--source", "127.0.0.5", "--source", "127.0.0.6", "--per-worker", "9000",
            "--per-target", "12000", "--connect-rate", "500",
        ])
        #expect(cmd.rooms == 25)
        #expect(cmd.common.workers == 2)
        #expect(cmd.common.source == ["127.0.0.5", "127.0.0.6"])
        #expect(cmd.common.perWorker == 9000)
        #expect(cmd.common.perTarget == 12000)
        #expect(cmd.common.connectRate == 500)
        #expect(throws: (any Error).self) {
            try Chat.parse(["--ws", "ws://127.0.0.1:1/websocket", "--source", "10.0.0.2"])
        }
        #expect(throws: (any Error).self) { try Chat.parse(["--ws", "ws://127.0.0.1:1/websocket", "--workers", "0"]) }
        let login = try Fanout.parse(["--ws", "ws://127.0.0.1:1/websocket", "--email", "a@b.c", "--password", "pw"])
        #expect(login.common.email == "a@b.c" && login.common.password == "pw")
        #expect(throws: (any Error).self) { try Fanout.parse(["--ws", "ws://127.0.0.1:1/websocket", "--email", "a@b.c"]) }
    }

    @Test func subcommandsAreRegistered() throws {
        let parsed = try BenchCommand.parseAsRoot(["idle", "--ws", "ws://127.0.0.1:1/websocket", "--subscribers", "3"])
        let idle = try #require(parsed as? Idle)
        #expect(idle.common.subscribers == 3)
        #expect(try BenchCommand.parseAsRoot(["chat", "--ws", "ws://127.0.0.1:1/websocket"]) is Chat)
        #expect(try BenchCommand.parseAsRoot(["worker"]) is Worker)
        #expect(throws: (any Error).self) { try BenchCommand.parseAsRoot(["nope"]) }
    }

    @Test func nonLoopbackTargetsAreRejected() {
        #expect(throws: (any Error).self) { try Fanout.parse(["--ws", "ws://example.com/websocket"]) }
        #expect(throws: (any Error).self) {
            try Fanout.parse(["--ws", "ws://127.0.0.1/websocket", "--rest", "http://10.0.0.1:8055"])
        }
        #expect(throws: (any Error).self) { try Fanout.parse([]) }
        #expect(throws: (any Error).self) { try Fanout.parse(["--ws", "ws://127.0.0.1/w", "--duration", "soon"]) }
    }

    @Test func durations() {
        #expect(DurationParser.seconds("10s") == 10)
        #expect(DurationParser.seconds("500ms") == 0.5)
        #expect(DurationParser.seconds("2m") == 120)
        #expect(DurationParser.seconds("1h") == 3600)
        #expect(DurationParser.seconds("3") == 3)
        #expect(DurationParser.seconds("x") == nil)
        #expect(DurationParser.seconds("-1s") == nil)
    }
}

@Suite struct HistogramTests {
    static func histogram(_ ms: [Double]) -> LatencyHistogram {
        var h = LatencyHistogram.latency()
        for v in ms { h.record(milliseconds: v) }
        return h
    }

    @Test func summaryInMilliseconds() {
        let s = LatencySummary(Self.histogram((1...100).map(Double.init)))
        #expect(s.count == 100)
        #expect(abs(s.p50 - 50) < 0.1)
        #expect(abs(s.p90 - 90) < 0.1)
        #expect(abs(s.p99 - 99) < 0.1)
        #expect(abs(s.max - 100) < 0.1)
        #expect(abs(s.mean - 50.5) < 0.1)
        #expect(LatencySummary(LatencyHistogram.latency()) == .empty)
    }

    @Test func subMillisecondAndHugeValuesAreClamped() {
        let s = LatencySummary(Self.histogram([0, 0.0001, 1e12]))
        #expect(s.count == 3)
        #expect(s.p50 <= 0.002)
        #expect(s.max >= 599_000)
    }

    @Test func mergingHistogramsEqualsRecordingAll() {
        var a = Self.histogram([1, 2, 3])
        a.add(Self.histogram([4, 5, 100]))
        #expect(LatencySummary(a) == LatencySummary(Self.histogram([1, 2, 3, 4, 5, 100])))
    }

    @Test func cdfIsMonotoneAndEndsAtMaxAndOne() {
        let h = Self.histogram((1...1000).map { Double($0) / 10 })
        let cdf = Percentile.cdf(h, maxPoints: 100)
        #expect(cdf.count <= 101)
        #expect(cdf.last?[1] == 1)
        #expect(abs((cdf.last?[0] ?? 0) - 100) < 0.1)
        #expect(zip(cdf, cdf.dropFirst()).allSatisfy { $0[1] <= $1[1] && $0[0] <= $1[0] })
        #expect(Percentile.cdf(LatencyHistogram.latency()).isEmpty)
    }

    @Test func tallyMergeAddsEverything() throws {
        var a = Tally()
        a.deliveries = 3
        a.writesByRoom = [1: 2]
        a.perSecondDeliveries = [1, 2]
        a.firstConnectMs = 10
        a.latency = Self.histogram([1, 2])
        var b = Tally()
        b.deliveries = 4
        b.writesByRoom = [1: 1, 2: 5]
        b.perSecondDeliveries = [0, 1, 7]
        b.firstConnectMs = 5
        b.lastConnectMs = 50
        b.latency = Self.histogram([3])
        a.merge(b)
        #expect(a.deliveries == 7)
        #expect(a.writesByRoom == [1: 3, 2: 5])
        #expect(a.perSecondDeliveries == [1, 3, 7])
        #expect(a.firstConnectMs == 5 && a.lastConnectMs == 50)
        #expect(a.latency.totalCount == 3)
        // Tallies travel between processes as JSON.
        let back = try JSONDecoder().decode(Tally.self, from: JSONEncoder().encode(a))
        #expect(LatencySummary(back.latency) == LatencySummary(a.latency))
        #expect(back.writesByRoom == a.writesByRoom)
    }
}

@Suite struct FleetPlanTests {
    let ports = 32768...60999

    @Test func smallRunsStayInProcess() {
        let p = FleetPlan.make(
            wanted: 500, targets: 1, maxConnections: 1000, perTarget: 18000, perWorker: 18000, workers: nil,
            sources: [], fileLimit: 20000, portRange: ports)
        #expect(p == FleetPlan(connections: 500, workers: 1, sources: []))
        #expect(p.inProcess)
    }

    @Test func pastOneProcessLimitUsesWorkersAndSources() {
        let p = FleetPlan.make(
            wanted: 40000, targets: 3, maxConnections: 50000, perTarget: 18000, perWorker: 18000, workers: nil,
            sources: [], fileLimit: 20000, portRange: ports)
        #expect(p.connections == 40000)
        #expect(p.workers == 3)
        #expect(p.sources == ["127.0.0.2", "127.0.0.3", "127.0.0.4"])
        #expect(p.notes.isEmpty)
    }

    @Test func limitsAreNamed() {
        let cap = FleetPlan.make(
            wanted: 5000, targets: 1, maxConnections: 2000, perTarget: 18000, perWorker: 18000, workers: nil,
            sources: [], fileLimit: 20000, portRange: ports)
        #expect(cap.connections == 2000)
        #expect(cap.notes.first?.contains("--max-connections") == true)

        let server = FleetPlan.make(
            wanted: 30000, targets: 1, maxConnections: 100000, perTarget: 18000, perWorker: 18000, workers: nil,
            sources: [], fileLimit: 20000, portRange: ports)
        #expect(server.connections == 18000)
        #expect(server.notes.first?.contains("server side") == true)

        let client = FleetPlan.make(
            wanted: 30000, targets: 2, maxConnections: 100000, perTarget: 18000, perWorker: 18000, workers: 1,
            sources: [], fileLimit: 20000, portRange: ports)
        #expect(client.connections == 18000)
        #expect(client.notes.first?.contains("client side") == true)

        let fd = FleetPlan.make(
            wanted: 3000, targets: 1, maxConnections: 100000, perTarget: 18000, perWorker: 18000, workers: 1,
            sources: [], fileLimit: 1024, portRange: ports)
        #expect(fd.connections == 768)
        #expect(fd.notes.first?.contains("open-file limit 1024") == true)

        let ephemeral = FleetPlan.make(
            wanted: 10000, targets: 1, maxConnections: 100000, perTarget: 18000, perWorker: 18000, workers: 1,
            sources: [], fileLimit: 20000, portRange: 50000...55999)
        #expect(ephemeral.connections == 5000)
        #expect(ephemeral.notes.first?.contains("ephemeral ports") == true)
    }

    @Test func splitCoversEveryClientOnce() {
        let template = Assignment(
            mode: .hold, urls: ["ws://127.0.0.1:1/websocket"], token: "t", collection: "c", count: 0,
            connectRate: 3000, baseEpochSecond: 0)
        let slices = Assignment.split(template, total: 10, workers: 3, sources: ["127.0.0.2", "127.0.0.3", "127.0.0.4"])
        #expect(slices.map(\.count) == [4, 3, 3])
        #expect(slices.map(\.firstIndex) == [0, 4, 7])
        #expect(slices.map(\.sources) == [["127.0.0.2"], ["127.0.0.3"], ["127.0.0.4"]])
        #expect(slices.allSatisfy { $0.connectRate == 1000 })
        let shared = Assignment.split(template, total: 4, workers: 2, sources: ["127.0.0.9"])
        #expect(shared.map(\.sources) == [["127.0.0.9"], ["127.0.0.9"]])
        let many = Assignment.split(
            template, total: 4, workers: 2, sources: ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"])
        #expect(many.map(\.sources) == [["127.0.0.2", "127.0.0.4"], ["127.0.0.3", "127.0.0.5"]])
    }
}

@Suite struct WorkerProtocolTests {
    @Test func commandsRoundTripAsLines() throws {
        let a = Assignment(
            mode: .chat, urls: ["ws://127.0.0.1:1/websocket"], token: "t", collection: "c", count: 5, rooms: 3,
            baseEpochSecond: 42)
        let commands: [WorkerCommand] = [
            .start(a), .startWrites(rate: 12.5), .stopWrites, .finish(Expectation(all: 9, byRoom: [0: 3, 1: 6])), .finish(nil),
        ]
        var buffer = Data()
        for c in commands { buffer.append(LineCodec.encode(c)) }
        buffer.append(Data("{\"partial".utf8))
        let lines = LineCodec.lines(&buffer)
        #expect(lines.count == commands.count)
        #expect(try lines.map { try JSONDecoder().decode(WorkerCommand.self, from: $0) } == commands)
        #expect(String(decoding: buffer, as: UTF8.self) == "{\"partial")
    }

    @Test func framesAreDirectusMessages() throws {
        #expect(Frames.auth(token: "a\"b") == #"{"type":"auth","access_token":"a\"b"}"#)
        let sub = Frames.subscribe(collection: "msgs", room: 4)
        #expect(sub.contains(#""query":{"filter":{"room":{"_eq":4}}}"#))
        #expect(sub.contains(#""event":"create""#))
        #expect(!Frames.subscribe(collection: "msgs", room: nil).contains("query"))
        let create = Frames.chatCreate(collection: "msgs", room: 2, sentAt: 1_700_000_000_000, n: 7)
        #expect(create.contains(#""action":"create""#))
        #expect(create.contains(#""room":2"#))
        #expect(create.contains(#""sent_at":1700000000000"#))
        #expect(create.contains(#""uid":"w7""#))
    }

    @Test func prometheusSampleIsRead() {
        let text = """
            # HELP process_resident_memory_bytes Resident memory of this process.
            # TYPE process_resident_memory_bytes gauge
            process_resident_memory_bytes 48472064
            process_resident_memory_bytes_total 1
            """
        #expect(MetricsScrape.sample("process_resident_memory_bytes", in: text) == 48_472_064)
        #expect(MetricsScrape.sample("process_open_fds", in: text) == nil)
    }

    @Test func endpointsParse() {
        #expect(Endpoint(url: "ws://127.0.0.1:8055/websocket") == Endpoint(url: "ws://127.0.0.1:8055/websocket"))
        let e = Endpoint(url: "ws://127.0.0.1:8055/sub/bench?x=1")
        #expect(e?.port == 8055 && e?.path == "/sub/bench?x=1" && e?.hostHeader == "127.0.0.1:8055")
        #expect(Endpoint(url: "http://127.0.0.1/") == nil)
    }
}

@Suite struct CompletenessTests {
    @Test func perfectStream() {
        let c = Completeness.check(seqs: [1, 2, 3, 4], expected: 4)
        #expect(c == Completeness(expected: 4, received: 4, unique: 4, lost: 0, duplicates: 0, reordered: 0))
    }

    @Test func gapsAreLost() {
        let c = Completeness.check(seqs: [1, 2, 5], expected: 5)
        #expect(c.lost == 2)
        #expect(c.duplicates == 0)
        #expect(c.reordered == 0)
    }

    @Test func duplicatesAndReorders() {
        let c = Completeness.check(seqs: [1, 3, 2, 3, 4, 4], expected: 4)
        #expect(c.duplicates == 2)
        #expect(c.reordered == 1)
        #expect(c.lost == 0)
        #expect(c.unique == 4)
        #expect(c.received == 6)
    }

    @Test func emptyStreamLosesEverything() {
        let c = Completeness.check(seqs: [], expected: 3)
        #expect(c.lost == 3)
    }

    @Test func totalsCountCompleteClients() {
        var t = CompletenessTotals()
        t.add(Completeness.check(seqs: [1, 2], expected: 2))
        t.add(Completeness.check(seqs: [2, 1], expected: 2))
        t.add(Completeness.check(seqs: [1], expected: 2))
        #expect(t.clients == 3)
        #expect(t.clientsComplete == 1)
        #expect(t.lost == 1)
        #expect(t.reordered == 1)
    }
}

@Suite struct ReportTests {
    /// A report as a recorded run would produce it.
    static func recorded() -> Report {
        let latency = HistogramTests.histogram([1.2, 0.8, 2.5, 1.1, 9.0, 1.4, 1.0, 0.9, 3.3, 1.6])
        return Report(
            scenario: "fanout", startedAt: "2026-11-25T00:00:00Z", durationSeconds: 10,
            parameters: ["subscribers": "2", "rate": "5"],
            connections: .init(
                attempted: 2, connected: 2, subscribed: 2, errors: 0, protocolErrors: 0, connectRatePerSecond: 100,
                connectLatencyMs: LatencySummary(HistogramTests.histogram([3, 4])), churnCycles: 0),
            writes: .init(ok: 5, errors: 0, ratePerSecond: 0.5),
            deliveries: .init(total: 10, perSecond: 1),
            latencyMs: LatencySummary(latency),
            completeness: {
                var t = CompletenessTotals()
                t.add(Completeness.check(seqs: [1, 2, 3, 4, 5], expected: 5))
                t.add(Completeness.check(seqs: [1, 2, 3, 5, 4], expected: 5))
                return t
            }(),
            memory: .init(pids: [1], baselineKiB: 1000, loadedKiB: 1100, connections: 2, kibPerConnection: 50),
            latencyCDF: Percentile.cdf(latency), deliveriesPerSecond: [0, 2, 4, 2, 2], connectionsPerSecond: [2, 2, 2, 2, 0],
            errors: ["write: <HTTP 500>"], notes: ["recorded"])
    }

    @Test func htmlIsSelfContainedWithCharts() {
        let html = ReportWriter.html([Self.recorded()])
        #expect(html.contains("<svg"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)
        #expect(html.contains("<polyline"))
        #expect(html.contains("Latency CDF"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("src=\"http"))
        #expect(!html.contains("href=\"http"))
        #expect(html.contains("&lt;HTTP 500&gt;"))
    }

    @Test func jsonRoundTrips() throws {
        let report = Self.recorded()
        let data = try ReportWriter.json(report)
        let back = try JSONDecoder().decode(Report.self, from: data)
        #expect(back == report)
    }

    @Test func tableHasKeyNumbers() {
        let table = ReportWriter.table(Self.recorded())
        #expect(table.contains("deliveries/s"))
        #expect(table.contains("KiB per connection"))
        #expect(table.contains("1 / 2"))  // complete clients
    }

    @Test func emptyChartSaysNoData() {
        let svg = ReportWriter.svgChart(title: "t", points: [], xLabel: "x", yLabel: "y")
        #expect(svg.contains("no data"))
    }
}

@Suite struct SummaryTests {
    @Test func ratiosAgainstNchan() {
        let sb = ReportTests.recorded()
        var peer = sb
        peer.target = "nchan"
        peer.memory?.kibPerConnection = 25
        let md = ReportWriter.summary([sb, peer])
        #expect(md.contains("| fanout | switchboard |"))
        #expect(md.contains("Switchboard / nchan"))
        #expect(md.contains("| fanout | KiB per connection | 2.00 |"))
    }

    @Test func writeTimesSplitADeliverysLatency() {
        var sb = ReportTests.recorded()
        sb.writes.latencyMs = LatencySummary(HistogramTests.histogram([0.5, 0.6, 0.7, 0.8]))
        var old = sb
        old.target = "nchan"
        old.writes.latencyMs = nil  // a report from before writes were timed
        let md = ReportWriter.summary([sb, old])
        let p50 = ReportWriter.fmt(sb.writes.latencyMs!.p50)
        let rest = ReportWriter.fmt(sb.latencyMs.p50 - sb.writes.latencyMs!.p50)
        #expect(md.contains("| scenario | target | write until its response p50 / p99 ms |"))
        #expect(md.contains("| fanout | switchboard | \(p50) / "))
        #expect(md.contains(" | \(rest) |"))
        #expect(!md.contains("| fanout | nchan | -"))
        #expect(ReportWriter.summary([old]).contains("write until its response") == false)
    }

    @Test func theRecorderTimesWrites() {
        let recorder = Recorder()
        recorder.wrote(room: nil, latencyMs: 2.5)
        recorder.wrote(room: 1)
        let t = recorder.tally()
        #expect(t.writes == 2)
        #expect(LatencySummary(t.writeLatency).count == 1)
        var merged = Tally()
        merged.merge(t)
        merged.merge(t)
        #expect(LatencySummary(merged.writeLatency).count == 2)
    }
}

@Suite struct KneeTests {
    /// A clean knee step: every client complete, the offered rate achieved, p99 `p99` ms.
    static func step(_ target: String, rate: Double, p99: Double, achieved: Double? = nil, lost: Int = 0) -> Report {
        var r = ReportTests.recorded()
        r.scenario = KneeCurve.scenario
        r.target = target
        r.parameters["rate"] = ReportWriter.fmt(rate, 0)
        r.writes.ratePerSecond = achieved ?? rate
        r.latencyMs.p99 = p99
        var t = CompletenessTotals()
        t.add(Completeness.check(seqs: [1, 2, 3], expected: 3))
        r.completeness = t
        r.completeness.lost = lost
        return r
    }

    @Test func kneeIsTheHighestPassingRate() {
        let curves = KneeCurve.curves([
            Self.step("switchboard", rate: 40, p99: 20), Self.step("switchboard", rate: 20, p99: 10),
            Self.step("switchboard", rate: 80, p99: 150), Self.step("switchboard", rate: 60, p99: 40),
            Self.step("nchan", rate: 20, p99: 30), Self.step("nchan", rate: 40, p99: 90, achieved: 30),
        ])
        #expect(curves.map(\.target) == ["switchboard", "nchan"])
        #expect(curves[0].steps.map(\.offered) == [20, 40, 60, 80])
        #expect(curves[0].knee == 60)
        #expect(curves[0].steps[3].why == "p99 150.0 ms")
        #expect(curves[1].knee == 20)
        #expect(curves[1].steps[1].why == "achieved 30.0 writes/s")
        #expect(curves[0].strictKnee == 60)
        let md = KneeCurve.summary(curves)
        #expect(md.contains("| Switchboard / nchan | 3.00 | 3.00 |"))
    }

    @Test func aFailingStepBelowTheKneeEndsOnlyTheStrictKnee() {
        let curve = KneeCurve.curves([
            Self.step("nchan", rate: 20, p99: 10), Self.step("nchan", rate: 40, p99: 10, lost: 1),
            Self.step("nchan", rate: 60, p99: 10), Self.step("nchan", rate: 80, p99: 200),
        ])[0]
        #expect(curve.knee == 60)
        #expect(curve.strictKnee == 20)
        #expect(KneeCurve.summary([curve]).contains("| nchan | 60 | 20 |"))
        let none = KneeCurve.curves([Self.step("nchan", rate: 20, p99: 500)])[0]
        #expect(none.knee == nil && none.strictKnee == nil)
    }

    @Test func lossFailsAStepWhateverItsLatency() {
        let s = KneeCurve.step(Self.step("switchboard", rate: 20, p99: 1, lost: 2))
        #expect(!s.passed)
        #expect(s.why?.hasPrefix("lost 2") == true)
        #expect(KneeCurve(target: "x", steps: [s]).knee == nil)
    }

    @Test func kneeStepsGetTheirOwnChartsAndStayOutOfTheMainTable() {
        let reports = [
            Self.step("switchboard", rate: 20, p99: 10), Self.step("nchan", rate: 20, p99: 12), ReportTests.recorded(),
        ]
        let html = ReportWriter.html(reports)
        #expect(html.contains("Fan-out knee"))
        #expect(html.contains("p99 latency against offered write rate"))
        #expect(html.contains("stroke-dasharray"))
        let md = ReportWriter.summary(reports)
        #expect(!md.contains("| knee | switchboard | 1 |"))
        #expect(md.contains("| knee | switchboard | 20 |"))
    }
}

@Suite struct EventScanTests {
    func scan(_ text: String, nchan: Bool = false) -> EventScan? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { raw in
            nchan ? EventScan.body(UnsafeRawBufferPointer(raw)) : EventScan.create(UnsafeRawBufferPointer(raw))
        }
    }

    @Test func createFrameGivesSeqAndEveryRowsSentAt() {
        let frame =
            #"{"type":"subscription","event":"create","data":[{"id":1,"text":"a \"seq\":9","sent_at":1700000000123},"#
            + #"{"id":2,"sent_at":1700000000124.5}],"uid":"s","seq":42}"#
        #expect(scan(frame) == EventScan(seq: 42, sentAt: [1_700_000_000_123, 1_700_000_000_124.5]))
    }

    @Test func otherFramesAreLeftToTheParser() {
        #expect(scan(#"{"type":"subscription","event":"init","data":[],"uid":"s"}"#) == nil)
        #expect(scan(#"{"type":"ping"}"#) == nil)
        #expect(scan(#"{"type":"items","data":{"sent_at":1}}"#) == nil)
    }

    @Test func nchanBodies() {
        #expect(scan(#"{"text":"bench 1","sent_at":10,"seq":2}"#, nchan: true) == EventScan(seq: 2, sentAt: [10]))
        #expect(scan(#"{"seq": 7}"#, nchan: true) == EventScan(seq: 7, sentAt: []))
        #expect(scan("not json", nchan: true) == nil)
        #expect(scan(#"{"sent_at":"x"}"#, nchan: true) == nil)
    }

    @Test func numbers() {
        var bytes = Array("-12.25,".utf8)
        let n = bytes.withUnsafeMutableBytes { EventScan.number(in: UnsafeRawBufferPointer($0), at: 0) }
        #expect(n?.0 == -12.25)
        #expect(n?.1 == 6)
    }
}

@Suite struct RecorderShardTests {
    @Test func deliveriesFromEveryShardAddUp() {
        let recorder = Recorder()
        for i in 0..<20 { recorder.delivered(sentAt: [nowMillis() - 5], received: nowMillis(), shard: i) }
        recorder.delivered(sentAt: [], received: nowMillis(), shard: 3)
        let tally = recorder.tally()
        #expect(tally.deliveries == 21)
        #expect(tally.latency.totalCount == 20)
        #expect(tally.perSecondDeliveries.reduce(0, +) == 21)
        #expect(recorder.progress(settledAt: nil).deliveries == 21)
    }
}
