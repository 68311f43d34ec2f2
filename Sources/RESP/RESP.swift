import CHiredis

/// A reply from Redis (RESP2).
public enum RESPValue: Sendable, Hashable {
    case simple(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8]?)
    case array([RESPValue]?)

    public var text: String? {
        switch self {
        case .simple(let s): return s
        case .bulk(let b?): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let b): return b
        case .simple(let s): return Array(s.utf8)
        default: return nil
        }
    }
}

/// RESP encoding and decoding through hiredis (its reader and command formatter).
public enum RESPCodec {
    /// `*N\r\n$len\r\narg\r\n…` for one command.
    public static func encode(_ arguments: [[UInt8]]) -> [UInt8] {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        var buffers: [UnsafeMutablePointer<CChar>] = []
        defer { buffers.forEach { $0.deallocate() } }
        for arg in arguments {
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(arg.count, 1))
            arg.withUnsafeBytes { raw in
                if let base = raw.baseAddress { p.update(from: base.assumingMemoryBound(to: CChar.self), count: arg.count) }
            }
            buffers.append(p)
            pointers.append(UnsafePointer(p))
            lengths.append(arg.count)
        }
        var target: UnsafeMutablePointer<CChar>?
        let n = redisFormatCommandArgv(&target, Int32(arguments.count), &pointers, lengths)
        guard n > 0, let target else { return [] }
        defer { redisFreeCommand(target) }
        return Array(UnsafeRawBufferPointer(start: target, count: Int(n)))
    }

    public static func encode(_ arguments: [String]) -> [UInt8] { encode(arguments.map { Array($0.utf8) }) }
}

/// Incremental reply parser (hiredis `redisReader`). Not thread-safe: owned by one channel handler.
public final class RESPParser {
    public struct ProtocolError: Error, CustomStringConvertible {
        public let description: String
    }

    private let reader: UnsafeMutablePointer<redisReader>
    private var limits = RESPSizeGuard()

    public init?() {
        guard let r = redisReaderCreate() else { return nil }
        reader = r
    }

    deinit { redisReaderFree(reader) }

    /// Adds received bytes. Sizes over `RESPSizeGuard`'s limits poison the parser (next() throws)
    /// before hiredis, which allocates a multi-bulk's element table up front, ever sees them.
    public func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, limits.problem == nil else { return }
        limits.scan(bytes)
        guard limits.problem == nil else { return }
        _ = redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    /// The next complete reply, nil when more bytes are needed.
    public func next() throws -> RESPValue? {
        if let problem = limits.problem { throw ProtocolError(description: "invalid reply from Redis: \(problem)") }
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
            let message = withUnsafeBytes(of: reader.pointee.errstr) { buf in
                String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw ProtocolError(description: "invalid reply from Redis: \(message)")
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulk(r.str.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(r.len))) } ?? [])
        case REDIS_REPLY_STATUS:
            return .simple(r.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_ERROR:
            return .error(r.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_NIL:
            return .bulk(nil)
        case REDIS_REPLY_ARRAY:
            var items: [RESPValue] = []
            items.reserveCapacity(Int(r.elements))
            for i in 0..<Int(r.elements) {
                if let e = r.element[i] { items.append(convert(e)) }
            }
            return .array(items)
        default:
            return .bulk(nil)
        }
    }
}

/// Follows the RESP2 stream token by token (header lines, bulk payloads) and
/// refuses sizes no Redis reply of ours can have: a multi-bulk of more than
/// `maxElements` or a bulk string over Redis's own 512 MB `proto-max-bulk-len`.
struct RESPSizeGuard {
    static let maxElements = 1_048_576
    static let maxBulk = 512 * 1_048_576

    private enum State {
        /// At a token boundary: the next byte is a type byte.
        case start
        /// In a header line of `type`; `value` accumulates its number (for `*` and `$`).
        case line(type: UInt8, value: Int, negative: Bool, digits: Int)
        /// In a header line whose content does not matter (`+`, `-`, `:`), up to its `\n`.
        case skipLine
        /// Skipping a bulk payload and its CRLF.
        case bulk(remaining: Int)
    }

    private var state = State.start
    private(set) var problem: String?

    mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        while i < n, problem == nil {
            switch state {
            case .start:
                let type = bytes[i]
                i += 1
                switch type {
                case UInt8(ascii: "*"), UInt8(ascii: "$"): state = .line(type: type, value: 0, negative: false, digits: 0)
                case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"): state = .skipLine
                default: problem = "unexpected byte \(type) where a reply starts"
                }
            case .skipLine:
                while i < n, bytes[i] != UInt8(ascii: "\n") { i += 1 }
                if i < n {
                    i += 1
                    state = .start
                }
            case .line(let type, var value, var negative, var digits):
                while i < n {
                    let c = bytes[i]
                    i += 1
                    if c == UInt8(ascii: "\n") {
                        finishHeader(type: type, value: negative ? -value : value)
                        break
                    }
                    if c == UInt8(ascii: "\r") { continue }
                    if c == UInt8(ascii: "-"), digits == 0, !negative {
                        negative = true
                    } else if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9"), digits < 18 {
                        value = value * 10 + Int(c - UInt8(ascii: "0"))
                        digits += 1
                    } else {
                        problem = "malformed length in a reply header"
                        break
                    }
                    state = .line(type: type, value: value, negative: negative, digits: digits)
                }
            case .bulk(let remaining):
                let take = min(remaining, n - i)
                i += take
                state = remaining - take == 0 ? .start : .bulk(remaining: remaining - take)
            }
        }
    }

    private mutating func finishHeader(type: UInt8, value: Int) {
        if type == UInt8(ascii: "*") {
            if value > Self.maxElements { problem = "a multi-bulk reply of \(value) elements is over the limit" }
            state = .start
        } else if value < 0 {
            state = .start  // a nil bulk string
        } else if value > Self.maxBulk {
            problem = "a bulk string of \(value) bytes is over the limit"
        } else {
            state = .bulk(remaining: value + 2)
        }
    }
}
