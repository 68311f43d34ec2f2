import Synchronization

/// The single-node messenger: channels live in this process.
public final class LocalMessenger: Messenger {
    private struct State {
        var subscribed: Set<String> = []
        var stats = MessengerStats()
    }

    private let shared = Mutex(State())
    public let events: AsyncStream<MessengerEvent>
    private let continuation: AsyncStream<MessengerEvent>.Continuation

    public init() {
        (events, continuation) = AsyncStream.makeStream(of: MessengerEvent.self, bufferingPolicy: .unbounded)
    }

    public func publish(_ payload: [UInt8], to channel: String) {
        let deliver = shared.withLock { s -> Bool in
            s.stats.published += 1
            return s.subscribed.contains(channel)
        }
        if deliver { continuation.yield(.message(MessengerMessage(channel: channel, payload: payload))) }
    }

    public func subscribe(_ channel: String) async { shared.withLock { _ = $0.subscribed.insert(channel) } }

    public func unsubscribe(_ channel: String) async { shared.withLock { _ = $0.subscribed.remove(channel) } }

    public var channels: Set<String> { shared.withLock { $0.subscribed } }

    public var state: MessengerState { .connected }

    public var hasSubscribed: Bool { true }

    public var stats: MessengerStats { shared.withLock { $0.stats } }

    public func run() async {}

    public func shutdown() async { continuation.finish() }
}
