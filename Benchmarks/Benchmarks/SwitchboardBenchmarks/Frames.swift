import Query
import Store
import SwitchboardCore

/// The frames and events the benchmarks feed to the real parsers, renderers and the
/// connection state machine.
enum Frames {
    static let auth = Array(#"{"type":"auth","access_token":"a-static-token"}"#.utf8)

    static let subscribe = Array(
        #"{"type":"subscribe","collection":"messages","query":{"fields":["*"],"filter":{"room":{"_eq":3}}},"uid":"1"}"#.utf8)

    static let itemsCreate = Array(
        #"{"type":"items","collection":"messages","action":"create","data":{"room":3,"text":"Hello from the benchmark, how is everyone today?","author":"9f3c1b2e-5d4a-4c1e-9b7a-2f6e8d0c4a11","hidden":false},"query":{"fields":["id","room","text"]},"uid":"2"}"#
            .utf8)

    static func row(id: Int64, room: Int64) -> JSONObject {
        [
            "id": .int(id), "room": .int(room), "text": "Hello from the benchmark, how is everyone today?",
            "author": "9f3c1b2e-5d4a-4c1e-9b7a-2f6e8d0c4a11", "hidden": false,
        ]
    }

    static func event(seq: Int64, room: Int64) -> ChangeEvent {
        ChangeEvent(
            collection: "messages", seq: seq, action: .create, keys: [.int(seq)], rows: [row(id: seq, room: room)],
            origin: "bench", userID: nil, timestamp: ISOTimestamp.now())
    }

    /// One committed create as another replica sends it over the messenger.
    static let changeEventWire: [UInt8] = JSONValue.object(event(seq: 42, room: 3).json).jsonBytes

    /// The data of a `create` frame for a `fields: ["*"]` admin subscriber.
    static let shapedData: JSONValue = .array([.object(row(id: 42, room: 3))])

    struct BadFrame: Error {}

    /// What the relay does with a message from Redis: parse, then read the event.
    static func decodeChangeEvent(_ bytes: [UInt8]) throws -> ChangeEvent {
        guard case .object(let o) = try JSONReader.parse(bytes), let event = ChangeEvent(json: o) else { throw BadFrame() }
        return event
    }
}
