/// The deadlines of one event loop's sockets (handshake, expiry, heartbeat),
/// as a min-heap: one timer per loop pops what is due instead of one timer
/// per socket. A socket that moves its deadline pushes a new entry with a
/// higher generation; stale entries are skipped when they surface.
struct DeadlineHeap: Sendable {
    struct Entry: Sendable, Equatable {
        var at: Int64
        var socket: UInt64
        var generation: UInt32
    }

    private(set) var entries: [Entry] = []

    var count: Int { entries.count }

    mutating func schedule(_ socket: UInt64, at: Int64, generation: UInt32) {
        entries.append(Entry(at: at, socket: socket, generation: generation))
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard entries[i].at < entries[parent].at else { break }
            entries.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes and returns every entry due at `now`, earliest first.
    mutating func popDue(now: Int64) -> [Entry] {
        var out: [Entry] = []
        while let first = entries.first, first.at <= now {
            out.append(first)
            let last = entries.removeLast()
            guard !entries.isEmpty else { break }
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
        }
        return out
    }
}
