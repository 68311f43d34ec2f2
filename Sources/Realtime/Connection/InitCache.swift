import Query
import RealtimeProtocol
import Store
import Synchronization

/// `init` results per query class, valid while fan-out has taken no event of
/// the collection since the read: a thousand identical subscribes after a
/// replica drained cost one read (DESIGN.md "reconnect storms"). An entry is
/// used only when the new subscriber's join boundary equals the seq it was
/// read at (and the schema has not changed), so events above it still reach that subscriber; queries whose
/// result depends on the clock (`$NOW`) are never cached. It also remembers the classes whose
/// probe passed (an `event` subscription's check of its filter), so that the next `event`
/// subscribe of a class reads nothing.
final class InitCache: Sendable {
    private struct Entry {
        let frame: RenderedEvent
        let seq: Int64
        let schema: UInt64
        let bytes: Int
    }

    private struct State {
        var entries: [QueryClassKey: Entry] = [:]
        var order: [QueryClassKey] = []
        var bytes = 0
        /// Classes whose probe (`ConnectionServices.probe`) passed, with the schema generation it ran under.
        var probed: [QueryClassKey: UInt64] = [:]
        var probedOrder: [QueryClassKey] = []
    }

    private let state = Mutex(State())
    let maxBytes: Int
    let maxEntries: Int

    init(maxBytes: Int = 16 * 1_048_576, maxEntries: Int = 4096) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
    }

    /// Whether a class's `init` may be shared at all: only when it reads nothing but this
    /// collection's own rows (another collection's change does not move this one's seq) and
    /// does not depend on the clock.
    static func cacheable(_ key: QueryClassKey, schema: Schema) -> Bool {
        let query = key.request.query
        guard key.request.event == nil, query.deep.isEmpty, let collection = schema.collection(key.request.collection) else {
            return false
        }
        guard let tree = try? FieldTree.parse(query.fields ?? ["*"]), tree.nested.isEmpty, tree.allNested == nil else {
            return false
        }
        // o2m fields list the related rows' keys and `count(comments)` counts them: another collection's data.
        let names = (tree.includesAll ? collection.fields.map(\.field) : []) + tree.names.map { FieldFunction($0)?.field ?? $0 }
        if names.contains(where: { schema.oneToMany(collection.name, $0) != nil }) { return false }
        // So does an order or a group by `count(comments)` or by an m2o's field (`author.name`).
        let groups = query.groupBy.map { FieldFunction($0)?.field ?? $0 }
        if query.sort.contains(where: {
            $0.path.count > 1 || InMemoryRead.sortsByRelatedCount([$0], of: collection.name, in: schema)
        })
            || groups.contains(where: { schema.oneToMany(collection.name, $0) != nil })
        {
            return false
        }
        var filters = [query.filter]
        for byAction in key.permissions.rules.values { for p in byAction.values { filters += p.allFilters } }
        return filters.allSatisfy { filter in
            guard let filter else { return true }
            // A filter on an o2m (`comments`, `count(comments)`) reads another collection too.
            return !filter.containsNowVariable
                && filter.referencedPaths.allSatisfy { $0.count == 1 && schema.oneToMany(collection.name, $0[0]) == nil }
        }
    }

    /// The cached `init` of `key`, if it was read at `seq` under schema generation `schema`.
    func lookup(_ key: QueryClassKey, seq: Int64, schema: UInt64) -> RenderedEvent? {
        state.withLock { s in
            guard let entry = s.entries[key], entry.seq == seq, entry.schema == schema else { return nil }
            return entry.frame
        }
    }

    /// Whether the probe of `key`'s query passed under schema generation `schema`: the next
    /// `event` subscription of the class needs no read at all.
    func probePassed(_ key: QueryClassKey, schema: UInt64) -> Bool {
        state.withLock { $0.probed[key] == schema }
    }

    func noteProbePassed(_ key: QueryClassKey, schema: UInt64) {
        state.withLock { s in
            if s.probed.updateValue(schema, forKey: key) == nil { s.probedOrder.append(key) }
            while s.probed.count > maxEntries, !s.probedOrder.isEmpty {
                s.probed.removeValue(forKey: s.probedOrder.removeFirst())
            }
        }
    }

    func store(_ key: QueryClassKey, seq: Int64, schema: UInt64, frame: RenderedEvent) {
        let bytes = frame.prefix.count
        guard bytes <= maxBytes / 16 else { return }
        state.withLock { s in
            if let old = s.entries[key] {
                s.bytes -= old.bytes
            } else {
                s.order.append(key)
            }
            s.entries[key] = Entry(frame: frame, seq: seq, schema: schema, bytes: bytes)
            s.bytes += bytes
            while s.bytes > maxBytes || s.entries.count > maxEntries, !s.order.isEmpty {
                let oldest = s.order.removeFirst()
                if let gone = s.entries.removeValue(forKey: oldest) { s.bytes -= gone.bytes }
            }
        }
    }
}
