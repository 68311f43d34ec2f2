import Synchronization

/// Built schemas, least recently used first out. The key changes whenever the
/// data schema is reloaded (on every replica: each reloads on schema changes it
/// hears about) or the caller's read access differs, so no invalidation message is needed.
final class GraphQLSchemaCache: Sendable {
    struct Key: Hashable, Sendable {
        /// `Store.schemaGeneration` read before the schema itself.
        var generation: UInt64
        var access: ReadAccess
    }

    private struct Entry {
        var schema: ItemsGraphSchema
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var clock: UInt64 = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// The cached schema for `key`, or the one `build` makes (then cached).
    func schema(for key: Key, build: () throws -> ItemsGraphSchema) rethrows -> ItemsGraphSchema {
        let cached: ItemsGraphSchema? = state.withLock { state in
            state.clock += 1
            guard var entry = state.entries[key] else { return nil }
            entry.lastUse = state.clock
            state.entries[key] = entry
            return entry.schema
        }
        if let cached { return cached }
        // Built outside the lock: two requests may both build; the second insert wins, both answers are right.
        let built = try build()
        let evicted: [ItemsGraphSchema] = state.withLock { state in
            state.clock += 1
            state.entries[key] = Entry(schema: built, lastUse: state.clock)
            var evicted: [ItemsGraphSchema] = []
            while state.entries.count > capacity,
                let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key
            {
                if let removed = state.entries.removeValue(forKey: oldest) { evicted.append(removed.schema) }
            }
            return evicted
        }
        // Released here, outside the lock, when no request still uses them.
        _ = evicted
        return built
    }
}
