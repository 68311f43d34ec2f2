import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The cluster messenger: Redis pub/sub over two connections, one that
/// publishes (pipelined requests) and one in subscribe mode. The subscriber
/// reconnects with jittered exponential backoff and resubscribes every
/// channel; each (re)connect is reported as `.resubscribed` so the consumer
/// can recover what it missed from the outbox.
public final class RedisMessenger: Messenger {
    private let endpoint: RedisEndpoint
    private let logger: Logger
    private let group: any EventLoopGroup

    private struct State {
        var desired: Set<String> = []
        var subscriber: RedisConnection?
        var publisher: RedisConnection?
        var connecting: Task<RedisConnection, any Error>?
        var state: MessengerState = .connecting
        var stopped = false
        var lostWaiter: CheckedContinuation<Void, Never>?
    }

    private let shared = Mutex(State())
    public let events: AsyncStream<MessengerEvent>
    private let continuation: AsyncStream<MessengerEvent>.Continuation

    public init(
        endpoint: RedisEndpoint, logger: Logger = Logger(label: "switchboard.messenger"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.endpoint = endpoint
        self.logger = logger
        self.group = group
        (events, continuation) = AsyncStream.makeStream(of: MessengerEvent.self, bufferingPolicy: .unbounded)
    }

    public var state: MessengerState { shared.withLock { $0.state } }

    public var channels: Set<String> { shared.withLock { $0.desired } }

    // MARK: Publishing

    public func publish(_ payload: [UInt8], to channel: String) async throws {
        let connection = try await publisher()
        do {
            let reply = try await connection.request([Array("PUBLISH".utf8), Array(channel.utf8), payload])
            if case .error(let message) = reply { throw RedisConnection.RedisError(description: "PUBLISH failed: \(message)") }
        } catch {
            shared.withLock { s in if s.publisher === connection { s.publisher = nil } }
            connection.close()
            throw error
        }
    }

    /// The publishing connection, opened on first use and after a failure.
    private func publisher() async throws -> RedisConnection {
        let (existing, task) = shared.withLock { s -> (RedisConnection?, Task<RedisConnection, any Error>?) in
            if let p = s.publisher, p.channel.isActive { return (p, nil) }
            if let t = s.connecting { return (nil, t) }
            let endpoint = self.endpoint
            let group = self.group
            let t = Task {
                try await RedisConnection.connect(to: endpoint, on: group, onPush: { _ in }, onClose: {})
            }
            s.connecting = t
            return (nil, t)
        }
        if let existing { return existing }
        guard let task else { throw RedisConnection.RedisError(description: "no publisher") }
        do {
            let connection = try await task.value
            shared.withLock { s in
                s.publisher = connection
                s.connecting = nil
            }
            return connection
        } catch {
            shared.withLock { $0.connecting = nil }
            throw error
        }
    }

    // MARK: Subscribing

    public func subscribe(_ channel: String) async {
        let connection = shared.withLock { s -> RedisConnection? in
            s.desired.insert(channel).inserted ? s.subscriber : nil
        }
        connection?.send(["SUBSCRIBE", channel])
    }

    public func unsubscribe(_ channel: String) async {
        let connection = shared.withLock { s -> RedisConnection? in
            s.desired.remove(channel) != nil ? s.subscriber : nil
        }
        connection?.send(["UNSUBSCRIBE", channel])
    }

    public func run() async {
        var attempt = 0
        var wasConnected = false
        while !shared.withLock({ $0.stopped }) {
            do {
                let connection = try await RedisConnection.connect(
                    to: endpoint, on: group,
                    onPush: { [continuation] value in Self.handlePush(value, continuation) },
                    onClose: { [weak self] in self?.subscriberLost() })
                let channels = shared.withLock { s -> [String] in
                    s.subscriber = connection
                    s.state = .connected
                    return Array(s.desired)
                }
                // Every desired channel, in one command (and subscriptions made meanwhile arrive too).
                if !channels.isEmpty { connection.send(["SUBSCRIBE"] + channels) }
                logger.notice(
                    wasConnected ? "reconnected to Redis" : "connected to Redis", metadata: ["redis": "\(endpoint.description)"])
                wasConnected = true
                attempt = 0
                continuation.yield(.resubscribed)
                await waitUntilLost(connection)
                if shared.withLock({ $0.stopped }) { break }
                logger.warning("lost the connection to Redis; reconnecting", metadata: ["redis": "\(endpoint.description)"])
            } catch {
                if attempt == 0 {
                    logger.warning(
                        "cannot reach Redis; retrying", metadata: ["redis": "\(endpoint.description)", "error": "\(error)"])
                }
            }
            shared.withLock { s in
                s.subscriber = nil
                if !s.stopped { s.state = .connecting }
            }
            attempt += 1
            // 100 ms doubling up to 5 s, with ±50 % jitter so replicas don't reconnect in lockstep.
            let base = min(5000.0, 100.0 * pow2(attempt - 1))
            let delay = base * Double.random(in: 0.5...1.5)
            try? await Task.sleep(for: .milliseconds(Int(delay)))
        }
    }

    private func pow2(_ n: Int) -> Double { Double(1 << min(max(n, 0), 16)) }

    private func waitUntilLost(_ connection: RedisConnection) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = shared.withLock { s -> Bool in
                if s.stopped || s.subscriber !== connection || !connection.channel.isActive { return true }
                s.lostWaiter = c
                return false
            }
            if resumeNow { c.resume() }
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

    public func shutdown() async {
        let (sub, pub, waiter) = shared.withLock { s -> (RedisConnection?, RedisConnection?, CheckedContinuation<Void, Never>?) in
            s.stopped = true
            s.state = .disconnected
            defer { s.lostWaiter = nil }
            return (s.subscriber, s.publisher, s.lostWaiter)
        }
        sub?.close()
        pub?.close()
        waiter?.resume()
        continuation.finish()
    }
}
