import CArgon2

/// Hashes and verifies passwords with Argon2 (libargon2), in the PHC string
/// format Directus stores in `directus_users.password`:
/// `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>` (unpadded standard base64).
///
/// The defaults match the node `argon2` package Directus uses: argon2id,
/// 64 MiB, 3 passes, 4 lanes, 16-byte salt, 32-byte hash. Hashing and
/// verifying take tens of milliseconds of CPU and `memoryKiB` of RAM; the
/// methods are synchronous and callers choose where to run them.
public struct PasswordHasher: Sendable {
    /// Memory cost in KiB (`m`).
    public let memoryKiB: UInt32
    /// Number of passes (`t`).
    public let iterations: UInt32
    /// Degree of parallelism (`p`).
    public let parallelism: UInt32

    /// Salt length of new hashes, in bytes.
    public static let saltLength = 16
    /// Hash length of new hashes, in bytes.
    public static let hashLength = 32
    /// Longest PHC string `verify` will look at.
    static let maxEncodedLength = 1024

    /// A hasher producing argon2id hashes with the given costs.
    public init(memoryKiB: UInt32 = 65536, iterations: UInt32 = 3, parallelism: UInt32 = 4) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
    }

    /// Hashes `password` with a fresh random salt into an argon2id PHC string.
    public func hash(_ password: String) throws(PasswordHashError) -> String {
        try hash(password, salt: SecureRandom.bytes(Self.saltLength))
    }

    /// Hashes with a given salt (for tests and test vectors).
    func hash(_ password: String, salt: [UInt8]) throws(PasswordHashError) -> String {
        // A trailing NUL keeps the base address non-nil even for "".
        var pwd = Array(password.utf8)
        let pwdLength = pwd.count
        pwd.append(0)
        let encodedLength = argon2_encodedlen(
            iterations, memoryKiB, parallelism, UInt32(salt.count), UInt32(Self.hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: encodedLength)
        let code = pwd.withUnsafeBytes { pwdBuf in
            salt.withUnsafeBytes { saltBuf in
                encoded.withUnsafeMutableBufferPointer { out in
                    argon2_hash(
                        iterations, memoryKiB, parallelism,
                        pwdBuf.baseAddress, pwdLength,
                        saltBuf.baseAddress, salt.count,
                        nil, Self.hashLength,
                        out.baseAddress, out.count,
                        Argon2_id, UInt32(ARGON2_VERSION_13.rawValue))
                }
            }
        }
        guard code == ARGON2_OK.rawValue else { throw PasswordHashError(code: code) }
        let bytes = encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `password` matches the PHC string `phc`. Works for any
    /// variant (argon2id, argon2i, argon2d), version and cost parameters
    /// encoded in the string. Anything unparseable gives `false`.
    public func verify(_ password: String, against phc: String) -> Bool {
        guard let parameters = PHCParameters(phc) else { return false }
        var pwd = Array(password.utf8)
        let pwdLength = pwd.count
        pwd.append(0)
        let code = phc.withCString { encoded in
            pwd.withUnsafeBytes { pwdBuf in
                argon2_verify(encoded, pwdBuf.baseAddress, pwdLength, parameters.type)
            }
        }
        return code == ARGON2_OK.rawValue
    }

    /// Whether `phc` was made with other settings than this hasher's (variant,
    /// costs or lengths) and should be replaced by a fresh hash after a
    /// successful login. Unparseable strings also need rehashing.
    public func needsRehash(_ phc: String) -> Bool {
        guard let p = PHCParameters(phc) else { return true }
        return p.variant != "argon2id" || p.version != 19 || p.memoryKiB != memoryKiB || p.iterations != iterations
            || p.parallelism != parallelism || p.saltLength != Self.saltLength || p.hashLength != Self.hashLength
    }
}

/// Why hashing failed: a libargon2 error code and its message (for example
/// a memory cost below 8 KiB per lane).
public struct PasswordHashError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libargon2 error code (`Argon2_ErrorCodes`).
    public let code: Int32
    /// libargon2's description of the error.
    public let message: String

    init(code: Int32) {
        self.code = code
        if let text = argon2_error_message(code) {
            self.message = String(cString: text)
        } else {
            self.message = "unknown error"
        }
    }

    /// `argon2 error -14: Memory cost is too small`.
    public var description: String { "argon2 error \(code): \(message)" }
}

/// The header fields of an Argon2 PHC string, checked for shape only.
struct PHCParameters {
    var variant: String
    var type: argon2_type
    var version: UInt32
    var memoryKiB: UInt32
    var iterations: UInt32
    var parallelism: UInt32
    var saltLength: Int
    var hashLength: Int

    /// Parses `$argon2id$v=19$m=65536,t=3,p=4$salt$hash` (the `v=` part is
    /// optional, as in hashes from before version 1.3).
    init?(_ phc: String) {
        guard phc.utf8.count <= PasswordHasher.maxEncodedLength, !phc.utf8.contains(0) else { return nil }
        var parts = phc.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5 || parts.count == 6, parts[0].isEmpty else { return nil }
        variant = String(parts[1])
        switch variant {
        case "argon2id": type = Argon2_id
        case "argon2i": type = Argon2_i
        case "argon2d": type = Argon2_d
        default: return nil
        }
        if parts.count == 6 {
            guard parts[2].hasPrefix("v="), let v = UInt32(parts[2].dropFirst(2)) else { return nil }
            version = v
            parts.remove(at: 2)
        } else {
            version = 16
        }
        var m: UInt32?
        var t: UInt32?
        var p: UInt32?
        for field in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
            guard field.count > 2, field.dropFirst().first == "=", let value = UInt32(field.dropFirst(2)) else {
                return nil
            }
            switch field.first {
            case "m": m = value
            case "t": t = value
            case "p": p = value
            default: return nil
            }
        }
        guard let m, let t, let p else { return nil }
        memoryKiB = m
        iterations = t
        parallelism = p
        guard let salt = Self.decodedLength(parts[3]), let hash = Self.decodedLength(parts[4]) else { return nil }
        saltLength = salt
        hashLength = hash
    }

    /// The byte length of unpadded standard base64 text, or `nil` if it is not such text.
    private static func decodedLength(_ text: Substring) -> Int? {
        let valid = text.utf8.allSatisfy { c in
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2F
        }
        guard valid, !text.isEmpty, text.utf8.count % 4 != 1 else { return nil }
        return text.utf8.count * 3 / 4
    }
}
