import Query
import RealtimeProtocol
import Store
import SwitchboardCore
import Synchronization

/// Writes frames to one socket; implemented by the server's WebSocket glue.
public protocol RealtimeTransport: Sendable {
    func send(_ frame: [UInt8]) async throws
    func close(_ code: CloseCode, reason: String) async
}

/// What a client asked to subscribe to.
struct SubscriptionRequest: Sendable, Hashable {
    var collection: String
    var query: ItemQuery
    var event: ChangeEvent.Action?
    var item: JSONValue?
    /// [extension] rows leaving the filter produce `delete` with `reason: "left"`.
    var live: Bool = false
}

/// One socket: its identity, its subscriptions and its outbound queue.
/// State changes happen under one small lock; IO happens outside it.
public final class RealtimeConnection: Sendable {
    public let id: UInt64
    let queue: OutboundQueue
    let transport: any RealtimeTransport

    struct Subscription: Sendable {
        var uid: String?
        var request: SubscriptionRequest
        var classKey: QueryClassKey
    }

    struct State {
        var context: ItemsContext
        /// Access token expiry (epoch seconds); nil for public and static tokens.
        var expiresAt: Int64?
        /// Set while the connection must (re-)authenticate before this instant (epoch ms).
        var authDeadline: Int64?
        var authenticated: Bool
        var lastInbound: Int64
        var subscriptions: [String: Subscription] = [:]
        var nextAnonymousSubscription = 0
        var rateWindowStart: Int64 = 0
        var rateCount = 0
        var closed = false
    }

    let state: Mutex<State>

    init(
        id: UInt64, transport: any RealtimeTransport, context: ItemsContext, authenticated: Bool, expiresAt: Int64?,
        maxQueuedFrames: Int, now: Int64
    ) {
        self.id = id
        self.transport = transport
        self.queue = OutboundQueue(limit: maxQueuedFrames)
        self.state = Mutex(State(context: context, expiresAt: expiresAt, authenticated: authenticated, lastInbound: now))
    }

    var context: ItemsContext { state.withLock { $0.context } }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Sends a frame in order with everything else queued for this socket.
    /// A queue over its limit closes the socket: the client is too slow.
    func send(_ frame: [UInt8], bypassHold: Bool = false) {
        if !queue.enqueue(frame, bypassHold: bypassHold) {
            close(.tryAgainLater, "Client is too slow: outbound buffer full.")
        }
    }

    func close(_ code: CloseCode, _ reason: String) {
        let first = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        if first { queue.close(code, reason) }
    }

    /// Drains the queue into the transport until the socket closes.
    func runWriter() async {
        for await item in queue.stream {
            switch item {
            case .frame(let bytes):
                do { try await transport.send(bytes) } catch {
                    queue.finish()
                    state.withLock { $0.closed = true }
                    return
                }
                queue.didWrite()
            case .close(let code, let reason):
                await transport.close(code, reason: reason)
                return
            }
        }
    }
}
