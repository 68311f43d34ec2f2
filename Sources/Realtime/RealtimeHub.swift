import Access
import Logging
import Query
import RealtimeProtocol
import Store
import SwitchboardCore
import Synchronization

/// The realtime engine of one process: the registry of connections and query
/// classes, and the fan-out of committed changes to them. It receives events
/// as a `ChangeEventSink` (local writes now; other replicas' writes through
/// the messenger), processes them in order on one task, and only ever appends
/// bytes to per-socket queues.
public final class RealtimeHub: ChangeEventSink {
    let store: Store
    let auth: AuthService
    let settings: RealtimeSettings
    let logger: Logger
    private let renderer: EventRenderer

    struct Registry {
        var connections: [UInt64: RealtimeConnection] = [:]
        var classes: [QueryClassKey: QueryClass] = [:]
        var indexes: [String: EqualityIndex] = [:]
        /// Per collection, the seq of the last event fan-out has taken: a member
        /// joining now receives events above it, and nothing at or below it.
        var dispatched: [String: Int64] = [:]
    }

    /// What the fan-out task works through, strictly in order. Joins and
    /// rebinds go through it too, so no event is ever half-delivered to a
    /// class a member is entering or leaving.
    enum Input: Sendable {
        case events([ChangeEvent])
        case join(QueryClassKey, ItemsContext, ClassMember, CheckedContinuation<Int64, Never>)
        case rebind(RealtimeConnection, CheckedContinuation<Void, Never>)
    }

    /// A collection gained its first or lost its last local subscription.
    public enum InterestChange: Sendable, Equatable {
        /// With the seq the first subscriber's `init` was read at.
        case gained(String, seq: Int64)
        case lost(String)
    }

    private let registry = Mutex(Registry())
    private let nextConnectionID = Atomic<UInt64>(1)
    private let stopped = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)
    private let eventsDispatched = Atomic<UInt64>(0)
    private let framesQueued = Atomic<UInt64>(0)
    private let inputs: AsyncStream<Input>
    private let inputsContinuation: AsyncStream<Input>.Continuation
    /// First and last subscriptions per collection, in the order they happened.
    public let interestChanges: AsyncStream<InterestChange>
    private let interestContinuation: AsyncStream<InterestChange>.Continuation

    public init(
        store: Store, auth: AuthService, settings: RealtimeSettings, logger: Logger = Logger(label: "switchboard.realtime")
    ) {
        self.store = store
        self.auth = auth
        self.settings = settings
        self.logger = logger
        self.renderer = EventRenderer(store: store)
        (inputs, inputsContinuation) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .unbounded)
        (interestChanges, interestContinuation) = AsyncStream.makeStream(
            of: InterestChange.self, bufferingPolicy: .unbounded)
    }

    // MARK: ChangeEventSink

    public func publish(_ events: [ChangeEvent]) async {
        enqueue(events)
    }

    /// Hands events to the fan-out task, in order (they must already be in seq order per collection).
    func enqueue(_ events: [ChangeEvent]) {
        inputsContinuation.yield(.events(events))
    }

    public func isInterested(in collection: String) -> Bool { registry.withLock { $0.indexes[collection] != nil } }

    public var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Processes events and timers until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.processEvents() }
            group.addTask { await self.tick() }
            await group.waitForAll()
        }
    }

    /// Stops `run()`: no more events are taken, timers stop.
    public func shutdown() {
        stopped.store(true, ordering: .relaxed)
        inputsContinuation.finish()
        interestContinuation.finish()
    }

    private func processEvents() async {
        for await input in inputs {
            switch input {
            case .events(let batch):
                var accessChanged = false
                for event in batch {
                    if SystemCollections.accessControl.contains(event.collection) { accessChanged = true }
                    await dispatch(event)
                }
                if accessChanged {
                    auth.resolver.invalidate()
                    await refreshIdentities()
                }
            case .join(let key, let context, let member, let done):
                done.resume(returning: applyJoin(key, context: context, member: member))
            case .rebind(let connection, let done):
                applyRebind(connection)
                done.resume()
            }
        }
    }

    /// Sends one event to every class that wants it. A class whose rendering
    /// fails (its relational read hit an unreachable database) is retried with
    /// backoff; if it still fails, its members are closed with 1011 so that they
    /// resume with `after` rather than silently miss the event.
    public func dispatch(_ event: ChangeEvent) async {
        let targets: [QueryClass] = registry.withLock { r in
            r.dispatched[event.collection] = max(r.dispatched[event.collection] ?? 0, event.seq)
            guard let index = r.indexes[event.collection] else { return [] }
            return index.candidates(event.rows + event.previous).compactMap { r.classes[$0] }
        }
        for cls in targets {
            guard let frames = await render(event, for: cls), !frames.isEmpty else { continue }
            let members = registry.withLock { $0.classes[cls.key]?.members.values.map { $0 } ?? [] }
            var queued: UInt64 = 0
            for member in members where event.seq > member.minSeq {
                for rendered in frames { member.connection.send(rendered.frame(uid: member.uid)) }
                queued += UInt64(frames.count)
            }
            framesQueued.add(queued, ordering: .relaxed)
        }
        eventsDispatched.add(1, ordering: .relaxed)
    }

    /// Attempts at rendering one event for one class before its members are closed.
    static let renderAttempts = 5

    private func render(_ event: ChangeEvent, for cls: QueryClass) async -> [RenderedEvent]? {
        for attempt in 1...Self.renderAttempts {
            do {
                return try await renderer.render(event, for: cls)
            } catch {
                if attempt == Self.renderAttempts || isStopped {
                    let members = registry.withLock { $0.classes[cls.key]?.members.values.map { $0 } ?? [] }
                    logger.error(
                        "could not render an event; closing its subscribers so they resume",
                        metadata: [
                            "collection": "\(event.collection)", "seq": "\(event.seq)", "sockets": "\(members.count)",
                            "error": "\(error)",
                        ])
                    for member in members where event.seq > member.minSeq {
                        member.connection.close(.internalError, "Could not deliver a change; reconnect and resume with after.")
                    }
                    return nil
                }
                try? await Task.sleep(for: .milliseconds(100 << attempt))
            }
        }
        return nil
    }

    /// Counters and gauges for `/metrics`.
    public struct Stats: Sendable, Equatable {
        public var connections: Int
        public var subscriptions: Int
        public var queryClasses: Int
        /// Change events the hub has matched against subscriptions.
        public var eventsDispatched: UInt64
        /// Subscription frames handed to sockets' outbound queues.
        public var framesQueued: UInt64
    }

    public func stats() -> Stats {
        let (connections, subscriptions, classes) = registry.withLock { r in
            (r.connections.count, r.classes.values.reduce(0) { $0 + $1.members.count }, r.classes.count)
        }
        return Stats(
            connections: connections, subscriptions: subscriptions, queryClasses: classes,
            eventsDispatched: eventsDispatched.load(ordering: .relaxed), framesQueued: framesQueued.load(ordering: .relaxed))
    }

    // MARK: Connections

    public var connectionCount: Int { registry.withLock { $0.connections.count } }

    /// Registers a socket; `nil` when the connection limit is reached.
    func open(transport: any RealtimeTransport, context: ItemsContext, authenticated: Bool, expiresAt: Int64?)
        -> RealtimeConnection?
    {
        let id = nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
        let now = Clock.nowMs()
        let connection = RealtimeConnection(
            id: id, transport: transport, context: context, authenticated: authenticated, expiresAt: expiresAt,
            maxQueuedFrames: settings.maxQueuedFrames, now: now)
        if !authenticated && settings.authMode == .handshake {
            connection.state.withLock { $0.authDeadline = now + settings.authTimeoutMs }
        }
        if draining.load(ordering: .relaxed) { return nil }
        let accepted = registry.withLock { r -> Bool in
            if let limit = settings.connectionLimit, r.connections.count >= limit { return false }
            r.connections[id] = connection
            return true
        }
        return accepted ? connection : nil
    }

    /// Whether one more socket may open now.
    public var acceptsConnections: Bool {
        if draining.load(ordering: .relaxed) { return false }
        guard let limit = settings.connectionLimit else { return true }
        return connectionCount < limit
    }

    func closed(_ connection: RealtimeConnection) {
        let subscriptions = connection.state.withLock { s -> [String: RealtimeConnection.Subscription] in
            s.closed = true
            defer { s.subscriptions = [:] }
            return s.subscriptions
        }
        registry.withLock { r in
            r.connections[connection.id] = nil
            for (key, sub) in subscriptions {
                Self.removeMember(&r, sub.classKey, QueryClass.memberID(connection.id, key), interest: interestContinuation)
            }
        }
        connection.queue.finish()
    }

    /// Closes every socket with 1001, spread over `window` so clients reconnect gradually.
    public func drain(over window: Duration) async {
        draining.store(true, ordering: .relaxed)
        let all = registry.withLock { Array($0.connections.values) }
        guard !all.isEmpty else { return }
        let step = window / all.count
        for connection in all {
            connection.close(.goingAway, "Server is shutting down.")
            if step > .zero { try? await Task.sleep(for: step) }
        }
    }

    // MARK: Subscriptions

    /// Adds a member to its class, in order with fan-out. Answers the seq it
    /// receives events above: its `minSeq` (where its `init` was read), or the
    /// last event fan-out took if that is later. Events up to the answer are
    /// the caller's to replay (`after`) or are part of its `init`.
    func join(_ key: QueryClassKey, context: ItemsContext, member: ClassMember) async -> Int64 {
        await withCheckedContinuation { (done: CheckedContinuation<Int64, Never>) in
            if case .terminated = inputsContinuation.yield(.join(key, context, member, done)) {
                done.resume(returning: applyJoin(key, context: context, member: member))
            }
        }
    }

    /// Moves a connection's subscriptions to the classes of its current identity, in order with fan-out.
    func rebind(_ connection: RealtimeConnection) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            if case .terminated = inputsContinuation.yield(.rebind(connection, done)) {
                applyRebind(connection)
                done.resume()
            }
        }
    }

    /// Called only by the fan-out task (or once it has stopped).
    private func applyJoin(_ key: QueryClassKey, context: ItemsContext, member: ClassMember) -> Int64 {
        registry.withLock { r in
            var member = member
            member.minSeq = max(member.minSeq, r.dispatched[key.request.collection] ?? 0)
            // The socket may have closed or dropped the subscription while the join waited its turn.
            let wanted = member.connection.state.withLock { s in
                !s.closed && s.subscriptions[member.subscriptionKey]?.classKey == key
            }
            if wanted { Self.insert(&r, key, context: context, member: member, interest: interestContinuation) }
            return member.minSeq
        }
    }

    private static func insert(
        _ r: inout Registry, _ key: QueryClassKey, context: ItemsContext, member: ClassMember,
        interest: AsyncStream<InterestChange>.Continuation
    ) {
        let collection = key.request.collection
        if r.indexes[collection] == nil { interest.yield(.gained(collection, seq: member.minSeq)) }
        if r.classes[key] == nil {
            r.classes[key] = QueryClass(key: key, context: context)
            r.indexes[collection, default: EqualityIndex()].insert(key)
        }
        r.classes[key]?.members[QueryClass.memberID(member.connection.id, member.subscriptionKey)] = member
    }

    func removeMember(_ key: QueryClassKey, connection: UInt64, subscriptionKey: String) {
        registry.withLock { r in
            Self.removeMember(&r, key, QueryClass.memberID(connection, subscriptionKey), interest: interestContinuation)
        }
    }

    /// Removes a member; the collection's last one reports the lost interest.
    private static func removeMember(
        _ r: inout Registry, _ key: QueryClassKey, _ memberID: String, interest: AsyncStream<InterestChange>.Continuation
    ) {
        r.classes[key]?.members[memberID] = nil
        guard r.classes[key]?.members.isEmpty == true else { return }
        let collection = key.request.collection
        r.classes[key] = nil
        r.indexes[collection]?.remove(key)
        if r.indexes[collection]?.isEmpty == true {
            r.indexes[collection] = nil
            interest.yield(.lost(collection))
        }
    }

    /// Joins the new class before leaving the old one, so the collection never
    /// looks unwanted in between, and takes events above what the old class got.
    private func applyRebind(_ connection: RealtimeConnection) {
        let context = connection.context
        let moves = connection.state.withLock { s -> [(String, RealtimeConnection.Subscription, QueryClassKey)] in
            var moves: [(String, RealtimeConnection.Subscription, QueryClassKey)] = []
            for (key, sub) in s.subscriptions {
                let newKey = QueryClassKey(request: sub.request, context: context)
                if newKey != sub.classKey {
                    moves.append((key, sub, newKey))
                    s.subscriptions[key]?.classKey = newKey
                }
            }
            return moves
        }
        guard !moves.isEmpty else { return }
        registry.withLock { r in
            for (key, sub, newKey) in moves {
                let id = QueryClass.memberID(connection.id, key)
                let old = r.classes[sub.classKey]?.members[id]
                let minSeq = max(old?.minSeq ?? 0, r.dispatched[newKey.request.collection] ?? 0)
                Self.insert(
                    &r, newKey, context: context,
                    member: ClassMember(connection: connection, subscriptionKey: key, uid: sub.uid, minSeq: minSeq),
                    interest: interestContinuation)
                Self.removeMember(&r, sub.classKey, id, interest: interestContinuation)
            }
        }
    }

    /// After users, roles, policies or permissions changed: recompute every
    /// socket's permissions; sockets of users who are no longer active are closed.
    private func refreshIdentities() async {
        let all = registry.withLock { Array($0.connections.values) }
        for connection in all {
            let accountability = connection.context.accountability
            do {
                let fresh: Accountability
                if let userID = accountability.userID {
                    guard var a = try await auth.resolver.accountability(userID: userID) else {
                        connection.send(RealtimeFrames.error("auth", "AUTH_FAILED", "User is no longer active.", uid: nil))
                        connection.close(.policyViolation, "User is no longer active.")
                        continue
                    }
                    a.ip = accountability.ip
                    a.userAgent = accountability.userAgent
                    a.origin = accountability.origin
                    fresh = a
                } else {
                    fresh = try await auth.resolver.publicAccountability(
                        ip: accountability.ip, userAgent: accountability.userAgent, origin: accountability.origin)
                }
                let context = try await auth.resolver.context(for: fresh)
                connection.state.withLock { $0.context = context }
                applyRebind(connection)
            } catch {
                logger.warning("could not refresh a connection's permissions", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Timers

    /// Once a second: handshake and re-auth deadlines, token expiry, heartbeat.
    private func tick() async {
        var lastPing = Clock.nowMs()
        while !Task.isCancelled && !stopped.load(ordering: .relaxed) {
            try? await Task.sleep(for: .seconds(1))
            let now = Clock.nowMs()
            let all = registry.withLock { Array($0.connections.values) }
            let heartbeatDue = settings.heartbeatEnabled && now - lastPing >= settings.heartbeatPeriodMs
            if heartbeatDue { lastPing = now }
            for connection in all {
                await check(connection, now: now, heartbeatDue: heartbeatDue)
            }
        }
    }

    private func check(_ connection: RealtimeConnection, now: Int64, heartbeatDue: Bool) async {
        enum Action { case none, authTimeout, handshakeTimeout, expired, silent, ping }
        let mode = settings.authMode
        let period = settings.heartbeatPeriodMs
        let timeout = settings.authTimeoutMs
        let action = connection.state.withLock { s -> Action in
            if s.closed { return .none }
            if let deadline = s.authDeadline, now >= deadline {
                s.authDeadline = nil
                return s.authenticated || s.expiresAt != nil ? .authTimeout : .handshakeTimeout
            }
            if let exp = s.expiresAt, now / 1000 >= exp {
                s.expiresAt = nil
                if mode != .public { s.authDeadline = now + timeout }
                return .expired
            }
            if heartbeatDue {
                if now - s.lastInbound > period * 2 { return .silent }
                return .ping
            }
            return .none
        }
        switch action {
        case .none: return
        case .ping: connection.send(RealtimeFrames.ping)
        case .silent: connection.close(.normal, "Heartbeat timeout: no message received.")
        case .handshakeTimeout:
            connection.send(RealtimeFrames.handshakeFailed)
            connection.close(.policyViolation, "Authentication handshake failed.")
        case .authTimeout:
            connection.send(RealtimeFrames.authTimedOut)
            connection.close(.policyViolation, "Authentication timed out.")
        case .expired:
            connection.send(RealtimeFrames.tokenExpired)
            if let a = try? await auth.resolver.publicAccountability(), let context = try? await auth.resolver.context(for: a) {
                connection.state.withLock { $0.context = context }
                await rebind(connection)
            }
        }
    }
}

enum Clock {
    static func nowMs() -> Int64 { ISOTimestamp.now().epochMilliseconds }
}
