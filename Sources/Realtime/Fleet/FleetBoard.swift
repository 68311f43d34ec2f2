import NIOCore
import RealtimeProtocol
import Store
import SwitchboardCore
import Synchronization

/// The admin view's data on one replica: its `FleetView` of every replica, fed by this
/// replica's own snapshots and the others' (through the relay), and the local sockets
/// subscribed to the `switchboard_replicas` virtual collection, which get the view's changes.
public final class FleetBoard: Sendable {
    /// The virtual collection an admin subscribes to (read-only, not in the schema, no REST).
    public static let collection = SystemCollections.replicas

    /// One change, rendered once for every subscriber.
    struct Event: Sendable {
        let action: String
        let replica: String
        /// `data` for a collection subscription: `[row]`, or `[id]` for a delete.
        let list: RenderedEvent
        /// `data` for an `item` subscription: the row, or the bare id.
        let single: RenderedEvent
    }

    private struct Watcher: Sendable {
        let socket: NIOLoopBound<RealtimeSocket>
        let eventLoop: any EventLoop
        var subscriptions: Int
    }

    public let replica: String
    public let startedAt: Int64
    public let interval: Duration
    private let view: Mutex<FleetView>
    private let watchers = Mutex<[UInt64: Watcher]>([:])

    public init(replica: String, intervalMs: Int64, startedAt: Int64 = ISOTimestamp.now().epochMilliseconds) {
        self.replica = replica
        self.startedAt = startedAt
        interval = .milliseconds(intervalMs)
        view = Mutex(FleetView(intervalMs: intervalMs))
    }

    /// A snapshot from the messenger (any replica's, this one's echo included); unreadable ones are dropped.
    public func received(_ payload: [UInt8]) -> Bool {
        guard let json = try? JSONReader.parse(payload), let snapshot = ReplicaSnapshot(json: json) else { return false }
        receive(snapshot)
        return true
    }

    func receive(_ snapshot: ReplicaSnapshot) {
        let now = Self.monotonicMs()
        view.withLock { $0.receive(snapshot, now: now) }
    }

    /// The view's changes since the last tick go to every subscribed socket, one hop per socket.
    func tick() {
        let now = Self.monotonicMs()
        let changes = view.withLock { $0.tick(now: now) }
        guard !changes.isEmpty else { return }
        let events = changes.map(Self.event)
        for watcher in watchers.withLock({ Array($0.values) }) {
            let socket = watcher.socket
            watcher.eventLoop.execute { socket.value.fleetChanged(events) }
        }
    }

    /// The `init` data: every replica subscribers know of.
    var rows: [FleetView.Row] { view.withLock { $0.rows } }

    /// Subscriptions to the virtual collection on this replica.
    var subscriptionCount: Int { watchers.withLock { $0.values.reduce(0) { $0 + $1.subscriptions } } }

    func watch(_ socket: RealtimeSocket, id: UInt64, subscriptions: Int, on eventLoop: any EventLoop) {
        watchers.withLock { w in
            if subscriptions > 0 {
                w[id] = Watcher(
                    socket: NIOLoopBound(socket, eventLoop: eventLoop), eventLoop: eventLoop, subscriptions: subscriptions)
            } else {
                w[id] = nil
            }
        }
    }

    static func event(_ change: FleetView.Change) -> Event {
        switch change {
        case .create(let row): upsert("create", row)
        case .update(let row): upsert("update", row)
        case .delete(let replica):
            Event(
                action: "delete", replica: replica,
                list: RenderedEvent(event: "delete", data: [.string(replica)], meta: nil, seq: nil),
                single: RenderedEvent(event: "delete", data: .string(replica), meta: nil, seq: nil))
        }
    }

    private static func upsert(_ action: String, _ row: FleetView.Row) -> Event {
        let json = row.json
        return Event(
            action: action, replica: row.snapshot.replica,
            list: RenderedEvent(event: action, data: [json], meta: nil, seq: nil),
            single: RenderedEvent(event: action, data: json, meta: nil, seq: nil))
    }

    static func monotonicMs() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }
}
