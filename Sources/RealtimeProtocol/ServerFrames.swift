import SwitchboardCore

/// The server's frames, byte for byte as Directus writes them (`type` first, `uid` last).
public enum RealtimeFrames {
    public static func object(_ type: String, _ fields: [(String, JSONValue)], uid: JSONValue?) -> [UInt8] {
        var o = JSONObject([("type", .string(type))] + fields)
        if let uid { o["uid"] = uid }
        return JSONValue.object(o).jsonBytes
    }

    public static func error(_ type: String, _ code: String, _ message: String, uid: JSONValue?) -> [UInt8] {
        object(type, [("status", "error"), ("error", ["code": .string(code), "message": .string(message)])], uid: uid)
    }

    public static func error(_ type: String, _ error: SwitchboardError, uid: JSONValue?) -> [UInt8] {
        Self.error(type, error.code.rawValue, error.message, uid: uid)
    }

    public static let ping: [UInt8] = Array(#"{"type":"ping"}"#.utf8)

    public static func pong(uid: JSONValue?) -> [UInt8] { object("pong", [], uid: uid) }

    public static func authOK(uid: JSONValue?, refreshToken: String?) -> [UInt8] {
        if uid == nil, refreshToken == nil { return plainAuthOK }
        var fields: [(String, JSONValue)] = [("status", "ok")]
        if let refreshToken { fields.append(("refresh_token", .string(refreshToken))) }
        return object("auth", fields, uid: uid)
    }

    /// `auth ok` without a uid or refresh token, the usual answer, rendered once.
    static let plainAuthOK = object("auth", [("status", "ok")], uid: nil)

    public static let handshakeFailed = error("auth", "AUTH_FAILED", "Authentication handshake failed.", uid: nil)
    public static let authTimedOut = error("auth", "AUTH_TIMEOUT", "Authentication timed out.", uid: nil)
    public static let tokenExpired = error("auth", "TOKEN_EXPIRED", "Token expired.", uid: nil)

    public static func authFailed(uid: JSONValue?) -> [UInt8] {
        error("auth", "AUTH_FAILED", "Authentication failed.", uid: uid)
    }
}

/// A subscription frame rendered once for all members of a query class: the
/// bytes before the uid and after it, so each socket costs one concatenation.
public struct RenderedEvent: Sendable {
    public let prefix: [UInt8]
    /// What the frame says, for protocols that frame it their own way (GraphQL).
    public let event: String
    public let data: JSONValue?

    public init(event: String, data: JSONValue?, meta: JSONObject?, seq: Int64?, extra: [(String, JSONValue)] = []) {
        self.event = event
        self.data = data
        var o = JSONObject([("type", "subscription"), ("event", .string(event))])
        if let data { o["data"] = data }
        if let meta { o["meta"] = .object(meta) }
        for (k, v) in extra { o[k] = v }
        if let seq { o["seq"] = .int(seq) }
        var bytes = JSONValue.object(o).jsonBytes
        bytes.removeLast()  // the closing brace; `uid` (if any) goes after
        prefix = bytes
    }

    /// The frame for one subscriber; `uid` is echoed as a string, as Directus does.
    public func frame(uid: String?) -> [UInt8] {
        var out = prefix
        if let uid {
            out.reserveCapacity(prefix.count + uid.utf8.count + 10)
            out.append(contentsOf: #","uid":"#.utf8)
            JSONWriter.writeString(uid, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// WebSocket close codes the server uses (PROTOCOL.md, close codes).
public enum CloseCode: UInt16, Sendable {
    case normal = 1000
    case goingAway = 1001
    case protocolError = 1002
    case unsupportedData = 1003
    case policyViolation = 1008
    case messageTooBig = 1009
    case internalError = 1011
    case tryAgainLater = 1013
    // graphql-transport-ws (the `graphql-ws` library's codes)
    case graphQLInternalError = 4500
    case graphQLBadRequest = 4400
    case graphQLUnauthorized = 4401
    case graphQLForbidden = 4403
    case graphQLSubprotocolNotAcceptable = 4406
    case graphQLInitTimeout = 4408
    case graphQLSubscriberExists = 4409
    case graphQLTooManyInitRequests = 4429
}
