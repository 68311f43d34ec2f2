import Foundation
import Histogram

/// Latencies are recorded in microseconds into an HdrHistogram (3 significant digits,
/// 1 µs .. 10 min), so a run of any length keeps a fixed-size record that merges
/// exactly across worker processes.
typealias LatencyHistogram = Histogram<UInt64>

extension Histogram where Count == UInt64 {
    static let highestMicros: UInt64 = 600_000_000

    static func latency() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: highestMicros, numberOfSignificantValueDigits: .three)
    }

    /// Records a latency in milliseconds (clamped to the trackable range).
    mutating func record(milliseconds ms: Double) {
        let micros = UInt64(Swift.min(Swift.max(ms * 1000, 1), Double(Self.highestMicros)))
        _ = record(micros)
    }
}

/// p50/p90/p99/p99.9/max of a latency histogram, in milliseconds.
struct LatencySummary: Codable, Sendable, Equatable {
    var count: Int
    var p50: Double
    var p90: Double
    var p99: Double
    var p999: Double
    var max: Double
    var mean: Double

    static let empty = LatencySummary(count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0)

    init(count: Int, p50: Double, p90: Double, p99: Double, p999: Double, max: Double, mean: Double) {
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }

    init(_ h: LatencyHistogram) {
        guard h.totalCount > 0 else {
            self = .empty
            return
        }
        func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }
        self.init(
            count: Int(h.totalCount), p50: ms(h.valueAtPercentile(50)), p90: ms(h.valueAtPercentile(90)),
            p99: ms(h.valueAtPercentile(99)), p999: ms(h.valueAtPercentile(99.9)), max: ms(h.max), mean: h.mean / 1000)
    }
}

enum Percentile {
    /// Points of the latency CDF, (milliseconds, fraction at or below), thinned to at
    /// most `maxPoints`, ending at (max, 1).
    static func cdf(_ h: LatencyHistogram, maxPoints: Int = 200) -> [[Double]] {
        guard h.totalCount > 0 else { return [] }
        var points: [[Double]] = []
        var lastFraction = -1.0
        for step in h.percentiles(ticksPerHalfDistance: 5) {
            let fraction = step.percentile / 100
            if fraction - lastFraction < 0.0005 && fraction < 1 { continue }
            points.append([Double(step.value) / 1000, Swift.min(fraction, 1)])
            lastFraction = fraction
        }
        if points.count > maxPoints {
            let stride = Double(points.count) / Double(maxPoints)
            points = (0..<maxPoints).map { points[Swift.min(points.count - 1, Int(Double($0) * stride))] }
        }
        let top = Double(h.max) / 1000
        if points.last?[1] != 1 || points.last?[0] != top { points.append([top, 1]) }
        return points
    }
}

/// Completeness of one client's stream against what the writers wrote.
struct Completeness: Codable, Sendable, Equatable {
    var expected: Int
    var received: Int
    var unique: Int
    var lost: Int
    var duplicates: Int
    var reordered: Int

    /// - Parameters:
    ///   - seqs: `seq` values in arrival order.
    ///   - expected: how many distinct events the client should have seen.
    static func check(seqs: [Int], expected: Int) -> Completeness {
        var seen = Set<Int>()
        var duplicates = 0
        var reordered = 0
        var highest = Int.min
        for s in seqs {
            if !seen.insert(s).inserted {
                duplicates += 1
                continue
            }
            if s < highest { reordered += 1 }
            highest = Swift.max(highest, s)
        }
        return Completeness(
            expected: expected,
            received: seqs.count,
            unique: seen.count,
            lost: Swift.max(0, expected - seen.count),
            duplicates: duplicates,
            reordered: reordered
        )
    }
}

struct CompletenessTotals: Codable, Sendable, Equatable {
    var clients = 0
    var clientsComplete = 0
    var expected = 0
    var received = 0
    var lost = 0
    var duplicates = 0
    var reordered = 0

    mutating func add(_ c: Completeness) {
        clients += 1
        if c.lost == 0 && c.duplicates == 0 && c.reordered == 0 { clientsComplete += 1 }
        expected += c.expected
        received += c.received
        lost += c.lost
        duplicates += c.duplicates
        reordered += c.reordered
    }

    mutating func merge(_ o: CompletenessTotals) {
        clients += o.clients
        clientsComplete += o.clientsComplete
        expected += o.expected
        received += o.received
        lost += o.lost
        duplicates += o.duplicates
        reordered += o.reordered
    }
}

/// Parses "10s", "500ms", "2m", "1.5s" or a bare number of seconds.
enum DurationParser {
    static func seconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            let number = String(t.dropLast(suffix.count))
            // "ms" must not be read as "m" + "s": handled by ordering ms first.
            if let v = Double(number), v >= 0 { return v * factor }
            return nil
        }
        if let v = Double(t), v >= 0 { return v }
        return nil
    }
}

/// Wall clock in milliseconds since the Unix epoch, so that the `sent_at` written by one
/// process can be compared with receipt in another.
@inline(__always) func nowMillis() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1_000_000
}

@inline(__always) func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1_000_000_000
}
