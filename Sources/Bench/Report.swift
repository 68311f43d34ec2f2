import Foundation

/// Everything one scenario run produced, in the shape written to `--json`.
struct Report: Codable, Sendable, Equatable {
    var tool = "switchboard-bench"
    var scenario: String
    var target: String = "switchboard"
    var startedAt: String
    var durationSeconds: Double
    var parameters: [String: String]
    var connections: ConnectionStats
    var writes: WriteStats
    var deliveries: DeliveryStats
    var latencyMs: LatencySummary
    var completeness: CompletenessTotals
    var memory: MemoryStats?
    var latencyCDF: [[Double]]
    var deliveriesPerSecond: [Int]
    var connectionsPerSecond: [Int]
    var errors: [String]
    var notes: [String]

    struct ConnectionStats: Codable, Sendable, Equatable {
        var attempted: Int
        var connected: Int
        var subscribed: Int
        var errors: Int
        var protocolErrors: Int
        var connectRatePerSecond: Double
        var connectLatencyMs: LatencySummary
        var churnCycles: Int
    }

    struct WriteStats: Codable, Sendable, Equatable {
        var ok: Int
        var errors: Int
        var ratePerSecond: Double
        /// Time from sending a write to its response (nil in reports from before it was measured).
        var latencyMs: LatencySummary? = nil
    }

    struct DeliveryStats: Codable, Sendable, Equatable {
        var total: Int
        var perSecond: Double
    }

    struct MemoryStats: Codable, Sendable, Equatable {
        var pids: [Int32]
        var metricsURLs: [String]? = nil
        var baselineKiB: Int
        var loadedKiB: Int
        var connections: Int
        var kibPerConnection: Double
    }
}

enum ReportWriter {
    static func json(_ report: Report) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(report)
    }

    static func fmt(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }

    static func table(_ r: Report) -> String {
        var rows: [(String, String)] = [
            ("scenario", r.scenario),
            ("target", r.target),
            ("measured seconds", fmt(r.durationSeconds, 1)),
            ("connections ok / attempted", "\(r.connections.connected) / \(r.connections.attempted)"),
            ("subscribed", "\(r.connections.subscribed)"),
            ("connect errors / protocol errors", "\(r.connections.errors) / \(r.connections.protocolErrors)"),
            ("connect rate (/s)", fmt(r.connections.connectRatePerSecond, 1)),
            (
                "connect (TCP+upgrade) p50 / p99 (ms)",
                "\(fmt(r.connections.connectLatencyMs.p50)) / \(fmt(r.connections.connectLatencyMs.p99))"
            ),
        ]
        if r.connections.churnCycles > 0 { rows.append(("churn cycles", "\(r.connections.churnCycles)")) }
        if r.writes.ok + r.writes.errors > 0 {
            rows += [
                ("writes ok / errors", "\(r.writes.ok) / \(r.writes.errors)"),
                ("write rate (/s)", fmt(r.writes.ratePerSecond, 1)),
                (
                    "write until its response p50 / p99 (ms)",
                    r.writes.latencyMs.map { "\(fmt($0.p50)) / \(fmt($0.p99))" } ?? "-"
                ),
                ("deliveries", "\(r.deliveries.total)"),
                ("deliveries/s", fmt(r.deliveries.perSecond, 1)),
                (
                    "latency p50 / p90 / p99 (ms)",
                    "\(fmt(r.latencyMs.p50)) / \(fmt(r.latencyMs.p90)) / \(fmt(r.latencyMs.p99))"
                ),
                ("latency p99.9 / max (ms)", "\(fmt(r.latencyMs.p999)) / \(fmt(r.latencyMs.max))"),
                ("complete clients", "\(r.completeness.clientsComplete) / \(r.completeness.clients)"),
                (
                    "lost / duplicated / reordered",
                    "\(r.completeness.lost) / \(r.completeness.duplicates) / \(r.completeness.reordered)"
                ),
            ]
        }
        if let m = r.memory {
            rows += [
                ("server RSS before / loaded (KiB)", "\(m.baselineKiB) / \(m.loadedKiB)"),
                ("KiB per connection", fmt(m.kibPerConnection, 1)),
            ]
        }
        let width = rows.map(\.0.count).max() ?? 0
        var out = ""
        for (k, v) in rows {
            out += k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v + "\n"
        }
        for n in r.notes { out += "note: \(n)\n" }
        return out
    }

    /// Markdown table of the headline numbers, one row per run, plus Switchboard/nchan
    /// ratios for scenarios run against both.
    static func summary(_ reports: [Report]) -> String {
        var out =
            "| scenario | target | clients | conn/s | writes/s | deliveries/s | p50 ms | p99 ms | p99.9 ms | max ms | lost | dup | reord | errors | KiB/conn |\n"
        out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for r in reports where r.scenario != KneeCurve.scenario {
            let writing = r.writes.ok > 0
            out +=
                "| \(r.scenario) | \(r.target) | \(r.connections.subscribed) | \(fmt(r.connections.connectRatePerSecond, 0)) | "
            out +=
                writing
                ? "\(fmt(r.writes.ratePerSecond, 1)) | \(fmt(r.deliveries.perSecond, 1)) | \(fmt(r.latencyMs.p50)) | \(fmt(r.latencyMs.p99)) | \(fmt(r.latencyMs.p999)) | \(fmt(r.latencyMs.max)) | \(r.completeness.lost) | \(r.completeness.duplicates) | \(r.completeness.reordered) | "
                : "- | - | - | - | - | - | - | - | - | "
            out += "\(r.connections.errors + r.connections.protocolErrors + r.writes.errors) | "
            out += r.memory.map { fmt($0.kibPerConnection, 1) } ?? "-"
            out += " |\n"
        }
        var ratios = ""
        for sb in reports where sb.target == "switchboard" && sb.scenario != KneeCurve.scenario {
            guard
                let peer = reports.first(where: {
                    $0.target == "nchan" && $0.scenario == sb.scenario
                })
            else { continue }
            func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? fmt(a / b, 2) : "-" }
            if sb.writes.ok > 0 {
                ratios += "| \(sb.scenario) | deliveries/s | \(ratio(sb.deliveries.perSecond, peer.deliveries.perSecond)) |\n"
                ratios += "| \(sb.scenario) | p50 latency | \(ratio(sb.latencyMs.p50, peer.latencyMs.p50)) |\n"
                ratios += "| \(sb.scenario) | p99 latency | \(ratio(sb.latencyMs.p99, peer.latencyMs.p99)) |\n"
            }
            if sb.scenario == "churn" {
                ratios +=
                    "| churn | connect+subscribe cycles/s | \(ratio(sb.connections.connectRatePerSecond, peer.connections.connectRatePerSecond)) |\n"
            }
            if let a = sb.memory, let b = peer.memory {
                ratios += "| \(sb.scenario) | KiB per connection | \(ratio(a.kibPerConnection, b.kibPerConnection)) |\n"
            }
        }
        if !ratios.isEmpty {
            out += "\n| scenario | metric | Switchboard / nchan |\n|---|---|---|\n" + ratios
        }
        out += writeTimes(reports)
        return out + KneeCurve.summary(KneeCurve.curves(reports))
    }

    /// Where a delivery's latency goes: the bench stamps `sent_at` before its write, so a delivery's
    /// latency holds the write until its response (Switchboard: the commit and the publish; nchan:
    /// the publish) and the time from there to the subscriber.
    static func writeTimes(_ reports: [Report]) -> String {
        var rows = ""
        for r in reports where r.scenario != KneeCurve.scenario && r.writes.ok > 0 {
            guard let w = r.writes.latencyMs, w.count > 0 else { continue }
            rows +=
                "| \(r.scenario) | \(r.target) | \(fmt(w.p50)) / \(fmt(w.p99)) | \(fmt(r.latencyMs.p50)) / \(fmt(r.latencyMs.p99)) | \(fmt(Swift.max(0, r.latencyMs.p50 - w.p50))) |\n"
        }
        guard !rows.isEmpty else { return "" }
        return
            "\n| scenario | target | write until its response p50 / p99 ms | delivery p50 / p99 ms | delivery p50 − write p50 ms |\n|---|---|---|---|---|\n"
            + rows
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A line chart as inline SVG. `points` are (x, y) in data units.
    static func svgChart(
        title: String, points: [(Double, Double)], xLabel: String, yLabel: String,
        logX: Bool = false
    ) -> String {
        svgChart(title: title, series: [("", points)], xLabel: xLabel, yLabel: yLabel, logX: logX)
    }

    static let seriesColours = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"]

    /// Several named lines on one chart, with an optional dashed horizontal reference at `reference`.
    static func svgChart(
        title: String, series: [(name: String, points: [(Double, Double)])], xLabel: String, yLabel: String,
        logX: Bool = false, reference: Double? = nil
    ) -> String {
        let w = 640.0, h = 320.0, left = 60.0, right = 20.0, top = 30.0, bottom = 45.0
        let pw = w - left - right, ph = h - top - bottom
        func tx(_ x: Double) -> Double { logX ? log10(Swift.max(x, 0.01)) : x }
        let all = series.flatMap(\.points)
        let xs = all.map { tx($0.0) }, ys = all.map(\.1) + (reference.map { [$0] } ?? [])
        let minX = xs.min() ?? 0, maxX = Swift.max(xs.max() ?? 1, minX + 1e-9)
        let maxY = Swift.max(ys.max() ?? 1, 1e-9)
        func px(_ x: Double) -> String { fmt(left + (tx(x) - minX) / (maxX - minX) * pw, 1) }
        func py(_ y: Double) -> String { fmt(top + ph - y / maxY * ph, 1) }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))">
            <text x="\(Int(w / 2))" y="18" text-anchor="middle" font-size="14">\(escape(title))</text>
            <rect x="\(left)" y="\(top)" width="\(pw)" height="\(ph)" fill="none" stroke="#999"/>

            """
        for i in 0...4 {
            let fy = Double(i) / 4
            let y = top + ph - fy * ph
            let yv = fy * maxY
            svg += "<line x1=\"\(left)\" y1=\"\(fmt(y, 1))\" x2=\"\(left + pw)\" y2=\"\(fmt(y, 1))\" stroke=\"#eee\"/>"
            svg +=
                "<text x=\"\(left - 6)\" y=\"\(fmt(y + 4, 1))\" text-anchor=\"end\" font-size=\"11\">\(fmt(yv, yv < 10 ? 2 : 0))</text>\n"
            let xv = minX + fy * (maxX - minX)
            let x = left + fy * pw
            let label = logX ? fmt(pow(10, xv), 2) : fmt(xv, xv < 10 ? 2 : 0)
            svg +=
                "<text x=\"\(fmt(x, 1))\" y=\"\(fmt(top + ph + 16, 1))\" text-anchor=\"middle\" font-size=\"11\">\(label)</text>\n"
        }
        svg +=
            "<text x=\"\(fmt(left + pw / 2, 1))\" y=\"\(Int(h - 6))\" text-anchor=\"middle\" font-size=\"12\">\(escape(xLabel))</text>\n"
        svg +=
            "<text x=\"14\" y=\"\(fmt(top + ph / 2, 1))\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 \(fmt(top + ph / 2, 1)))\">\(escape(yLabel))</text>\n"
        if let reference {
            svg +=
                "<line x1=\"\(left)\" y1=\"\(py(reference))\" x2=\"\(left + pw)\" y2=\"\(py(reference))\" stroke=\"#666\" stroke-dasharray=\"4 3\"/>\n"
        }
        if all.isEmpty {
            svg +=
                "<text x=\"\(fmt(left + pw / 2, 1))\" y=\"\(fmt(top + ph / 2, 1))\" text-anchor=\"middle\" font-size=\"12\">no data</text>\n"
        }
        for (i, s) in series.enumerated() where !s.points.isEmpty {
            let colour = seriesColours[i % seriesColours.count]
            let coords = s.points.map { "\(px($0.0)),\(py($0.1))" }
            svg +=
                "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(coords.joined(separator: " "))\"/>\n"
            if series.count > 1 {
                for p in s.points { svg += "<circle cx=\"\(px(p.0))\" cy=\"\(py(p.1))\" r=\"3\" fill=\"\(colour)\"/>" }
                svg +=
                    "<text x=\"\(left + 10)\" y=\"\(top + 16 + Double(i) * 15)\" font-size=\"12\" fill=\"\(colour)\">\(escape(s.name))</text>\n"
            }
        }
        svg += "</svg>"
        return svg
    }

    /// The knee section: p99 and delivered rate against the offered rate, one line per target.
    static func kneeSection(_ curves: [KneeCurve]) -> String {
        guard !curves.isEmpty else { return "" }
        var body = "<section><h2>Fan-out knee</h2>\n<p>One fan-out run per offered rate. "
        body += "The knee is the highest offered rate at which every client got every event in order, "
        body +=
            "no write failed, the offered rate was achieved and p99 stayed under \(fmt(KneeCurve.latencyBoundMs, 0)) ms; "
        body += "the strict knee is the highest rate up to which every step passed.</p>\n"
        body += "<pre>\(escape(KneeCurve.summary(curves)))</pre>\n"
        body += svgChart(
            title: "p99 latency against offered write rate",
            series: curves.map { c in (c.target, c.steps.map { ($0.offered, Swift.min($0.p99, 1000)) }) },
            xLabel: "offered writes/s", yLabel: "p99 ms (capped at 1000)", reference: KneeCurve.latencyBoundMs)
        body += svgChart(
            title: "Deliveries per second against offered write rate",
            series: curves.map { c in (c.target, c.steps.map { ($0.offered, $0.deliveriesPerSecond) }) },
            xLabel: "offered writes/s", yLabel: "deliveries/s")
        return body + "</section>\n"
    }

    /// A self-contained HTML page (no scripts, no network assets) for one or more runs.
    static func html(_ reports: [Report], title: String = "switchboard-bench report") -> String {
        var body = kneeSection(KneeCurve.curves(reports))
        for r in reports where r.scenario != KneeCurve.scenario {
            body += "<section><h2>\(escape(r.scenario)) — \(escape(r.target))</h2>\n"
            body += "<p>started \(escape(r.startedAt)); parameters: "
            body += r.parameters.sorted { $0.key < $1.key }.map { "\(escape($0.key))=\(escape($0.value))" }
                .joined(separator: ", ")
            body += "</p>\n<pre>\(escape(table(r)))</pre>\n"
            let cdf = r.latencyCDF.map { ($0[0], $0[1] * 100) }
            body += svgChart(
                title: "Latency CDF (write → receipt)", points: cdf, xLabel: "latency (ms, log scale)",
                yLabel: "% of deliveries ≤ x", logX: true)
            let dps = r.deliveriesPerSecond.enumerated().map { (Double($0.offset), Double($0.element)) }
            body += svgChart(title: "Deliveries per second", points: dps, xLabel: "seconds since start", yLabel: "deliveries/s")
            let cps = r.connectionsPerSecond.enumerated().map { (Double($0.offset), Double($0.element)) }
            body += svgChart(title: "Open connections", points: cps, xLabel: "seconds since start", yLabel: "connections")
            if !r.errors.isEmpty {
                body += "<h3>Error samples</h3><pre>\(escape(r.errors.joined(separator: "\n")))</pre>\n"
            }
            body += "</section>\n"
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>body{font-family:sans-serif;margin:2em;max-width:1400px}svg{margin:0.5em;border:1px solid #ddd;background:#fff}pre{background:#f6f6f6;padding:0.8em}</style>
            </head><body><h1>\(escape(title))</h1>
            \(body)</body></html>

            """
    }
}
