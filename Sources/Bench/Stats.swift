import Foundation

/// Percentiles over a recorded set of samples (sorted-array method, nearest rank).
/// Exact, not bucketed: every sample is kept, which is fine for the sample counts a
/// bounded run produces (a few million Doubles at most).
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

    init(samples: [Double]) {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else {
            self = .empty
            return
        }
        self.count = sorted.count
        self.p50 = Percentile.value(sorted, 50)
        self.p90 = Percentile.value(sorted, 90)
        self.p99 = Percentile.value(sorted, 99)
        self.p999 = Percentile.value(sorted, 99.9)
        self.max = sorted[sorted.count - 1]
        self.mean = sorted.reduce(0, +) / Double(sorted.count)
    }
}

enum Percentile {
    /// Nearest-rank percentile of an ascending array: the smallest value such that at
    /// least `p` percent of the samples are <= it.
    static func value(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let clamped = Swift.min(Swift.max(p, 0), 100)
        let rank = Int((clamped / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }

    /// Points of the empirical CDF, at most `maxPoints` of them: (latency, fraction <= latency).
    static func cdf(_ sorted: [Double], maxPoints: Int = 200) -> [[Double]] {
        guard !sorted.isEmpty else { return [] }
        let n = sorted.count
        let step = Swift.max(1, n / maxPoints)
        var points: [[Double]] = []
        var i = step - 1
        while i < n {
            points.append([sorted[i], Double(i + 1) / Double(n)])
            i += step
        }
        if points.last?[1] != 1 { points.append([sorted[n - 1], 1]) }
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

/// Monotonic clock in milliseconds since the Unix epoch (wall clock, so that the
/// `sent_at` written by one process can be compared with receipt in another).
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
