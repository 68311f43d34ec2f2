import ArgumentParser
import Foundation
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

    @Test func subcommandsAreRegistered() throws {
        let parsed = try BenchCommand.parseAsRoot(["idle", "--ws", "ws://127.0.0.1:1/websocket", "--subscribers", "3"])
        let idle = try #require(parsed as? Idle)
        #expect(idle.common.subscribers == 3)
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

@Suite struct PercentileTests {
    @Test func nearestRank() {
        let values = (1...100).map(Double.init)
        #expect(Percentile.value(values, 50) == 50)
        #expect(Percentile.value(values, 90) == 90)
        #expect(Percentile.value(values, 99) == 99)
        #expect(Percentile.value(values, 99.9) == 100)
        #expect(Percentile.value(values, 0) == 1)
        #expect(Percentile.value(values, 100) == 100)
        #expect(Percentile.value([], 50) == 0)
        #expect(Percentile.value([7], 99.9) == 7)
    }

    @Test func summaryOfUnsortedSamples() {
        let s = LatencySummary(samples: [5, 1, 3, 2, 4])
        #expect(s.count == 5)
        #expect(s.p50 == 3)
        #expect(s.max == 5)
        #expect(s.mean == 3)
        #expect(LatencySummary(samples: []) == .empty)
    }

    @Test func cdfEndsAtOne() {
        let sorted = (1...1000).map(Double.init)
        let cdf = Percentile.cdf(sorted, maxPoints: 100)
        #expect(cdf.count <= 101)
        #expect(cdf.last == [1000, 1])
        #expect(zip(cdf, cdf.dropFirst()).allSatisfy { $0[1] <= $1[1] && $0[0] <= $1[0] })
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
        let samples: [Double] = [1.2, 0.8, 2.5, 1.1, 9.0, 1.4, 1.0, 0.9, 3.3, 1.6]
        let sorted = samples.sorted()
        return Report(
            scenario: "fanout", startedAt: "2026-11-25T00:00:00Z", durationSeconds: 10,
            parameters: ["subscribers": "2", "rate": "5"],
            connections: .init(
                attempted: 2, connected: 2, subscribed: 2, errors: 0, protocolErrors: 0, connectRatePerSecond: 100,
                connectLatencyMs: LatencySummary(samples: [3, 4]), churnCycles: 0),
            writes: .init(ok: 5, errors: 0, ratePerSecond: 0.5),
            deliveries: .init(total: 10, perSecond: 1),
            latencyMs: LatencySummary(samples: samples),
            completeness: {
                var t = CompletenessTotals()
                t.add(Completeness.check(seqs: [1, 2, 3, 4, 5], expected: 5))
                t.add(Completeness.check(seqs: [1, 2, 3, 5, 4], expected: 5))
                return t
            }(),
            memory: .init(pids: [1], baselineKiB: 1000, loadedKiB: 1100, connections: 2, kibPerConnection: 50),
            latencyCDF: Percentile.cdf(sorted), deliveriesPerSecond: [0, 2, 4, 2, 2], connectionsPerSecond: [2, 2, 2, 2, 0],
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
}
