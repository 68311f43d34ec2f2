import Access
import NIOCore
import RealtimeProtocol
import Store
import SwitchboardCore

/// What a shard needs of a socket, whichever protocol it speaks (the Directus
/// protocol's `RealtimeSocket`, GraphQL's `GraphQLSocket`). Called on the
/// socket's event loop only.
protocol ShardSocket: AnyObject {
    var id: UInt64 { get }
    var shard: LoopShard { get }
    var accountability: Accountability { get }
    /// Where the socket is in authenticating (for `/metrics`).
    var authState: SocketAuthState { get }
    /// Matches the generation the socket scheduled its current deadline with.
    var deadlineGeneration: UInt32 { get }
    var allocator: ByteBufferAllocator { get }

    /// Writes (or holds) one event frame; true when it is the first written since the last
    /// flush, so the hop flushes this socket once at its end.
    func enqueueEvent(_ frame: ByteBuffer) -> Bool
    /// The end of a fan-out hop: one flush for everything it wrote.
    func flushEvents()
    /// Its deadline came.
    func tick(now: Int64)
    /// Closes with the protocol's code for `code` (drain: `goingAway`; failed rendering: `internalError`).
    func close(_ code: CloseCode, _ reason: String)
    /// The user is no longer active (identity refresh).
    func revoke()
    /// Fan-out made the socket a member of `classID` for `subscription`: false when it no longer wants it.
    func bind(_ subscription: String, to classID: UInt64, key: QueryClassKey) -> Bool
    /// (subscription, class) of every membership the shard holds.
    func boundClasses() -> [(String, UInt64)]
    /// A new identity: the moves of its subscriptions to the classes of the new permissions.
    func adopt(_ context: ItemsContext) -> [Fanout.Move]
}

extension ShardSocket {
    /// `close` once the front door's HTTP handlers have left the pipeline (they are still there
    /// while the socket's handler is being added).
    func closeSoon(_ code: CloseCode, _ reason: String) {
        let ref = ShardSocketRef(self, eventLoop: shard.eventLoop)
        shard.eventLoop.execute { ref.socket.value.close(code, reason) }
    }
}

/// Where a socket is in authenticating, whichever protocol it speaks.
public enum SocketAuthState: String, Sendable, CaseIterable {
    /// No identity yet: waiting for the first `auth` (handshake) or `connection_init`.
    case pending
    /// A user's token.
    case user
    /// The public policy.
    case `public`
    /// The user's token expired and no new one came yet.
    case expired
}

/// How a member's frames are made from a class's rendered events.
enum MemberFraming: Sendable {
    /// The Directus protocol: the shared frame with the subscription's `uid`.
    case directus(uid: String?)
    /// GraphQL: one `next` per changed key, shaped by the operation's selection.
    case graphQL(GraphQLFraming)
}

/// A GraphQL subscription's framing: its operation id, and the plan that shapes each key's payload.
struct GraphQLFraming: Sendable {
    let id: String
    let plan: GraphQLSubscription
    /// The collection's primary key field (each rendered row's key).
    let primaryKey: String

    /// Members with equal keys get the same frames for an event.
    struct Key: Hashable {
        let id: String
        let shape: GraphQLShapeKey
    }

    var key: Key { Key(id: id, shape: plan.shape) }

    /// The `next` frames of one event: a payload per key (create and update carry the row, delete none).
    func frames(_ rendered: [RenderedEvent], allocator: ByteBufferAllocator) -> [ByteBuffer] {
        var out: [ByteBuffer] = []
        for event in rendered {
            guard let action = ChangeEvent.Action(rawValue: event.event), let data = event.data else { continue }
            // Only the plain events: `live` subscriptions' `left` deletes are not asked for by GraphQL.
            let entries: [JSONValue]
            if case .array(let list) = data { entries = list } else { entries = [data] }
            for entry in entries {
                let row = entry.objectValue
                guard let key = action == .delete ? entry : row?[primaryKey] else { continue }
                let payload = plan.payload(action, key, action == .delete ? nil : row)
                out.append(
                    WebSocketWire.textFrame(GraphQLTransportFrames.next(id: id, payload: payload), allocator: allocator))
            }
        }
        return out
    }
}

/// A socket handed across threads to be used back on its loop.
struct ShardSocketRef: Sendable {
    let socket: NIOLoopBound<any ShardSocket>

    init(_ socket: any ShardSocket, eventLoop: any EventLoop) { self.socket = NIOLoopBound(socket, eventLoop: eventLoop) }
}
