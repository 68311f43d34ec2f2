import Query
import Store
import SwitchboardCore
import Synchronization
import Tokens

/// Lifetimes that shape tokens and sessions.
public struct AuthSettings: Sendable {
    public var accessTokenTTLms: Int64
    public var refreshTokenTTLms: Int64
    public var sessionTTLms: Int64
    public var refreshGracePeriodMs: Int64

    public init(accessTokenTTLms: Int64, refreshTokenTTLms: Int64, sessionTTLms: Int64, refreshGracePeriodMs: Int64) {
        self.accessTokenTTLms = accessTokenTTLms
        self.refreshTokenTTLms = refreshTokenTTLms
        self.sessionTTLms = sessionTTLms
        self.refreshGracePeriodMs = refreshGracePeriodMs
    }
}

/// Where a request comes from, recorded on sessions and activity.
public struct ClientInfo: Sendable {
    public var ip: String?
    public var userAgent: String?
    public var origin: String?

    public init(ip: String? = nil, userAgent: String? = nil, origin: String? = nil) {
        self.ip = ip
        self.userAgent = userAgent
        self.origin = origin
    }
}

/// The result of a login or refresh.
public struct IssuedTokens: Sendable {
    public var accessToken: String
    /// The refresh token (json/cookie modes) or the session token (session mode).
    public var refreshToken: String
    /// Access token lifetime in milliseconds, as Directus reports `expires`.
    public var expires: Int64
    public var userID: String
}

/// Directus-style authentication: email + password, rotating refresh tokens
/// stored in `directus_sessions`, HS256 access tokens, static tokens.
public final class AuthService: Sendable {
    public let store: Store
    public let resolver: PermissionResolver
    public let signer: AccessTokenSigner
    public let hasher: PasswordHasher
    public let settings: AuthSettings
    /// A hash to verify against when the email is unknown, so that the answer
    /// takes as long as for a wrong password (no account enumeration by timing).
    private let decoyHash = Mutex<String?>(nil)

    public init(
        store: Store, resolver: PermissionResolver, signer: AccessTokenSigner, hasher: PasswordHasher, settings: AuthSettings
    ) {
        self.store = store
        self.resolver = resolver
        self.signer = signer
        self.hasher = hasher
        self.settings = settings
    }

    static func nowMs() -> Int64 { ISOTimestamp.now().epochMilliseconds }

    // MARK: Login / refresh / logout

    /// Checks email and password; `session` issues a session-bound access token (cookie mode `session`).
    public func login(email: String, password: String, session: Bool, client: ClientInfo) async throws -> IssuedTokens {
        let rows = try await store.database.read { db in
            try await db.query(
                "SELECT id, role, status, password FROM directus_users WHERE lower(email) = lower(?)", [.text(email)])
        }
        guard let row = rows.first, let userID = row["id"].text, let hash = row["password"].text else {
            _ = hasher.verify(password, against: try decoy())
            throw SwitchboardError.invalidCredentials()
        }
        guard hasher.verify(password, against: hash) else { throw SwitchboardError.invalidCredentials() }
        guard row["status"].text == "active" else {
            throw row["status"].text == "suspended"
                ? SwitchboardError(.userSuspended, "User suspended.") : SwitchboardError.invalidCredentials()
        }
        let token = SecureRandom.token()
        let expires = ISOTimestamp(
            epochMilliseconds: Self.nowMs() + (session ? settings.sessionTTLms : settings.refreshTokenTTLms))
        try await store.database.transaction { db in
            try await db.execute(
                "INSERT INTO directus_sessions (token, \"user\", expires, ip, user_agent, origin) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(token), .text(userID), .text(expires.iso8601), Self.text(client.ip), Self.text(client.userAgent),
                    Self.text(client.origin),
                ])
            try await db.execute(
                "UPDATE directus_users SET last_access = ? WHERE id = ?", [.text(ISOTimestamp.now().iso8601), .text(userID)])
        }
        return try await issue(userID: userID, refreshToken: token, session: session)
    }

    /// Exchanges a refresh (or session) token for a new pair; the old token keeps
    /// answering with the same successor during the grace period.
    public func refresh(token: String, session: Bool, client: ClientInfo) async throws -> IssuedTokens {
        let now = Self.nowMs()
        let grace = settings.refreshGracePeriodMs
        let ttl = session ? settings.sessionTTLms : settings.refreshTokenTTLms
        let result = try await store.database.transaction { db -> (String, String) in
            guard
                let row = try await db.query(
                    "SELECT token, \"user\", expires, next_token FROM directus_sessions WHERE token = ?", [.text(token)]
                ).first, let userID = row["user"].text,
                let expires = row["expires"].text.flatMap(ISOTimestamp.init(parsing:)), expires.epochMilliseconds > now
            else { throw SwitchboardError.invalidCredentials() }
            if let next = row["next_token"].text {
                return (userID, next)
            }
            let newToken = SecureRandom.token()
            try await db.execute(
                "INSERT INTO directus_sessions (token, \"user\", expires, ip, user_agent, origin) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(newToken), .text(userID), .text(ISOTimestamp(epochMilliseconds: now + ttl).iso8601),
                    Self.text(client.ip), Self.text(client.userAgent), Self.text(client.origin),
                ])
            try await db.execute(
                "UPDATE directus_sessions SET next_token = ?, expires = ? WHERE token = ?",
                [.text(newToken), .text(ISOTimestamp(epochMilliseconds: now + grace).iso8601), .text(token)])
            return (userID, newToken)
        }
        guard try await resolver.accountability(userID: result.0) != nil else { throw SwitchboardError.invalidCredentials() }
        return try await issue(userID: result.0, refreshToken: result.1, session: session)
    }

    /// Ends the session of `token` (unknown tokens are ignored, as in Directus).
    public func logout(token: String) async throws {
        _ = try await store.database.transaction { db in
            try await db.execute("DELETE FROM directus_sessions WHERE token = ?", [.text(token)])
        }
    }

    /// The session token inside a session-mode access token, even an expired one.
    public func sessionToken(fromAccessToken jwt: String) throws(SwitchboardError) -> String {
        let claims: AccessTokenClaims
        do {
            claims = try signer.verify(jwt, now: Self.nowMs() / 1000)
        } catch .expired(let expired) {
            claims = expired
        } catch {
            throw error.switchboardError
        }
        guard let s = claims.sessionID else { throw SwitchboardError.invalidCredentials() }
        return s
    }

    private func issue(userID: String, refreshToken: String, session: Bool) async throws -> IssuedTokens {
        guard let accountability = try await resolver.accountability(userID: userID) else {
            throw SwitchboardError.invalidCredentials()
        }
        let now = Self.nowMs() / 1000
        let claims = AccessTokenClaims(
            id: userID, role: accountability.roleID, appAccess: accountability.app, adminAccess: accountability.admin,
            sessionID: session ? refreshToken : nil, issuedAt: now, expiresAt: now + settings.accessTokenTTLms / 1000)
        return IssuedTokens(
            accessToken: signer.sign(claims), refreshToken: refreshToken,
            expires: session ? settings.sessionTTLms : settings.accessTokenTTLms, userID: userID)
    }

    // MARK: Tokens on requests

    /// The accountability a token stands for: a JWT (checked signature, expiry,
    /// session) or a static token (`directus_users.token`).
    public func authenticate(token: String, client: ClientInfo) async throws -> Accountability {
        var accountability: Accountability
        if AccessTokenSigner.looksLikeJWT(token) {
            let claims: AccessTokenClaims
            do {
                claims = try signer.verify(token, now: Self.nowMs() / 1000)
            } catch {
                throw error.switchboardError
            }
            if let session = claims.sessionID {
                let now = ISOTimestamp.now().iso8601
                let alive = try await store.database.read { db in
                    try await db.query(
                        "SELECT 1 FROM directus_sessions WHERE token = ? AND expires > ?", [.text(session), .text(now)])
                }
                guard !alive.isEmpty else { throw SwitchboardError.invalidCredentials() }
            }
            guard let a = try await resolver.accountability(userID: claims.id) else {
                throw SwitchboardError.invalidCredentials()
            }
            accountability = a
            accountability.sessionID = claims.sessionID
        } else {
            guard let userID = try await resolver.userID(forStaticToken: token),
                let a = try await resolver.accountability(userID: userID)
            else {
                throw SwitchboardError.invalidCredentials()
            }
            accountability = a
        }
        accountability.ip = client.ip
        accountability.userAgent = client.userAgent
        accountability.origin = client.origin
        return accountability
    }

    /// What `authenticate(token:client:)` would answer, when it can be known without waiting.
    public enum ImmediateAuthentication: Sendable {
        case accepted(Accountability)
        case refused
        /// A lookup is needed (an uncached user or static token, or a session to check).
        case needsLookup
    }

    /// `authenticate(token:client:)` from what is already known (a JWT's signature and expiry,
    /// cached users and static tokens), for an event loop that must not wait.
    public func authenticateAtOnce(token: String, client: ClientInfo) -> ImmediateAuthentication {
        var accountability: Accountability
        if AccessTokenSigner.looksLikeJWT(token) {
            guard let claims = try? signer.verify(token, now: Self.nowMs() / 1000) else { return .refused }
            guard claims.sessionID == nil, let a = resolver.cachedAccountability(userID: claims.id) else {
                return .needsLookup
            }
            accountability = a
        } else {
            guard let userID = resolver.cachedUserID(forStaticToken: token),
                let a = resolver.cachedAccountability(userID: userID)
            else { return .needsLookup }
            accountability = a
        }
        accountability.ip = client.ip
        accountability.userAgent = client.userAgent
        accountability.origin = client.origin
        return .accepted(accountability)
    }

    /// Seconds since the epoch when a JWT expires; nil for static tokens.
    public func expiry(ofToken token: String) -> Int64? {
        guard AccessTokenSigner.looksLikeJWT(token) else { return nil }
        switch Result(catching: { () throws(AccessTokenError) in try signer.verify(token, now: 0) }) {
        case .success(let claims): return claims.expiresAt
        case .failure: return nil
        }
    }

    /// Removes expired sessions; answers how many.
    @discardableResult
    public func purgeExpiredSessions() async throws -> Int {
        let now = ISOTimestamp.now().iso8601
        return try await store.database.transaction { db in
            try await db.execute("DELETE FROM directus_sessions WHERE expires < ?", [.text(now)])
        }
    }

    private func decoy() throws -> String {
        if let h = decoyHash.withLock({ $0 }) { return h }
        let h = try hasher.hash(SecureRandom.token())
        decoyHash.withLock { $0 = h }
        return h
    }

    private static func text(_ s: String?) -> SQLValue { s.map(SQLValue.text) ?? .null }
}
