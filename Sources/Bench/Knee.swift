/// The fan-out knee: `fanout` runs at stepped offered rates (scenario `knee`, one report per
/// step), and the highest offered rate at which the target kept up — every client complete,
/// nothing lost, duplicated or reordered, no failed write or connection, the offered rate
/// achieved, and p99 under the latency bound.
struct KneeCurve: Equatable {
    struct Step: Equatable {
        var offered: Double
        var achieved: Double
        var p99: Double
        var deliveriesPerSecond: Double
        var passed: Bool
        var why: String?
    }

    var target: String
    var steps: [Step]

    static let scenario = "knee"
    static let latencyBoundMs = 100.0
    /// Share of the offered write rate that must be achieved (the writer paces itself and
    /// loses a little to scheduling).
    static let achievedShare = 0.95

    /// The highest offered rate that passed, if any did (the issue's definition: a step that
    /// failed below it, nchan reordering at one rate say, does not lower it).
    var knee: Double? { steps.filter(\.passed).map(\.offered).max() }

    /// The highest offered rate up to which every step passed: the first failing step ends it.
    var strictKnee: Double? { steps.prefix { $0.passed }.last?.offered }

    static func step(_ r: Report) -> Step {
        let offered = Double(r.parameters["rate"] ?? "") ?? r.writes.ratePerSecond
        var why: String?
        if r.completeness.lost > 0 || r.completeness.duplicates > 0 || r.completeness.reordered > 0 {
            why = "lost \(r.completeness.lost), dup \(r.completeness.duplicates), reordered \(r.completeness.reordered)"
        } else if r.completeness.clientsComplete < r.completeness.clients || r.completeness.clients == 0 {
            why = "\(r.completeness.clientsComplete) of \(r.completeness.clients) clients complete"
        } else if r.writes.errors > 0 || r.connections.errors > 0 || r.connections.protocolErrors > 0 {
            why = "\(r.writes.errors) write errors, \(r.connections.errors + r.connections.protocolErrors) connection errors"
        } else if r.writes.ratePerSecond < offered * achievedShare {
            why = "achieved \(ReportWriter.fmt(r.writes.ratePerSecond, 1)) writes/s"
        } else if r.latencyMs.p99 >= latencyBoundMs {
            why = "p99 \(ReportWriter.fmt(r.latencyMs.p99, 1)) ms"
        }
        return Step(
            offered: offered, achieved: r.writes.ratePerSecond, p99: r.latencyMs.p99,
            deliveriesPerSecond: r.deliveries.perSecond, passed: why == nil, why: why)
    }

    /// One curve per target, steps in rate order, targets in order of appearance.
    static func curves(_ reports: [Report]) -> [KneeCurve] {
        var order: [String] = []
        var byTarget: [String: [Step]] = [:]
        for r in reports where r.scenario == scenario {
            if byTarget[r.target] == nil { order.append(r.target) }
            byTarget[r.target, default: []].append(step(r))
        }
        return order.map { target in
            KneeCurve(target: target, steps: (byTarget[target] ?? []).sorted { $0.offered < $1.offered })
        }
    }

    /// Markdown: each step, then each target's knee and the Switchboard/nchan ratio.
    static func summary(_ curves: [KneeCurve]) -> String {
        guard !curves.isEmpty else { return "" }
        var out = "\n| knee step | target | offered writes/s | achieved | deliveries/s | p99 ms | passed |\n"
        out += "|---|---|---|---|---|---|---|\n"
        for c in curves {
            for s in c.steps {
                out +=
                    "| knee | \(c.target) | \(ReportWriter.fmt(s.offered, 0)) | \(ReportWriter.fmt(s.achieved, 1)) | "
                    + "\(ReportWriter.fmt(s.deliveriesPerSecond, 0)) | \(ReportWriter.fmt(s.p99, 1)) | \(s.why ?? "yes") |\n"
            }
        }
        out +=
            "\n| target | fan-out knee (writes/s: all complete, p99 < \(ReportWriter.fmt(latencyBoundMs, 0)) ms) "
            + "| strict knee (every step up to it passed) |\n|---|---|---|\n"
        func rate(_ r: Double?) -> String { r.map { ReportWriter.fmt($0, 0) } ?? "none passed" }
        for c in curves { out += "| \(c.target) | \(rate(c.knee)) | \(rate(c.strictKnee)) |\n" }
        let sb = curves.first { $0.target == "switchboard" }
        let peer = curves.first { $0.target == "nchan" }
        func ratio(_ a: Double?, _ b: Double?) -> String {
            guard let a, let b, b > 0 else { return "" }
            return ReportWriter.fmt(a / b, 2)
        }
        if let sb, let peer, peer.knee != nil {
            out += "| Switchboard / nchan | \(ratio(sb.knee, peer.knee)) | \(ratio(sb.strictKnee, peer.strictKnee)) |\n"
        }
        return out
    }
}
