import Logging
import NIOCore
import NIOPosix
import RESP
import Synchronization

/// The messenger on Redis Cluster: sharded pub/sub (`SPUBLISH` / `SSUBSCRIBE`) on the
/// master owning each channel's slot.
///
/// - Topology: the slot map comes from `CLUSTER SHARDS` (`CLUSTER SLOTS` on servers
///   without it), asked of any reachable node or seed, again every `topologyRefresh`
///   and whenever a node is lost, a slot moves or a `MOVED` arrives.
/// - Subscribing: `ShardedSubscriptions` decides; one subscriber connection per node,
///   whatever the number of channels. `.resubscribed` follows every possible gap (a
///   reconnect, a failover, a migrated slot) once every channel is confirmed again.
/// - Publishing never waits on the broker: a bounded queue, one pipelined `SPUBLISH`
///   write per master, at most the command timeout; `MOVED` refreshes the map and
///   retries at the new owner, `ASK` sends `ASKING` and retries at the named node.
public final class RedisClusterMessenger: Messenger {
    public struct Settings: Sendable {
        public var timeouts: RedisTimeouts
        /// Payloads waiting to be published at most; beyond it the oldest is dropped.
        public var publishQueueLimit: Int
        /// The slot map is read again this often even when nothing signalled a change.
        public var topologyRefresh: Duration
        /// `CLIENT SETNAME` prefix of this replica's connections (`<prefix>-sub`, `-pub`, `-map`).
        public var clientName: String?

        public init(
            timeouts: RedisTimeouts = RedisTimeouts(), publishQueueLimit: Int = 10_000,
            topologyRefresh: Duration = .seconds(1), clientName: String? = nil
        ) {
            self.timeouts = timeouts
            self.publishQueueLimit = max(1, publishQueueLimit)
            self.topologyRefresh = topologyRefresh
            self.clientName = clientName
        }
    }

    private struct State {
        var machine = ShardedSubscriptions()
        var subscribers: [ClusterNode: RedisConnection] = [:]
        /// Bumped by every `.connect` / `.disconnect`, so a late connect of an earlier round is dropped.
        var generation: [ClusterNode: Int] = [:]
        var failures: [ClusterNode: Int] = [:]
        var confirmWaiters: [String: [(id: Int, continuation: CheckedContinuation<Void, Never>)]] = [:]
        var nextWaiter = 0
        var refreshWanted = false
        var refreshWaiter: CheckedContinuation<Void, Never>?
        var mapReachable = false
        var stopped = false
        var resubscribedOnce = false
        var stats = MessengerStats()
    }

    static let batchLimit = 512
    /// Redirects one payload may follow before it counts as failed.
    static let redirectLimit = 3

    private let seeds: [RedisEndpoint]
    private let settings: Settings
    private let logger: Logger
    private let group: any EventLoopGroup
    private let shared = Mutex(State())
    private let queue: PublishQueue
    public let events: AsyncStream<MessengerEvent>
    private let continuation: AsyncStream<MessengerEvent>.Continuation
    /// Subscription actions, executed in order by one task.
    private let actions: AsyncStream<[ShardedSubscriptions.Action]>
    private let actionSink: AsyncStream<[ShardedSubscriptions.Action]>.Continuation

    /// `seeds`: where the slot map is first asked for; their TLS and credentials apply to every node.
    public init(
        seeds: [RedisEndpoint], settings: Settings = Settings(), logger: Logger = Logger(label: "switchboard.messenger"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        precondition(!seeds.isEmpty, "a cluster messenger needs a seed node")
        self.seeds = seeds
        self.settings = settings
        self.logger = logger
        self.group = group
        queue = PublishQueue(limit: settings.publishQueueLimit, expiry: settings.timeouts.command)
        (events, continuation) = AsyncStream.makeStream(of: MessengerEvent.self, bufferingPolicy: .unbounded)
        (actions, actionSink) = AsyncStream.makeStream(of: [ShardedSubscriptions.Action].self, bufferingPolicy: .unbounded)
    }

    public var state: MessengerState {
        shared.withLock { s in
            if s.stopped { return .disconnected }
            return s.mapReachable && s.machine.isSettled ? .connected : .connecting
        }
    }

    public var hasSubscribed: Bool { shared.withLock { $0.machine.hasSubscribed } }

    public var channels: Set<String> { shared.withLock { $0.machine.desired } }

    public var stats: MessengerStats {
        queue.counted(in: shared.withLock { $0.stats })
    }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.runActions() }
            group.addTask { await self.runTopology() }
            group.addTask { await self.runPublisher() }
            apply { $0.slotMap == nil ? [.refreshSlotMap] : [] }
            await group.waitForAll()
        }
    }

    public func shutdown() async {
        await queue.drain(within: settings.timeouts.command) { self.shared.withLock { $0.mapReachable } }
        let (connections, waiters) = shared.withLock { s -> ([RedisConnection], [CheckedContinuation<Void, Never>]) in
            s.stopped = true
            var waiters = [s.refreshWaiter].compactMap { $0 }
            waiters += s.confirmWaiters.values.flatMap { $0.map(\.continuation) }
            s.refreshWaiter = nil
            s.confirmWaiters = [:]
            defer { s.subscribers = [:] }
            return (Array(s.subscribers.values), waiters)
        }
        queue.stop()
        for c in connections { c.close() }
        for w in waiters { w.resume() }
        actionSink.finish()
        continuation.finish()
    }

    private var isStopped: Bool { shared.withLock { $0.stopped } }

    private func endpoint(of node: ClusterNode) -> RedisEndpoint {
        var e = seeds[0]
        e.address = .tcp(host: node.host, port: node.port)
        return e
    }

    private func name(_ role: String) -> String? { settings.clientName.map { "\($0)-\(role)" } }

    // MARK: Subscriptions

    /// Feeds the state machine and queues its actions, under one lock so they keep their order.
    private func apply(_ input: (inout ShardedSubscriptions) -> [ShardedSubscriptions.Action]) {
        shared.withLock { s in
            guard !s.stopped else { return }
            let out = input(&s.machine)
            if !out.isEmpty { actionSink.yield(out) }
        }
    }

    public func subscribe(_ channel: String) async {
        apply { $0.subscribeRequested(channel) }
        await waitConfirmed(channel)
    }

    public func unsubscribe(_ channel: String) async {
        apply { $0.unsubscribeRequested(channel) }
    }

    /// Returns once `channel` is confirmed on its owner, or after the command timeout
    /// (it is then subscribed with the next connection, and `.resubscribed` follows).
    private func waitConfirmed(_ channel: String) async {
        let id = shared.withLock { s -> Int? in
            if s.stopped || s.machine.isConfirmed(channel) { return nil }
            s.nextWaiter += 1
            return s.nextWaiter
        }
        guard let id else { return }
        let timeout = settings.timeouts.command
        let timer = Task {
            try? await Task.sleep(for: timeout)
            let waiter = self.shared.withLock { s -> CheckedContinuation<Void, Never>? in
                guard let i = s.confirmWaiters[channel]?.firstIndex(where: { $0.id == id }) else { return nil }
                return s.confirmWaiters[channel]?.remove(at: i).continuation
            }
            waiter?.resume()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = shared.withLock { s -> Bool in
                if s.stopped || s.machine.isConfirmed(channel) { return true }
                s.confirmWaiters[channel, default: []].append((id, c))
                return false
            }
            if now { c.resume() }
        }
        timer.cancel()
    }

    private func runActions() async {
        for await batch in actions {
            for action in batch { perform(action) }
        }
    }

    private func perform(_ action: ShardedSubscriptions.Action) {
        switch action {
        case .connect(let node):
            let generation = shared.withLock { s -> Int in
                s.generation[node, default: 0] += 1
                return s.generation[node, default: 0]
            }
            Task { await self.connectSubscriber(node, generation: generation) }
        case .disconnect(let node):
            let connection = shared.withLock { s -> RedisConnection? in
                s.generation[node, default: 0] += 1
                return s.subscribers.removeValue(forKey: node)
            }
            connection?.close()
        case .subscribe(let channels, let node):
            shared.withLock { $0.subscribers[node] }?.send(["SSUBSCRIBE"] + channels)
        case .unsubscribe(let channels, let node):
            shared.withLock { $0.subscribers[node] }?.send(["SUNSUBSCRIBE"] + channels)
        case .refreshSlotMap:
            requestRefresh()
        case .resubscribed:
            let first = shared.withLock { s -> Bool in
                defer { s.resubscribedOnce = true }
                if s.resubscribedOnce { s.stats.reconnects += 1 }
                return !s.resubscribedOnce
            }
            logger.notice(
                first ? "subscribed on Redis Cluster" : "resubscribed on Redis Cluster",
                metadata: ["nodes": "\(shared.withLock { $0.machine.nodesInUse.sorted() })"])
            continuation.yield(.resubscribed)
        }
    }

    private func connectSubscriber(_ node: ClusterNode, generation: Int) async {
        let failures = shared.withLock { $0.failures[node, default: 0] }
        if failures > 0 {
            // 100 ms doubling up to 5 s, jittered so replicas don't reconnect in lockstep.
            let base = min(5000.0, 100.0 * Double(1 << min(failures - 1, 16)))
            try? await Task.sleep(for: .milliseconds(Int(base * Double.random(in: 0.5...1.5))))
        }
        guard shared.withLock({ !$0.stopped && $0.generation[node] == generation }) else { return }
        do {
            let box = ConnectionBox()
            let connection = try await RedisConnection.connect(
                to: endpoint(of: node), on: group, timeouts: settings.timeouts, name: name("sub"),
                onPush: { [weak self] value in self?.received(value, from: node, box) },
                onClose: { [weak self] in self?.subscriberClosed(node, box) })
            box.set(connection)
            let current = shared.withLock { s -> Bool in
                guard !s.stopped, s.generation[node] == generation else { return false }
                s.subscribers[node] = connection
                s.failures[node] = 0
                return true
            }
            guard current else {
                connection.close()
                return
            }
            if !connection.channel.isActive {
                subscriberClosed(node, box)
                return
            }
            apply { $0.nodeConnected(node) }
        } catch {
            let first = shared.withLock { s -> Bool in
                s.failures[node, default: 0] += 1
                return s.failures[node] == 1
            }
            if first {
                logger.warning(
                    "cannot reach a Redis Cluster node; retrying", metadata: ["node": "\(node)", "error": "\(error)"])
            }
            let stillCurrent = shared.withLock { $0.generation[node] == generation }
            if stillCurrent { apply { $0.nodeLost(node) } }
        }
    }

    private func subscriberClosed(_ node: ClusterNode, _ box: ConnectionBox) {
        let mine = shared.withLock { s -> Bool in
            guard let c = box.connection, s.subscribers[node] === c else { return false }
            s.subscribers[node] = nil
            s.failures[node, default: 0] += 1
            return true
        }
        guard mine else { return }
        logger.warning("lost a Redis Cluster node; reconnecting", metadata: ["node": "\(node)"])
        apply { $0.nodeLost(node) }
    }

    private func received(_ value: RESPValue, from node: ClusterNode, _ box: ConnectionBox) {
        guard let push = ShardPush(value, from: node) else { return }
        switch push {
        case .message(let channel, let payload):
            continuation.yield(.message(MessengerMessage(channel: channel, payload: payload)))
        case .subscribed(let channel):
            let waiters = shared.withLock { s -> [CheckedContinuation<Void, Never>] in
                guard !s.stopped, s.subscribers[node] === box.connection else { return [] }
                let out = s.machine.subscribeConfirmed(channel, on: node)
                if !out.isEmpty { actionSink.yield(out) }
                guard s.machine.isConfirmed(channel) else { return [] }
                return s.confirmWaiters.removeValue(forKey: channel)?.map(\.continuation) ?? []
            }
            for w in waiters { w.resume() }
        case .unsubscribed(let channel):
            apply { $0.unsubscribed(channel, on: node) }
        case .redirect(let redirect):
            apply { $0.movedReceived(redirect, on: node) }
        case .error(let message):
            // A refused SSUBSCRIBE (CLUSTERDOWN, ACL) would stay unconfirmed: start this node over.
            logger.warning("Redis Cluster node refused a subscription", metadata: ["node": "\(node)", "error": "\(message)"])
            box.connection?.close()
        }
    }

    // MARK: Topology

    private func requestRefresh() {
        let waiter = shared.withLock { s -> CheckedContinuation<Void, Never>? in
            s.refreshWanted = true
            defer { s.refreshWaiter = nil }
            return s.refreshWaiter
        }
        waiter?.resume()
    }

    /// Reads the slot map when asked (at most every 100 ms) and every `topologyRefresh`.
    private func runTopology() async {
        var connection: (RedisConnection, ClusterNode)?
        var failures = 0
        while !isStopped {
            let asked = ContinuousClock.now
            if let (map, via) = await loadSlotMap(&connection) {
                failures = 0
                let changed = shared.withLock { s -> Bool in
                    s.mapReachable = true
                    return s.machine.slotMap != map
                }
                if changed {
                    logger.info(
                        "Redis Cluster slot map loaded", metadata: ["from": "\(via)", "masters": "\(map.masters.sorted())"])
                }
                apply { $0.slotMapLoaded(map) }
            } else {
                failures += 1
                shared.withLock { $0.mapReachable = false }
                if failures == 1 { logger.warning("no Redis Cluster node answers CLUSTER SHARDS; retrying") }
            }
            let pause = failures > 0 ? Duration.milliseconds(min(2000, 100 << min(failures, 5))) : .milliseconds(100)
            let spent = ContinuousClock.now - asked
            if spent < pause { try? await Task.sleep(for: pause - spent) }
            await waitForRefresh(upTo: settings.topologyRefresh)
        }
        connection?.0.close()
    }

    private func waitForRefresh(upTo interval: Duration) async {
        let timer = Task {
            try? await Task.sleep(for: interval)
            self.requestRefresh()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = shared.withLock { s -> Bool in
                if s.stopped || s.refreshWanted { return true }
                s.refreshWaiter = c
                return false
            }
            if now { c.resume() }
        }
        timer.cancel()
        shared.withLock { $0.refreshWanted = false }
    }

    /// The slot map from the first node that gives one: the one we used last, the known
    /// masters, then the seeds.
    private func loadSlotMap(_ connection: inout (RedisConnection, ClusterNode)?) async -> (SlotMap, ClusterNode)? {
        var candidates: [ClusterNode] = shared.withLock { $0.machine.slotMap?.masters.sorted() } ?? []
        for seed in seeds {
            if case .tcp(let host, let port) = seed.address { candidates.append(ClusterNode(host: host, port: port)) }
        }
        var seen: Set<ClusterNode> = []
        candidates = candidates.filter { seen.insert($0).inserted }
        if let (c, node) = connection, c.channel.isActive {
            if let map = try? await query(c, node) { return (map, node) }
            c.close()
        }
        connection = nil
        for node in candidates where !isStopped {
            guard
                let c = try? await RedisConnection.connect(
                    to: endpoint(of: node), on: group, timeouts: settings.timeouts, name: name("map"), onClose: {})
            else { continue }
            if let map = try? await query(c, node) {
                connection = (c, node)
                return (map, node)
            }
            c.close()
        }
        return nil
    }

    private func query(_ connection: RedisConnection, _ node: ClusterNode) async throws -> SlotMap {
        let tls = seeds[0].tls
        let reply = try await connection.request(["CLUSTER", "SHARDS"])
        if case .error(let message) = reply {
            guard message.lowercased().contains("unknown") else {
                throw RedisConnection.RedisError(description: "CLUSTER SHARDS: \(message)")
            }
            let slots = try await connection.request(["CLUSTER", "SLOTS"])
            if case .error(let message) = slots { throw RedisConnection.RedisError(description: "CLUSTER SLOTS: \(message)") }
            return try SlotMap.parseSlots(slots, queried: node)
        }
        return try SlotMap.parseShards(reply, queried: node, tls: tls)
    }

    // MARK: Publishing

    public func publish(_ payload: [UInt8], to channel: String) { queue.append(payload, to: channel) }

    private struct Attempt {
        let item: PendingPayload
        let node: ClusterNode
        var asking = false
        var redirects = 0
    }

    private func runPublisher() async {
        var connections: [ClusterNode: RedisConnection] = [:]
        while let batch = await queue.next(max: Self.batchLimit) {
            var attempts: [Attempt] = []
            var unrouted: UInt64 = 0
            let map = shared.withLock { $0.machine.slotMap }
            for item in batch {
                if let node = map?.master(forChannel: item.channel) {
                    attempts.append(Attempt(item: item, node: node))
                } else {
                    unrouted += 1
                }
            }
            if unrouted > 0 {
                shared.withLock { $0.stats.failed += unrouted }
                requestRefresh()
            }
            var ok: UInt64 = 0
            var failed: UInt64 = 0
            while !attempts.isEmpty {
                var retry: [Attempt] = []
                // Per node, in queue order: a channel's payloads keep their order.
                let byNode = Dictionary(grouping: attempts, by: \.node)
                for node in byNode.keys.sorted() {
                    guard let share = byNode[node] else { continue }
                    let outcome = await send(share, to: node, &connections)
                    ok += outcome.ok
                    failed += outcome.failed
                    retry += outcome.retry
                }
                attempts = retry
            }
            let masters = shared.withLock { s -> Set<ClusterNode> in
                s.stats.published += ok
                s.stats.failed += failed
                return s.machine.slotMap?.masters ?? []
            }
            // A node that is no master any more (failed over) gets no more payloads.
            for node in connections.keys where !masters.isEmpty && !masters.contains(node) {
                connections.removeValue(forKey: node)?.close()
            }
            if failed > 0 {
                logger.warning(
                    "publishing to Redis Cluster failed; other replicas will backfill from the outbox",
                    metadata: ["payloads": "\(failed)"])
            }
        }
        for c in connections.values { c.close() }
    }

    private func send(_ attempts: [Attempt], to node: ClusterNode, _ connections: inout [ClusterNode: RedisConnection]) async
        -> (ok: UInt64, failed: UInt64, retry: [Attempt])
    {
        let connection: RedisConnection
        if let c = connections[node], c.channel.isActive {
            connection = c
        } else {
            connections[node] = nil
            guard
                let c = try? await RedisConnection.connect(
                    to: endpoint(of: node), on: group, timeouts: settings.timeouts,
                    name: name("pub"), onClose: {})
            else {
                requestRefresh()  // an unreachable master may have failed over
                return (0, UInt64(attempts.count), [])
            }
            connections[node] = c
            connection = c
        }
        var commands: [[[UInt8]]] = []
        for attempt in attempts {
            if attempt.asking { commands.append([Array("ASKING".utf8)]) }
            commands.append([Array("SPUBLISH".utf8), Array(attempt.item.channel.utf8), attempt.item.payload])
        }
        let replies = connection.pipeline(commands)
        var ok: UInt64 = 0
        var failed: UInt64 = 0
        var retry: [Attempt] = []
        var index = 0
        for attempt in attempts {
            if attempt.asking {
                _ = try? await replies[index].get()
                index += 1
            }
            let reply = try? await replies[index].get()
            index += 1
            switch reply {
            case .error(let message)?:
                if let redirect = ClusterRedirect(error: message, answeredBy: node), attempt.redirects < Self.redirectLimit {
                    if redirect.kind == .moved { apply { $0.movedReceived(redirect, on: node) } }
                    retry.append(
                        Attempt(
                            item: attempt.item, node: redirect.node, asking: redirect.kind == .ask,
                            redirects: attempt.redirects + 1))
                } else {
                    failed += 1
                }
            case nil:
                failed += 1
            default:
                ok += 1
            }
        }
        if !connection.channel.isActive { connections[node] = nil }
        return (ok, failed, retry)
    }
}

/// The connection a push or close callback belongs to, known only once `connect` returned.
private final class ConnectionBox: Sendable {
    private let stored = Mutex<RedisConnection?>(nil)

    func set(_ connection: RedisConnection) { stored.withLock { $0 = connection } }

    var connection: RedisConnection? { stored.withLock { $0 } }
}
