/// Which shard channels are subscribed where, as a pure state machine: inputs are what
/// the cluster and the consumer did, outputs the commands to send.
///
/// Each desired channel is kept subscribed on the master owning its slot, through one
/// subscriber connection per node (never one per channel). Whenever a subscription may
/// have missed messages (the first connect, a node lost, a slot moved, a `MOVED`),
/// `.resubscribed` is emitted once every desired channel is confirmed again, so the
/// consumer's outbox backfill starts only after nothing more can be missed.
public struct ShardedSubscriptions: Sendable, Equatable {
    public enum Action: Sendable, Hashable {
        /// Open the subscriber connection to this node (report `nodeConnected` / `nodeLost`).
        case connect(ClusterNode)
        /// Close it: no channel of ours lives there any more.
        case disconnect(ClusterNode)
        /// `SSUBSCRIBE` these channels (all of one slot) on the node's connection.
        case subscribe([String], on: ClusterNode)
        /// `SUNSUBSCRIBE` these channels (all of one slot) on the node's connection.
        case unsubscribe([String], on: ClusterNode)
        /// Ask any reachable node for `CLUSTER SHARDS` (report `slotMapLoaded`).
        case refreshSlotMap
        /// Every desired channel is confirmed again after a possible gap: backfill now.
        case resubscribed
    }

    struct NodeState: Sendable, Equatable {
        var connected = false
        /// Channels whose `SSUBSCRIBE` was sent and not yet confirmed.
        var pending: Set<String> = []
        var confirmed: Set<String> = []
        /// Channels whose `SUNSUBSCRIBE` we sent (their confirmation is not the server's own).
        var leaving: Set<String> = []
    }

    public private(set) var slotMap: SlotMap?
    public private(set) var desired: Set<String> = []
    private(set) var nodes: [ClusterNode: NodeState] = [:]
    /// A subscription may have missed messages since the last `.resubscribed`.
    private var gap = true
    /// `.resubscribed` was emitted at least once.
    public private(set) var hasSubscribed = false

    public init() {}

    /// Whether every desired channel is confirmed on its owner and no gap is open.
    public var isSettled: Bool { slotMap != nil && !gap && unconfirmed.isEmpty }

    /// Nodes with a connection wanted (open or opening).
    public var nodesInUse: Set<ClusterNode> { Set(nodes.keys) }

    public func isConnected(_ node: ClusterNode) -> Bool { nodes[node]?.connected == true }

    /// Whether `channel` is confirmed on the node owning it.
    public func isConfirmed(_ channel: String) -> Bool {
        guard let node = owner(of: channel) else { return false }
        return nodes[node]?.confirmed.contains(channel) == true
    }

    /// The node that owns `channel` in the current map.
    public func owner(of channel: String) -> ClusterNode? { slotMap?.master(forChannel: channel) }

    // MARK: Inputs

    public mutating func slotMapLoaded(_ map: SlotMap) -> [Action] {
        slotMap = map
        return reconcile()
    }

    public mutating func subscribeRequested(_ channel: String) -> [Action] {
        guard desired.insert(channel).inserted else { return [] }
        // Not subscribable at once (no map, or its node still connecting): what it misses
        // until confirmed is backfilled, as after a reconnect.
        if let node = owner(of: channel), nodes[node]?.connected != true { gap = true }
        if slotMap == nil { gap = true }
        return reconcile()
    }

    public mutating func unsubscribeRequested(_ channel: String) -> [Action] {
        guard desired.remove(channel) != nil else { return [] }
        return reconcile()
    }

    public mutating func nodeConnected(_ node: ClusterNode) -> [Action] {
        guard nodes[node] != nil else { return [.disconnect(node)] }  // no longer wanted
        nodes[node] = NodeState(connected: true)
        return reconcile()
    }

    /// The connection closed or could not be opened; the map is refreshed since a lost
    /// master is what a failover looks like from here.
    public mutating func nodeLost(_ node: ClusterNode) -> [Action] {
        guard let state = nodes.removeValue(forKey: node) else { return [] }
        if !state.confirmed.isEmpty || !state.pending.isEmpty || desired.contains(where: { owner(of: $0) == node }) {
            gap = true
        }
        return [.refreshSlotMap] + reconcile()
    }

    public mutating func subscribeConfirmed(_ channel: String, on node: ClusterNode) -> [Action] {
        guard var state = nodes[node], state.pending.remove(channel) != nil else { return [] }
        state.confirmed.insert(channel)
        nodes[node] = state
        return reconcile()
    }

    /// A `sunsubscribe` push: the confirmation of ours, or the server dropping the channel
    /// because its slot moved away (then the map is stale).
    public mutating func unsubscribed(_ channel: String, on node: ClusterNode) -> [Action] {
        guard var state = nodes[node] else { return [] }
        if state.leaving.remove(channel) != nil {
            nodes[node] = state
            return reconcile()
        }
        let had = state.confirmed.remove(channel) != nil || state.pending.remove(channel) != nil
        nodes[node] = state
        guard had else { return [] }
        if desired.contains(channel) { gap = true }
        return [.refreshSlotMap] + reconcile()
    }

    /// A `-MOVED` for a slot: it has a new owner for sure, so the map is patched now (the
    /// refresh confirms the rest) and the slot's channels follow it.
    public mutating func movedReceived(_ redirect: ClusterRedirect, on node: ClusterNode) -> [Action] {
        guard redirect.kind == .moved else { return [.refreshSlotMap] }
        if slotMap == nil { slotMap = SlotMap() }
        slotMap?.assign(redirect.slot, to: redirect.node)
        if var state = nodes[node] {
            let stranded = state.pending.filter { HashSlot(key: $0) == redirect.slot }
            state.pending.subtract(stranded)
            nodes[node] = state
            if !stranded.isEmpty { gap = true }
        }
        return [.refreshSlotMap] + reconcile()
    }

    // MARK: Reconciling

    /// Desired channels not yet confirmed on their owner.
    private var unconfirmed: [String] {
        desired.filter { channel in
            guard let node = owner(of: channel) else { return true }
            return nodes[node]?.confirmed.contains(channel) != true
        }
    }

    /// The commands that bring the subscriptions to the desired state under the current map.
    private mutating func reconcile() -> [Action] {
        guard let map = slotMap else { return [.refreshSlotMap] }
        var actions: [Action] = []
        var wanted: [ClusterNode: Set<String>] = [:]
        var ownerless = false
        for channel in desired {
            if let node = map.master(forChannel: channel) {
                wanted[node, default: []].insert(channel)
            } else {
                ownerless = true
            }
        }
        for node in wanted.keys.sorted() where nodes[node] == nil {
            nodes[node] = NodeState()
            actions.append(.connect(node))
        }
        for node in nodes.keys.sorted() {
            guard var state = nodes[node] else { continue }
            let here = wanted[node] ?? []
            guard state.connected else {
                if here.isEmpty {
                    // A node no channel needs any more (a failed master): stop connecting to it.
                    nodes[node] = nil
                    actions.append(.disconnect(node))
                }
                continue
            }
            let extra = state.confirmed.union(state.pending).subtracting(here)
            let missing = here.subtracting(state.confirmed).subtracting(state.pending)
            // A desired channel leaving this node (its slot moved) misses messages until confirmed on the next.
            if !extra.isDisjoint(with: desired) { gap = true }
            if here.isEmpty && state.leaving.isEmpty && state.pending.isEmpty {
                // Nothing of ours lives there: closing drops whatever it still holds.
                nodes[node] = nil
                actions.append(.disconnect(node))
                continue
            }
            for group in Self.bySlot(extra) { actions.append(.unsubscribe(group, on: node)) }
            state.confirmed.subtract(extra)
            state.pending.subtract(extra)
            state.leaving.formUnion(extra)
            for group in Self.bySlot(missing) { actions.append(.subscribe(group, on: node)) }
            state.pending.formUnion(missing)
            nodes[node] = state
        }
        if ownerless { actions.append(.refreshSlotMap) }
        if gap, !ownerless, unconfirmed.isEmpty {
            gap = false
            hasSubscribed = true
            actions.append(.resubscribed)
        }
        return actions
    }

    /// Channels grouped by slot (one `SSUBSCRIBE` may name channels of one slot only), in a stable order.
    static func bySlot(_ channels: Set<String>) -> [[String]] {
        Dictionary(grouping: channels, by: { HashSlot(key: $0) }).sorted { $0.key < $1.key }.map { $0.value.sorted() }
    }
}
