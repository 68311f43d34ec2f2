import COpenSSL
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
        let input = Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        _ = input.withUnsafeBufferPointer { SHA1($0.baseAddress, $0.count, &digest) }
        return base64(digest)
    }

    /// Standard base64 with padding.
    static func base64(_ bytes: [UInt8]) -> String {
        var text = Base64URL.encode(bytes).map { c -> Character in c == "-" ? "+" : c == "_" ? "/" : c }
        while text.count % 4 != 0 { text.append("=") }
        return String(text)
    }

    /// The 101 response.
    public static func switchingProtocols(accept: String, subprotocol: String?) -> HTTPResponseHead {
        var headers = HTTPHeaders([("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)])
        if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
        return HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers)
    }

    /// The subprotocols a client offers (`Sec-WebSocket-Protocol`), in its order.
    public static func offeredSubprotocols(_ head: HTTPRequestHead) -> [String] {
        head.headers["sec-websocket-protocol"].flatMap { $0.split(separator: ",").map { String($0.trimmed) } }
    }
}

extension StringProtocol {
    fileprivate var trimmed: Substring {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
