import RESP
import Testing

@testable import Messenger

@Suite struct HashSlotTests {
    @Test func crc16MatchesTheClusterSpecificationVector() {
        #expect(HashSlot.crc16(Array("123456789".utf8)[...]) == 0x31C3)
    }

    @Test(arguments: [
        ("foo", 12182), ("bar", 5061), ("hello", 866), ("123456789", 12739), ("{user1000}.following", 3443),
        ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061), ("{bar", 4015), ("", 0),
    ])
    func slotsMatchRedis(key: String, slot: Int) {
        // Values from CLUSTER KEYSLOT on redis-server 7.0.15.
        #expect(HashSlot(key: key).value == slot)
    }

    @Test func hashtagsPutKeysInOneSlot() {
        #expect(HashSlot(key: "{user1000}.following") == HashSlot(key: "{user1000}.followers"))
        #expect(HashSlot(key: "ns:{orders}:a") == HashSlot(key: "orders"))
    }

    @Test func slotNumbersOutsideTheRangeAreRefused() {
        #expect(HashSlot(16384) == nil && HashSlot(-1) == nil && HashSlot(16383)?.value == 16383)
    }
}

@Suite struct SlotMapTests {
    static let a = ClusterNode(host: "127.0.0.1", port: 7000)
    static let b = ClusterNode(host: "127.0.0.1", port: 7001)

    static func node(_ fields: [(String, RESPValue)]) -> RESPValue {
        .array(fields.flatMap { [RESPValue.bulk(Array($0.0.utf8)), $0.1] })
    }

    static func text(_ s: String) -> RESPValue { .bulk(Array(s.utf8)) }

    static func shard(_ bounds: [Int64], _ nodes: [RESPValue]) -> RESPValue {
        node([("slots", .array(bounds.map(RESPValue.integer))), ("nodes", .array(nodes))])
    }

    @Test func parsesClusterShardsPickingTheOnlineMaster() throws {
        let reply = RESPValue.array([
            Self.shard(
                [0, 8191],
                [
                    Self.node([
                        ("id", Self.text("r1")), ("port", .integer(7003)), ("ip", Self.text("127.0.0.1")),
                        ("endpoint", Self.text("127.0.0.1")), ("role", Self.text("replica")), ("health", Self.text("online")),
                    ]),
                    Self.node([
                        ("id", Self.text("m1")), ("port", .integer(7000)), ("ip", Self.text("127.0.0.1")),
                        ("endpoint", Self.text("127.0.0.1")), ("role", Self.text("master")), ("health", Self.text("online")),
                    ]),
                ]),
            Self.shard(
                [8192, 10000, 10001, 16383],
                [
                    Self.node([
                        ("id", Self.text("m2")), ("port", .integer(7001)), ("ip", Self.text("")),
                        ("endpoint", Self.text("?")), ("role", Self.text("master")), ("health", Self.text("online")),
                    ])
                ]),
        ])
        let map = try SlotMap.parseShards(reply, queried: ClusterNode(host: "127.0.0.1", port: 7002))
        #expect(map.master(for: HashSlot(key: "bar")) == Self.a)  // 5061
        #expect(map.master(for: HashSlot(key: "foo")) == Self.b)  // 12182; "?" endpoint: the queried host
        #expect(map.isComplete && map.masters == [Self.a, Self.b])
    }

    @Test func aShardWithoutAnOnlineMasterLeavesItsSlotsUnserved() throws {
        let reply = RESPValue.array([
            Self.shard(
                [0, 16383],
                [
                    Self.node([
                        ("port", .integer(7000)), ("ip", Self.text("127.0.0.1")), ("role", Self.text("master")),
                        ("health", Self.text("failed")),
                    ])
                ])
        ])
        let map = try SlotMap.parseShards(reply, queried: Self.a)
        #expect(map.master(forChannel: "x") == nil && !map.isComplete)
    }

    @Test func tlsPortIsPreferredForTLSClients() throws {
        let reply = RESPValue.array([
            Self.shard(
                [0, 16383],
                [
                    Self.node([
                        ("port", .integer(7000)), ("tls-port", .integer(8000)), ("ip", Self.text("10.0.0.1")),
                        ("role", Self.text("master")),
                    ])
                ])
        ])
        #expect(try SlotMap.parseShards(reply, queried: Self.a, tls: true).masters == [ClusterNode(host: "10.0.0.1", port: 8000)])
        #expect(try SlotMap.parseShards(reply, queried: Self.a).masters == [ClusterNode(host: "10.0.0.1", port: 7000)])
    }

    @Test func parsesClusterSlots() throws {
        let reply = RESPValue.array([
            .array([
                .integer(0), .integer(5460), .array([Self.text("127.0.0.1"), .integer(7000), Self.text("id")]),
                .array([Self.text("127.0.0.1"), .integer(7004), Self.text("id2")]),
            ]),
            .array([.integer(5461), .integer(16383), .array([Self.text(""), .integer(7001), Self.text("id3")])]),
        ])
        let map = try SlotMap.parseSlots(reply, queried: ClusterNode(host: "127.0.0.1", port: 7009))
        #expect(map.master(for: HashSlot(key: "bar")) == Self.a)  // 5061
        #expect(map.master(for: HashSlot(key: "foo")) == Self.b)  // 12182; an empty host: the queried one
    }

    @Test(arguments: [
        RESPValue.simple("OK"), .array([.integer(1)]), .array([.array([.integer(0)])]),
        .array([.array([.bulk(Array("slots".utf8)), .array([.integer(0)]), .bulk(Array("nodes".utf8)), .array([])])]),
    ])
    func malformedRepliesAreErrorsNotCrashes(reply: RESPValue) {
        #expect(throws: SlotMap.ParseError.self) { try SlotMap.parseShards(reply, queried: Self.a) }
        #expect(throws: SlotMap.ParseError.self) { try SlotMap.parseSlots(reply, queried: Self.a) }
    }
}

@Suite struct ClusterRedirectTests {
    static let here = ClusterNode(host: "10.0.0.9", port: 7000)

    @Test func parsesMovedAndAsk() throws {
        let moved = try #require(ClusterRedirect(error: "MOVED 3999 127.0.0.1:6381", answeredBy: Self.here))
        #expect(moved.kind == .moved && moved.slot.value == 3999 && moved.node == ClusterNode(host: "127.0.0.1", port: 6381))
        let ask = try #require(ClusterRedirect(error: "ASK 12182 [::1]:7002", answeredBy: Self.here))
        #expect(ask.kind == .ask && ask.node == ClusterNode(host: "::1", port: 7002))
    }

    @Test func anEmptyHostMeansTheNodeThatAnswered() throws {
        let moved = try #require(ClusterRedirect(error: "MOVED 1 :7005", answeredBy: Self.here))
        #expect(moved.node == ClusterNode(host: "10.0.0.9", port: 7005))
    }

    @Test(arguments: ["ERR unknown command", "MOVED 16384 h:1", "MOVED x h:1", "MOVED 1 h", "ASK 1 h:0", "CLUSTERDOWN"])
    func otherErrorsAreNoRedirects(message: String) {
        #expect(ClusterRedirect(error: message, answeredBy: Self.here) == nil)
    }

    @Test func shardPushes() {
        let node = Self.here
        func push(_ items: [String]) -> RESPValue { .array(items.map { .bulk(Array($0.utf8)) }) }
        #expect(ShardPush(push(["smessage", "c", "p"]), from: node) == .message(channel: "c", payload: Array("p".utf8)))
        #expect(
            ShardPush(.array([.bulk(Array("ssubscribe".utf8)), .bulk(Array("c".utf8)), .integer(1)]), from: node)
                == .subscribed("c"))
        // The server's own sunsubscribe when a slot migrates looks like the confirmation of ours.
        #expect(
            ShardPush(.array([.bulk(Array("sunsubscribe".utf8)), .bulk(Array("c".utf8)), .integer(0)]), from: node)
                == .unsubscribed("c"))
        #expect(
            ShardPush(.error("MOVED 5061 127.0.0.1:7001"), from: node)
                == .redirect(
                    ClusterRedirect(kind: .moved, slot: HashSlot(key: "bar"), node: ClusterNode(host: "127.0.0.1", port: 7001))))
        #expect(ShardPush(.error("CLUSTERDOWN Hash slot not served"), from: node) == .error("CLUSTERDOWN Hash slot not served"))
        #expect(ShardPush(push(["pong", "sb-hb"]), from: node) == nil)
    }
}

@Suite struct ClusterURLTests {
    @Test func seedsFromAClusterURL() throws {
        let seeds = try RedisEndpoint.parseCluster("rediss+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
        #expect(
            seeds.map(\.address) == [
                .tcp(host: "10.0.0.1", port: 7000), .tcp(host: "10.0.0.2", port: 7001), .tcp(host: "::1", port: 7002),
            ])
        #expect(seeds.allSatisfy { $0.tls && $0.username == "app" && $0.password == "s@cret" })
    }

    @Test func aPlainURLIsOneSeed() throws {
        let seeds = try RedisEndpoint.parseCluster("redis://127.0.0.1:7000")
        #expect(seeds.map(\.address) == [.tcp(host: "127.0.0.1", port: 7000)] && !seeds[0].tls)
    }

    @Test(arguments: [
        "redis+cluster://", "redis+cluster://a:1,,b:2", "redis+cluster://a:99999", "redis+cluster://a:1/2",
        "unix+cluster:///tmp/s", "http://a:1",
    ])
    func badClusterURLsAreErrors(url: String) {
        #expect(throws: RedisEndpoint.ParseError.self) { try RedisEndpoint.parseCluster(url) }
    }
}

@Suite struct ShardedSubscriptionsTests {
    typealias Machine = ShardedSubscriptions
    static let a = ClusterNode(host: "127.0.0.1", port: 7000)
    static let b = ClusterNode(host: "127.0.0.1", port: 7001)
    static let c = ClusterNode(host: "127.0.0.1", port: 7002)
    /// "bar" (5061) and "hello" (866) on a; "foo" (12182) on b; c owns nothing at first.
    static let map = SlotMap(ranges: [(0...8191, a), (8192...16383, b)])

    /// A machine with the map loaded, `channels` requested, nodes connected and everything confirmed.
    static func settled(_ channels: [String]) -> Machine {
        var m = Machine()
        _ = m.slotMapLoaded(map)
        for ch in channels { _ = m.subscribeRequested(ch) }
        for node in m.nodesInUse.sorted() { _ = m.nodeConnected(node) }
        for ch in channels {
            if let node = map.master(forChannel: ch) { _ = m.subscribeConfirmed(ch, on: node) }
        }
        return m
    }

    @Test func startsByAskingForTheSlotMap() {
        var m = Machine()
        #expect(m.subscribeRequested("foo") == [.refreshSlotMap])
        #expect(!m.isSettled && !m.hasSubscribed)
    }

    @Test func oneConnectionPerNodeAndOneSubscribePerSlot() {
        var m = Machine()
        _ = m.slotMapLoaded(Self.map)
        var connects: [ClusterNode] = []
        for ch in ["bar", "hello", "foo", "{bar}x"] {
            for case .connect(let node) in m.subscribeRequested(ch) { connects.append(node) }
        }
        #expect(connects == [Self.a, Self.b])  // never one per channel
        let onA = m.nodeConnected(Self.a)
        #expect(onA == [.subscribe(["hello"], on: Self.a), .subscribe(["bar", "{bar}x"], on: Self.a)])
        #expect(m.nodeConnected(Self.b) == [.subscribe(["foo"], on: Self.b)])
    }

    @Test func resubscribedOnlyOnceEveryChannelIsConfirmed() {
        var m = Machine()
        _ = m.slotMapLoaded(Self.map)
        _ = m.subscribeRequested("bar")
        _ = m.subscribeRequested("foo")
        _ = m.nodeConnected(Self.a)
        _ = m.nodeConnected(Self.b)
        #expect(m.subscribeConfirmed("bar", on: Self.a) == [])
        #expect(m.subscribeConfirmed("foo", on: Self.b) == [.resubscribed])
        #expect(m.isSettled && m.hasSubscribed)
        #expect(m.subscribeConfirmed("foo", on: Self.b) == [])  // a duplicate confirmation changes nothing
    }

    @Test func aNewChannelOnAConnectedNodeNeedsNoBackfill() {
        var m = Self.settled(["bar"])
        #expect(m.subscribeRequested("hello") == [.subscribe(["hello"], on: Self.a)])
        #expect(m.subscribeConfirmed("hello", on: Self.a) == [])
        #expect(m.isSettled)
    }

    @Test func aNodeLostReconnectsResubscribesAndReportsTheGap() {
        var m = Self.settled(["bar", "foo"])
        #expect(m.nodeLost(Self.b) == [.refreshSlotMap, .connect(Self.b)])
        #expect(!m.isSettled)
        #expect(m.nodeConnected(Self.b) == [.subscribe(["foo"], on: Self.b)])
        #expect(m.subscribeConfirmed("foo", on: Self.b) == [.resubscribed])
    }

    @Test func aFailoverMovesTheChannelsToTheNewMaster() {
        var m = Self.settled(["bar", "foo"])
        // b's replica c took over: b's channels leave b (closing it, nothing else is there) for c.
        let failover = SlotMap(ranges: [(0...8191, Self.a), (8192...16383, Self.c)])
        #expect(m.slotMapLoaded(failover) == [.connect(Self.c), .disconnect(Self.b)])
        #expect(m.nodeConnected(Self.c) == [.subscribe(["foo"], on: Self.c)])
        #expect(m.subscribeConfirmed("foo", on: Self.c) == [.resubscribed])
        #expect(m.nodesInUse == [Self.a, Self.c])
    }

    @Test func theServersOwnSunsubscribeRefreshesTheMap() {
        var m = Self.settled(["foo"])
        #expect(m.unsubscribed("foo", on: Self.b) == [.refreshSlotMap, .subscribe(["foo"], on: Self.b)])
        // The refreshed map says the slot went to a: the pending subscribe on b is dropped.
        let moved = SlotMap(ranges: [(0...16383, Self.a)])
        let actions = m.slotMapLoaded(moved)
        #expect(actions == [.connect(Self.a), .unsubscribe(["foo"], on: Self.b)])
        _ = m.nodeConnected(Self.a)
        #expect(m.subscribeConfirmed("foo", on: Self.a) == [.resubscribed])
        // b confirms the leaving channel: nothing of ours is left there.
        #expect(m.unsubscribed("foo", on: Self.b) == [.disconnect(Self.b)])
    }

    @Test func ourOwnUnsubscribeIsNoSlotMove() {
        var m = Self.settled(["bar", "hello"])
        #expect(m.unsubscribeRequested("bar") == [.unsubscribe(["bar"], on: Self.a)])
        #expect(m.unsubscribed("bar", on: Self.a) == [])
        #expect(m.isSettled)
        // The last channel on a node: closing the connection drops it.
        #expect(m.unsubscribeRequested("hello") == [.disconnect(Self.a)])
        #expect(m.unsubscribed("hello", on: Self.a) == [])
        #expect(m.nodesInUse.isEmpty)
    }

    @Test func movedPatchesTheMapAndFollowsTheSlot() {
        var m = Machine()
        _ = m.slotMapLoaded(Self.map)
        _ = m.subscribeRequested("foo")
        _ = m.nodeConnected(Self.b)
        let redirect = ClusterRedirect(kind: .moved, slot: HashSlot(key: "foo"), node: Self.c)
        #expect(m.movedReceived(redirect, on: Self.b) == [.refreshSlotMap, .connect(Self.c), .disconnect(Self.b)])
        #expect(m.owner(of: "foo") == Self.c)
        #expect(m.nodeConnected(Self.c) == [.subscribe(["foo"], on: Self.c)])
        #expect(m.subscribeConfirmed("foo", on: Self.c) == [.resubscribed])
    }

    @Test func aDeadMasterNoLongerOwningAnythingIsNotRetried() {
        var m = Self.settled(["foo"])
        _ = m.nodeLost(Self.b)  // reconnecting to b...
        let failover = SlotMap(ranges: [(0...8191, Self.a), (8192...16383, Self.c)])
        #expect(m.slotMapLoaded(failover) == [.connect(Self.c), .disconnect(Self.b)])
    }

    @Test func aLateConnectOfAnUnwantedNodeIsClosed() {
        var m = Machine()
        #expect(m.nodeConnected(Self.a) == [.disconnect(Self.a)])
    }

    @Test func slotsWithoutAMasterWaitForTheNextMap() {
        var m = Self.settled(["foo"])
        let halfServed = SlotMap(ranges: [(0...8191, Self.a)])
        #expect(m.slotMapLoaded(halfServed) == [.disconnect(Self.b), .refreshSlotMap])
        #expect(!m.isSettled)
        _ = m.slotMapLoaded(Self.map)
        _ = m.nodeConnected(Self.b)
        #expect(m.subscribeConfirmed("foo", on: Self.b) == [.resubscribed])
    }
}
