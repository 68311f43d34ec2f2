import Access
import Logging
import Metrics
import NIOCore
import Query
import RealtimeProtocol
import Store
import SwitchboardCore
import Synchronization

/// The fan-out of committed changes to local subscribers, as one serial
/// pipeline: events (already in seq order per collection, from the relay),
/// joins, leaves and rebinds are taken in order, in batches. Each event is
/// matched against the query classes once, rendered once per class, and each
/// event loop's shard receives its share of a batch in one hop, in order with
/// the membership changes that concern it. That order is what makes joins
/// exact: a member receives the events above its boundary and none below it.
public final class Fanout: Sendable {
    enum Input: Sendable {
        /// With the time fan-out got them (monotonic ns), for the fan-out latency histogram.
        case events([ChangeEvent], receivedAt: UInt64)
        case join(Join, CheckedContinuation<Int64, Never>)
        case rebind(shard: Int, moves: [Move])
        /// Collections without a class for `interestLinger` stop being followed.
        case expireInterest
        /// [extension] `live`: rows a member's `init` (read after `boundary`) showed it, for their `$NOW` window exits.
        case seen(QueryClassKey, rows: [JSONObject], boundary: Int64)
        /// [extension] `live`: rows whose `$NOW` window ended leave their classes.
        case windowTick
    }

    /// A subscription entering a class.
    struct Join: Sendable {
        var key: QueryClassKey
        var context: ItemsContext
        var shard: Int
        var member: Member
        /// Collections the class reaches through relations that fan-out may not follow yet, with
        /// their seq read before the member's `init` (changes after it reach the member).
        var related: [String: Int64] = [:]
    }

    /// One subscription of one socket, as its shard delivers to it.
    struct Member: Sendable {
        var socket: UInt64
        var subscription: String
        var framing: MemberFraming
        /// Events at or below this seq are the subscription's `init` or replay.
        var minSeq: Int64
    }

    /// A subscription moving to the class of its socket's new identity.
    struct Move: Sendable {
        var socket: UInt64
        var subscription: String
        var from: UInt64
        var to: QueryClassKey
        var context: ItemsContext
        var framing: MemberFraming
    }

    /// A collection gained its first or lost its last local subscription.
    public enum InterestChange: Sendable, Equatable {
        /// With the seq the first subscriber's `init` was read at.
        case gained(String, seq: Int64)
        case lost(String)
    }

    /// What the classes are and where their members live.
    struct ClassTable {
        struct Entry {
            let id: UInt64
            let key: QueryClassKey
            let context: ItemsContext
            /// Other collections its rows depend on through relations.
            let reach: RelatedReach
            /// shard → members there
            var shards: [Int: Int] = [:]
        }

        var ids: [QueryClassKey: UInt64] = [:]
        var entries: [UInt64: Entry] = [:]
        var indexes: [String: EqualityIndex] = [:]
        /// Collection → classes (on other collections) that reach it through relations.
        var dependents: [String: Set<UInt64>] = [:]
        /// `live` classes with `$NOW` windows: the rows their members were shown, until they leave.
        var exits: [UInt64: WindowExits] = [:]
        /// Aggregate classes counted in memory: their counts, from a base read on.
        var tallies: [UInt64: AggregateTally] = [:]
        /// Rows per class `exits` tracks at most (0: none).
        var windowKeysMax = 0
        /// Per collection, the seq of the last event fan-out took.
        var dispatched: [String: Int64] = [:]
        /// Followed collections that lost their last class, and since when (monotonic ns).
        var idleSince: [String: UInt64] = [:]
        var nextID: UInt64 = 1

        /// The reach of `key`'s class, when the class exists.
        func reach(of key: QueryClassKey) -> RelatedReach? { ids[key].flatMap { entries[$0]?.reach } }

        /// Counts one more member of `key` on `shard`; answers the class and whether its collection was new.
        mutating func add(
            _ key: QueryClassKey, context: ItemsContext, reach: RelatedReach = RelatedReach(), shard: Int, schema: Schema
        ) -> (
            id: UInt64, newCollection: Bool
        ) {
            let collection = key.request.collection
            let newCollection = indexes[collection] == nil
            let id: UInt64
            if let existing = ids[key] {
                id = existing
            } else {
                id = nextID
                nextID += 1
                ids[key] = id
                entries[id] = Entry(id: id, key: key, context: context, reach: reach)
                for reached in reach.collections {
                    dependents[reached, default: []].insert(id)
                    idleSince[reached] = nil
                }
                let windows = WindowExits.windows(
                    for: key,
                    permissionFilter: schema.collection(collection).flatMap { c in
                        context.permissions.permission(.read, collection)?.rowFilter(fields: key.request.query.fields, in: c)
                    })
                if !windows.isEmpty, windowKeysMax > 0 { exits[id] = WindowExits(windows: windows, limit: windowKeysMax) }
                indexes[collection, default: EqualityIndex()].insert(id, key)
                idleSince[collection] = nil
            }
            entries[id]?.shards[shard, default: 0] += 1
            return (id, newCollection)
        }

        /// Counts one member fewer. A collection that lost its last class stays followed (idle)
        /// until `expire` (a reconnecting client then joins it at once, with a cached `init`).
        mutating func remove(_ id: UInt64, shard: Int, now: UInt64) {
            guard var entry = entries[id], let count = entry.shards[shard] else { return }
            entry.shards[shard] = count > 1 ? count - 1 : nil
            guard entry.shards.isEmpty else {
                entries[id] = entry
                return
            }
            let collection = entry.key.request.collection
            entries[id] = nil
            exits[id] = nil
            tallies[id] = nil
            ids[entry.key] = nil
            indexes[collection]?.remove(id, entry.key)
            if indexes[collection]?.isEmpty == true, dependents[collection] == nil { idleSince[collection] = now }
            for reached in entry.reach.collections {
                dependents[reached]?.remove(id)
                guard dependents[reached]?.isEmpty == true else { continue }
                dependents[reached] = nil
                if indexes[reached]?.isEmpty ?? true { idleSince[reached] = now }
            }
        }

        /// Stops following the collections idle since before `cutoff`; answers them.
        mutating func expire(idleBefore cutoff: UInt64) -> [String] {
            let gone = idleSince.filter { $0.value < cutoff && dependents[$0.key] == nil }.map(\.key)
            for collection in gone {
                idleSince[collection] = nil
                indexes[collection] = nil
            }
            return gone
        }
    }

    let store: Store
    let auth: AuthService
    let shards: ShardDirectory
    let logger: Logger
    private let renderer: EventRenderer
    private let inputs = InputQueue<Input>()
    private let table = Mutex(ClassTable())
    private let interested = Mutex<Set<String>>([])
    private let stopped = Atomic<Bool>(false)
    private let eventsDispatched = Atomic<UInt64>(0)
    /// Aggregate frames read from the database and counted in memory.
    let aggregateStats = AggregateStats()
    private let windowLimitReported = Atomic<Bool>(false)
    /// Class rows re-read per related change at most (`WEBSOCKETS_RELATED_ROWS_MAX`).
    let relatedRowsMax: Int
    private let relatedRefreshes = Counter(label: "realtime_related_refreshes_total")
    private let relatedOverflows = Counter(label: "realtime_related_overflows_total")
    public let interestChanges: AsyncStream<InterestChange>
    private let interestContinuation: AsyncStream<InterestChange>.Continuation

    /// Inputs taken per batch at most (bounds the latency one batch adds).
    static let batchLimit = 256
    /// How long a collection stays followed after its last local subscription ended: clients
    /// that reconnect within it (churn, a replica's drain) join without a database read.
    static let interestLinger = TimeAmount.seconds(2)
    /// How often `live` classes' `$NOW` window exits are looked at: a row leaves within this of its exit.
    static let windowTick = TimeAmount.milliseconds(250)

    init(
        store: Store, auth: AuthService, shards: ShardDirectory, liveWindowKeysMax: Int, relatedRowsMax: Int = 1000,
        logger: Logger
    ) {
        self.store = store
        self.relatedRowsMax = relatedRowsMax
        self.auth = auth
        self.shards = shards
        self.logger = logger
        table.withLock { $0.windowKeysMax = liveWindowKeysMax }
        renderer = EventRenderer(store: store, stats: aggregateStats)
        (interestChanges, interestContinuation) = AsyncStream.makeStream(of: InterestChange.self, bufferingPolicy: .unbounded)
    }

    // MARK: Inputs

    /// Events in seq order per collection (the relay's output).
    public func enqueue(_ events: [ChangeEvent]) {
        inputs.append(.events(events, receivedAt: NIODeadline.now().uptimeNanoseconds))
    }

    /// Adds a member in order with fan-out; answers the seq it receives events above.
    func join(_ join: Join) async -> Int64 {
        await withCheckedContinuation { (done: CheckedContinuation<Int64, Never>) in
            if !inputs.append(.join(join, done)) { done.resume(returning: join.member.minSeq) }
        }
    }

    /// `join` done at once, from the joining socket's event loop, when fan-out already follows the
    /// collection: under the table lock the boundary is the last event fan-out took, so every later
    /// event is matched with the class in it. The caller adds the member to its shard itself (before
    /// any hop that could carry such an event). nil: the collection is not followed; use `join`.
    func joinAtOnce(_ join: Join) -> (classID: UInt64, boundary: Int64)? {
        let schema = store.schema
        let collection = join.key.request.collection
        let reach = reach(join.key, context: join.context)
        return table.withLock { t -> (UInt64, Int64)? in
            guard t.indexes[collection] != nil,
                interested.withLock({ followed in reach.collections.allSatisfy { followed.contains($0) } })
            else { return nil }
            let boundary = max(join.member.minSeq, t.dispatched[collection] ?? 0)
            return (t.add(join.key, context: join.context, reach: reach, shard: join.shard, schema: schema).id, boundary)
        }
    }

    /// A shard removed a member of `classID`: counted out at once, under the table lock (fan-out
    /// may still render an event for the class; the shard no longer has the member to give it to).
    func leave(classID: UInt64, shard: Int) {
        let now = NIODeadline.now().uptimeNanoseconds
        table.withLock { $0.remove(classID, shard: shard, now: now) }
    }

    /// A socket's subscriptions move to the classes of its new identity.
    func rebind(shard: Int, moves: [Move]) {
        guard !moves.isEmpty else { return }
        inputs.append(.rebind(shard: shard, moves: moves))
    }

    /// [extension] `live`: a member's `init`, read after `boundary`, showed it `rows` (with the
    /// primary key and the fields of the class's `$NOW` windows).
    func introduce(_ key: QueryClassKey, rows: [JSONObject], boundary: Int64) {
        guard !rows.isEmpty else { return }
        inputs.append(.seen(key, rows: rows, boundary: boundary))
    }

    /// The collections a class's rows reach through relations: those of the class when it exists
    /// (what its fan-out follows), else computed from the current schema.
    func reach(_ key: QueryClassKey, context: ItemsContext) -> RelatedReach {
        table.withLock { $0.reach(of: key) } ?? RelatedReach(key, permissions: context.permissions, schema: store.schema)
    }

    public func isInterested(in collection: String) -> Bool { interested.withLock { $0.contains(collection) } }

    public var isStopped: Bool { stopped.load(ordering: .relaxed) }

    public var eventsDispatchedCount: UInt64 { eventsDispatched.load(ordering: .relaxed) }

    /// (query classes, subscriptions) across every shard.
    var classCounts: (classes: Int, members: Int) {
        table.withLock { t in (t.entries.count, t.entries.values.reduce(0) { $0 + $1.shards.values.reduce(0, +) }) }
    }

    /// Local subscriptions per collection, across every shard.
    var subscriptionsByCollection: [String: Int] {
        table.withLock { t in
            var out: [String: Int] = [:]
            for entry in t.entries.values { out[entry.key.request.collection, default: 0] += entry.shards.values.reduce(0, +) }
            return out
        }
    }

    // MARK: The pipeline

    /// Takes inputs until `shutdown()`.
    func run() async {
        let expiry = Task { [inputs] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(Self.interestLinger.nanoseconds / 2))
                guard hasIdleInterest, inputs.append(.expireInterest) else { continue }
            }
        }
        // One timer for every class's window exits, taken in order with the events.
        let windows = Task { [inputs] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(Self.windowTick.nanoseconds))
                guard hasWindows, inputs.append(.windowTick) else { continue }
            }
        }
        defer {
            expiry.cancel()
            windows.cancel()
        }
        while let batch = await inputs.next(limit: Self.batchLimit) {
            var ops: [Int: [ShardOp]] = [:]
            var accessChanged = false
            for input in batch {
                switch input {
                case .events(let events, let receivedAt):
                    for event in events {
                        if SystemCollections.accessControl.contains(event.collection) { accessChanged = true }
                        await dispatch(event, receivedAt: receivedAt, into: &ops)
                    }
                case .join(let join, let done):
                    done.resume(returning: apply(join, into: &ops))
                case .expireInterest:
                    expireInterest()
                case .seen(let key, let rows, let boundary):
                    introduce(rows, to: key, boundary: boundary)
                case .windowTick:
                    windowExits(into: &ops)
                case .rebind(let shard, let moves):
                    apply(moves, shard: shard, into: &ops)
                }
            }
            send(ops)
            if accessChanged {
                auth.resolver.invalidate()
                await refreshIdentities()
            }
        }
    }

    func shutdown() {
        stopped.store(true, ordering: .relaxed)
        inputs.finish()
        interestContinuation.finish()
    }

    private func send(_ ops: [Int: [ShardOp]]) {
        for (index, list) in ops where !list.isEmpty {
            shards.shard(index)?.submit(list)
        }
    }

    private func dispatch(_ event: ChangeEvent, receivedAt: UInt64, into ops: inout [Int: [ShardOp]]) async {
        let pk = store.schema.collection(event.collection)?.primaryKey
        let now = Clock.nowMs()
        let (targets, dependents) = table.withLock {
            t -> ([(UInt64, QueryClass, [Int], AggregateTally?)], [(UInt64, QueryClass, RelatedReach, [Int])]) in
            t.dispatched[event.collection] = max(t.dispatched[event.collection] ?? 0, event.seq)
            let dependents = (t.dependents[event.collection] ?? []).sorted().compactMap {
                id -> (UInt64, QueryClass, RelatedReach, [Int])? in
                guard let entry = t.entries[id] else { return nil }
                return (id, QueryClass(key: entry.key, context: entry.context), entry.reach, Array(entry.shards.keys))
            }
            guard let index = t.indexes[event.collection] else { return ([], dependents) }
            let candidates = index.candidates(event.rows + event.previous)
            // Aggregate classes the index ruled out: the change leaves their counts as they are.
            for (id, tally) in t.tallies
            where !candidates.contains(id) && t.entries[id]?.key.request.collection == event.collection {
                var passed = tally
                t.tallies[id] = passed.pass(event) ? passed : nil
            }
            let targets = candidates.compactMap { id -> (UInt64, QueryClass, [Int], AggregateTally?)? in
                guard let entry = t.entries[id] else { return nil }
                let cls = QueryClass(key: entry.key, context: entry.context)
                if let pk, t.exits[id] != nil { follow(event, in: &t.exits[id], cls: cls, pk: pk, now: now) }
                return (id, cls, Array(entry.shards.keys), t.tallies[id])
            }
            return (targets, dependents)
        }
        for (id, cls, shardIndexes, before) in targets {
            var tally = before
            let rendering = await render(event, for: cls, tally: &tally)
            if before != nil || tally != nil {
                let kept = tally
                table.withLock { t in
                    guard t.entries[id] != nil else { return }
                    t.tallies[id] = kept
                }
            }
            switch rendering {
            case .frames(let frames) where !frames.isEmpty:
                let delivery = Delivery(classID: id, frames: frames, seq: event.seq, receivedAt: receivedAt)
                for s in shardIndexes { ops[s, default: []].append(.deliver(delivery)) }
            case .frames:
                break
            case .failed:
                for s in shardIndexes { ops[s, default: []].append(.closeClass(id, after: event.seq)) }
            }
        }
        for (id, cls, reach, shardIndexes) in dependents {
            let related = await renderRelated(event, for: cls, id: id, reach: reach, receivedAt: receivedAt)
            for s in shardIndexes { ops[s, default: []].append(contentsOf: related) }
        }
        eventsDispatched.add(1, ordering: .relaxed)
    }

    /// A change to a collection `cls` reaches through relations: its members get the rows that lead
    /// there as they read now (no seq: delivered to every member). When more rows lead there than
    /// `relatedRowsMax`, or the read keeps failing, the members are closed (1011): they resubscribe,
    /// and a resume of such a class is a fresh `init` (`resumed: false`).
    private func renderRelated(_ event: ChangeEvent, for cls: QueryClass, id: UInt64, reach: RelatedReach, receivedAt: UInt64)
        async -> [ShardOp]
    {
        for attempt in 1...Self.renderAttempts {
            do {
                switch try await renderer.renderRelated(event, for: cls, reach: reach, limit: relatedRowsMax) {
                case .frames(let frames):
                    guard !frames.isEmpty else { return [] }
                    relatedRefreshes.increment()
                    return [.deliver(Delivery(classID: id, frames: frames, seq: nil, receivedAt: receivedAt))]
                case .tooMany:
                    relatedOverflows.increment()
                    logger.warning(
                        "a related change leads to more rows of a subscribed query than WEBSOCKETS_RELATED_ROWS_MAX; closing its subscribers so they read them afresh",
                        metadata: [
                            "collection": "\(cls.key.request.collection)", "related": "\(event.collection)",
                            "seq": "\(event.seq)",
                        ])
                    return [.closeClass(id, after: .max)]
                }
            } catch {
                if attempt == Self.renderAttempts || isStopped {
                    logger.error(
                        "could not read the rows a related change leads to; closing their subscribers so they read them afresh",
                        metadata: [
                            "collection": "\(cls.key.request.collection)", "related": "\(event.collection)", "error": "\(error)",
                        ])
                    return [.closeClass(id, after: .max)]
                }
                try? await Task.sleep(for: .milliseconds(100 << attempt))
            }
        }
        return []
    }

    enum Rendering { case frames([RenderedEvent]), failed }

    /// Attempts before a class's members are closed (1011) so that they resume with `after`.
    static let renderAttempts = 5

    private func render(_ event: ChangeEvent, for cls: QueryClass, tally: inout AggregateTally?) async -> Rendering {
        for attempt in 1...Self.renderAttempts {
            do {
                return .frames(try await renderer.render(event, for: cls, tally: &tally))
            } catch {
                tally = nil
                if attempt == Self.renderAttempts || isStopped {
                    logger.error(
                        "could not render an event; closing its subscribers so they resume",
                        metadata: ["collection": "\(event.collection)", "seq": "\(event.seq)", "error": "\(error)"])
                    return .failed
                }
                try? await Task.sleep(for: .milliseconds(100 << attempt))
            }
        }
        return .failed
    }

    private func apply(_ join: Join, into ops: inout [Int: [ShardOp]]) -> Int64 {
        let schema = store.schema
        let collection = join.key.request.collection
        let reach = reach(join.key, context: join.context)
        let (id, boundary) = table.withLock { t -> (UInt64, Int64) in
            let boundary = max(join.member.minSeq, t.dispatched[collection] ?? 0)
            let (id, newCollection) = t.add(
                join.key, context: join.context, reach: reach, shard: join.shard, schema: schema)
            if newCollection {
                // Later joiners' boundary (and `init` cache key) is this first read's seq until an event moves it.
                t.dispatched[collection] = boundary
                gained(collection, seq: boundary)
            }
            followRelated(reach, seqs: join.related, in: &t)
            return (id, boundary)
        }
        var member = join.member
        member.minSeq = boundary
        ops[join.shard, default: []].append(.add(classID: id, key: join.key, member: member))
        return boundary
    }

    private func apply(_ moves: [Move], shard: Int, into ops: inout [Int: [ShardOp]]) {
        let schema = store.schema
        for move in moves {
            let collection = move.to.request.collection
            let (id, dispatched) = table.withLock { t -> (UInt64, Int64) in
                let reach =
                    t.reach(of: move.to)
                    ?? RelatedReach(move.to, permissions: move.context.permissions, schema: schema)
                let (id, newCollection) = t.add(move.to, context: move.context, reach: reach, shard: shard, schema: schema)
                if let from = t.exits[move.from], t.exits[id] != nil { t.exits[id]?.adopt(from) }
                let dispatched = t.dispatched[collection] ?? 0
                if newCollection { gained(collection, seq: dispatched) }
                followRelated(reach, seqs: [:], in: &t)
                return (id, dispatched)
            }
            ops[shard, default: []].append(.move(move, to: id, dispatched: dispatched))
        }
    }

    // MARK: `$NOW` window exits

    /// What an event tells a `live` class's window exits: rows it shows the members start (or
    /// restart) waiting for their exit; deleted rows and rows outside the filter are no longer waited for.
    private func follow(_ event: ChangeEvent, in tracked: inout WindowExits?, cls: QueryClass, pk: String, now: Int64) {
        guard var exits = tracked else { return }
        tracked = nil
        defer { tracked = exits }
        let request = cls.key.request
        let rows = event.rows.filter { row in request.item.map { $0.textValue == row[pk]?.textValue } ?? true }
        guard event.action != .delete else {
            for row in rows { if let key = row[pk] { exits.forget(key, seq: event.seq, now: now) } }
            return
        }
        let permission = cls.context.permissions.permission(.read, event.collection)
        // Without cases (the common case) the merged filter, with no schema lookup per event.
        let rowFilter = permission.flatMap { p in
            p.cases.isEmpty
                ? p.filter
                : store.schema.collection(event.collection).map { p.rowFilter(fields: request.query.fields, in: $0) }
                    ?? p.filter
        }
        let rule = Filter.conjunction([request.query.filter, rowFilter]).map {
            EventRenderer.evaluablePart(
                $0.resolvingVariables(cls.context.variables()).typedOperands(on: event.collection, in: store.schema),
                of: event.collection, in: store.schema)
        }
        for row in rows {
            guard let key = row[pk] else { continue }
            if permission != nil, rule?.matches(row) ?? true {
                if case .refused(first: true) = exits.show(key, row: row) { reportWindowLimit(event.collection) }
            } else {
                exits.forget(key, seq: event.seq, now: now)
            }
        }
    }

    private func introduce(_ rows: [JSONObject], to key: QueryClassKey, boundary: Int64) {
        guard let pk = store.schema.collection(key.request.collection)?.primaryKey else { return }
        let refused = table.withLock { t -> Bool in
            guard let id = t.ids[key], t.exits[id] != nil else { return false }
            var refused = false
            for row in rows {
                guard let k = row[pk] else { continue }
                if case .refused(first: true)? = t.exits[id]?.introduce(k, row: row, boundary: boundary) { refused = true }
            }
            return refused
        }
        if refused { reportWindowLimit(key.request.collection) }
    }

    /// Every class's rows whose window ended leave it: one `delete` with `reason: "left"` per class,
    /// to every member (it is no change with a seq: members that joined after the last event get it too).
    private func windowExits(into ops: inout [Int: [ShardOp]]) {
        let now = Clock.nowMs()
        let due = table.withLock { t -> [(UInt64, Bool, [JSONValue], [Int])] in
            var out: [(UInt64, Bool, [JSONValue], [Int])] = []
            for id in Array(t.exits.keys) {
                guard let entry = t.entries[id], let keys = t.exits[id]?.due(now: now) else { continue }
                if !keys.isEmpty { out.append((id, entry.key.request.item != nil, keys, Array(entry.shards.keys))) }
            }
            return out
        }
        for (id, isItem, keys, shardIndexes) in due {
            let frame = RenderedEvent(
                event: "delete", data: isItem ? keys[0] : .array(keys), meta: nil, seq: nil, extra: [("reason", "left")])
            let delivery = Delivery(classID: id, frames: [frame], seq: nil, receivedAt: NIODeadline.now().uptimeNanoseconds)
            for s in shardIndexes { ops[s, default: []].append(.deliver(delivery)) }
        }
    }

    private var hasWindows: Bool { table.withLock { !$0.exits.isEmpty } }

    private func reportWindowLimit(_ collection: String) {
        guard !windowLimitReported.exchange(true, ordering: .relaxed) else { return }
        logger.warning(
            "a live subscription's $NOW window holds more rows than WEBSOCKETS_LIVE_WINDOW_KEYS_MAX; the rest leave on update only (reported once)",
            metadata: ["collection": "\(collection)"])
    }

    private var hasIdleInterest: Bool { table.withLock { !$0.idleSince.isEmpty } }

    private func expireInterest() {
        let cutoff = (NIODeadline.now() - Self.interestLinger).uptimeNanoseconds
        table.withLock { t in
            for collection in t.expire(idleBefore: cutoff) {
                interested.withLock { _ = $0.remove(collection) }
                interestContinuation.yield(.lost(collection))
            }
        }
    }

    /// Starts following the collections a new class reaches that nothing follows yet, from the seq
    /// read before its member's `init` (else the last one fan-out took). Under the table lock.
    private func followRelated(_ reach: RelatedReach, seqs: [String: Int64], in t: inout ClassTable) {
        for reached in reach.collections.sorted() where !isInterested(in: reached) {
            let seq = max(seqs[reached] ?? 0, t.dispatched[reached] ?? 0)
            t.dispatched[reached] = seq
            gained(reached, seq: seq)
        }
    }

    /// Called under the table lock, so interest changes are reported in the order they happen.
    private func gained(_ collection: String, seq: Int64) {
        interested.withLock { _ = $0.insert(collection) }
        interestContinuation.yield(.gained(collection, seq: seq))
    }

    // MARK: Identity refresh

    /// After users, roles, policies or permissions changed: every socket's
    /// permissions are recomputed; sockets of users who are no longer active are
    /// closed, and subscriptions move to the classes of their new permissions.
    private func refreshIdentities() async {
        var ops: [Int: [ShardOp]] = [:]
        for shard in shards.all {
            guard let identities = try? await shard.eventLoop.submit({ shard.identities() }).get() else { continue }
            var contexts: [UInt64: ShardOp.Refreshed] = [:]
            var resolved: [String: ShardOp.Refreshed] = [:]
            for (socket, accountability) in identities {
                let cacheKey = "\(accountability.userID ?? "-")|\(accountability.ip ?? "")"
                if let known = resolved[cacheKey] {
                    contexts[socket] = known
                    continue
                }
                let outcome: ShardOp.Refreshed
                do {
                    var fresh: Accountability
                    if let userID = accountability.userID {
                        guard let a = try await auth.resolver.accountability(userID: userID) else {
                            resolved[cacheKey] = .revoked
                            contexts[socket] = .revoked
                            continue
                        }
                        fresh = a
                    } else {
                        fresh = try await auth.resolver.publicAccountability()
                    }
                    fresh.ip = accountability.ip
                    fresh.userAgent = accountability.userAgent
                    fresh.origin = accountability.origin
                    outcome = .context(try await auth.resolver.context(for: fresh))
                } catch {
                    logger.warning("could not refresh a connection's permissions", metadata: ["error": "\(error)"])
                    continue
                }
                resolved[cacheKey] = outcome
                contexts[socket] = outcome
            }
            let refreshed = contexts
            guard let moves = try? await shard.eventLoop.submit({ shard.refresh(refreshed) }).get() else { continue }
            apply(moves, shard: shard.index, into: &ops)
        }
        send(ops)
    }
}

/// One class's frames for one event.
struct Delivery: Sendable {
    let classID: UInt64
    let frames: [RenderedEvent]
    /// The change's seq: members whose `init` or replay covers it (minSeq ≥ seq) skip it. nil: no
    /// change (a row's `$NOW` window ended), for every member.
    let seq: Int64?
    /// When fan-out got the event (monotonic ns): the shard records the time to its last write.
    let receivedAt: UInt64
}

/// What a shard does, in the order fan-out decided.
enum ShardOp: Sendable {
    case deliver(Delivery)
    case add(classID: UInt64, key: QueryClassKey, member: Fanout.Member)
    case move(Fanout.Move, to: UInt64, dispatched: Int64)
    /// Rendering failed: close these members (1011) so they resume.
    case closeClass(UInt64, after: Int64)

    enum Refreshed: Sendable {
        case context(ItemsContext)
        case revoked
    }
}
