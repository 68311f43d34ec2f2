import RESP

/// A cluster node as clients reach it.
public struct ClusterNode: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` (the host may be an IPv6 address: the port follows the last colon).
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public static func < (a: ClusterNode, b: ClusterNode) -> Bool { (a.host, a.port) < (b.host, b.port) }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Which master serves each of the 16384 slots, from `CLUSTER SHARDS` (Redis 7) or
/// `CLUSTER SLOTS` (older servers). Slots no healthy master serves map to nil.
public struct SlotMap: Sendable, Equatable {
    private var owners: [ClusterNode?]

    public init() { owners = Array(repeating: nil, count: HashSlot.count) }

    public init(ranges: [(ClosedRange<Int>, ClusterNode)]) {
        self.init()
        for (range, node) in ranges { assign(range, to: node) }
    }

    public func master(for slot: HashSlot) -> ClusterNode? { owners[slot.value] }

    public func master(forChannel channel: String) -> ClusterNode? { master(for: HashSlot(key: channel)) }

    /// Every master serving at least one slot.
    public var masters: Set<ClusterNode> { Set(owners.compactMap { $0 }) }

    /// Whether every slot has a master (the cluster can serve any channel).
    public var isComplete: Bool { !owners.contains(nil) }

    public mutating func assign(_ slot: HashSlot, to node: ClusterNode) { owners[slot.value] = node }

    mutating func assign(_ range: ClosedRange<Int>, to node: ClusterNode) {
        let clamped = range.clamped(to: 0...(HashSlot.count - 1))
        for s in clamped { owners[s] = node }
    }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Parses a `CLUSTER SHARDS` reply. `queried` stands in for nodes that report no usable
    /// address (`?`, an empty endpoint); `tls` picks `tls-port` over `port` where both exist.
    public static func parseShards(_ reply: RESPValue, queried: ClusterNode, tls: Bool = false) throws(ParseError)
        -> SlotMap
    {
        guard case .array(let shards?) = reply else { throw ParseError(description: "CLUSTER SHARDS: not an array") }
        var map = SlotMap()
        for shard in shards {
            guard let fields = pairs(shard), case .array(let slotBounds?)? = fields["slots"],
                case .array(let nodes?)? = fields["nodes"]
            else { throw ParseError(description: "CLUSTER SHARDS: a shard without slots or nodes") }
            let bounds = slotBounds.compactMap(integer)
            guard bounds.count == slotBounds.count, bounds.count % 2 == 0 else {
                throw ParseError(description: "CLUSTER SHARDS: odd or non-numeric slot bounds")
            }
            let master = nodes.lazy.compactMap(pairs).first { node in
                node["role"]?.text == "master" && (node["health"]?.text ?? "online") == "online"
            }
            guard let master else { continue }  // a shard mid-failover: its slots stay unserved until the next refresh
            guard let node = address(master, queried: queried, tls: tls) else {
                throw ParseError(description: "CLUSTER SHARDS: a master without an address")
            }
            for i in stride(from: 0, to: bounds.count, by: 2) where bounds[i] <= bounds[i + 1] {
                map.assign(bounds[i]...bounds[i + 1], to: node)
            }
        }
        return map
    }

    /// Parses a `CLUSTER SLOTS` reply: `[start, end, [host, port, id…], replicas…]` per range.
    public static func parseSlots(_ reply: RESPValue, queried: ClusterNode) throws(ParseError) -> SlotMap {
        guard case .array(let ranges?) = reply else { throw ParseError(description: "CLUSTER SLOTS: not an array") }
        var map = SlotMap()
        for range in ranges {
            guard case .array(let items?) = range, items.count >= 3, let start = integer(items[0]),
                let end = integer(items[1]), case .array(let master?) = items[2], master.count >= 2,
                let port = integer(master[1]), (1...65535).contains(port)
            else { throw ParseError(description: "CLUSTER SLOTS: a malformed slot range") }
            let host = master[0].text.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 } ?? queried.host
            if start <= end { map.assign(start...end, to: ClusterNode(host: host, port: port)) }
        }
        return map
    }

    private static func address(_ node: [String: RESPValue], queried: ClusterNode, tls: Bool) -> ClusterNode? {
        let portField = tls ? (node["tls-port"] ?? node["port"]) : (node["port"] ?? node["tls-port"])
        guard let port = portField.flatMap(integer), (1...65535).contains(port) else { return nil }
        let host = [node["endpoint"], node["ip"]].lazy.compactMap { $0?.text }.first { !$0.isEmpty && $0 != "?" }
        return ClusterNode(host: host ?? queried.host, port: port)
    }

    /// A RESP2 flat map `[key, value, key, value…]` as a dictionary.
    private static func pairs(_ value: RESPValue) -> [String: RESPValue]? {
        guard case .array(let items?) = value, items.count % 2 == 0 else { return nil }
        var out: [String: RESPValue] = [:]
        for i in stride(from: 0, to: items.count, by: 2) {
            guard let key = items[i].text else { return nil }
            out[key] = items[i + 1]
        }
        return out
    }

    private static func integer(_ value: RESPValue) -> Int? {
        switch value {
        case .integer(let n): return Int(n)
        case .bulk, .simple: return value.text.flatMap { Int($0) }
        default: return nil
        }
    }
}

/// A `-MOVED slot host:port` or `-ASK slot host:port` error: the slot lives elsewhere,
/// for good (MOVED: refresh the map) or for one command (ASK: send `ASKING` first).
public struct ClusterRedirect: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case moved, ask }

    public let kind: Kind
    public let slot: HashSlot
    public let node: ClusterNode

    public init(kind: Kind, slot: HashSlot, node: ClusterNode) {
        self.kind = kind
        self.slot = slot
        self.node = node
    }

    /// The redirect an error message carries, nil for any other error. An empty host
    /// (a node announcing no address) means the node that answered: `answeredBy`.
    public init?(error message: String, answeredBy: ClusterNode) {
        let parts = message.split(separator: " ")
        guard parts.count == 3, let number = Int(parts[1]), let slot = HashSlot(number) else { return nil }
        switch parts[0] {
        case "MOVED": kind = .moved
        case "ASK": kind = .ask
        default: return nil
        }
        let target = parts[2].hasPrefix(":") ? "\(answeredBy.host)\(parts[2])" : String(parts[2])
        guard let node = ClusterNode(target) else { return nil }
        self.slot = slot
        self.node = node
    }
}

/// What a subscriber connection in sharded pub/sub mode receives.
public enum ShardPush: Sendable, Hashable {
    /// `smessage channel payload`.
    case message(channel: String, payload: [UInt8])
    /// `ssubscribe channel count`: the node confirmed the subscription.
    case subscribed(String)
    /// `sunsubscribe channel count`: ours confirmed, or the server's own when the slot left
    /// this node (a migration or a failover); the subscriber state decides which.
    case unsubscribed(String)
    /// `-MOVED` / `-ASK` answering an `SSUBSCRIBE` sent to a node that does not own the slot.
    case redirect(ClusterRedirect)
    /// Any other error reply (ACL refusal, `CLUSTERDOWN`…).
    case error(String)

    /// The push `value` is, or nil for what sharded pub/sub does not care about (pongs…).
    public init?(_ value: RESPValue, from node: ClusterNode) {
        if case .error(let message) = value {
            self = ClusterRedirect(error: message, answeredBy: node).map(ShardPush.redirect) ?? .error(message)
            return
        }
        guard case .array(let items?) = value, items.count == 3, let kind = items[0].text?.lowercased(),
            let channel = items[1].text
        else { return nil }
        switch kind {
        case "smessage", "message":
            guard let payload = items[2].bytes else { return nil }
            self = .message(channel: channel, payload: payload)
        case "ssubscribe": self = .subscribed(channel)
        case "sunsubscribe": self = .unsubscribed(channel)
        default: return nil
        }
    }
}
