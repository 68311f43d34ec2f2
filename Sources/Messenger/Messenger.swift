import SwitchboardCore

/// A message received on a subscribed channel.
public struct MessengerMessage: Sendable, Hashable {
    public let channel: String
    public let payload: [UInt8]

    public init(channel: String, payload: [UInt8]) {
        self.channel = channel
        self.payload = payload
    }
}

/// What a messenger reports to its consumer.
public enum MessengerEvent: Sendable, Hashable {
    case message(MessengerMessage)
    /// The subscription connection was (re-)established and every channel's
    /// subscription confirmed: anything published meanwhile was missed and must
    /// be recovered (outbox backfill).
    case resubscribed
}

/// Connection state, as `/server/health` reports it.
public enum MessengerState: String, Sendable {
    case connected, connecting, disconnected
}

/// Counters for `/metrics` and logs.
public struct MessengerStats: Sendable, Equatable {
    /// Payloads the broker accepted.
    public var published: UInt64 = 0
    /// Payloads dropped because the publish queue was full.
    public var dropped: UInt64 = 0
    /// Payloads that failed or timed out (the broker was unreachable or hung).
    public var failed: UInt64 = 0
    /// Subscription connections (re-)established after the first.
    public var reconnects: UInt64 = 0
    /// Payloads waiting to be published.
    public var queued: Int = 0

    public init() {}
}

/// Carries change events between replicas: publish to a channel, receive the
/// channels this replica subscribed to. `LocalMessenger` (single node),
/// `RedisMessenger` (one Redis) and `RedisClusterMessenger` (Redis Cluster, sharded
/// pub/sub) implement it and pass the same contract tests.
///
/// Publishing never waits on the broker: a payload goes into a bounded queue
/// and leaves within the command timeout or is dropped. Nothing is lost by a
/// drop — other replicas find the event in the outbox (DESIGN.md).
public protocol Messenger: Sendable {
    /// Queues a payload for `channel` and returns at once.
    func publish(_ payload: [UInt8], to channel: String)
    /// Starts receiving a channel (idempotent; kept across reconnects). Returns
    /// when the broker confirmed it, or after the command timeout (it then
    /// takes effect with the next connection).
    func subscribe(_ channel: String) async
    /// Stops receiving a channel (idempotent).
    func unsubscribe(_ channel: String) async
    /// Channels currently subscribed (desired state).
    var channels: Set<String> { get }
    /// Received messages and reconnect signals, in order.
    var events: AsyncStream<MessengerEvent> { get }
    var state: MessengerState { get }
    /// Whether the subscriptions were confirmed at least once since start (stays true across
    /// later outages): until then this replica would miss other replicas' events, so it is not ready.
    var hasSubscribed: Bool { get }
    var stats: MessengerStats { get }
    /// Maintains connections and publishes until `shutdown()`.
    func run() async
    func shutdown() async
}
