import SwitchboardCore

/// What one replica says about itself every `SWITCHBOARD_FLEET_INTERVAL`, over the messenger
/// (`<namespace>:fleet`): a few hundred bytes, never written to the database.
public struct ReplicaSnapshot: Sendable, Equatable {
    /// The replica (`host:pid`, as in its log lines).
    public var replica: String
    /// When the replica started (epoch ms).
    public var startedAt: Int64
    /// When the snapshot was taken, by the replica's clock (epoch ms).
    public var takenAt: Int64
    /// Open realtime sockets by where they are in authenticating (`SocketAuthState` names).
    public var connections: [String: Int]
    /// Local subscriptions per collection (the admin view's own included).
    public var subscriptions: [String: Int]
    /// Change events fan-out took since start (local and other replicas' writes).
    public var eventsReceived: UInt64
    /// Event frames written to sockets since start.
    public var eventsDelivered: UInt64

    public init(
        replica: String, startedAt: Int64, takenAt: Int64, connections: [String: Int], subscriptions: [String: Int],
        eventsReceived: UInt64, eventsDelivered: UInt64
    ) {
        self.replica = replica
        self.startedAt = startedAt
        self.takenAt = takenAt
        self.connections = connections
        self.subscriptions = subscriptions
        self.eventsReceived = eventsReceived
        self.eventsDelivered = eventsDelivered
    }

    /// The wire form (a JSON object with a `v` for later changes of shape).
    public var json: JSONValue {
        [
            "v": 1, "replica": .string(replica), "started_at": .int(startedAt), "taken_at": .int(takenAt),
            "connections": Self.counts(connections), "subscriptions": Self.counts(subscriptions),
            "events_received": .int(Int64(clamping: eventsReceived)),
            "events_delivered": .int(Int64(clamping: eventsDelivered)),
        ]
    }

    /// Reads the wire form; nil for anything else (a newer shape, a stray publish).
    public init?(json: JSONValue) {
        guard json["v"]?.intValue == 1, let replica = json["replica"]?.stringValue, !replica.isEmpty,
            let startedAt = json["started_at"]?.intValue, let takenAt = json["taken_at"]?.intValue,
            let connections = Self.counts(json["connections"]), let subscriptions = Self.counts(json["subscriptions"]),
            let received = json["events_received"]?.intValue, received >= 0,
            let delivered = json["events_delivered"]?.intValue, delivered >= 0
        else { return nil }
        self.init(
            replica: replica, startedAt: startedAt, takenAt: takenAt, connections: connections,
            subscriptions: subscriptions, eventsReceived: UInt64(received), eventsDelivered: UInt64(delivered))
    }

    /// Counts in key order, so equal snapshots are equal bytes.
    static func counts(_ counts: [String: Int]) -> JSONValue {
        .object(JSONObject(counts.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }))
    }

    static func counts(_ value: JSONValue?) -> [String: Int]? {
        guard let object = value?.objectValue else { return nil }
        var out: [String: Int] = [:]
        for (key, value) in object {
            guard let n = value.intValue, n >= 0 else { return nil }
            out[key] = Int(n)
        }
        return out
    }
}
