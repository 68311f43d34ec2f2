import Query
import Store
import SwitchboardCore

/// The frames the decode and serialization benchmarks use, and decoders that
/// do what `RealtimeSession.receive` does with an inbound frame before it
/// touches the hub or the store: `JSONReader` into a `JSONObject`, the `type`
/// and `uid`, then the message's own fields (for `subscribe`, the `ItemQuery`
/// with its filter, exactly as `RealtimeSession.subscribe` parses it).
enum Frames {
    static let subscribe = Array(
        #"{"type":"subscribe","collection":"messages","query":{"fields":["*"],"filter":{"room":{"_eq":3}}},"uid":"1"}"#.utf8)

    static let itemsCreate = Array(
        #"{"type":"items","collection":"messages","action":"create","data":{"room":3,"text":"Hello from the benchmark, how is everyone today?","author":"9f3c1b2e-5d4a-4c1e-9b7a-2f6e8d0c4a11","hidden":false},"query":{"fields":["id","room","text"]},"uid":"2"}"#
            .utf8)

    /// One committed create as another replica sends it over the messenger.
    static let changeEventWire: [UInt8] = JSONValue.object(FanOutFixture.event(seq: 42, room: 3).json).jsonBytes

    /// The data of a `create` frame for a `fields: ["*"]` admin subscriber.
    static let shapedData: JSONValue = .array([.object(FanOutFixture.row(id: 42, room: 3))])

    struct BadFrame: Error {}

    struct Subscribe {
        var uid: JSONValue?
        var collection: String
        var event: ChangeEvent.Action?
        var query: ItemQuery
        var item: JSONValue?
        var after: Int64?
        var live: Bool
    }

    struct Items {
        var uid: JSONValue?
        var collection: String
        var action: String
        var data: JSONValue?
        var query: ItemQuery
    }

    /// `type` and `uid` as `RealtimeSession.receive` reads them.
    static func envelope(_ bytes: [UInt8]) throws -> (JSONObject, String, JSONValue?) {
        guard case .object(let message) = try JSONReader.parse(bytes), case .string(let type)? = message["type"] else {
            throw BadFrame()
        }
        let uid = message["uid"].flatMap { v -> JSONValue? in
            switch v {
            case .string, .int, .double: return v
            default: return nil
            }
        }
        return (message, type, uid)
    }

    static func decodeSubscribe(_ bytes: [UInt8]) throws -> Subscribe {
        let (message, type, uid) = try envelope(bytes)
        guard type == "subscribe", case .string(let collection)? = message["collection"], !collection.isEmpty else {
            throw BadFrame()
        }
        var event: ChangeEvent.Action?
        if let e = message["event"], !e.isNull {
            guard let action = e.stringValue.flatMap(ChangeEvent.Action.init(rawValue:)) else { throw BadFrame() }
            event = action
        }
        var query = ItemQuery()
        if let q = message["query"], !q.isNull {
            guard case .object(let object) = q else { throw BadFrame() }
            query = try ItemQuery.parse(json: object)
        }
        let item = message["item"].flatMap { $0.isNull ? nil : $0 }
        let after = message["after"].flatMap { $0.isNull ? nil : $0.intValue }
        let live = message["live"]?.boolValue ?? false
        return Subscribe(uid: uid, collection: collection, event: event, query: query, item: item, after: after, live: live)
    }

    static func decodeItems(_ bytes: [UInt8]) throws -> Items {
        let (message, type, uid) = try envelope(bytes)
        guard type == "items", case .string(let collection)? = message["collection"], !collection.isEmpty,
            case .string(let action)? = message["action"], ["create", "read", "update", "delete"].contains(action)
        else { throw BadFrame() }
        var query = ItemQuery()
        if case .object(let q)? = message["query"] { query = try ItemQuery.parse(json: q) }
        return Items(uid: uid, collection: collection, action: action, data: message["data"], query: query)
    }

    /// What `EventRelay` does with a payload from the messenger.
    static func decodeChangeEvent(_ bytes: [UInt8]) throws -> ChangeEvent {
        guard case .object(let o) = try JSONReader.parse(bytes), let event = ChangeEvent(json: o) else { throw BadFrame() }
        return event
    }
}
