import Synchronization

/// How aggregate subscriptions' frames were computed: each database read, and each change
/// counted in memory instead (a read avoided). For `/metrics`.
final class AggregateStats: Sendable {
    private let reads = Atomic<UInt64>(0)
    private let inMemory = Atomic<UInt64>(0)

    func read() { reads.add(1, ordering: .relaxed) }
    func countedInMemory() { inMemory.add(1, ordering: .relaxed) }

    var readCount: UInt64 { reads.load(ordering: .relaxed) }
    var inMemoryCount: UInt64 { inMemory.load(ordering: .relaxed) }
}
