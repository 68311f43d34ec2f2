import Logging
import NIOCore
import NIOPosix
import RESP
import Synchronization

/// The cluster messenger: Redis pub/sub over two connections.
///
/// - Publishing: `publish` appends to a bounded queue and returns; one task
///   sends what is queued as one pipelined write and waits for the replies,
///   at most the command timeout. Payloads that wait longer, fail, or are
///   pushed out of a full queue are dropped and counted: the write they
///   belong to was already answered, and other replicas recover the event
///   from the outbox.
/// - Subscribing: one connection in subscribe mode, reconnected with
///   jittered exponential backoff; every channel is resubscribed and
///   confirmed (a `PING` round trip) before `.resubscribed` is reported, so
///   the consumer's backfill starts only once nothing more can be missed.
/// - Both connections are pinged when idle; one that stops answering (a
///   frozen Redis, a partition) is closed and replaced.
/// - With Redis Sentinel, both connect to the primary `SentinelPrimary` found; when
///   it changes (a failover) they are closed and reopened on the new one, and the
///   resubscription reports `.resubscribed` so the consumer backfills the switch.
public final class RedisMessenger: Messenger {
    public struct Settings: Sendable {
        public var timeouts: RedisTimeouts
        /// Payloads waiting to be published at most; beyond it the oldest is dropped.
        public var publishQueueLimit: Int

        public init(timeouts: RedisTimeouts = RedisTimeouts(), publishQueueLimit: Int = 10_000) {
            self.timeouts = timeouts
            self.publishQueueLimit = max(1, publishQueueLimit)
        }
    }

    /// Where the connections go: one server, or the primary the sentinels name.
    private enum Target: Sendable {
        case fixed(RedisEndpoint)
        case sentinel(SentinelPrimary)
    }

    private struct State {
        var desired: Set<String> = []
        var subscriber: RedisConnection?
        /// The server `subscriber` is connected to.
        var subscriberEndpoint: RedisEndpoint?
        var state: MessengerState = .connecting
        var hasSubscribed = false
        var stopped = false
        var lostWaiter: CheckedContinuation<Void, Never>?
        var stats = MessengerStats()
    }

    /// Payloads sent in one pipelined write at most.
    static let batchLimit = 512

    private let target: Target
    private let settings: Settings
    private let logger: Logger
    private let group: any EventLoopGroup
    private let shared = Mutex(State())
    private let queue: PublishQueue
    public let events: AsyncStream<MessengerEvent>
    private let continuation: AsyncStream<MessengerEvent>.Continuation

    public convenience init(
        endpoint: RedisEndpoint, settings: Settings = Settings(), logger: Logger = Logger(label: "switchboard.messenger"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.init(target: .fixed(endpoint), settings: settings, logger: logger, group: group)
    }

    /// A messenger on the primary of a Redis Sentinel master group, following its failovers.
    public convenience init(
        sentinel: SentinelPrimary, settings: Settings = Settings(), logger: Logger = Logger(label: "switchboard.messenger"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.init(target: .sentinel(sentinel), settings: settings, logger: logger, group: group)
    }

    private init(target: Target, settings: Settings, logger: Logger, group: any EventLoopGroup) {
        self.target = target
        self.settings = settings
        self.logger = logger
        self.group = group
        queue = PublishQueue(limit: settings.publishQueueLimit, expiry: settings.timeouts.command)
        (events, continuation) = AsyncStream.makeStream(of: MessengerEvent.self, bufferingPolicy: .unbounded)
    }

    public var state: MessengerState { shared.withLock { $0.state } }

    public var hasSubscribed: Bool { shared.withLock { $0.hasSubscribed } }

    public var channels: Set<String> { shared.withLock { $0.desired } }

    public var stats: MessengerStats {
        queue.counted(in: shared.withLock { $0.stats })
    }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            if case .sentinel(let sentinel) = target {
                group.addTask { await sentinel.run() }
                group.addTask { await self.followPrimary(sentinel) }
            }
            group.addTask { await self.runSubscriber() }
            group.addTask { await self.runPublisher() }
            await group.waitForAll()
        }
    }

    /// What the logs name: the server, or the sentinels and the primary they named.
    private var redisDescription: String {
        switch target {
        case .fixed(let endpoint): return endpoint.description
        case .sentinel(let sentinel): return "\(sentinel.current?.description ?? "(no primary)") via \(sentinel.description)"
        }
    }

    /// Opens a connection to the server, or to the current primary (waiting for one at most the
    /// connect timeout); returns it with the server it reached.
    private func connect(
        onPush: (@Sendable (RESPValue) -> Void)? = nil, onClose: @escaping @Sendable (RedisEndpoint) -> Void
    ) async throws -> (RedisConnection, RedisEndpoint) {
        let endpoint: RedisEndpoint
        switch target {
        case .fixed(let fixed): endpoint = fixed
        case .sentinel(let sentinel): endpoint = try await sentinel.primary(within: settings.timeouts.connect)
        }
        do {
            let connection = try await RedisConnection.connect(
                to: endpoint, on: group, timeouts: settings.timeouts, onPush: onPush, onClose: { onClose(endpoint) })
            return (connection, endpoint)
        } catch {
            lost(endpoint)
            throw error
        }
    }

    /// Tells Sentinel discovery that `endpoint` failed us (a closed connection, a `READONLY`).
    private func lost(_ endpoint: RedisEndpoint) {
        if case .sentinel(let sentinel) = target { sentinel.lost(endpoint) }
    }

    /// On a failover, closes the subscription connection to the old primary (the subscriber
    /// loop reconnects to the new one and reports `.resubscribed`); the publisher checks per batch.
    private func followPrimary(_ sentinel: SentinelPrimary) async {
        for await primary in sentinel.changes {
            let stale = shared.withLock { s -> RedisConnection? in
                s.subscriberEndpoint != nil && s.subscriberEndpoint != primary ? s.subscriber : nil
            }
            stale?.close()
        }
    }

    /// Whether a connection to `endpoint` still goes to the server to use.
    private func isCurrent(_ endpoint: RedisEndpoint?) -> Bool {
        switch target {
        case .fixed: return true
        case .sentinel(let sentinel): return endpoint != nil && sentinel.current == endpoint
        }
    }

    public func shutdown() async {
        await queue.drain(within: settings.timeouts.command) { self.shared.withLock { $0.state == .connected } }
        let (sub, waiters) = shared.withLock { s -> (RedisConnection?, [CheckedContinuation<Void, Never>]) in
            s.stopped = true
            s.state = .disconnected
            defer { s.lostWaiter = nil }
            return (s.subscriber, [s.lostWaiter].compactMap { $0 })
        }
        queue.stop()
        if case .sentinel(let sentinel) = target { sentinel.shutdown() }  // first: closing below is no lost primary
        sub?.close()
        for w in waiters { w.resume() }
        continuation.finish()
    }

    private var isStopped: Bool { shared.withLock { $0.stopped } }

    // MARK: Publishing

    public func publish(_ payload: [UInt8], to channel: String) { queue.append(payload, to: channel) }

    private func runPublisher() async {
        var connection: RedisConnection?
        var connectedTo: RedisEndpoint?
        var failures = 0
        while let batch = await queue.next(max: Self.batchLimit) {
            do {
                let c: RedisConnection
                if let existing = connection, existing.channel.isActive, isCurrent(connectedTo) {
                    c = existing
                } else {
                    connection?.close()
                    connection = nil
                    let (opened, endpoint) = try await connect(onClose: { _ in })
                    (connection, connectedTo) = (opened, endpoint)
                    c = opened
                }
                let replies = c.pipeline(batch.map { [Array("PUBLISH".utf8), Array($0.channel.utf8), $0.payload] })
                var ok: UInt64 = 0
                var failed: UInt64 = 0
                var readOnly = false
                for reply in replies {
                    switch try? await reply.get() {
                    case .error(let message)?:
                        failed += 1
                        readOnly = readOnly || message.hasPrefix("READONLY")
                    case nil: failed += 1
                    default: ok += 1
                    }
                }
                if readOnly, let connectedTo {
                    // A demoted primary: look for the new one.
                    c.close()
                    lost(connectedTo)
                }
                shared.withLock { s in
                    s.stats.published += ok
                    s.stats.failed += failed
                }
                if failed > 0 {
                    logger.warning(
                        "publishing to Redis failed; other replicas will backfill from the outbox",
                        metadata: ["payloads": "\(failed)", "redis": "\(redisDescription)"])
                }
                failures = 0
            } catch {
                connection = nil
                failures += 1
                shared.withLock { $0.stats.failed += UInt64(batch.count) }
                if failures == 1 {
                    logger.warning(
                        "cannot publish to Redis; other replicas will backfill from the outbox",
                        metadata: ["redis": "\(redisDescription)", "error": "\(error)"])
                }
                // A down Redis: try again soon, but not in a tight loop.
                try? await Task.sleep(for: .milliseconds(min(1000, 50 << min(failures, 5))))
            }
        }
        connection?.close()
    }

    // MARK: Subscribing

    public func subscribe(_ channel: String) async {
        let connection = shared.withLock { s -> RedisConnection? in
            s.desired.insert(channel).inserted ? s.subscriber : nil
        }
        guard let connection else { return }
        connection.send(["SUBSCRIBE", channel])
        // Bounded by the command timeout; if Redis hangs, the next connection subscribes it.
        try? await connection.barrier()
    }

    public func unsubscribe(_ channel: String) async {
        let connection = shared.withLock { s -> RedisConnection? in
            s.desired.remove(channel) != nil ? s.subscriber : nil
        }
        connection?.send(["UNSUBSCRIBE", channel])
    }

    private func runSubscriber() async {
        var attempt = 0
        var wasConnected = false
        while !isStopped && !Task.isCancelled {
            var moved = false
            do {
                let (connection, endpoint) = try await connect(
                    onPush: { [continuation] value in Self.handlePush(value, continuation) },
                    onClose: { [weak self] endpoint in
                        self?.subscriberLost()
                        self?.lost(endpoint)
                    })
                let channels = shared.withLock { s -> [String] in
                    s.subscriber = connection
                    s.subscriberEndpoint = endpoint
                    return Array(s.desired)
                }
                if !isCurrent(endpoint) {
                    // The primary changed while connecting.
                    connection.close()
                    throw RedisConnection.RedisError(description: "the primary changed while connecting")
                }
                // Every desired channel in one command (subscriptions made meanwhile send their own),
                // confirmed before anyone is told to backfill.
                if !channels.isEmpty { connection.send(["SUBSCRIBE"] + channels) }
                do {
                    try await connection.barrier()
                } catch {
                    connection.close()
                    throw error
                }
                shared.withLock { s in
                    if s.subscriber === connection {
                        s.state = .connected
                        s.hasSubscribed = true
                        if wasConnected { s.stats.reconnects += 1 }
                    }
                }
                logger.notice(
                    wasConnected ? "reconnected to Redis" : "connected to Redis", metadata: ["redis": "\(redisDescription)"])
                wasConnected = true
                attempt = 0
                continuation.yield(.resubscribed)
                await waitUntilLost(connection)
                if isStopped { break }
                // Closed because Sentinel named another primary: reconnect at once (connecting waits for it).
                moved = !isCurrent(endpoint)
                logger.warning(
                    moved ? "the Redis primary changed; resubscribing" : "lost the connection to Redis; reconnecting",
                    metadata: ["redis": "\(endpoint.description)"])
            } catch {
                if attempt == 0 {
                    logger.warning(
                        "cannot reach Redis; retrying", metadata: ["redis": "\(redisDescription)", "error": "\(error)"])
                }
            }
            shared.withLock { s in
                s.subscriber = nil
                s.subscriberEndpoint = nil
                if !s.stopped { s.state = .connecting }
            }
            if moved { continue }
            attempt += 1
            // 100 ms doubling up to 5 s, with ±50 % jitter so replicas don't reconnect in lockstep.
            let base = min(5000.0, 100.0 * Double(1 << min(max(attempt - 1, 0), 16)))
            try? await Task.sleep(for: .milliseconds(Int(base * Double.random(in: 0.5...1.5))))
        }
        shared.withLock { $0.subscriber }?.close()
    }

    private func waitUntilLost(_ connection: RedisConnection) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = shared.withLock { s -> Bool in
                    if s.stopped || s.subscriber !== connection || !connection.channel.isActive || Task.isCancelled {
                        return true
                    }
                    s.lostWaiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let w = shared.withLock { s -> CheckedContinuation<Void, Never>? in
                s.stopped = true
                defer { s.lostWaiter = nil }
                return s.lostWaiter
            }
            w?.resume()
        }
    }

    private func subscriberLost() {
        let waiter = shared.withLock { s -> CheckedContinuation<Void, Never>? in
            s.subscriber = nil
            if !s.stopped { s.state = .connecting }
            defer { s.lostWaiter = nil }
            return s.lostWaiter
        }
        waiter?.resume()
    }

    private static func handlePush(_ value: RESPValue, _ continuation: AsyncStream<MessengerEvent>.Continuation) {
        guard case .array(let items?) = value, items.count == 3, let kind = items[0].text else { return }
        if kind == "message" || kind == "smessage", let channel = items[1].text, let payload = items[2].bytes {
            continuation.yield(.message(MessengerMessage(channel: channel, payload: payload)))
        }
    }
}
