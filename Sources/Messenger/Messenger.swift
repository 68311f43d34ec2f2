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
    /// The subscription connection was (re-)established and every channel resubscribed:
    /// anything published meanwhile was missed and must be recovered (outbox backfill).
    case resubscribed
}

/// Connection state, as `/server/health` reports it.
public enum MessengerState: String, Sendable {
    case connected, connecting, disconnected
}

/// Carries change events between replicas: publish to a channel, receive the
/// channels this replica subscribed to. `LocalMessenger` (single node) and
/// `RedisMessenger` (cluster) implement it and pass the same contract tests.
public protocol Messenger: Sendable {
    /// Publishes a payload; throws when it could not be handed to the broker.
    func publish(_ payload: [UInt8], to channel: String) async throws
    /// Starts receiving a channel (idempotent). Kept across reconnects.
    func subscribe(_ channel: String) async
    /// Stops receiving a channel (idempotent).
    func unsubscribe(_ channel: String) async
    /// Channels currently subscribed (desired state).
    var channels: Set<String> { get }
    /// Received messages and reconnect signals, in order.
    var events: AsyncStream<MessengerEvent> { get }
    var state: MessengerState { get }
    /// Maintains connections until `shutdown()`.
    func run() async
    func shutdown() async
}
