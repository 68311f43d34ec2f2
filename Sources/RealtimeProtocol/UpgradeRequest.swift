/// A WebSocket upgrade request read straight from the connection's first bytes
/// (RFC 6455 §4.1, RFC 9112 §3 and §5), for the endpoints' paths only: the
/// common case costs no general HTTP/1.1 parser. The reader is strict and
/// bounded; whatever it does not take as a plain upgrade (another method or
/// path, a body, folded or non-ASCII header lines, a head over the limits) it
/// leaves to the general HTTP/1.1 path, which answers exactly as it always did.
public struct UpgradeRequest: Sendable, Equatable {
    /// The request target as sent (path and query).
    public var target: String
    /// The header fields in their order, names as sent.
    public var headers: [Header]

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(target: String, headers: [Header]) {
        self.target = target
        self.headers = headers
    }

    /// The path: the target up to its `?`.
    public var path: Substring { target.prefix { $0 != "?" } }

    /// What the reader makes of the bytes read so far.
    public enum Reading: Sendable, Equatable {
        /// A prefix of a plain upgrade request for one of the paths: read more.
        case needMore
        /// A plain upgrade request for one of the paths, and the length of its head (what follows
        /// it is the client's first WebSocket bytes).
        case upgrade(UpgradeRequest, headLength: Int)
        /// Something else: the general HTTP/1.1 path reads it from the first byte.
        case other
    }

    /// Bounds on what the reader takes; larger heads go to the general path.
    public struct Limits: Sendable, Equatable {
        /// The request line, the header lines and the empty line, in bytes.
        public var maxHeadBytes: Int
        /// Header fields.
        public var maxHeaders: Int

        public init(maxHeadBytes: Int = 16 * 1024, maxHeaders: Int = 64) {
            self.maxHeadBytes = maxHeadBytes
            self.maxHeaders = maxHeaders
        }
    }

    /// Reads `bytes`, the first bytes of a connection, as an upgrade request for one of `paths`.
    public static func read(_ bytes: UnsafeRawBufferPointer, paths: Set<String>, limits: Limits = Limits()) -> Reading {
        var reader = Reader(bytes: bytes, end: min(bytes.count, limits.maxHeadBytes))
        let reading = reader.readHead(paths: paths, maxHeaders: limits.maxHeaders)
        // A head that did not end within the limit is the general path's to answer.
        if case .needMore = reading, bytes.count >= limits.maxHeadBytes { return .other }
        return reading
    }

    /// `read` for bytes in an array (tests, fuzzing).
    public static func read(_ bytes: [UInt8], paths: Set<String>, limits: Limits = Limits()) -> Reading {
        bytes.withUnsafeBytes { read($0, paths: paths, limits: limits) }
    }
}

/// One pass over a head; every index stays below `end`.
private struct Reader {
    let bytes: UnsafeRawBufferPointer
    let end: Int
    var at = 0

    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let space: UInt8 = 32
    static let tab: UInt8 = 9
    static let colon: UInt8 = 58
    static let method = Array("GET ".utf8)
    /// What follows the target on the request line (the space is read already).
    static let version = Array("HTTP/1.1\r\n".utf8)
    /// `tchar` (RFC 9110 §5.6.2) by byte value.
    static let tokenBytes: [Bool] = (0...255).map { byte in
        switch UInt8(byte) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(UInt8(byte))
        }
    }

    init(bytes: UnsafeRawBufferPointer, end: Int) {
        self.bytes = bytes
        self.end = end
    }

    mutating func readHead(paths: Set<String>, maxHeaders: Int) -> UpgradeRequest.Reading {
        // Request line: `GET SP request-target SP HTTP/1.1 CRLF`.
        for byte in Self.method {
            guard at < end else { return .needMore }
            guard bytes[at] == byte else { return .other }
            at += 1
        }
        let targetStart = at
        while at < end, bytes[at] != Self.space {
            // A target is visible ASCII (RFC 9112 §3.2, origin-form).
            guard bytes[at] > 0x20, bytes[at] < 0x7F else { return .other }
            at += 1
        }
        guard at < end else { return .needMore }
        guard at > targetStart, bytes[targetStart] == UInt8(ascii: "/") else { return .other }
        let target = string(targetStart, at)
        guard paths.contains(String(target.prefix { $0 != "?" })) else { return .other }
        at += 1
        for byte in Self.version {
            guard at < end else { return .needMore }
            guard bytes[at] == byte else { return .other }
            at += 1
        }
        // Header lines until the empty line.
        var headers: [UpgradeRequest.Header] = []
        var upgradesToWebSocket = false
        while true {
            guard at < end else { return .needMore }
            if bytes[at] == Self.cr {
                guard at + 1 < end else { return .needMore }
                guard bytes[at + 1] == Self.lf else { return .other }
                at += 2
                break
            }
            guard headers.count < maxHeaders else { return .other }
            // field-name: a token (no leading whitespace: obsolete line folding is the general path's).
            let nameStart = at
            while at < end, bytes[at] != Self.colon {
                guard Self.isTokenByte(bytes[at]) else { return .other }
                at += 1
            }
            guard at < end else { return .needMore }
            guard at > nameStart else { return .other }
            let nameEnd = at
            at += 1
            // OWS field-value OWS CRLF, the value visible ASCII with inner spaces and tabs.
            while at < end, bytes[at] == Self.space || bytes[at] == Self.tab { at += 1 }
            let valueStart = at
            var valueEnd = at
            while at < end, bytes[at] != Self.cr {
                let byte = bytes[at]
                guard byte == Self.tab || (byte >= 0x20 && byte < 0x7F) else { return .other }
                at += 1
                if byte != Self.space && byte != Self.tab { valueEnd = at }
            }
            guard at + 1 < end else { return .needMore }
            guard bytes[at + 1] == Self.lf else { return .other }
            at += 2
            let name = string(nameStart, nameEnd)
            let value = string(valueStart, valueEnd)
            if nameIs("content-length", nameStart, nameEnd) {
                // A body is the general path's (it reads and drops it).
                guard value == "0" else { return .other }
            } else if nameIs("transfer-encoding", nameStart, nameEnd) {
                return .other
            } else if nameIs("upgrade", nameStart, nameEnd), Self.listsWebSocket(value) {
                upgradesToWebSocket = true
            }
            headers.append(.init(name: name, value: value))
        }
        guard upgradesToWebSocket else { return .other }
        return .upgrade(UpgradeRequest(target: target, headers: headers), headLength: at)
    }

    private func string(_ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self)
    }

    static func isTokenByte(_ byte: UInt8) -> Bool { tokenBytes[Int(byte)] }

    /// Whether the name between `from` and `to` is `lowercase` in any case (names are ASCII tokens).
    private func nameIs(_ lowercase: StaticString, _ from: Int, _ to: Int) -> Bool {
        guard to - from == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            for i in 0..<expected.count where bytes[from + i] | 0x20 != expected[i] { return false }
            return true
        }
    }

    /// Whether a comma-separated `Upgrade` value names `websocket` (any case).
    static func listsWebSocket(_ value: String) -> Bool {
        value.lowercased().split(separator: ",").contains { part in
            var token = part
            while let c = token.first, c == " " || c == "\t" { token.removeFirst() }
            while let c = token.last, c == " " || c == "\t" { token.removeLast() }
            return token == "websocket"
        }
    }
}
