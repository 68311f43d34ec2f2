import COpenSSL
import Tokens

/// Cryptographically secure random values: OpenSSL's `RAND_bytes`, falling
/// back to the system generator (`getrandom`/`arc4random`) if OpenSSL fails.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: count)
        var filled = false
        if count <= Int(Int32.max) {
            filled = out.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return false }
                return RAND_bytes(base, Int32(buffer.count)) == 1
            }
        }
        if !filled {
            var rng = SystemRandomNumberGenerator()
            for i in out.indices { out[i] = UInt8.random(in: 0...255, using: &rng) }
        }
        return out
    }

    /// A random URL-safe token: `bytes` random bytes as unpadded base64url.
    /// The default of 48 bytes gives 64 characters (384 bits), like the
    /// 64-character refresh and session tokens Directus hands out.
    public static func token(bytes count: Int = 48) -> String {
        Base64URL.encode(bytes(count))
    }

    /// A random (version 4) UUID in lowercase canonical form,
    /// e.g. `"3f0c9a4e-8d1b-4c2a-9e5f-0a1b2c3d4e5f"`.
    public static func uuidV4() -> String {
        var b = bytes(16)
        b[6] = (b[6] & 0x0F) | 0x40  // version 4
        b[8] = (b[8] & 0x3F) | 0x80  // RFC 4122 variant
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, byte) in b.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
