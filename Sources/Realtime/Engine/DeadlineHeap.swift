/// The deadlines of one event loop's sockets (handshake, expiry, heartbeat): one timer per loop
/// pops what is due instead of one timer per socket. A socket that moves its deadline pushes a
/// new entry with a higher generation; stale entries are skipped when they surface.
struct DeadlineHeap: Sendable {
    struct Entry: Sendable, Equatable {
        var at: Int64
        var socket: UInt64
        var generation: UInt32
    }

    private var heap = TimeHeap<(socket: UInt64, generation: UInt32)>()

    var count: Int { heap.count }

    mutating func schedule(_ socket: UInt64, at: Int64, generation: UInt32) {
        heap.push((socket, generation), at: at)
    }

    /// Removes and returns every entry due at `now`, earliest first.
    mutating func popDue(now: Int64) -> [Entry] {
        var out: [Entry] = []
        while let due = heap.popDue(now: now) {
            out.append(Entry(at: due.at, socket: due.value.socket, generation: due.value.generation))
        }
        return out
    }
}
