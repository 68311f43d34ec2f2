import Access
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Query
import RealtimeProtocol
import Store
import SwitchboardCore
import Synchronization

/// How the realtime endpoint behaves (PROTOCOL.md: settings).
public struct RealtimeSettings: Sendable {
    /// The connection protocol: auth mode and timeout, heartbeat, rate limit, subscription limit, query limits.
    public var connection: ConnectionStateMachine.Settings
    /// Sockets per replica; over it the upgrade is refused with 403.
    public var connectionLimit: Int?
    /// Largest inbound message (1009 beyond).
    public var maxMessageSize: Int
    /// Bytes waiting to be written to one socket before it counts as too slow (1013).
    public var maxQueuedBytes: Int
    /// Rows per `live` query class whose `$NOW` window exit is timed (`WindowExits`).
    public var liveWindowKeysMax: Int
    /// Rows of one query class re-read per change to a row it reaches through a relation.
    public var relatedRowsMax: Int
    public var sessionCookieName: String
    /// Origins accepted besides the request's own host (`PUBLIC_URL`, `CORS_ORIGIN` list).
    public var allowedOrigins: [String]
    /// How often this replica shares its stats snapshot (`SWITCHBOARD_FLEET_INTERVAL`, ms).
    public var fleetIntervalMs: Int64

    public init(
        connection: ConnectionStateMachine.Settings = .init(), connectionLimit: Int? = nil, maxMessageSize: Int = 1_048_576,
        maxQueuedBytes: Int = 4_194_304, liveWindowKeysMax: Int = 10_000, relatedRowsMax: Int = 1000,
        sessionCookieName: String = "directus_session_token",
        allowedOrigins: [String] = [], fleetIntervalMs: Int64 = 1000
    ) {
        self.fleetIntervalMs = fleetIntervalMs
        self.liveWindowKeysMax = liveWindowKeysMax
        self.relatedRowsMax = relatedRowsMax
        self.connection = connection
        self.connectionLimit = connectionLimit
        self.maxMessageSize = maxMessageSize
        self.maxQueuedBytes = maxQueuedBytes
        self.sessionCookieName = sessionCookieName
        self.allowedOrigins = allowedOrigins
    }
}

/// The realtime engine of one process, as a table of contents: the fan-out
/// pipeline, one shard per event loop, the services connections use for
/// database work, and the upgrade decision. Sockets themselves are
/// `RealtimeSocket` handlers on their event loops.
public final class RealtimeEngine: UpgradeEndpoint {
    public let store: Store
    public let auth: AuthService
    public let settings: RealtimeSettings
    public let fanout: Fanout
    /// The admin view's replicas and subscribers (`switchboard_replicas`).
    public let fleet: FleetBoard
    let services: ConnectionServices
    let shards = ShardDirectory()
    let logger: Logger
    private let connections: ConnectionSlots
    private let nextSocketID = Atomic<UInt64>(1)
    private let draining = Atomic<Bool>(false)
    private let slowConsumerCloses = Atomic<UInt64>(0)

    public init(
        store: Store, auth: AuthService, settings: RealtimeSettings, logger: Logger = Logger(label: "switchboard.realtime")
    ) {
        self.store = store
        self.auth = auth
        self.settings = settings
        self.logger = logger
        connections = ConnectionSlots(limit: settings.connectionLimit)
        let fanout = Fanout(
            store: store, auth: auth, shards: shards, liveWindowKeysMax: settings.liveWindowKeysMax,
            relatedRowsMax: settings.relatedRowsMax, logger: logger)
        self.fanout = fanout
        fleet = FleetBoard(replica: store.environment.replicaID, intervalMs: settings.fleetIntervalMs)
        services = ConnectionServices(store: store, auth: auth, fanout: fanout, logger: logger)
    }

    /// Runs fan-out until `shutdown()`.
    public func run() async { await fanout.run() }

    public func shutdown() { fanout.shutdown() }

    // MARK: Upgrades

    /// Whether this replica takes one more socket now.
    public var acceptsConnections: Bool {
        if isDraining { return false }
        return connections.hasRoom
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// An admitted socket's identity, before its handler exists.
    struct Accepted: Sendable {
        let context: ItemsContext
        let client: ClientInfo
        let upgradeToken: ConnectionStateMachine.UpgradeToken?
    }

    /// The decision for an upgrade when it needs no lookup, made on the event loop: refusals
    /// (limit, `Origin`, strict mode without a token, a bad token), handshake-mode sockets
    /// without a token (they act as nobody until their `auth`), and identities the caches
    /// hold. nil: `admit` must decide.
    public func admitAtOnce(_ head: HTTPRequestHead, remoteAddress: String?) -> UpgradeAdmission? {
        let (client, token): (ClientInfo, String?)
        switch screen(head, remoteAddress: remoteAddress) {
        case .refused(let refusal): return refusal
        case .passed(let c, let t): (client, token) = (c, t)
        }
        guard let token else {
            switch settings.connection.authMode {
            case .strict:
                return .refuse(.unauthorized, "Unauthorized")
            case .public:
                return services.publicContextAtOnce(client: client).map {
                    accept(Accepted(context: $0, client: client, upgradeToken: nil))
                }
            case .handshake:
                let nobody = Accountability(
                    admin: false, app: false, ip: client.ip, userAgent: client.userAgent, origin: client.origin)
                return accept(
                    Accepted(
                        context: ItemsContext(accountability: nobody, permissions: PermissionSet(admin: false)),
                        client: client, upgradeToken: nil))
            }
        }
        return tokenIdentityAtOnce(token, client: client).admission(accept)
    }

    /// What an upgrade's token says without a lookup.
    enum TokenIdentity {
        case accepted(Accepted)
        case refused
        /// The caches do not hold it: `tokenIdentity` decides.
        case needsLookup

        /// The admission this makes (nil: a lookup is needed).
        func admission(_ accept: (Accepted) -> UpgradeAdmission) -> UpgradeAdmission? {
            switch self {
            case .accepted(let accepted): return accept(accepted)
            case .refused: return .refuse(.unauthorized, "Unauthorized")
            case .needsLookup: return nil
            }
        }
    }

    /// The identity an upgrade's token gives, when the caches hold it.
    func tokenIdentityAtOnce(_ token: String, client: ClientInfo) -> TokenIdentity {
        switch auth.authenticateAtOnce(token: token, client: client) {
        case .refused:
            return .refused
        case .needsLookup:
            return .needsLookup
        case .accepted(let accountability):
            guard accountability.userID != nil else { return .refused }
            guard let context = auth.resolver.cachedContext(for: accountability) else { return .needsLookup }
            return .accepted(
                Accepted(context: context, client: client, upgradeToken: .init(expiresAt: auth.expiry(ofToken: token))))
        }
    }

    /// The identity an upgrade's token gives; nil: the token is refused. Throws when the
    /// permissions can't be read.
    func tokenIdentity(_ token: String, client: ClientInfo) async throws -> Accepted? {
        let accountability: Accountability
        do {
            accountability = try await auth.authenticate(token: token, client: client)
        } catch {
            return nil
        }
        guard accountability.userID != nil else { return nil }
        let context = try await auth.resolver.context(for: accountability)
        return Accepted(context: context, client: client, upgradeToken: .init(expiresAt: auth.expiry(ofToken: token)))
    }

    /// Decides an upgrade (PROTOCOL.md): the connection limit, `Origin`, and the token that
    /// may come with it (`?access_token=` or the session cookie; required in strict mode).
    public func admit(_ head: HTTPRequestHead, remoteAddress: String?) async -> UpgradeAdmission {
        let (client, token): (ClientInfo, String?)
        switch screen(head, remoteAddress: remoteAddress) {
        case .refused(let refusal): return refusal
        case .passed(let c, let t): (client, token) = (c, t)
        }
        do {
            guard let token else {
                if settings.connection.authMode == .strict { return .refuse(.unauthorized, "Unauthorized") }
                let publicAccountability = try await auth.resolver.publicAccountability(
                    ip: client.ip, userAgent: client.userAgent, origin: client.origin)
                let context = try await auth.resolver.context(for: publicAccountability)
                return accept(Accepted(context: context, client: client, upgradeToken: nil))
            }
            return try await tokenIdentity(token, client: client).map(accept) ?? .refuse(.unauthorized, "Unauthorized")
        } catch {
            logger.warning("could not admit a realtime connection", metadata: ["error": "\(error)"])
            return .refuse(.serviceUnavailable, "Service unavailable")
        }
    }

    enum Screened {
        case refused(UpgradeAdmission)
        /// Who it comes from, and the token it carries (`?access_token=` or the session cookie).
        case passed(ClientInfo, token: String?)
    }

    /// What every upgrade is checked for before its identity: the connection limit and `Origin`.
    private func screen(_ head: HTTPRequestHead, remoteAddress: String?) -> Screened {
        screen(head, remoteAddress: remoteAddress, accepting: acceptsConnections)
    }

    /// `screen` for an endpoint with its own connection limit (`accepting`: it takes one more).
    func screen(_ head: HTTPRequestHead, remoteAddress: String?, accepting: Bool) -> Screened {
        guard accepting else { return .refused(.refuse(.forbidden, "Too many connections")) }
        let origin = head.headers.first(name: "origin")
        if let origin, !originAllowed(origin, host: head.headers.first(name: "host")) {
            return .refused(.refuse(.forbidden, "Origin not allowed"))
        }
        let client = ClientInfo(ip: remoteAddress, userAgent: head.headers.first(name: "user-agent"), origin: origin)
        let token = Self.queryValue(head.uri, "access_token") ?? Self.cookie(head, settings.sessionCookieName)
        return .passed(client, token: token?.isEmpty == false ? token : nil)
    }

    private func accept(_ accepted: Accepted) -> UpgradeAdmission {
        guard connections.reserve() else { return .refuse(.forbidden, "Too many connections") }
        return .accept(
            subprotocol: nil, install: { channel in try self.install(accepted, on: channel) },
            abandon: { [connections] in connections.release() })
    }

    /// Turns an upgraded HTTP channel into a realtime socket (on its event loop, after the 101 left):
    /// the WebSocket frame decoder, then the socket's handler. Server frames are framed by the socket.
    func install(_ accepted: Accepted, on channel: any Channel) throws {
        // The slot taken at admission is the socket's from here; given back if it never exists.
        do {
            let (shard, socketID) = try prepare(channel)
            let socket = RealtimeSocket(
                id: socketID, shard: shard, engine: self, context: accepted.context, client: accepted.client,
                upgradeToken: accepted.upgradeToken)
            try channel.pipeline.syncOperations.addHandler(socket)
        } catch {
            connections.release()
            throw error
        }
    }

    /// What every protocol's socket gets on its upgraded channel (on its event loop): its loop's
    /// shard, an id, the outbound limit and the frame decoder. The socket's handler goes last.
    func prepare(_ channel: any Channel) throws -> (LoopShard, socketID: UInt64) {
        channel.eventLoop.preconditionInEventLoop()
        let shard = shards.shard(for: channel.eventLoop) { index in
            LoopShard(index: index, eventLoop: channel.eventLoop, fanout: fanout)
        }
        let high = max(64 * 1024, settings.maxQueuedBytes)
        try channel.syncOptions?.setOption(.writeBufferWaterMark, value: .init(low: high / 2, high: high))
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: settings.maxMessageSize)))
        return (shard, nextSocketID.wrappingAdd(1, ordering: .relaxed).oldValue)
    }

    func socketClosed(_ socket: RealtimeSocket) {
        connections.release()
    }

    func noteSlowConsumer() { slowConsumerCloses.add(1, ordering: .relaxed) }

    private func originAllowed(_ origin: String, host: String?) -> Bool {
        let normalized = origin.lowercased()
        if let host, normalized == "http://" + host.lowercased() || normalized == "https://" + host.lowercased() {
            return true
        }
        return settings.allowedOrigins.contains { $0.lowercased() == normalized }
    }

    static func queryValue(_ uri: String, _ name: String) -> String? {
        guard let q = uri.firstIndex(of: "?") else { return nil }
        return QueryParameterTree.pairs(uri[uri.index(after: q)...]).last { $0.name == name }?.value
    }

    static func cookie(_ head: HTTPRequestHead, _ name: String) -> String? {
        for header in head.headers["cookie"] {
            for pair in header.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                if kv[0].trimmingSpaces == name { return String(kv[1].trimmingSpaces) }
            }
        }
        return nil
    }

    // MARK: Drain and stats

    /// Stops taking sockets and closes every one with 1001, spread over `window`.
    public func drain(over window: Duration) async {
        draining.store(true, ordering: .relaxed)
        var lists: [(LoopShard, [ShardSocketRef])] = []
        for shard in shards.all {
            if let sockets = try? await shard.eventLoop.submit({
                shard.allSockets.map { ShardSocketRef($0, eventLoop: shard.eventLoop) }
            }).get() {
                lists.append((shard, sockets))
            }
        }
        let total = lists.reduce(0) { $0 + $1.1.count }
        guard total > 0 else { return }
        let step = TimeAmount(window / total)
        var i = 0
        for (shard, sockets) in lists {
            for ref in sockets {
                let delay = TimeAmount.nanoseconds(step.nanoseconds * Int64(i))
                shard.eventLoop.scheduleTask(in: delay) { ref.socket.value.close(.goingAway, "Server is shutting down.") }
                i += 1
            }
        }
        try? await Task.sleep(for: window)
    }

    /// Counters and gauges for `/metrics`.
    public struct Stats: Sendable, Equatable {
        public var connections: Int
        public var subscriptions: Int
        public var queryClasses: Int
        /// Change events fan-out has matched against subscriptions.
        public var eventsDispatched: UInt64
        /// Event frames written to sockets.
        public var framesQueued: UInt64
        /// Sockets closed with 1013 for not reading.
        public var slowConsumerCloses: UInt64
        /// Aggregate subscription frames read from the database.
        public var aggregateReads: UInt64 = 0
        /// Aggregate subscription frames counted in memory (database reads avoided).
        public var aggregateCountedInMemory: UInt64 = 0
    }

    public func stats() -> Stats {
        let (classes, members) = fanout.classCounts
        return Stats(
            connections: connections.count, subscriptions: members, queryClasses: classes,
            eventsDispatched: fanout.eventsDispatchedCount, framesQueued: shards.framesWritten.load(ordering: .relaxed),
            slowConsumerCloses: slowConsumerCloses.load(ordering: .relaxed),
            aggregateReads: fanout.aggregateStats.readCount,
            aggregateCountedInMemory: fanout.aggregateStats.inMemoryCount)
    }

    public var connectionCount: Int { connections.count }

    /// What this replica tells the others about itself.
    public func snapshot() async -> ReplicaSnapshot {
        let byState = await connectionsByAuthState()
        var subscriptions = fanout.subscriptionsByCollection
        let watching = fleet.subscriptionCount
        if watching > 0 { subscriptions[FleetBoard.collection, default: 0] += watching }
        return ReplicaSnapshot(
            replica: fleet.replica, startedAt: fleet.startedAt, takenAt: Clock.nowMs(),
            connections: Dictionary(uniqueKeysWithValues: SocketAuthState.allCases.map { ($0.rawValue, byState[$0] ?? 0) }),
            subscriptions: subscriptions, eventsReceived: fanout.eventsDispatchedCount,
            eventsDelivered: shards.framesWritten.load(ordering: .relaxed))
    }

    /// Every `SWITCHBOARD_FLEET_INTERVAL` until cancelled: this replica's snapshot goes to the
    /// others (`publish`, the relay's fleet channel) and into its own view, and the view's
    /// changes go to the admin sockets subscribed to `switchboard_replicas`.
    public func runFleet(publish: @escaping @Sendable ([UInt8]) -> Void) async {
        while !Task.isCancelled && !fanout.isStopped {
            let snapshot = await snapshot()
            publish(snapshot.json.jsonBytes)
            fleet.receive(snapshot)
            fleet.tick()
            try? await Task.sleep(for: fleet.interval)
        }
    }

    /// Open sockets (both protocols) by where they are in authenticating, counted on their loops.
    public func connectionsByAuthState() async -> [SocketAuthState: Int] {
        var counts: [SocketAuthState: Int] = [:]
        for shard in shards.all {
            let local = try? await shard.eventLoop.submit { shard.authStates() }.get()
            for (state, n) in local ?? [:] { counts[state, default: 0] += n }
        }
        return counts
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
