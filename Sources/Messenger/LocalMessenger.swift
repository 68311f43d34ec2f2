import Synchronization

/// The single-node messenger: channels live in this process.
public final class LocalMessenger: Messenger {
    private let subscribed = Mutex<Set<String>>([])
    public let events: AsyncStream<MessengerEvent>
    private let continuation: AsyncStream<MessengerEvent>.Continuation

    public init() {
        (events, continuation) = AsyncStream.makeStream(of: MessengerEvent.self, bufferingPolicy: .unbounded)
    }

    public func publish(_ payload: [UInt8], to channel: String) async throws {
        if subscribed.withLock({ $0.contains(channel) }) {
            continuation.yield(.message(MessengerMessage(channel: channel, payload: payload)))
        }
    }

    public func subscribe(_ channel: String) async { subscribed.withLock { _ = $0.insert(channel) } }

    public func unsubscribe(_ channel: String) async { subscribed.withLock { _ = $0.remove(channel) } }

    public var channels: Set<String> { subscribed.withLock { $0 } }

    public var state: MessengerState { .connected }

    public func run() async {}

    public func shutdown() async { continuation.finish() }
}
