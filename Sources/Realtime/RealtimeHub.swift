import Access
import Logging
import Query
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
    }

    private let registry = Mutex(Registry())
    private let nextConnectionID = Atomic<UInt64>(1)
    private let stopped = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)
    private let eventsDispatched = Atomic<UInt64>(0)
    private let framesQueued = Atomic<UInt64>(0)
    private let events: AsyncStream<[ChangeEvent]>
    private let eventsContinuation: AsyncStream<[ChangeEvent]>.Continuation

    public init(
        store: Store, auth: AuthService, settings: RealtimeSettings, logger: Logger = Logger(label: "switchboard.realtime")
    ) {
        self.store = store
        self.auth = auth
        self.settings = settings
        self.logger = logger
        self.renderer = EventRenderer(store: store)
        (events, eventsContinuation) = AsyncStream.makeStream(of: [ChangeEvent].self, bufferingPolicy: .unbounded)
    }

    // MARK: ChangeEventSink

    public func publish(_ events: [ChangeEvent]) async {
        enqueue(events)
    }

    /// Hands events to the fan-out task, in order (they must already be in seq order per collection).
    func enqueue(_ events: [ChangeEvent]) {
        eventsContinuation.yield(events)
    }

    /// Told when the first subscription on a collection appears (with the seq its
    /// `init` was read at, if known) and when the last one goes.
    public var interestObserver: (@Sendable (String, Int64?, Bool) -> Void)? {
        get { observer.withLock { $0 } }
        set { observer.withLock { $0 = newValue } }
    }

    private let observer = Mutex<(@Sendable (String, Int64?, Bool) -> Void)?>(nil)

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
        eventsContinuation.finish()
    }

    private func processEvents() async {
        for await batch in events {
            var accessChanged = false
            for event in batch {
                if SystemCollections.accessControl.contains(event.collection) { accessChanged = true }
                await dispatch(event)
            }
            if accessChanged {
                auth.resolver.invalidate()
                await refreshIdentities()
            }
        }
    }

    /// Sends one event to every class that wants it.
    public func dispatch(_ event: ChangeEvent) async {
        let targets: [QueryClass] = registry.withLock { r in
            guard let index = r.indexes[event.collection] else { return [] }
            return index.candidates(event.rows + event.previous).compactMap { r.classes[$0] }
        }
        for cls in targets {
            let frames: [RenderedEvent]
            do {
                frames = try await renderer.render(event, for: cls)
            } catch {
                logger.debug(
                    "event not delivered to a class", metadata: ["collection": "\(event.collection)", "error": "\(error)"])
                continue
            }
            guard !frames.isEmpty else { continue }
            // Members may have changed while rendering; deliver to the current ones.
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
        let emptied = registry.withLock { r -> [String] in
            r.connections[connection.id] = nil
            var emptied: [String] = []
            for (key, sub) in subscriptions where Self.removeMember(&r, sub.classKey, QueryClass.memberID(connection.id, key)) {
                emptied.append(sub.classKey.request.collection)
            }
            return emptied
        }
        connection.queue.finish()
        for collection in emptied { interestObserver?(collection, nil, false) }
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

    func addMember(_ key: QueryClassKey, context: ItemsContext, member: ClassMember, initSeq: Int64? = nil) {
        let collection = key.request.collection
        let firstInCollection = registry.withLock { r -> Bool in
            let first = r.indexes[collection] == nil
            if r.classes[key] == nil {
                r.classes[key] = QueryClass(key: key, context: context)
                r.indexes[collection, default: EqualityIndex()].insert(key)
            }
            r.classes[key]?.members[QueryClass.memberID(member.connection.id, member.subscriptionKey)] = member
            return first
        }
        if firstInCollection { interestObserver?(collection, initSeq, true) }
    }

    func removeMember(_ key: QueryClassKey, connection: UInt64, subscriptionKey: String) {
        let gone = registry.withLock { r in Self.removeMember(&r, key, QueryClass.memberID(connection, subscriptionKey)) }
        if gone { interestObserver?(key.request.collection, nil, false) }
    }

    /// Answers whether the collection lost its last subscription.
    @discardableResult
    private static func removeMember(_ r: inout Registry, _ key: QueryClassKey, _ memberID: String) -> Bool {
        r.classes[key]?.members[memberID] = nil
        if r.classes[key]?.members.isEmpty == true {
            r.classes[key] = nil
            r.indexes[key.request.collection]?.remove(key)
            if r.indexes[key.request.collection]?.isEmpty == true {
                r.indexes[key.request.collection] = nil
                return true
            }
        }
        return false
    }

    /// Moves a connection's subscriptions to the classes of its current identity.
    func rebind(_ connection: RealtimeConnection) {
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
        for (key, sub, newKey) in moves {
            removeMember(sub.classKey, connection: connection.id, subscriptionKey: key)
            addMember(
                newKey, context: context,
                member: ClassMember(connection: connection, subscriptionKey: key, uid: sub.uid, minSeq: 0))
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
                rebind(connection)
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
                rebind(connection)
            }
        }
    }
}


enum Clock {
    static func nowMs() -> Int64 { ISOTimestamp.now().epochMilliseconds }
}
