import SwitchboardCore

/// One `graphql-transport-ws` connection (PROTOCOL.md, GraphQL subscriptions;
/// the protocol of the `graphql-ws` library) as a pure state machine: frames,
/// request results and clock ticks in; frames to send, operations to start or
/// stop, and closes out. The NIO handler carries out the actions; planning a
/// document, joining fan-out and running a query come back as inputs.
///
/// Unlike the Directus protocol, operations run side by side (the protocol
/// names each by its `id`) and nothing waits behind a request: a `subscribe`
/// before `connection_ack` closes the connection (4401), as the protocol says.
public struct GraphQLTransportStateMachine: Sendable {
    public static let subprotocol = "graphql-transport-ws"

    public struct Settings: Sendable, Equatable {
        public var authMode: ConnectionStateMachine.AuthMode
        /// How long a client has to send `connection_init` (and, in handshake mode, to be authenticated).
        public var initTimeoutMs: Int64
        /// nil: the server sends no `ping` of its own.
        public var heartbeatPeriodMs: Int64?
        public var rateLimit: ConnectionStateMachine.Settings.RateLimit?
        /// Operations (subscriptions and queries) running at once on one connection.
        public var maxOperations: Int

        public init(
            authMode: ConnectionStateMachine.AuthMode = .handshake, initTimeoutMs: Int64 = 10_000,
            heartbeatPeriodMs: Int64? = 30_000, rateLimit: ConnectionStateMachine.Settings.RateLimit? = nil,
            maxOperations: Int = 256
        ) {
            self.authMode = authMode
            self.initTimeoutMs = initTimeoutMs
            self.heartbeatPeriodMs = heartbeatPeriodMs
            self.rateLimit = rateLimit
            self.maxOperations = maxOperations
        }
    }

    /// A `subscribe` message's payload.
    public struct OperationRequest: Sendable, Equatable {
        public var query: String
        public var variables: JSONObject?
        public var operationName: String?

        public init(query: String, variables: JSONObject? = nil, operationName: String? = nil) {
            self.query = query
            self.variables = variables
            self.operationName = operationName
        }
    }

    public enum Phase: Sendable, Equatable {
        /// No `connection_init` yet; it must come before `deadline` (epoch ms).
        case awaitingInit(deadline: Int64)
        /// `connection_init` arrived; its token is being checked.
        case authenticating(deadline: Int64)
        /// `connection_ack` sent; `expiresAt` (epoch seconds) for a JWT, nil otherwise.
        case ready(expiresAt: Int64?)
    }

    /// What the handler does, in order.
    public enum Action: Sendable, Equatable {
        case send([UInt8])
        /// Write a close frame and close. Nothing follows.
        case close(CloseCode, String)
        /// Check `token` (nil: act as the public role), then feed `authenticated` or `authFailed`.
        case authenticate(token: String?)
        /// Plan and start operation `id`, then feed `operationStarted`, `operationFailed` or `operationFinished`.
        case start(id: String, OperationRequest)
        /// Operation `id` ended (client `complete`, or it failed): drop whatever it holds.
        case stop(id: String)
    }

    public private(set) var phase: Phase
    /// Operations by id, and whether each is running yet (false: being planned or joined).
    public private(set) var operations: [String: Bool] = [:]
    public private(set) var isClosed = false
    public let settings: Settings

    /// The upgrade request's token, when it authenticated the connection (strict mode, `?access_token=`, cookie).
    private let upgradeToken: ConnectionStateMachine.UpgradeToken?
    private var lastInbound: Int64
    private var nextPing: Int64?
    private var rateWindow: RateWindow

    /// A new connection at `now` (epoch ms); `upgradeToken` when the upgrade request carried a valid token.
    public init(settings: Settings, now: Int64, upgradeToken: ConnectionStateMachine.UpgradeToken?) {
        self.settings = settings
        phase = .awaitingInit(deadline: now + settings.initTimeoutMs)
        self.upgradeToken = upgradeToken
        lastInbound = now
        rateWindow = RateWindow(start: now)
        nextPing = settings.heartbeatPeriodMs.map { now + $0 }
    }

    /// When the connection next needs a `tick` (epoch ms), if ever.
    public var nextDeadline: Int64? {
        guard !isClosed else { return nil }
        var out = nextPing
        func consider(_ t: Int64) { out = min(out ?? t, t) }
        switch phase {
        case .awaitingInit(let deadline), .authenticating(let deadline): consider(deadline)
        case .ready(let expiresAt?): consider(expiresAt * 1000)
        case .ready(nil): break
        }
        return out
    }

    public var isReady: Bool {
        if case .ready = phase { return true }
        return false
    }

    // MARK: Inputs

    /// A text frame arrived.
    public mutating func received(_ bytes: [UInt8], now: Int64) -> [Action] {
        guard !isClosed else { return [] }
        lastInbound = now
        if let limit = settings.rateLimit, rateWindow.count(now: now, limit: limit) != nil {
            return close(.policyViolation, "Too many messages.")
        }
        switch GraphQLTransportMessage.parse(bytes) {
        case .failure(let invalid):
            return close(.graphQLBadRequest, invalid.reason)
        case .success(let message):
            return handle(message)
        }
    }

    /// A binary frame arrived: the protocol is text only.
    public mutating func receivedBinary() -> [Action] {
        close(.graphQLBadRequest, "Binary messages are not supported.")
    }

    /// The token of `connection_init` (or none, as the public role) was accepted.
    public mutating func authenticated(expiresAt: Int64?, now: Int64) -> [Action] {
        guard case .authenticating = phase, !isClosed else { return [] }
        phase = .ready(expiresAt: expiresAt)
        return [.send(GraphQLTransportFrames.connectionAck)]
    }

    /// The token of `connection_init` was refused.
    public mutating func authFailed() -> [Action] {
        guard case .authenticating = phase else { return [] }
        return close(.graphQLForbidden, "Forbidden")
    }

    /// Operation `id` is a live subscription now.
    public mutating func operationStarted(id: String) -> [Action] {
        guard !isClosed, operations[id] == false else { return operations[id] == nil ? [.stop(id: id)] : [] }
        operations[id] = true
        return []
    }

    /// Operation `id` could not start: `errors` is its GraphQL errors array.
    public mutating func operationFailed(id: String, errors: JSONValue) -> [Action] {
        guard !isClosed, operations.removeValue(forKey: id) != nil else { return [] }
        return [.send(GraphQLTransportFrames.error(id: id, errors: errors)), .stop(id: id)]
    }

    /// Operation `id` (a query) produced its one result: `next`, then `complete`.
    public mutating func operationFinished(id: String, result: JSONValue) -> [Action] {
        guard !isClosed, operations.removeValue(forKey: id) != nil else { return [] }
        return [.send(GraphQLTransportFrames.next(id: id, payload: result)), .send(GraphQLTransportFrames.complete(id: id))]
    }

    /// A running subscription ended on the server's side (its collection or permission went away).
    public mutating func operationEnded(id: String, errors: JSONValue) -> [Action] {
        guard !isClosed, operations.removeValue(forKey: id) != nil else { return [] }
        return [.send(GraphQLTransportFrames.error(id: id, errors: errors)), .stop(id: id)]
    }

    /// The clock reached `nextDeadline` (or later).
    public mutating func tick(now: Int64) -> [Action] {
        guard !isClosed else { return [] }
        switch phase {
        case .awaitingInit(let deadline) where now >= deadline:
            return close(.graphQLInitTimeout, "Connection initialisation timeout")
        case .authenticating(let deadline) where now >= deadline:
            return close(.graphQLForbidden, "Forbidden")
        case .ready(let expiresAt?) where now / 1000 >= expiresAt:
            return close(.graphQLForbidden, "Token expired.")
        default:
            break
        }
        guard let period = settings.heartbeatPeriodMs, let due = nextPing, now >= due else { return [] }
        nextPing = now + period
        if now - lastInbound > period * 2 { return close(.normal, "Heartbeat timeout: no message received.") }
        return [.send(GraphQLTransportFrames.ping)]
    }

    /// The server closes the connection (drain, a revoked user, a slow client).
    public mutating func close(_ code: CloseCode, _ reason: String) -> [Action] {
        guard !isClosed else { return [] }
        isClosed = true
        operations = [:]
        return [.close(code, reason)]
    }

    /// The peer closed (or the socket failed): nothing more is sent.
    public mutating func peerClosed() {
        isClosed = true
        operations = [:]
    }

    // MARK: Messages

    private mutating func handle(_ message: GraphQLTransportMessage) -> [Action] {
        switch message {
        case .connectionInit(let payload):
            guard case .awaitingInit(let deadline) = phase else {
                return close(.graphQLTooManyInitRequests, "Too many initialisation requests")
            }
            let token = payload?["access_token"]
            if let upgradeToken {
                // Authenticated by the upgrade request.
                phase = .ready(expiresAt: upgradeToken.expiresAt)
                return [.send(GraphQLTransportFrames.connectionAck)]
            }
            switch (settings.authMode, token) {
            case (_, .string(let text)?) where !text.isEmpty:
                phase = .authenticating(deadline: deadline)
                return [.authenticate(token: text)]
            case (.public, nil), (.public, .null?):
                phase = .authenticating(deadline: deadline)
                return [.authenticate(token: nil)]
            default:
                // Handshake mode wants `payload.access_token`; strict mode its token on the upgrade.
                return close(.graphQLForbidden, "Forbidden")
            }
        case .ping:
            return [.send(GraphQLTransportFrames.pong)]
        case .pong:
            return []
        case .subscribe(let id, let request):
            guard isReady else { return close(.graphQLUnauthorized, "Unauthorized") }
            guard operations[id] == nil else { return close(.graphQLSubscriberExists, "Subscriber for \(id) already exists") }
            guard operations.count < settings.maxOperations else {
                return [
                    .send(
                        GraphQLTransportFrames.error(
                            id: id,
                            errors: GraphQLTransportFrames.errors(
                                "Too many operations on this connection (limit \(settings.maxOperations), WEBSOCKETS_MAX_SUBSCRIPTIONS).",
                                code: "INVALID_PAYLOAD")))
                ]
            }
            operations[id] = false
            return [.start(id: id, request)]
        case .complete(let id):
            guard operations.removeValue(forKey: id) != nil else { return [] }
            return [.stop(id: id)]
        }
    }
}

/// A message a `graphql-transport-ws` client may send.
public enum GraphQLTransportMessage: Sendable, Equatable {
    case connectionInit(payload: JSONObject?)
    case ping
    case pong
    case subscribe(id: String, GraphQLTransportStateMachine.OperationRequest)
    case complete(id: String)

    /// Longest operation id accepted.
    public static let maxIDLength = 128

    /// Why a message is invalid: the close reason for 4400.
    public struct Invalid: Error, Equatable {
        public let reason: String

        init(_ reason: String) { self.reason = reason }
    }

    /// The message, or why it is invalid.
    public static func parse(_ bytes: [UInt8]) -> Result<Self, Invalid> {
        guard case .object(let o)? = try? JSONReader.parse(bytes), case .string(let type)? = o["type"] else {
            return .failure(Invalid("Invalid message received"))
        }
        func payloadObject() -> Result<JSONObject?, Invalid> {
            switch o["payload"] {
            case nil, .null?: return .success(nil)
            case .object(let p)?: return .success(p)
            default:
                return .failure(
                    Invalid("\"\(type)\" message expects the 'payload' property to be an object or nullish or missing"))
            }
        }
        func id() -> Result<String, Invalid> {
            guard case .string(let id)? = o["id"], !id.isEmpty else {
                return .failure(Invalid("\"\(type)\" message requires a non-empty 'id' property"))
            }
            guard id.utf8.count <= maxIDLength else {
                return .failure(Invalid("\"\(type)\" message's 'id' is longer than \(maxIDLength) bytes"))
            }
            return .success(id)
        }
        switch type {
        case "connection_init":
            return payloadObject().map { .connectionInit(payload: $0) }
        case "ping":
            return payloadObject().map { _ in .ping }
        case "pong":
            return payloadObject().map { _ in .pong }
        case "complete":
            return id().map { .complete(id: $0) }
        case "subscribe":
            let identifier: String
            switch id() {
            case .failure(let reason): return .failure(reason)
            case .success(let i): identifier = i
            }
            guard case .object(let payload)? = o["payload"] else {
                return .failure(Invalid("\"subscribe\" message expects the 'payload' property to be an object"))
            }
            guard case .string(let query)? = payload["query"] else {
                return .failure(Invalid("\"subscribe\" message payload expects the 'query' property to be a string"))
            }
            var request = GraphQLTransportStateMachine.OperationRequest(query: query)
            switch payload["variables"] {
            case nil, .null?: break
            case .object(let v)?: request.variables = v
            default:
                return .failure(
                    Invalid("\"subscribe\" message payload expects the 'variables' property to be an object or nullish"))
            }
            switch payload["operationName"] {
            case nil, .null?: break
            case .string(let name)?: request.operationName = name
            default:
                return .failure(
                    Invalid("\"subscribe\" message payload expects the 'operationName' property to be a string or nullish"))
            }
            return .success(.subscribe(id: identifier, request))
        default:
            return .failure(Invalid("Invalid message type \"\(type)\""))
        }
    }
}

/// The server's `graphql-transport-ws` messages.
public enum GraphQLTransportFrames {
    public static let connectionAck: [UInt8] = Array(#"{"type":"connection_ack"}"#.utf8)
    public static let ping: [UInt8] = Array(#"{"type":"ping"}"#.utf8)
    public static let pong: [UInt8] = Array(#"{"type":"pong"}"#.utf8)

    public static func next(id: String, payload: JSONValue) -> [UInt8] {
        JSONValue.object(JSONObject([("id", .string(id)), ("type", "next"), ("payload", payload)])).jsonBytes
    }

    public static func error(id: String, errors: JSONValue) -> [UInt8] {
        JSONValue.object(JSONObject([("id", .string(id)), ("type", "error"), ("payload", errors)])).jsonBytes
    }

    public static func complete(id: String) -> [UInt8] {
        JSONValue.object(JSONObject([("id", .string(id)), ("type", "complete")])).jsonBytes
    }

    /// A GraphQL errors array with one error carrying Directus's `extensions.code`.
    public static func errors(_ message: String, code: String) -> JSONValue {
        [["message": .string(message), "extensions": ["code": .string(code)]]]
    }
}
