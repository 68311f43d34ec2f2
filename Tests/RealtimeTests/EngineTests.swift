import NIOCore
import NIOHTTP1
import Query
import RealtimeProtocol
import Store
import SwitchboardCore
import Testing

@testable import Realtime

@Suite struct DeadlineHeapTests {
    @Test func popsDueEntriesEarliestFirstAndKeepsTheRest() {
        var heap = DeadlineHeap()
        for (socket, at) in [(1, 500), (2, 100), (3, 300), (4, 900), (5, 100)] {
            heap.schedule(UInt64(socket), at: Int64(at), generation: 1)
        }
        #expect(heap.popDue(now: 50).isEmpty)
        let due = heap.popDue(now: 300)
        #expect(due.map(\.at) == [100, 100, 300])
        #expect(Set(due.map(\.socket)) == [2, 5, 3])
        #expect(heap.count == 2)
        #expect(heap.popDue(now: 10_000).map(\.socket) == [1, 4])
    }

    @Test func staleGenerationsAreTheCallersToSkip() {
        var heap = DeadlineHeap()
        heap.schedule(7, at: 10, generation: 1)
        heap.schedule(7, at: 20, generation: 2)
        #expect(heap.popDue(now: 30).map(\.generation) == [1, 2])
    }

    @Test func manyEntriesComeOutSorted() {
        var heap = DeadlineHeap()
        var expected: [Int64] = []
        var x: UInt64 = 12345
        for i in 0..<2000 {
            x = x &* 6_364_136_223_846_793_005 &+ 1
            let at = Int64(x >> 40)
            expected.append(at)
            heap.schedule(UInt64(i), at: at, generation: 0)
        }
        #expect(heap.popDue(now: .max).map(\.at) == expected.sorted())
    }
}

@Suite struct WebSocketWireTests {
    let allocator = ByteBufferAllocator()

    @Test func textFramesUseTheShortestLengthForm() {
        for (count, header) in [(5, [0x81, 5]), (125, [0x81, 125]), (126, [0x81, 126, 0, 126]), (70_000, [0x81, 127])] {
            let frame = WebSocketWire.textFrame(Array(repeating: 0x61, count: count), allocator: allocator)
            #expect(Array(frame.readableBytesView.prefix(header.count)) == header.map(UInt8.init))
            #expect(frame.readableBytes == count + WebSocketWire.headerSize(count))
        }
    }

    @Test func closeFramesCarryCodeAndAReasonCutAtACharacter() {
        let frame = WebSocketWire.closeFrame(.tryAgainLater, String(repeating: "é", count: 100), allocator: allocator)
        let bytes = Array(frame.readableBytesView)
        #expect(bytes[0] == 0x88 && Int(bytes[1]) <= 125)
        #expect(UInt16(bytes[2]) << 8 | UInt16(bytes[3]) == 1013)
        #expect(String(validating: bytes[4...], as: UTF8.self) != nil)
        #expect(bytes.count - 4 == 122)  // 61 two-byte characters: the 62nd would pass 123 bytes
    }

    @Test func aRenderedEventBecomesOneFrameWithTheUidSpliced() {
        let event = RenderedEvent(event: "create", data: [["id": 1]], meta: nil, seq: 9)
        let frame = event.webSocketFrame(uid: "1", allocator: allocator)
        let payload = Array(frame.readableBytesView.dropFirst(2))
        #expect(String(decoding: payload, as: UTF8.self) == String(decoding: event.frame(uid: "1"), as: UTF8.self))
        #expect(Int(frame.readableBytesView[frame.readableBytesView.startIndex + 1]) == payload.count)
    }
}

@Suite struct WebSocketHandshakeTests {
    func head(_ headers: [(String, String)], method: HTTPMethod = .GET) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: "/websocket", headers: HTTPHeaders(headers))
    }

    @Test func theAcceptValueIsRFC6455s() {
        // RFC 6455 §1.3's example.
        let h = head([("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")])
        #expect(WebSocketHandshake.acceptValue(h) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(WebSocketHandshake.acceptValue(head([("Sec-WebSocket-Key", "x")])) == nil)
        #expect(WebSocketHandshake.acceptValue(head([("Sec-WebSocket-Key", "x"), ("Sec-WebSocket-Version", "8")])) == nil)
        // optional whitespace around the values is not part of them
        let spaced = head([("Sec-WebSocket-Key", " \tdGhlIHNhbXBsZSBub25jZQ== "), ("Sec-WebSocket-Version", " 13\t")])
        #expect(WebSocketHandshake.acceptValue(spaced) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(WebSocketHandshake.acceptValue(head([("Sec-WebSocket-Key", " \t "), ("Sec-WebSocket-Version", "13")])) == nil)
    }

    @Test func theWrittenSwitchingProtocolsResponseIsTheHeadsWireForm() {
        for subprotocol in [nil, "graphql-transport-ws"] {
            var wire = ByteBuffer()
            WebSocketHandshake.writeSwitchingProtocols(
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", subprotocol: subprotocol, into: &wire)
            let head = WebSocketHandshake.switchingProtocols(accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", subprotocol: subprotocol)
            var expected = "HTTP/1.1 101 Switching Protocols\r\n"
            for (name, value) in head.headers { expected += "\(name): \(value)\r\n" }
            #expect(String(buffer: wire) == expected + "\r\n")
        }
    }

    @Test func upgradesAreGetsAskingForWebsocket() {
        #expect(WebSocketHandshake.isUpgrade(head([("Upgrade", "websocket")])))
        #expect(WebSocketHandshake.isUpgrade(head([("Upgrade", "h2c, WebSocket")])))
        #expect(!WebSocketHandshake.isUpgrade(head([("Upgrade", "h2c")])))
        #expect(!WebSocketHandshake.isUpgrade(head([("Upgrade", "websocket")], method: .POST)))
        #expect(
            WebSocketHandshake.offeredSubprotocols(head([("Sec-WebSocket-Protocol", "graphql-transport-ws, x")])) == [
                "graphql-transport-ws", "x",
            ])
    }
}

@Suite struct ClassTableTests {
    static func key(_ collection: String, room: Int) throws -> QueryClassKey {
        let query = try ItemQuery.parse(json: ["filter": ["room": ["_eq": .int(Int64(room))]]])
        return QueryClassKey(
            request: SubscriptionRequest(collection: collection, query: query, event: nil, item: nil), context: Self.admin)
    }

    static let admin = ItemsContext(accountability: Accountability(admin: true), permissions: .administrator)

    @Test func aCollectionStaysFollowedAfterItsLastClassUntilItExpires() throws {
        var t = Fanout.ClassTable()
        let (a, newA) = t.add(
            try Self.key("chat", room: 1), context: Self.admin, shard: 0, schema: Schema(collections: [], relations: []))
        #expect(newA)
        let (b, newB) = t.add(
            try Self.key("chat", room: 2), context: Self.admin, shard: 1, schema: Schema(collections: [], relations: []))
        #expect(!newB && a != b)
        t.remove(a, shard: 0, now: 100)
        #expect(t.idleSince.isEmpty)  // room 2 still follows it
        t.remove(b, shard: 1, now: 200)
        #expect(t.entries.isEmpty && t.indexes["chat"] != nil && t.idleSince["chat"] == 200)
        // Rejoining within the linger: not new (no interest change), and no longer idle.
        let (c, newC) = t.add(
            try Self.key("chat", room: 1), context: Self.admin, shard: 0, schema: Schema(collections: [], relations: []))
        #expect(!newC && c != a)
        #expect(t.idleSince.isEmpty)
        t.remove(c, shard: 0, now: 300)
        #expect(t.expire(idleBefore: 300).isEmpty)
        #expect(t.expire(idleBefore: 301) == ["chat"])
        #expect(t.indexes["chat"] == nil && t.idleSince.isEmpty)
        #expect(
            t.add(try Self.key("chat", room: 1), context: Self.admin, shard: 0, schema: Schema(collections: [], relations: []))
                .newCollection)
    }

    @Test func removingAnUnknownOrAlreadyRemovedMemberChangesNothing() throws {
        var t = Fanout.ClassTable()
        let (a, _) = t.add(
            try Self.key("chat", room: 1), context: Self.admin, shard: 0, schema: Schema(collections: [], relations: []))
        t.remove(a, shard: 3, now: 1)  // no member on that shard
        t.remove(999, shard: 0, now: 1)
        #expect(t.entries[a]?.shards == [0: 1])
        t.remove(a, shard: 0, now: 2)
        t.remove(a, shard: 0, now: 3)
        #expect(t.idleSince["chat"] == 2)
    }
}

@Suite struct InitCacheProbeTests {
    static func request(_ query: JSONObject, event: ChangeEvent.Action?) throws -> SubscriptionRequest {
        SubscriptionRequest(collection: "chat", query: try ItemQuery.parse(json: query), event: event, item: nil)
    }

    @Test func aPassedProbeCountsForItsClassUnderItsSchemaGenerationOnly() throws {
        let cache = InitCache(maxEntries: 2)
        let one = try ClassTableTests.key("chat", room: 1)
        #expect(!cache.probePassed(one, schema: 7))
        cache.noteProbePassed(one, schema: 7)
        #expect(cache.probePassed(one, schema: 7))
        #expect(!cache.probePassed(one, schema: 8))
        #expect(!cache.probePassed(try ClassTableTests.key("chat", room: 2), schema: 7))
        // bounded: the oldest class is forgotten first
        cache.noteProbePassed(try ClassTableTests.key("chat", room: 2), schema: 7)
        cache.noteProbePassed(try ClassTableTests.key("chat", room: 3), schema: 7)
        #expect(!cache.probePassed(one, schema: 7))
        #expect(cache.probePassed(try ClassTableTests.key("chat", room: 3), schema: 7))
    }

    @Test func onlySubscriptionsThatReadNoRowsAndCheckSomethingAreProbed() throws {
        let filter: JSONObject = ["filter": ["room": ["_eq": 1]]]
        #expect(ConnectionServices.probe(try Self.request([:], event: .create), after: nil) == nil)
        #expect(ConnectionServices.probe(try Self.request(filter, event: nil), after: nil) == nil)
        let probe = try #require(ConnectionServices.probe(try Self.request(filter, event: .create), after: nil))
        #expect(probe.limit == 0 && probe.fields == nil && probe.filter != nil)
        #expect(ConnectionServices.probe(try Self.request(filter, event: nil), after: 3) != nil)
        let functions = try #require(
            ConnectionServices.probe(
                try Self.request(["fields": ["id", "year(at)"], "sort": ["-month(at)"]], event: .update), after: nil))
        #expect(functions.fields == ["year(at)"] && functions.sort.count == 1)
    }
}
