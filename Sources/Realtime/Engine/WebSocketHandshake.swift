import COpenSSL
import NIOCore
import NIOHTTP1
import Tokens

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
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        _ = input.withUnsafeBufferPointer { SHA1($0.baseAddress, $0.count, &digest) }
        return Base64URL.encodeStandard(digest)
    }

    private static let guid = Array("258EAFA5-E914-47DA-95CA-C5AB0DC85B11".utf8)

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
