import Access
import Logging
import Metrics
import NIOCore
import RealtimeProtocol
import Store
import SwitchboardCore
import Synchronization

/// The sockets of one event loop and their class memberships: fan-out's share
/// for this loop arrives in one hop and is written with one flush per socket;
/// one timer serves every socket's deadlines. Everything here runs on the loop.
final class LoopShard: Sendable {
    let index: Int
    let eventLoop: any EventLoop
    private let state: NIOLoopBound<State>
    let fanout: Fanout
    /// Fan-out's ops not yet applied, and whether a run on the loop is scheduled to apply them.
    private let pending = Mutex<(ops: [ShardOp], scheduled: Bool)>(([], false))

    /// How often due deadlines are looked at.
    static let tick = TimeAmount.milliseconds(250)

    final class State {
        var sockets: [UInt64: any ShardSocket] = [:]
        /// class → members here
        var members: [UInt64: ClassMembers] = [:]
        var deadlines = DeadlineHeap()
        var timer: RepeatedTask?
    }

    /// A member with its socket at hand (no lookup per delivery).
    struct LocalMember {
        var member: Fanout.Member
        let socket: any ShardSocket
    }

    struct MemberKey: Hashable {
        let socket: UInt64
        let subscription: String
    }

    /// One class's members on this loop: contiguous, so a delivery walks them in one pass over
    /// memory without copying a member out (no retain and release of its strings and socket),
    /// with an index by key for joins and leaves (a leave moves the last member into the gap).
    struct ClassMembers {
        private(set) var slots: [LocalMember] = []
        private var positions: [MemberKey: Int] = [:]

        var isEmpty: Bool { slots.isEmpty }

        subscript(key: MemberKey) -> LocalMember? { positions[key].map { slots[$0] } }

        /// Adds the member, or replaces the one with its key.
        mutating func set(_ key: MemberKey, _ member: LocalMember) {
            if let at = positions[key] {
                slots[at] = member
            } else {
                positions[key] = slots.count
                slots.append(member)
            }
        }

        /// Removes the member with `key`; false when there is none.
        mutating func remove(_ key: MemberKey) -> Bool {
            guard let at = positions.removeValue(forKey: key) else { return false }
            let last = slots.count - 1
            if at != last {
                slots.swapAt(at, last)
                let moved = slots[at].member
                positions[MemberKey(socket: moved.socket, subscription: moved.subscription)] = at
            }
            slots.removeLast()
            return true
        }
    }

    init(index: Int, eventLoop: any EventLoop, fanout: Fanout) {
        self.index = index
        self.eventLoop = eventLoop
        self.fanout = fanout
        state = NIOLoopBound(State(), eventLoop: eventLoop)
    }

    /// Runs fan-out's ops for this loop, in order, on the loop. Hops that arrive while the loop
    /// is busy are applied together, so under load each socket gets the frames of several events
    /// with one flush: the cost per delivery falls as the rate rises.
    func submit(_ ops: [ShardOp]) {
        let schedule = pending.withLock { p -> Bool in
            p.ops.append(contentsOf: ops)
            defer { p.scheduled = true }
            return !p.scheduled
        }
        if schedule { eventLoop.execute { self.applyPending() } }
    }

    private func applyPending() {
        let ops = pending.withLock { p -> [ShardOp] in
            p.scheduled = false
            defer { p.ops = [] }
            return p.ops
        }
        apply(ops)
    }

    // MARK: Sockets

    func register(_ socket: any ShardSocket) {
        let s = state.value
        s.sockets[socket.id] = socket
        if s.timer == nil {
            s.timer = eventLoop.scheduleRepeatedTask(initialDelay: Self.tick, delay: Self.tick) { _ in self.fireDeadlines() }
        }
    }

    /// A socket closed: its memberships end here and in fan-out's table.
    func unregister(_ socket: any ShardSocket) {
        let s = state.value
        guard s.sockets.removeValue(forKey: socket.id) != nil else { return }
        for (subscription, classID) in socket.boundClasses() {
            removeMember(classID, MemberKey(socket: socket.id, subscription: subscription))
        }
    }

    /// Ends one membership (unsubscribe, replaced subscription).
    func removeMember(_ classID: UInt64, _ key: MemberKey) {
        let s = state.value
        guard s.members[classID]?.remove(key) == true else { return }
        if s.members[classID]?.isEmpty == true { s.members[classID] = nil }
        fanout.leave(classID: classID, shard: index)
    }

    /// A member fan-out counted in `classID` (by its pipeline, or at once from this loop); one the
    /// socket no longer wants (closed, resubscribed meanwhile) is counted out again.
    func add(_ classID: UInt64, key: QueryClassKey, member: Fanout.Member) {
        let s = state.value
        guard let socket = s.sockets[member.socket], socket.bind(member.subscription, to: classID, key: key) else {
            fanout.leave(classID: classID, shard: index)
            return
        }
        s.members[classID, default: ClassMembers()].set(
            MemberKey(socket: member.socket, subscription: member.subscription), LocalMember(member: member, socket: socket))
    }

    func schedule(_ socket: UInt64, at deadline: Int64, generation: UInt32) {
        state.value.deadlines.schedule(socket, at: deadline, generation: generation)
    }

    var allSockets: [any ShardSocket] { Array(state.value.sockets.values) }

    /// This loop's sockets by where they are in authenticating.
    func authStates() -> [SocketAuthState: Int] {
        var counts: [SocketAuthState: Int] = [:]
        for socket in state.value.sockets.values { counts[socket.authState, default: 0] += 1 }
        return counts
    }

    private func fireDeadlines() {
        let now = Clock.nowMs()
        // The due sockets first, then their ticks: a tick may close its socket at once (the peer
        // is gone), which unregisters it from `sockets`; no access to the shard's state may be
        // open across a tick.
        let due = dueSockets(now: now)
        for socket in due { socket.tick(now: now) }
    }

    private func dueSockets(now: Int64) -> [any ShardSocket] {
        let s = state.value
        let entries = s.deadlines.popDue(now: now)
        var due: [any ShardSocket] = []
        due.reserveCapacity(entries.count)
        for entry in entries {
            if let socket = s.sockets[entry.socket], socket.deadlineGeneration == entry.generation { due.append(socket) }
        }
        return due
    }

    // MARK: Fan-out

    private func apply(_ ops: [ShardOp]) {
        let s = state.value
        var touched: [any ShardSocket] = []
        var written: UInt64 = 0
        var delivered: [UInt64] = []
        let started = NIODeadline.now().uptimeNanoseconds
        for op in ops {
            switch op {
            case .deliver(let delivery):
                guard let members = s.members[delivery.classID] else { continue }
                delivered.append(delivery.receivedAt)
                // Subscribers often share a uid ("1", "2": the SDK's): each distinct frame is framed
                // once; the last uid's frames are at hand, the others in a dictionary.
                var lastUID: String?? = .none
                var lastFrames: [ByteBuffer] = []
                var byUID: [String?: [ByteBuffer]] = [:]
                // GraphQL members with the same operation id and document share theirs too.
                var byShape: [GraphQLFraming.Key: [ByteBuffer]] = [:]
                // A delivery without a seq (a `$NOW` window's exit) is no change an `init` could cover.
                let seq = delivery.seq ?? .max
                members.slots.withUnsafeBufferPointer { slots in
                    for at in slots.indices where seq > slots[at].member.minSeq {
                        let socket = slots[at].socket
                        switch slots[at].member.framing {
                        case .directus(let uid):
                            if lastUID != .some(uid) {
                                if let lastUID { byUID[lastUID] = lastFrames }
                                lastFrames =
                                    byUID[uid]
                                    ?? delivery.frames.map { $0.webSocketFrame(uid: uid, allocator: socket.allocator) }
                                lastUID = .some(uid)
                            }
                            for bytes in lastFrames where socket.enqueueEvent(bytes) { touched.append(socket) }
                            written += UInt64(lastFrames.count)
                        case .graphQL(let graphQL):
                            let key = graphQL.key
                            let frames: [ByteBuffer]
                            if let known = byShape[key] {
                                frames = known
                            } else {
                                frames = graphQL.frames(delivery.frames, allocator: socket.allocator)
                                byShape[key] = frames
                            }
                            for bytes in frames where socket.enqueueEvent(bytes) { touched.append(socket) }
                            written += UInt64(frames.count)
                        }
                    }
                }
            case .add(let classID, let key, let member):
                add(classID, key: key, member: member)
            case .move(let move, let to, let dispatched):
                let key = MemberKey(socket: move.socket, subscription: move.subscription)
                let old = s.members[move.from]?[key]
                guard let socket = s.sockets[move.socket], old != nil, socket.bind(move.subscription, to: to, key: move.to)
                else {
                    fanout.leave(classID: to, shard: index)
                    continue
                }
                // Back to the class it is in (an identity changed twice before the first move got
                // here: token expired, then re-auth at once): it stays; fan-out's count is given back.
                guard move.from != to else {
                    fanout.leave(classID: to, shard: index)
                    continue
                }
                let member = Fanout.Member(
                    socket: move.socket, subscription: move.subscription, framing: move.framing,
                    minSeq: max(old?.member.minSeq ?? 0, dispatched))
                s.members[to, default: ClassMembers()].set(key, LocalMember(member: member, socket: socket))
                removeMember(move.from, key)
            case .closeClass(let classID, let seq):
                // Closing unregisters sockets from this shard's state: collect them first.
                let doomed = (s.members[classID]?.slots).map { $0.filter { seq > $0.member.minSeq }.map(\.socket) } ?? []
                for socket in doomed {
                    socket.close(.internalError, "Could not deliver a change; reconnect and resume with after.")
                }
            }
        }
        for socket in touched { socket.flushEvents() }
        if written > 0 { fanout.shards.framesWritten.add(written, ordering: .relaxed) }
        if !delivered.isEmpty {
            // One sample per class and event on this loop: from fan-out taking the event to its last write here.
            let now = NIODeadline.now().uptimeNanoseconds
            for receivedAt in delivered {
                fanout.shards.fanoutWait.recordNanoseconds(Int64(started &- receivedAt))
                fanout.shards.fanoutLatency.recordNanoseconds(Int64(now &- receivedAt))
            }
        }
    }

    // MARK: Identity refresh

    /// Every socket's identity, for fan-out to re-resolve.
    func identities() -> [(UInt64, Accountability)] {
        state.value.sockets.map { ($0.key, $0.value.accountability) }
    }

    /// Applies re-resolved identities: revoked users are closed, the others move to their new classes.
    func refresh(_ outcomes: [UInt64: ShardOp.Refreshed]) -> [Fanout.Move] {
        var moves: [Fanout.Move] = []
        // Sockets first: a revoked one closes, which may unregister it at once.
        let sockets = state.value.sockets
        for (id, outcome) in outcomes {
            guard let socket = sockets[id] else { continue }
            switch outcome {
            case .revoked:
                socket.revoke()
            case .context(let context):
                moves += socket.adopt(context)
            }
        }
        return moves
    }
}

/// Every event loop's shard, created on first use.
final class ShardDirectory: Sendable {
    private let shards = Mutex<[LoopShard]>([])
    /// Event frames written to sockets, over all shards.
    let framesWritten = Atomic<UInt64>(0)
    /// From fan-out taking an event to the last socket of a loop written with it (swift-metrics:
    /// the server's Prometheus registry when metrics are on, a no-op otherwise).
    let fanoutLatency = Metrics.Timer(label: "realtime_fanout_latency_seconds", preferredDisplayUnit: .seconds)
    /// The part of it before the loop began writing: fan-out's pipeline, rendering, the hop.
    let fanoutWait = Metrics.Timer(label: "realtime_fanout_wait_seconds", preferredDisplayUnit: .seconds)

    func shard(_ index: Int) -> LoopShard? {
        shards.withLock { index < $0.count ? $0[index] : nil }
    }

    var all: [LoopShard] { shards.withLock { $0 } }

    /// The shard of `loop`, made with `make(index)` the first time.
    func shard(for loop: any EventLoop, make: (Int) -> LoopShard) -> LoopShard {
        shards.withLock { list in
            if let existing = list.first(where: { $0.eventLoop === loop }) { return existing }
            let shard = make(list.count)
            list.append(shard)
            return shard
        }
    }
}

enum Clock {
    static func nowMs() -> Int64 { ISOTimestamp.now().epochMilliseconds }
}
