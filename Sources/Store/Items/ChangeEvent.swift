import SwitchboardCore

/// One committed change to one collection, as the realtime engine and other
/// replicas see it. Create/update events carry post-images; delete events carry
/// the pre-images so subscribers can be filtered on what they could read.
public struct ChangeEvent: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable {
        case create, update, delete
    }

    public var collection: String
    /// Per-collection sequence number, assigned inside the writing transaction.
    public var seq: Int64
    public var action: Action
    public var keys: [JSONValue]
    /// Full rows (every column, raw API values) after the write, or before a delete.
    public var rows: [JSONObject]
    /// For updates: the rows before the write (lets `live` subscribers learn that a row left their filter).
    public var previous: [JSONObject]
    /// The replica that made the write.
    public var origin: String
    public var userID: String?
    public var timestamp: ISOTimestamp

    public init(
        collection: String, seq: Int64, action: Action, keys: [JSONValue], rows: [JSONObject], previous: [JSONObject] = [],
        origin: String, userID: String?, timestamp: ISOTimestamp
    ) {
        self.previous = previous
        self.collection = collection
        self.seq = seq
        self.action = action
        self.keys = keys
        self.rows = rows
        self.origin = origin
        self.userID = userID
        self.timestamp = timestamp
    }

    /// The outbox/wire form.
    public var json: JSONObject {
        var o: JSONObject = [
            "collection": .string(collection), "seq": .int(seq), "action": .string(action.rawValue),
            "keys": .array(keys), "rows": .array(rows.map(JSONValue.object)), "origin": .string(origin),
            "user": userID.map(JSONValue.string) ?? .null, "timestamp": .string(timestamp.iso8601),
        ]
        if !previous.isEmpty { o["previous"] = .array(previous.map(JSONValue.object)) }
        return o
    }

    /// `json` as text around its seq: `prefix + String(seq) + suffix` is `json`'s rendering,
    /// whatever `seq` holds (lets one SQL statement allocate the seq and store the event).
    public var jsonAroundSeq: (prefix: String, suffix: String) {
        var rest = json
        _ = rest.removeValue(forKey: "collection")
        _ = rest.removeValue(forKey: "seq")
        let prefix = #"{"collection":"# + JSONValue.string(collection).jsonString + #","seq":"#
        return (prefix, "," + rest.jsonString.dropFirst())
    }

    public init?(json: JSONObject) {
        guard case .string(let collection) = json["collection"], let seq = json["seq"]?.intValue,
            let action = json["action"]?.stringValue.flatMap(Action.init(rawValue:)),
            case .array(let keys) = json["keys"], case .array(let rows) = json["rows"],
            case .string(let origin) = json["origin"]
        else { return nil }
        self.collection = collection
        self.seq = seq
        self.action = action
        self.keys = keys
        self.rows = rows.compactMap(\.objectValue)
        self.previous = json["previous"]?.arrayValue?.compactMap(\.objectValue) ?? []
        self.origin = origin
        self.userID = json["user"]?.stringValue
        self.timestamp = json["timestamp"]?.stringValue.flatMap(ISOTimestamp.init(parsing:)) ?? .now()
    }
}

/// Receives events after their transaction committed.
public protocol ChangeEventSink: Sendable {
    func publish(_ events: [ChangeEvent]) async
}
