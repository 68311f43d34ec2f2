import COpenSSL
import NIOCore
import NIOHTTP1

/// The HTTP/1.1 side of opening a WebSocket (RFC 6455 §4.2).
public enum WebSocketHandshake {
    /// Whether `head` asks for a WebSocket (GET with `Upgrade: websocket`).
    public static func isUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.method == .GET
            && head.headers["upgrade"].contains { $0.lowercased().split(separator: ",").contains { $0.trimmed == "websocket" } }
    }

    /// The `Sec-WebSocket-Accept` value for a valid request, or nil (missing key, version not 13).
    public static func acceptValue(_ head: HTTPRequestHead) -> String? {
        guard let key = head.headers.first(name: "sec-websocket-key")?.trimmed, !key.isEmpty,
            head.headers.first(name: "sec-websocket-version")?.trimmed == "13"
        else { return nil }
        var input: [UInt8] = []
        input.reserveCapacity(key.utf8.count + guid.count)
        input.append(contentsOf: key.utf8)
        input.append(contentsOf: guid)
        var digest = (UInt64(0), UInt64(0), UInt32(0))  // SHA_DIGEST_LENGTH (20) bytes
        return withUnsafeMutableBytes(of: &digest) { out in
            _ = input.withUnsafeBufferPointer { SHA1($0.baseAddress, $0.count, out.baseAddress) }
            return base64(UnsafeRawBufferPointer(rebasing: out[0..<Int(SHA_DIGEST_LENGTH)]))
        }
    }

    private static let guid = Array("258EAFA5-E914-47DA-95CA-C5AB0DC85B11".utf8)
    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding (RFC 4648 §4).
    static func base64(_ bytes: UnsafeRawBufferPointer) -> String {
        let length = (bytes.count + 2) / 3 * 4
        return String(unsafeUninitializedCapacity: length) { out in
            var o = 0
            var i = 0
            while i < bytes.count {
                let n = bytes.count - i
                let b0 = UInt32(bytes[i])
                let b1 = n > 1 ? UInt32(bytes[i + 1]) : 0
                let b2 = n > 2 ? UInt32(bytes[i + 2]) : 0
                let triple = b0 << 16 | b1 << 8 | b2
                out[o] = base64Alphabet[Int(triple >> 18 & 63)]
                out[o + 1] = base64Alphabet[Int(triple >> 12 & 63)]
                out[o + 2] = n > 1 ? base64Alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "=")
                out[o + 3] = n > 2 ? base64Alphabet[Int(triple & 63)] : UInt8(ascii: "=")
                o += 4
                i += 3
            }
            return o
        }
    }

    /// The 101 response.
    public static func switchingProtocols(accept: String, subprotocol: String?) -> HTTPResponseHead {
        var headers = HTTPHeaders([("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)])
        if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
        return HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers)
    }

    /// The 101 response as it goes on the wire, written without an HTTP encoder: the same head as
    /// `switchingProtocols`.
    public static func writeSwitchingProtocols(accept: String, subprotocol: String?, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
        buffer.writeString(accept)
        if let subprotocol {
            buffer.writeStaticString("\r\nSec-WebSocket-Protocol: ")
            buffer.writeString(subprotocol)
        }
        buffer.writeStaticString("\r\n\r\n")
    }

    /// The subprotocols a client offers (`Sec-WebSocket-Protocol`), in its order.
    public static func offeredSubprotocols(_ head: HTTPRequestHead) -> [String] {
        head.headers["sec-websocket-protocol"].flatMap { $0.split(separator: ",").map { String($0.trimmed) } }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (compared as bytes: HTTP's optional whitespace).
    fileprivate var trimmed: Substring {
        let s = Substring(self)
        let bytes = s.utf8
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        while start < end {
            let last = bytes.index(before: end)
            guard bytes[last] == 0x20 || bytes[last] == 0x09 else { break }
            end = last
        }
        return s[start..<end]
    }
}
