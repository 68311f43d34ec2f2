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

    public init?() {
        guard let r = redisReaderCreate() else { return nil }
        reader = r
    }

    deinit { redisReaderFree(reader) }

    public func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        _ = redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    /// The next complete reply, nil when more bytes are needed.
    public func next() throws -> RESPValue? {
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
