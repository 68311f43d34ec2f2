import Query
import SwitchboardCore

/// A frame a client sent, parsed and checked against PROTOCOL.md. Pure:
/// anything that needs the schema, permissions or the database (does the
/// collection exist, may the caller read it) is the session's to decide.
public enum ClientMessage: Sendable, Equatable {
    /// `nil` credentials: the frame named none usable (an authentication failure, not a payload error).
    case auth(AuthCredentials?, uid: JSONValue?)
    case ping(uid: JSONValue?)
    case pong
    case subscribe(SubscribeRequest, uid: JSONValue?)
    /// Without a uid: every subscription of the connection.
    case unsubscribe(uid: JSONValue?)
    case items(ItemsRequest, uid: JSONValue?)

    /// What an `auth` frame authenticates with.
    public enum AuthCredentials: Sendable, Equatable {
        case accessToken(String)
        case login(email: String, password: String)
        case refreshToken(String)
    }

    /// The frame's `uid`, as echoed back (strings and numbers only).
    public var uid: JSONValue? {
        switch self {
        case .auth(_, let uid), .ping(let uid), .subscribe(_, let uid), .unsubscribe(let uid), .items(_, let uid): return uid
        case .pong: return nil
        }
    }
}

/// A `subscribe` request.
public struct SubscribeRequest: Sendable, Equatable {
    public enum Event: String, Sendable, Equatable { case create, update, delete }

    public var collection: String
    /// Only this kind of change (`event`).
    public var event: Event?
    public var query: ItemQuery
    /// Only this primary key (`item`).
    public var item: JSONValue?
    /// [extension] resume after this seq instead of `init`.
    public var after: Int64?
    /// [extension] rows leaving the filter produce `delete` with `reason: "left"`.
    public var live: Bool

    public init(
        collection: String, event: Event? = nil, query: ItemQuery = ItemQuery(), item: JSONValue? = nil, after: Int64? = nil,
        live: Bool = false
    ) {
        self.collection = collection
        self.event = event
        self.query = query
        self.item = item
        self.after = after
        self.live = live
    }
}

/// An `items` request; `message` keeps `data`, `id`, `ids` and `query` for the write rules.
public struct ItemsRequest: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable { case create, read, update, delete }

    public var collection: String
    public var action: Action
    public var query: ItemQuery
    public var message: JSONObject
}

/// A frame that cannot be taken: the error frame to answer with.
public struct FrameRejection: Error, Sendable, Equatable {
    /// The `type` of the answer: the request's type, or `server` for unparsable frames.
    public var type: String
    public var code: String
    public var message: String
    public var uid: JSONValue?

    public init(type: String, code: String, message: String, uid: JSONValue?) {
        self.type = type
        self.code = code
        self.message = message
        self.uid = uid
    }

    public static let unparsable = FrameRejection(
        type: "server", code: "INVALID_PAYLOAD", message: "Unable to parse the incoming message.", uid: nil)

    /// The answer's bytes.
    public var frame: [UInt8] { RealtimeFrames.error(type, code, message, uid: uid) }
}

extension ClientMessage {
    /// The message type of a frame, for deciding what a not-yet-authenticated
    /// connection may send; nil when the frame is not a JSON object with a string `type`.
    public static func type(of frame: JSONObject) -> String? { frame["type"]?.stringValue }

    /// Parses one text frame. `limits` bound the size of any query it carries.
    public static func parse(_ bytes: [UInt8], limits: QueryLimits = QueryLimits()) -> Result<ClientMessage, FrameRejection> {
        guard case .object(let frame)? = try? JSONReader.parse(bytes) else { return .failure(.unparsable) }
        return parse(frame, limits: limits)
    }

    public static func parse(_ frame: JSONObject, limits: QueryLimits = QueryLimits()) -> Result<ClientMessage, FrameRejection> {
        guard let type = type(of: frame) else { return .failure(.unparsable) }
        let uid = frame["uid"].flatMap { v -> JSONValue? in
            switch v {
            case .string, .int, .double: return v
            default: return nil
            }
        }
        func reject(_ code: String, _ message: String) -> Result<ClientMessage, FrameRejection> {
            .failure(FrameRejection(type: type, code: code, message: message, uid: uid))
        }
        switch type {
        case "auth":
            return .success(.auth(credentials(frame), uid: uid))
        case "ping":
            return .success(.ping(uid: uid))
        case "pong":
            return .success(.pong)
        case "unsubscribe":
            return .success(.unsubscribe(uid: uid))
        case "subscribe":
            switch subscribeRequest(frame, limits: limits) {
            case .success(let request): return .success(.subscribe(request, uid: uid))
            case .failure(let e): return reject(e.code.rawValue, e.message)
            }
        case "items":
            switch itemsRequest(frame, limits: limits) {
            case .success(let request): return .success(.items(request, uid: uid))
            case .failure(let e): return reject(e.code.rawValue, e.message)
            }
        default:
            return reject("INVALID_PAYLOAD", "Unknown message type \"\(type)\".")
        }
    }

    private static func credentials(_ frame: JSONObject) -> AuthCredentials? {
        if case .string(let token)? = frame["access_token"] { return .accessToken(token) }
        if case .string(let email)? = frame["email"], case .string(let password)? = frame["password"] {
            return .login(email: email, password: password)
        }
        if case .string(let token)? = frame["refresh_token"] { return .refreshToken(token) }
        return nil
    }

    private static func subscribeRequest(_ frame: JSONObject, limits: QueryLimits) -> Result<
        SubscribeRequest, SwitchboardError
    > {
        guard case .string(let collection)? = frame["collection"], !collection.isEmpty else {
            return .failure(.invalidPayload("\"collection\" is required."))
        }
        var request = SubscribeRequest(collection: collection)
        if let e = frame["event"], !e.isNull {
            guard let event = e.stringValue.flatMap(SubscribeRequest.Event.init(rawValue:)) else {
                return .failure(.invalidPayload("\"event\" must be one of \"create\", \"update\", \"delete\"."))
            }
            request.event = event
        }
        if let q = frame["query"], !q.isNull {
            guard case .object(let object) = q else { return .failure(.invalidQuery("\"query\" must be an object.")) }
            do { request.query = try ItemQuery.parse(json: object, limits: limits) } catch { return .failure(error) }
        }
        request.item = frame["item"].flatMap { $0.isNull ? nil : $0 }
        if let a = frame["after"], !a.isNull {
            guard let n = a.intValue, n >= 0 else {
                return .failure(.invalidPayload("\"after\" must be a sequence number (integer ≥ 0)."))
            }
            request.after = n
        }
        if let l = frame["live"], !l.isNull {
            guard let b = l.boolValue else { return .failure(.invalidPayload("\"live\" must be a boolean.")) }
            request.live = b
        }
        return .success(request)
    }

    private static func itemsRequest(_ frame: JSONObject, limits: QueryLimits) -> Result<ItemsRequest, SwitchboardError> {
        guard case .string(let collection)? = frame["collection"], !collection.isEmpty else {
            return .failure(.invalidPayload("\"collection\" is required."))
        }
        guard let action = frame["action"]?.stringValue.flatMap(ItemsRequest.Action.init(rawValue:)) else {
            return .failure(.invalidPayload("\"action\" must be one of \"create\", \"read\", \"update\", \"delete\"."))
        }
        var query = ItemQuery()
        if case .object(let q)? = frame["query"] {
            do { query = try ItemQuery.parse(json: q, limits: limits) } catch { return .failure(error) }
        }
        return .success(ItemsRequest(collection: collection, action: action, query: query, message: frame))
    }
}
