import Query
import SwitchboardCore

/// One realtime connection's protocol, as a pure state machine (PROTOCOL.md):
/// frames, request results and clock ticks in; frames to send, requests to
/// run and closes out. The NIO handler only carries out the actions; anything
/// that needs the database (token checks, `init` reads, items) is an action
/// whose result comes back as an input.
///
/// Frames are handled one at a time, in order: while a request (auth,
/// subscribe, items) is in flight, later frames wait in `pending`, and event
/// frames for this socket are held (`holdsEvents`) so that a request's reply
/// always goes out before the events it caused or that its `init` covers.
public struct ConnectionStateMachine: Sendable {
    public enum AuthMode: String, Sendable { case `public`, handshake, strict }

    public struct Settings: Sendable, Equatable {
        public var authMode: AuthMode
        public var authTimeoutMs: Int64
        /// nil: no heartbeat.
        public var heartbeatPeriodMs: Int64?
        public var rateLimit: RateLimit?
        public var maxSubscriptions: Int
        /// Frames that may wait while a request is in flight; more close the socket (1008).
        public var maxPendingFrames: Int
        public var limits: QueryLimits

        public struct RateLimit: Sendable, Equatable {
            public var points: Int
            public var durationMs: Int64

            public init(points: Int, durationMs: Int64) {
                self.points = points
                self.durationMs = durationMs
            }
        }

        public init(
            authMode: AuthMode = .handshake, authTimeoutMs: Int64 = 10_000, heartbeatPeriodMs: Int64? = 30_000,
            rateLimit: RateLimit? = nil, maxSubscriptions: Int = 256, maxPendingFrames: Int = 1024,
            limits: QueryLimits = QueryLimits()
        ) {
            self.authMode = authMode
            self.authTimeoutMs = authTimeoutMs
            self.heartbeatPeriodMs = heartbeatPeriodMs
            self.rateLimit = rateLimit
            self.maxSubscriptions = maxSubscriptions
            self.maxPendingFrames = maxPendingFrames
            self.limits = limits
        }
    }

    /// Who the connection acts as.
    public enum Identity: Sendable, Equatable {
        /// Handshake mode: no identity yet; the first frame must be `auth` before `deadline`.
        case awaitingHandshake(deadline: Int64)
        /// A user; `expiresAt` (epoch seconds) for JWTs, nil for static tokens.
        case authenticated(expiresAt: Int64?)
        /// The public policy (public mode, or after a failed `auth` in public mode).
        case anonymous
        /// The token expired: public until a new `auth` arrives before `deadline` (not in public mode).
        case expired(deadline: Int64)
    }

    /// The request in flight.
    public enum Request: Sendable, Equatable {
        case auth(handshake: Bool)
        case subscribe(key: String)
        case items
        /// Switching to the public policy (after a failed `auth` or an expired token): until
        /// it is done, nothing runs with the old identity.
        case becomingPublic
    }

    /// What the handler does, in order.
    public enum Action: Sendable, Equatable {
        /// Write a frame (replies; event frames travel outside the machine).
        case send([UInt8])
        /// Write a close frame and close the connection. Nothing follows.
        case close(CloseCode, String)
        /// Check credentials, then feed `authenticated` or `authFailed`.
        case authenticate(ClientMessage.AuthCredentials?, uid: JSONValue?)
        /// Switch to the public policy, then feed `becamePublic` (close the connection if that fails).
        case becomePublic
        /// Subscribe under `key` (replacing a subscription with that key), then feed `subscribed` or `subscribeFailed`.
        case subscribe(key: String, SubscribeRequest, uid: JSONValue?)
        /// Drop these subscriptions.
        case unsubscribe(keys: [String])
        /// Run an items request, then feed `requestFinished`.
        case items(ItemsRequest, uid: JSONValue?)
        /// Event frames held during a request may go out now.
        case releaseEvents
    }

    public private(set) var identity: Identity
    public private(set) var inFlight: Request?
    /// Subscription keys (the uid as text, or a generated key for subscriptions without a uid).
    public private(set) var subscriptions: Set<String> = []
    public private(set) var isClosed = false
    public let settings: Settings

    /// The token expired while another request was in flight: switch to public after it.
    private var needsPublic = false
    private var pending: [[UInt8]] = []
    private var pendingHead = 0
    private var nextAnonymous = 0
    private var lastInbound: Int64
    private var nextPing: Int64?
    private var rateWindow: RateWindow

    /// A token that came with the upgrade request (query or session cookie).
    public struct UpgradeToken: Sendable, Equatable {
        /// Epoch seconds; nil for static tokens.
        public var expiresAt: Int64?

        public init(expiresAt: Int64?) { self.expiresAt = expiresAt }
    }

    /// A new connection at `now` (epoch ms).
    public init(settings: Settings, now: Int64, upgradeToken: UpgradeToken?) {
        self.settings = settings
        lastInbound = now
        rateWindow = RateWindow(start: now)
        nextPing = settings.heartbeatPeriodMs.map { now + $0 }
        if let upgradeToken {
            identity = .authenticated(expiresAt: upgradeToken.expiresAt)
        } else if settings.authMode == .handshake {
            identity = .awaitingHandshake(deadline: now + settings.authTimeoutMs)
        } else {
            identity = .anonymous
        }
    }

    /// Whether event frames must wait (a request is in flight).
    public var holdsEvents: Bool { inFlight != nil }

    /// When the connection next needs a `tick` (epoch ms), if ever.
    public var nextDeadline: Int64? {
        guard !isClosed else { return nil }
        var out = nextPing
        func consider(_ t: Int64) { out = min(out ?? t, t) }
        switch identity {
        case .awaitingHandshake(let deadline), .expired(let deadline): consider(deadline)
        case .authenticated(let expiresAt?): consider(expiresAt * 1000)
        default: break
        }
        return out
    }

    // MARK: Inputs

    /// A text frame arrived.
    public mutating func received(_ bytes: [UInt8], now: Int64) -> [Action] {
        guard !isClosed else { return [] }
        lastInbound = now
        if let limit = settings.rateLimit, let retry = rateWindow.count(now: now, limit: limit) {
            return [
                .send(
                    RealtimeFrames.error(
                        "server", "REQUESTS_EXCEEDED", "Too many messages, retry after \(retry)ms.", uid: nil))
            ]
        }
        if inFlight != nil {
            guard pending.count - pendingHead < settings.maxPendingFrames else {
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

    /// The `auth` request succeeded; `reply` is the `auth` / `ok` frame.
    public mutating func authenticated(expiresAt: Int64?, reply: [UInt8], now: Int64) -> [Action] {
        guard case .auth = inFlight, !isClosed else { return [] }
        inFlight = nil
        needsPublic = false
        identity = .authenticated(expiresAt: expiresAt)
        return [.send(reply)] + next()
    }

    /// The `auth` request failed.
    public mutating func authFailed(uid: JSONValue?, now: Int64) -> [Action] {
        guard case .auth(let handshake) = inFlight, !isClosed else { return [] }
        inFlight = nil
        if handshake {
            return [.send(RealtimeFrames.handshakeFailed)] + close(.policyViolation, "Authentication handshake failed.")
        }
        let failed = Action.send(RealtimeFrames.authFailed(uid: uid))
        if settings.authMode != .public { return [failed] + close(.policyViolation, "Authentication failed.") }
        identity = .anonymous
        needsPublic = false
        inFlight = .becomingPublic
        return [failed, .becomePublic]
    }

    /// The connection acts as the public policy now.
    public mutating func becamePublic() -> [Action] {
        guard inFlight == .becomingPublic, !isClosed else { return [] }
        inFlight = nil
        return [.releaseEvents] + drainPending()
    }

    /// The subscription under `key` is live; `frames` are its `init` (or resume replay), sent first.
    public mutating func subscribed(key: String, frames: [[UInt8]]) -> [Action] {
        guard case .subscribe(let k) = inFlight, k == key, !isClosed else { return [] }
        inFlight = nil
        return frames.map(Action.send) + next()
    }

    /// The subscription under `key` could not be made; `reply` is its error frame.
    public mutating func subscribeFailed(key: String, reply: [UInt8]) -> [Action] {
        guard case .subscribe(let k) = inFlight, k == key, !isClosed else { return [] }
        inFlight = nil
        subscriptions.remove(key)
        return [.send(reply)] + next()
    }

    /// The items request is done; `reply` is its `items` or error frame.
    public mutating func itemsFinished(reply: [UInt8]) -> [Action] {
        guard case .items = inFlight, !isClosed else { return [] }
        inFlight = nil
        return [.send(reply)] + next()
    }

    /// The clock reached `nextDeadline` (or later).
    public mutating func tick(now: Int64) -> [Action] {
        guard !isClosed else { return [] }
        switch identity {
        case .awaitingHandshake(let deadline) where now >= deadline:
            guard case .auth = inFlight else {
                return [.send(RealtimeFrames.handshakeFailed)] + close(.policyViolation, "Authentication handshake failed.")
            }
        case .expired(let deadline) where now >= deadline:
            if case .auth = inFlight { break }
            return [.send(RealtimeFrames.authTimedOut)] + close(.policyViolation, "Authentication timed out.")
        case .authenticated(let expiresAt?) where now / 1000 >= expiresAt:
            identity = settings.authMode == .public ? .anonymous : .expired(deadline: now + settings.authTimeoutMs)
            var out: [Action] = [.send(RealtimeFrames.tokenExpired)]
            if inFlight == nil {
                inFlight = .becomingPublic
                out.append(.becomePublic)
            } else {
                needsPublic = true
            }
            return out + heartbeat(now)
        default:
            break
        }
        return heartbeat(now)
    }

    /// The server is closing the connection (drain, a revoked user, a slow client, the peer went away).
    public mutating func close(_ code: CloseCode, _ reason: String) -> [Action] {
        guard !isClosed else { return [] }
        isClosed = true
        inFlight = nil
        pending = []
        pendingHead = 0
        return [.close(code, reason)]
    }

    /// The peer closed (or the socket failed): nothing more is sent.
    public mutating func peerClosed() {
        isClosed = true
        inFlight = nil
        pending = []
        pendingHead = 0
    }

    // MARK: Frames

    private mutating func handle(_ bytes: [UInt8]) -> [Action] {
        guard case .object(let frame)? = try? JSONReader.parse(bytes), let type = ClientMessage.type(of: frame) else {
            return [.send(FrameRejection.unparsable.frame)]
        }
        if case .awaitingHandshake = identity, type != "auth" {
            return [.send(RealtimeFrames.handshakeFailed)] + close(.policyViolation, "Authentication handshake failed.")
        }
        let message: ClientMessage
        switch ClientMessage.parse(frame, limits: settings.limits) {
        case .failure(let rejection): return [.send(rejection.frame)]
        case .success(let m): message = m
        }
        switch message {
        case .auth(let credentials, let uid):
            var handshake = false
            if case .awaitingHandshake = identity { handshake = true }
            inFlight = .auth(handshake: handshake)
            return [.authenticate(credentials, uid: uid)]
        case .ping(let uid):
            return [.send(RealtimeFrames.pong(uid: uid))]
        case .pong:
            return []
        case .unsubscribe(let uid):
            let keys: [String]
            if let key = uid?.textValue {
                keys = subscriptions.remove(key) != nil ? [key] : []
            } else {
                keys = Array(subscriptions)
                subscriptions = []
            }
            var out: [Action] = keys.isEmpty ? [] : [.unsubscribe(keys: keys)]
            out.append(.send(RealtimeFrames.object("subscription", [("event", "unsubscribe")], uid: uid)))
            return out
        case .subscribe(let request, let uid):
            let key: String
            if let text = uid?.textValue {
                key = text
            } else {
                nextAnonymous += 1
                key = "\u{0}\(nextAnonymous)"
            }
            if !subscriptions.contains(key), subscriptions.count >= settings.maxSubscriptions {
                return [
                    .send(
                        RealtimeFrames.error(
                            "subscribe", "INVALID_PAYLOAD",
                            "Too many subscriptions on this connection (limit \(settings.maxSubscriptions), WEBSOCKETS_MAX_SUBSCRIPTIONS).",
                            uid: uid))
                ]
            }
            subscriptions.insert(key)
            inFlight = .subscribe(key: key)
            return [.subscribe(key: key, request, uid: uid)]
        case .items(let request, let uid):
            inFlight = .items
            return [.items(request, uid: uid)]
        }
    }

    /// After a request: switch to public if the token expired meanwhile, else release
    /// held events and handle what waits.
    private mutating func next() -> [Action] {
        if needsPublic {
            needsPublic = false
            inFlight = .becomingPublic
            return [.becomePublic]
        }
        return [.releaseEvents] + drainPending()
    }

    /// Handles waiting frames until one starts a request (or none are left).
    private mutating func drainPending() -> [Action] {
        var out: [Action] = []
        while inFlight == nil, !isClosed, pendingHead < pending.count {
            let next = pending[pendingHead]
            pendingHead += 1
            out += handle(next)
        }
        if pendingHead == pending.count {
            pending = []
            pendingHead = 0
        }
        return out
    }

    private mutating func heartbeat(_ now: Int64) -> [Action] {
        guard let period = settings.heartbeatPeriodMs, let due = nextPing, now >= due else { return [] }
        nextPing = now + period
        if now - lastInbound > period * 2 {
            return close(.normal, "Heartbeat timeout: no message received.")
        }
        return [.send(RealtimeFrames.ping)]
    }
}

/// A connection's messages in the current rate-limit window (`RATE_LIMITER_*`).
struct RateWindow: Sendable {
    private var start: Int64
    private var count = 0

    init(start: Int64) { self.start = start }

    /// Counts one message at `now`; nil when it is within `limit`, else the milliseconds until the
    /// window ends.
    mutating func count(now: Int64, limit: ConnectionStateMachine.Settings.RateLimit) -> Int64? {
        if now - start >= limit.durationMs {
            start = now
            count = 0
        }
        count += 1
        return count > limit.points ? max(0, start + limit.durationMs - now) : nil
    }
}
