/// Values ordered by an instant (epoch ms), earliest first: a binary min-heap. Whoever
/// reschedules a value pushes it again and skips the stale entry when it surfaces.
struct TimeHeap<Value: Sendable>: Sendable {
    private(set) var entries: [(at: Int64, value: Value)] = []

    var count: Int { entries.count }

    mutating func push(_ value: Value, at: Int64) {
        entries.append((at, value))
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard entries[i].at < entries[parent].at else { break }
            entries.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    mutating func popDue(now: Int64) -> (at: Int64, value: Value)? {
        guard let first = entries.first, first.at <= now else { return nil }
        let last = entries.removeLast()
        guard !entries.isEmpty else { return first }
        entries[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var smallest = i
            if l < entries.count, entries[l].at < entries[smallest].at { smallest = l }
            if r < entries.count, entries[r].at < entries[smallest].at { smallest = r }
            guard smallest != i else { break }
            entries.swapAt(i, smallest)
            i = smallest
        }
        return first
    }

    mutating func removeAll() { entries.removeAll() }
}
