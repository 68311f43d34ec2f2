import Synchronization

/// An endpoint's sockets per replica, against its limit. A slot is taken when
/// an upgrade is accepted (before the 101), so two upgrades racing for the
/// last slot cannot both pass: the later one is refused with 403. It is given
/// back when the socket closes, or when the upgrade never became a socket.
final class ConnectionSlots: Sendable {
    let limit: Int?
    private let taken = Atomic<Int>(0)

    init(limit: Int?) { self.limit = limit }

    var count: Int { taken.load(ordering: .relaxed) }

    /// Whether a slot is free now (a cheap early check; `reserve` decides).
    var hasRoom: Bool { limit.map { count < $0 } ?? true }

    /// Takes a slot; false when none is free.
    func reserve() -> Bool {
        guard let limit else {
            taken.add(1, ordering: .relaxed)
            return true
        }
        var current = taken.load(ordering: .relaxed)
        for _ in 0..<1_000 {
            guard current < limit else { return false }
            let (exchanged, original) = taken.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() { taken.subtract(1, ordering: .relaxed) }
}
