import COpenSSL
import SwitchboardCore

/// The claims of a Switchboard access token, named like Directus's:
/// `{"id","role","app_access","admin_access","session"?,"iat","exp","iss"}`.
public struct AccessTokenClaims: Sendable, Equatable {
    /// The user's id (`id`).
    public var id: String
    /// The user's role id (`role`), `null` for users without a role.
    public var role: String?
    /// Whether the user may use the admin app (`app_access`).
    public var appAccess: Bool
    /// Whether the user bypasses permissions (`admin_access`).
    public var adminAccess: Bool
    /// The session token this access token belongs to (`session`), set for
    /// session-mode logins so logging out revokes it.
    public var sessionID: String?
    /// Issue time, seconds since 1970 (`iat`).
    public var issuedAt: Int64
    /// Expiry time, seconds since 1970 (`exp`).
    public var expiresAt: Int64
    /// Issuer (`iss`).
    public var issuer: String

    /// Claims with every field given; `issuer` defaults to `"directus"`.
    public init(
        id: String, role: String?, appAccess: Bool, adminAccess: Bool, sessionID: String? = nil,
        issuedAt: Int64, expiresAt: Int64, issuer: String = "directus"
    ) {
        self.id = id
        self.role = role
        self.appAccess = appAccess
        self.adminAccess = adminAccess
        self.sessionID = sessionID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.issuer = issuer
    }

    /// The JWT payload object, in Directus's key order.
    public var payload: JSONObject {
        var object: JSONObject = [
            "id": .string(id),
            "role": role.map(JSONValue.string) ?? .null,
            "app_access": .bool(appAccess),
            "admin_access": .bool(adminAccess),
        ]
        if let sessionID { object["session"] = .string(sessionID) }
        object["iat"] = .int(issuedAt)
        object["exp"] = .int(expiresAt)
        object["iss"] = .string(issuer)
        return object
    }

    /// Reads claims from a JWT payload; `nil` when a required claim is
    /// missing or has the wrong type. `app_access`/`admin_access` may also be
    /// `0`/`1` and count as `false` when absent; `iat` defaults to 0 and `iss`
    /// to `""` when absent.
    public init?(payload: JSONObject) {
        guard let id = payload["id"]?.stringValue, !id.isEmpty else { return nil }
        let role: String?
        switch payload["role"] {
        case nil, .null?: role = nil
        case .string(let r)?: role = r
        default: return nil
        }
        let session: String?
        switch payload["session"] {
        case nil, .null?: session = nil
        case .string(let s)?: session = s
        default: return nil
        }
        guard let appAccess = Self.flag(payload["app_access"]), let adminAccess = Self.flag(payload["admin_access"]),
            let exp = payload["exp"]?.intValue
        else { return nil }
        let iat: Int64
        switch payload["iat"] {
        case nil: iat = 0
        case let value?:
            guard let i = value.intValue else { return nil }
            iat = i
        }
        let issuer: String
        switch payload["iss"] {
        case nil: issuer = ""
        case .string(let s)?: issuer = s
        default: return nil
        }
        self.init(
            id: id, role: role, appAccess: appAccess, adminAccess: adminAccess, sessionID: session,
            issuedAt: iat, expiresAt: exp, issuer: issuer)
    }

    private static func flag(_ value: JSONValue?) -> Bool? {
        switch value {
        case .bool(let b)?: return b
        case .int(0)?: return false
        case .int(1)?: return true
        case nil, .null?: return false
        default: return nil
        }
    }
}

/// Why an access token was refused.
public enum AccessTokenError: Error, Sendable, Equatable {
    /// Not three base64url parts of JSON, or claims missing or mistyped.
    case malformed
    /// The signature does not match (wrong key or tampered token).
    case badSignature
    /// Valid, but `exp` has passed; carries the claims for logging.
    case expired(AccessTokenClaims)
    /// The header's `alg` is not `HS256` (e.g. `none`).
    case wrongAlgorithm
    /// The `iss` claim is not this server's issuer.
    case wrongIssuer

    /// The error a client sees: `TOKEN_EXPIRED` "Token expired." for expired
    /// tokens, otherwise `INVALID_TOKEN` "Invalid token.", as in Directus.
    public var switchboardError: SwitchboardError {
        if case .expired = self { return SwitchboardError(.tokenExpired, "Token expired.") }
        return SwitchboardError(.invalidToken, "Invalid token.")
    }
}

/// Signs and verifies HS256 JSON Web Tokens carrying `AccessTokenClaims`.
public struct AccessTokenSigner: Sendable, CustomStringConvertible {
    private let key: [UInt8]
    /// The issuer `verify` requires (`iss`).
    public let issuer: String

    /// Names the issuer only, so logging a signer never leaks its key.
    public var description: String { "AccessTokenSigner(issuer: \(issuer))" }

    /// Salt and info of the HKDF step that turns `SECRET` into the HMAC key.
    static let hkdfSalt = Array("switchboard-jwt".utf8)
    static let hkdfInfo = Array("hs256".utf8)

    /// A signer whose 32-byte HMAC key is derived from `secret` with
    /// HKDF-SHA256 (salt `"switchboard-jwt"`, info `"hs256"`), so a secret of
    /// any length gives a full-strength key.
    public init(secret: String, issuer: String = "directus") {
        self.init(rawKey: Self.deriveKey(secret: secret), issuer: issuer)
    }

    /// A signer using `rawKey` as the HMAC-SHA256 key directly.
    public init(rawKey: [UInt8], issuer: String = "directus") {
        self.key = rawKey
        self.issuer = issuer
    }

    /// The HKDF-SHA256 key for `secret` (RFC 5869, 32 bytes).
    static func deriveKey(secret: String) -> [UInt8] {
        let prk = hmacSHA256(key: hkdfSalt, data: Array(secret.utf8))
        // One block of expand is enough for 32 bytes: T(1) = HMAC(PRK, info || 0x01).
        return hmacSHA256(key: prk, data: hkdfInfo + [0x01])
    }

    private static let encodedHeader = Base64URL.encode(
        JSONValue.object(["alg": "HS256", "typ": "JWT"]).jsonBytes)

    /// The compact JWT for `claims`: header `{"alg":"HS256","typ":"JWT"}`.
    public func sign(_ claims: AccessTokenClaims) -> String {
        let signingInput = Self.encodedHeader + "." + Base64URL.encode(JSONValue.object(claims.payload).jsonBytes)
        let signature = Self.hmacSHA256(key: key, data: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// Checks `token` and returns its claims. `now` is the current time in
    /// seconds since 1970; the token is expired when `now >= exp` (as in
    /// `jsonwebtoken`). The algorithm is checked before the signature, and the
    /// signature (compared in constant time) before anything in the payload
    /// is trusted.
    public func verify(_ token: String, now: Int64) throws(AccessTokenError) -> AccessTokenClaims {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(Substring(parts[0])),
            case .object(let header)? = try? JSONReader.parse(headerBytes)
        else { throw .malformed }
        guard header["alg"]?.stringValue == "HS256" else { throw .wrongAlgorithm }
        guard let signature = Base64URL.decode(Substring(parts[2])), signature.count == 32 else {
            throw .badSignature
        }
        let signingInput = Array(token.utf8.prefix(parts[0].count + 1 + parts[1].count))
        let expected = Self.hmacSHA256(key: key, data: signingInput)
        let equal = expected.withUnsafeBytes { a in
            signature.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, 32) == 0 }
        }
        guard equal else { throw .badSignature }
        guard let payloadBytes = Base64URL.decode(Substring(parts[1])),
            case .object(let payload)? = try? JSONReader.parse(payloadBytes),
            let claims = AccessTokenClaims(payload: payload)
        else { throw .malformed }
        guard claims.issuer == issuer else { throw .wrongIssuer }
        guard now < claims.expiresAt else { throw .expired(claims) }
        return claims
    }

    /// Whether `token` has the shape of a JWT: three dot-separated base64url
    /// parts whose first decodes to a JSON object with an `alg`. Static
    /// tokens never look like this, so callers can route a bearer token to
    /// JWT verification or a static-token lookup.
    public static func looksLikeJWT(_ token: String) -> Bool {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(Substring(parts[0])),
            case .object(let header)? = try? JSONReader.parse(headerBytes)
        else { return false }
        return header["alg"]?.stringValue != nil
    }

    /// HMAC-SHA256 via OpenSSL's one-shot `HMAC`.
    static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var outLength: UInt32 = 0
        // Non-empty buffers keep the base addresses non-nil for empty keys and data.
        let keyBuffer = key.isEmpty ? [0] : key
        let dataBuffer = data.isEmpty ? [0] : data
        let result = keyBuffer.withUnsafeBytes { k in
            dataBuffer.withUnsafeBytes { d in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(
                        EVP_sha256(), k.baseAddress, Int32(key.count),
                        d.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
                        o.baseAddress, &outLength)
                }
            }
        }
        // HMAC-SHA256 only fails if OpenSSL itself is broken (e.g. no SHA-256 provider).
        precondition(result != nil && outLength == 32, "OpenSSL HMAC-SHA256 failed")
        return out
    }
}
