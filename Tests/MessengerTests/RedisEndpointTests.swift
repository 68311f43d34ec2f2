import RESP
import Testing

@testable import Messenger

@Suite struct RedisEndpointTests {
    @Test func parsesPlainURLWithDefaults() throws {
        let e = try RedisEndpoint.parse("redis://127.0.0.1")
        #expect(e.address == .tcp(host: "127.0.0.1", port: 6379))
        #expect(!e.tls && e.database == 0 && e.password == nil && e.username == nil)
    }

    @Test func parsesACLUserPasswordPortAndDatabase() throws {
        let e = try RedisEndpoint.parse("rediss://app:s%40cret@redis.local:6380/3")
        #expect(e.address == .tcp(host: "redis.local", port: 6380))
        #expect(e.tls && e.username == "app" && e.password == "s@cret" && e.database == 3)
    }

    @Test func passwordOnlyAndIPv6() throws {
        let e = try RedisEndpoint.parse("redis://:pw@[::1]:7000")
        #expect(e.address == .tcp(host: "::1", port: 7000))
        #expect(e.username == nil && e.password == "pw")
    }

    @Test func unixSocketWithDatabase() throws {
        let e = try RedisEndpoint.parse("unix:///run/redis.sock?db=2")
        #expect(e.address == .unix(path: "/run/redis.sock") && e.database == 2)
    }

    @Test(arguments: ["http://x", "redis://", "redis://h:99999", "redis://h/notanumber", "unix://relative"])
    func rejectsBadURLs(_ url: String) {
        #expect(throws: RedisEndpoint.ParseError.self) { try RedisEndpoint.parse(url) }
    }

    @Test func redactsPasswords() {
        #expect(RedisEndpoint.redacted("redis://u:secret@h:1/0") == "redis://u:***@h:1/0")
        #expect(RedisEndpoint.redacted("redis://h:1") == "redis://h:1")
    }
}

@Suite struct RESPCodecTests {
    @Test func encodesCommandsAsRESPArrays() {
        #expect(RESPCodec.encode(["PUBLISH", "ch", "hi"]) == Array("*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$2\r\nhi\r\n".utf8))
    }

    @Test func encodesBinaryPayloads() {
        let payload: [UInt8] = [0, 13, 10, 255]
        let bytes = RESPCodec.encode([Array("SET".utf8), Array("k".utf8), payload])
        #expect(bytes == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n".utf8) + payload + [13, 10])
    }

    @Test func parsesRepliesAcrossPartialReads() throws {
        let parser = try #require(RESPParser())
        let wire = Array("+OK\r\n:42\r\n$-1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n-ERR bad\r\n".utf8)
        var replies: [RESPValue] = []
        for chunk in stride(from: 0, to: wire.count, by: 3) {
            wire[chunk..<min(chunk + 3, wire.count)].withUnsafeBytes { parser.feed($0) }
            while let r = try parser.next() { replies.append(r) }
        }
        #expect(
            replies == [
                .simple("OK"), .integer(42), .bulk(nil),
                .array([.bulk(Array("message".utf8)), .bulk(Array("ch".utf8)), .bulk(Array("hello".utf8))]),
                .error("ERR bad"),
            ])
    }

    @Test func rejectsGarbage() throws {
        let parser = try #require(RESPParser())
        Array("?what\r\n".utf8).withUnsafeBytes { parser.feed($0) }
        #expect(throws: (any Error).self) { try parser.next() }
    }

    /// Found by FuzzRESP: hiredis allocates a multi-bulk's element table up front, so a header
    /// claiming 333,333,332 elements asked for 2.6 GB before any element arrived.
    @Test func refusesMultiBulkCountsNoReplyCanHaveBeforeAllocating() throws {
        let parser = try #require(RESPParser())
        Array("*333333332\r\n*0\r\n*1\r\n*0\r\n1\r".utf8).withUnsafeBytes { parser.feed($0) }
        #expect(throws: RESPParser.ProtocolError.self) { try parser.next() }
        let bulk = try #require(RESPParser())
        Array("$999999999999\r\n".utf8).withUnsafeBytes { bulk.feed($0) }
        #expect(throws: RESPParser.ProtocolError.self) { try bulk.next() }
    }

    @Test func theSizeGuardFollowsBulkPayloadsThatLookLikeHeaders() throws {
        let parser = try #require(RESPParser())
        // A payload containing "*99999999\r\n" is data, not a header.
        let wire = Array("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$11\r\n*99999999\r\n\r\n:1\r\n".utf8)
        for chunk in stride(from: 0, to: wire.count, by: 5) {
            wire[chunk..<min(chunk + 5, wire.count)].withUnsafeBytes { parser.feed($0) }
        }
        #expect(
            try parser.next()
                == .array([.bulk(Array("message".utf8)), .bulk(Array("ch".utf8)), .bulk(Array("*99999999\r\n".utf8))]))
        #expect(try parser.next() == .integer(1))
    }
}
