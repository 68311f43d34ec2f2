import SwitchboardCore

/// The log levels of Directus's logs stream: pino's names and numbers.
public enum LogLevel: Int, Sendable, CaseIterable, Comparable {
    case trace = 10
    case debug = 20
    case info = 30
    case warn = 40
    case error = 50
    case fatal = 60

    /// The level named `name` (`trace` … `fatal`, as `log_level` and `WEBSOCKETS_LOGS_LEVEL` spell it).
    public init?(name: String) {
        guard let level = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    public var name: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .warn: "warn"
        case .error: "error"
        case .fatal: "fatal"
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// One logs-stream connection (`WEBSOCKETS_LOGS_PATH`) as a pure state machine:
/// frames, auth results and clock ticks in; frames, requests and closes out.
///
/// As Directus's logs controller: the upgrade itself is authenticated (strict
/// mode, admins only), there is no auth timeout to wait for a new token once
/// the current one expires (`TOKEN_EXPIRED`, `AUTH_TIMEOUT`, close), an `auth`
/// frame may replace the identity (a non-admin one is refused and closes),
/// `subscribe` takes a `log_level` and `unsubscribe` stops the stream. Every
/// other message type (`ping` included) gets no answer.
public struct LogsStateMachine: Sendable {
    public struct Settings: Sendable, Equatable {
        public var rateLimit: ConnectionStateMachine.Settings.RateLimit?
        /// Frames that may wait while an `auth` is checked; more close the socket (1008).
        public var maxPendingFrames: Int

        public init(rateLimit: ConnectionStateMachine.Settings.RateLimit? = nil, maxPendingFrames: Int = 64) {
            self.rateLimit = rateLimit
            self.maxPendingFrames = maxPendingFrames
        }
    }

    /// What the handler does, in order.
    public enum Action: Sendable, Equatable {
        case send([UInt8])
        /// Write a close frame and close the connection. Nothing follows.
        case close(CloseCode, String)
        /// Check credentials, then feed `authenticated` or `authFailed`.
        case authenticate(ClientMessage.AuthCredentials?, uid: JSONValue?)
        /// Stream records of this level and above to the socket (replacing an earlier level).
        case subscribe(LogLevel)
        /// Stop streaming.
        case unsubscribe
    }

    public let settings: Settings
    /// The token's expiry (epoch seconds); nil for static tokens.
    public private(set) var expiresAt: Int64?
    /// The level streamed, if subscribed.
    public private(set) var level: LogLevel?
    public private(set) var authenticating = false
    public private(set) var isClosed = false
    private var pending: [[UInt8]] = []
    private var rateWindow: RateWindow

    /// A connection whose upgrade carried an admin's token expiring at `expiresAt` (epoch seconds).
    public init(settings: Settings = .init(), now: Int64, expiresAt: Int64?) {
        self.settings = settings
        self.expiresAt = expiresAt
        rateWindow = RateWindow(start: now)
    }

    /// When the connection next needs a `tick` (epoch ms), if ever.
    public var nextDeadline: Int64? {
        guard !isClosed, let expiresAt else { return nil }
        return expiresAt * 1000
    }

    // MARK: Inputs

    /// A text frame arrived.
    public mutating func received(_ bytes: [UInt8], now: Int64) -> [Action] {
        guard !isClosed else { return [] }
        if let limit = settings.rateLimit, let retry = rateWindow.count(now: now, limit: limit) {
            return [
                .send(
                    RealtimeFrames.error("server", "REQUESTS_EXCEEDED", "Too many messages, retry after \(retry)ms.", uid: nil))
            ]
        }
        if authenticating {
            guard pending.count < settings.maxPendingFrames else {
                return close(.policyViolation, "Too many messages waiting to be handled.")
            }
            pending.append(bytes)
            return []
        }
        return handle(bytes)
    }

    /// A binary frame arrived: the protocol is text only.
    public mutating func receivedBinary() -> [Action] {
        close(.unsupportedData, "Binary frames are not supported.")
    }

    /// The `auth` frame's credentials are valid; `admin`: they are an admin's. `reply` is the `auth` / `ok` frame.
    public mutating func authenticated(admin: Bool, expiresAt: Int64?, reply: [UInt8]) -> [Action] {
        guard authenticating, !isClosed else { return [] }
        authenticating = false
        guard admin else { return [.send(LogsFrames.unauthorized)] + close(.policyViolation, "Unauthorized access.") }
        self.expiresAt = expiresAt
        return [.send(reply)] + drainPending()
    }

    /// The `auth` frame's credentials were refused.
    public mutating func authFailed(uid: JSONValue?) -> [Action] {
        guard authenticating, !isClosed else { return [] }
        authenticating = false
        return [.send(RealtimeFrames.authFailed(uid: uid))] + close(.policyViolation, "Authentication failed.")
    }

    /// The clock reached `nextDeadline` (or later): the token expired, and with no time to
    /// authenticate again (Directus's logs endpoint has none) the socket closes.
    public mutating func tick(now: Int64) -> [Action] {
        guard !isClosed, let expiresAt, now / 1000 >= expiresAt else { return [] }
        return [.send(RealtimeFrames.tokenExpired), .send(RealtimeFrames.authTimedOut)]
            + close(.policyViolation, "Authentication timed out.")
    }

    /// The server is closing the connection (drain, a revoked user, the peer's close).
    public mutating func close(_ code: CloseCode, _ reason: String) -> [Action] {
        guard !isClosed else { return [] }
        isClosed = true
        authenticating = false
        pending = []
        var out: [Action] = level == nil ? [] : [.unsubscribe]
        level = nil
        out.append(.close(code, reason))
        return out
    }

    /// The peer went away: nothing more is sent.
    public mutating func peerClosed() {
        isClosed = true
        authenticating = false
        pending = []
        level = nil
    }

    // MARK: Frames

    private mutating func handle(_ bytes: [UInt8]) -> [Action] {
        guard case .object(let frame)? = try? JSONReader.parse(bytes), let type = ClientMessage.type(of: frame) else {
            return [.send(FrameRejection.unparsable.frame)]
        }
        switch type {
        case "auth":
            guard case .success(.auth(let credentials, let uid)) = ClientMessage.parse(frame) else { return [] }
            authenticating = true
            return [.authenticate(credentials, uid: uid)]
        case "subscribe":
            guard case .string(let name)? = frame["log_level"] else {
                return [.send(LogsFrames.error("\"log_level\" is required and must be a string."))]
            }
            guard let wanted = LogLevel(name: name) else { return [.send(LogsFrames.error("Invalid \"\(name)\" log level"))] }
            level = wanted
            return [.subscribe(wanted), .send(LogsFrames.subscribed(name))]
        case "unsubscribe":
            let out: [Action] = level == nil ? [] : [.unsubscribe]
            level = nil
            return out + [.send(LogsFrames.unsubscribed)]
        default:
            return []
        }
    }

    /// Handles the frames that waited for an `auth`, until one starts another.
    private mutating func drainPending() -> [Action] {
        var out: [Action] = []
        while !authenticating, !isClosed, !pending.isEmpty {
            out += handle(pending.removeFirst())
        }
        return out
    }
}

/// The logs stream's own frames, byte for byte as Directus writes them.
public enum LogsFrames {
    public static func subscribed(_ level: String) -> [UInt8] {
        RealtimeFrames.object("logs", [("event", "subscribe"), ("log_level", .string(level))], uid: nil)
    }

    public static let unsubscribed = RealtimeFrames.object("logs", [("event", "unsubscribe")], uid: nil)

    /// An `auth` frame with a non-admin's credentials.
    public static let unauthorized = RealtimeFrames.error("auth", "AUTH_FAILED", "Unauthorized access.", uid: nil)

    public static func error(_ message: String) -> [UInt8] {
        RealtimeFrames.error("logs", "INVALID_PAYLOAD", message, uid: nil)
    }
}
