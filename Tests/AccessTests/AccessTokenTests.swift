import SwitchboardCore
import Testing

@testable import Access
@testable import Tokens

@Suite struct AccessTokenTests {
    static let rawKey: [UInt8] = Array(0..<32)
    let now: Int64 = 1_700_000_000

    func claims(session: String? = nil, issuedAt: Int64 = 1_700_000_000, ttl: Int64 = 900) -> AccessTokenClaims {
        AccessTokenClaims(
            id: "8cbb43fe-4cdf-4991-8352-c461779cec02", role: "d6a5e1d4-3b0c-4b5e-9c55-1c5a1d7a2f10",
            appAccess: true, adminAccess: false, sessionID: session, issuedAt: issuedAt, expiresAt: issuedAt + ttl)
    }

    @Test func signVerifyRoundTrip() throws {
        let signer = AccessTokenSigner(secret: "a long and random secret value")
        for c in [
            claims(), claims(session: "abc"),
            AccessTokenClaims(
                id: "u", role: nil, appAccess: false, adminAccess: true, issuedAt: 1, expiresAt: now + 10),
        ] {
            let token = signer.sign(c)
            #expect(token.split(separator: ".").count == 3)
            #expect(try signer.verify(token, now: now) == c)
            #expect(AccessTokenSigner.looksLikeJWT(token))
        }
    }

    @Test func payloadShape() throws {
        let token = AccessTokenSigner(rawKey: Self.rawKey).sign(claims(session: "sess"))
        let parts = token.split(separator: ".")
        let header = try JSONValue(parsing: #require(Base64URL.decode(parts[0])))
        #expect(header.jsonString == #"{"alg":"HS256","typ":"JWT"}"#)
        let payload = try JSONValue(parsing: #require(Base64URL.decode(parts[1])))
        #expect(payload.objectValue?.keys == ["id", "role", "app_access", "admin_access", "session", "iat", "exp", "iss"])
        #expect(payload["session"] == "sess")
        #expect(payload["iss"] == "directus")

        let noSession = AccessTokenSigner(rawKey: Self.rawKey).sign(
            AccessTokenClaims(id: "u", role: nil, appAccess: false, adminAccess: false, issuedAt: 1, expiresAt: 2))
        let payload2 = try JSONValue(parsing: #require(Base64URL.decode(noSession.split(separator: ".")[1])))
        #expect(payload2.objectValue?.contains("session") == false)
        #expect(payload2["role"] == .null)
    }

    /// Produced with Python's `hmac` + `base64` + `json.dumps(separators=(",", ":"))`
    /// with the key bytes 0x00...0x1f: our signer must produce it byte for byte.
    static let pythonToken =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6IjhjYmI0M2ZlLTRjZGYtNDk5MS04MzUyLWM0NjE3NzljZWMwMiIsInJvbGUiOiJkNmE1ZTFkNC0zYjBjLTRiNWUtOWM1NS0xYzVhMWQ3YTJmMTAiLCJhcHBfYWNjZXNzIjp0cnVlLCJhZG1pbl9hY2Nlc3MiOmZhbHNlLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDkwMCwiaXNzIjoiZGlyZWN0dXMifQ.QD6Teci-rrezOaBy9n1qXoSdQQDSXx0GmPMd9zMtyUo"

    @Test func interopWithPythonVector() throws {
        let signer = AccessTokenSigner(rawKey: Self.rawKey)
        #expect(signer.sign(claims()) == Self.pythonToken)
        #expect(try signer.verify(Self.pythonToken, now: now + 899) == claims())
    }

    /// Python's default `json.dumps` (spaces after separators), keys in another
    /// order, `role: null` and a `session` claim.
    @Test func interopWithLooselyFormattedToken() throws {
        let token =
            "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJIUzI1NiJ9.eyJleHAiOiAxNzAwMDAwOTAwLCAiaXNzIjogImRpcmVjdHVzIiwgInNlc3Npb24iOiAic2Vzcy0xMjMiLCAiYWRtaW5fYWNjZXNzIjogdHJ1ZSwgImFwcF9hY2Nlc3MiOiB0cnVlLCAicm9sZSI6IG51bGwsICJpZCI6ICJ1MSIsICJpYXQiOiAxNzAwMDAwMDAwfQ.43PV1MUmHiNLlrvFWBeUZmftpaArF8rgYcrEXaT3V1A"
        let verified = try AccessTokenSigner(rawKey: Self.rawKey).verify(token, now: now)
        #expect(
            verified
                == AccessTokenClaims(
                    id: "u1", role: nil, appAccess: true, adminAccess: true, sessionID: "sess-123",
                    issuedAt: 1_700_000_000, expiresAt: 1_700_000_900))
    }

    /// HKDF-SHA256(ikm: "abc", salt: "switchboard-jwt", info: "hs256"), computed in Python.
    @Test func hkdfWithShortSecret() throws {
        let expected = "2bc22bee44ac5ff48c1c694253380d38067bec273cf1308e0703d64168ae2714"
        #expect(hex(AccessTokenSigner.deriveKey(secret: "abc")) == expected)
        #expect(
            hex(AccessTokenSigner.deriveKey(secret: "pässwörd-secret"))
                == "d39ea509895d961399617462a75f6225cdc8d62b0ea7911a1ec8ad23b91c7ed1")
        let pythonToken =
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6InUyIiwicm9sZSI6bnVsbCwiYXBwX2FjY2VzcyI6ZmFsc2UsImFkbWluX2FjY2VzcyI6ZmFsc2UsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAwOTAwLCJpc3MiOiJkaXJlY3R1cyJ9.31SruNqKO5S2e3GdiqZPz08QVnfXd-0ZrnGXyvHwDy4"
        let signer = AccessTokenSigner(secret: "abc")
        #expect(try signer.verify(pythonToken, now: now).id == "u2")
        #expect(throws: AccessTokenError.badSignature) { try AccessTokenSigner(secret: "abd").verify(pythonToken, now: now) }
        // Even an empty secret gives a working (if weak) key.
        let empty = AccessTokenSigner(secret: "")
        #expect(try empty.verify(empty.sign(claims()), now: now) == claims())
    }

    @Test func hmacMatchesRFC4231() {
        let mac = AccessTokenSigner.hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func tamperedPayloadIsRejected() throws {
        let signer = AccessTokenSigner(rawKey: Self.rawKey)
        let parts = Self.pythonToken.split(separator: ".").map(String.init)
        var forged = claims()
        forged.adminAccess = true
        let forgedPayload = Base64URL.encode(JSONValue.object(forged.payload).jsonBytes)
        let tampered = [parts[0], forgedPayload, parts[2]].joined(separator: ".")
        #expect(throws: AccessTokenError.badSignature) { try signer.verify(tampered, now: now) }

        // Flipping one signature character, or signing with another key, fails too.
        var sig = Array(parts[2])
        sig[0] = sig[0] == "A" ? "B" : "A"
        #expect(throws: AccessTokenError.badSignature) {
            try signer.verify([parts[0], parts[1], String(sig)].joined(separator: "."), now: now)
        }
        #expect(throws: AccessTokenError.badSignature) {
            try AccessTokenSigner(rawKey: Array(repeating: 7, count: 32)).verify(Self.pythonToken, now: now)
        }
        #expect(throws: AccessTokenError.badSignature) {
            try signer.verify([parts[0], parts[1], ""].joined(separator: "."), now: now)
        }
    }

    @Test func expiredTokens() throws {
        let signer = AccessTokenSigner(rawKey: Self.rawKey)
        #expect(throws: AccessTokenError.expired(claims())) { try signer.verify(Self.pythonToken, now: now + 900) }
        #expect(throws: AccessTokenError.expired(claims())) { try signer.verify(Self.pythonToken, now: now + 100_000) }
        #expect(AccessTokenError.expired(claims()).switchboardError.code == .tokenExpired)
        #expect(AccessTokenError.badSignature.switchboardError.code == .invalidToken)
    }

    @Test func algorithmNoneIsRejected() throws {
        let signer = AccessTokenSigner(rawKey: Self.rawKey)
        let payload = Self.pythonToken.split(separator: ".")[1]
        for alg in ["none", "None", "HS512", "RS256"] {
            let header = Base64URL.encode(JSONValue.object(["alg": .string(alg), "typ": "JWT"]).jsonBytes)
            #expect(throws: AccessTokenError.wrongAlgorithm) { try signer.verify("\(header).\(payload).", now: now) }
            #expect(throws: AccessTokenError.wrongAlgorithm) {
                try signer.verify("\(header).\(payload).\(Self.pythonToken.split(separator: ".")[2])", now: now)
            }
        }
        let noAlg = Base64URL.encode(JSONValue.object(["typ": "JWT"]).jsonBytes)
        #expect(throws: AccessTokenError.wrongAlgorithm) { try signer.verify("\(noAlg).\(payload).x", now: now) }
    }

    @Test func wrongIssuer() throws {
        let signer = AccessTokenSigner(rawKey: Self.rawKey)
        var other = claims()
        other.issuer = "someone-else"
        #expect(throws: AccessTokenError.wrongIssuer) { try signer.verify(signer.sign(other), now: now) }
        let custom = AccessTokenSigner(rawKey: Self.rawKey, issuer: "someone-else")
        #expect(try custom.verify(signer.sign(other), now: now) == other)
    }

    @Test(arguments: [
        "", "abc", "a.b", "a.b.c.d", "...", "!!.??.xx", "Zm9v.e30.AAAA",
        // Header is JSON but not an object.
        "WzFd.e30.AAAA",
    ])
    func malformedTokens(_ token: String) {
        let signer = AccessTokenSigner(rawKey: Self.rawKey)
        #expect(throws: AccessTokenError.malformed) { try signer.verify(token, now: 0) }
        #expect(!AccessTokenSigner.looksLikeJWT(token))
    }

    @Test func validlySignedGarbagePayloadIsMalformed() {
        let signer = AccessTokenSigner(rawKey: Self.rawKey)
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        for payload in [#"{"role":null}"#, #"{"id":"u","exp":"soon"}"#, #"{"id":5,"exp":1}"#, "not json", "[]"] {
            let input = header + "." + Base64URL.encode(Array(payload.utf8))
            let sig = Base64URL.encode(AccessTokenSigner.hmacSHA256(key: Self.rawKey, data: Array(input.utf8)))
            #expect(throws: AccessTokenError.malformed) { try signer.verify(input + "." + sig, now: 0) }
        }
    }

    @Test func staticTokensDoNotLookLikeJWTs() {
        #expect(!AccessTokenSigner.looksLikeJWT(SecureRandom.token()))
        #expect(!AccessTokenSigner.looksLikeJWT("my-static-admin-token"))
        #expect(!AccessTokenSigner.looksLikeJWT("a.b.c"))
        #expect(AccessTokenSigner.looksLikeJWT(Self.pythonToken))
    }

    @Test func base64URL() {
        #expect(Base64URL.encode(Array("".utf8)) == "")
        #expect(Base64URL.encode(Array("f".utf8)) == "Zg")
        #expect(Base64URL.encode(Array("fo".utf8)) == "Zm8")
        #expect(Base64URL.encode(Array("foo".utf8)) == "Zm9v")
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("Zm9vYg") == Array("foob".utf8))
        #expect(Base64URL.decode("Zg==") == nil)  // padding refused
        #expect(Base64URL.decode("Zh") == nil)  // non-canonical trailing bits
        #expect(Base64URL.decode("Z") == nil)
        #expect(Base64URL.decode("Zm+v") == nil)
        for n in 0..<40 {
            let bytes = SecureRandom.bytes(n)
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }

    @Test func secureRandom() {
        #expect(SecureRandom.bytes(0).isEmpty)
        #expect(SecureRandom.bytes(32).count == 32)
        #expect(SecureRandom.bytes(32) != SecureRandom.bytes(32))
        let token = SecureRandom.token()
        #expect(token.count == 64)
        #expect(token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        #expect(SecureRandom.token(bytes: 32).count == 43)
        let uuid = SecureRandom.uuidV4()
        let groups = uuid.split(separator: "-", omittingEmptySubsequences: false).map(\.count)
        #expect(groups == [8, 4, 4, 4, 12])
        #expect(uuid.allSatisfy { $0 == "-" || ($0.isHexDigit && !$0.isUppercase) })
        #expect(Array(uuid)[14] == "4")
        #expect("89ab".contains(Array(uuid)[19]))
        #expect(SecureRandom.uuidV4() != uuid)
    }

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

@Suite struct Base64Tests {
    @Test func standardBase64PadsAsRFC4648Says() {
        // RFC 4648 §10's vectors
        for (plain, encoded) in [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            #expect(Base64URL.encodeStandard(Array(plain.utf8)) == encoded)
        }
        #expect(Base64URL.encodeStandard([UInt8](repeating: 0xff, count: 3)) == "////")
        #expect(Base64URL.encodeStandard([0xfb, 0xef]) == "++8=")
        // base64url: the same bits, its own two letters, no padding
        #expect(Base64URL.encode([0xfb, 0xef]) == "--8")
    }
}
