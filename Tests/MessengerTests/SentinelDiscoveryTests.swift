import Testing

@testable import Messenger

@Suite struct SentinelDiscoveryTests {
    static let s1 = RedisAddress(host: "10.0.0.1", port: 26379)
    static let s2 = RedisAddress(host: "10.0.0.2", port: 26379)
    static let s3 = RedisAddress(host: "10.0.0.3", port: 26379)
    static let p1 = RedisAddress(host: "10.0.1.1", port: 6379)
    static let p2 = RedisAddress(host: "10.0.1.2", port: 6379)

    static func discovery() -> SentinelDiscovery {
        SentinelDiscovery(sentinels: [s1, s2, s3], name: "mymaster", refreshInterval: .seconds(10))
    }

    /// Started, asked s1, s1 named p1 and p1 answered ROLE master.
    static func settled() -> SentinelDiscovery {
        var d = discovery()
        _ = d.handle(.start)
        _ = d.handle(.sentinelAnswered(s1, primary: p1))
        _ = d.handle(.roleAnswered(p1, role: "master"))
        return d
    }

    @Test func startAsksTheFirstSentinelAndWatchesIt() {
        var d = Self.discovery()
        #expect(d.handle(.start) == [.ask(Self.s1), .watch(Self.s1)])
        #expect(d.handle(.start) == [])
    }

    @Test func theNamedNodeIsUsedOnlyOnceItAnswersROLEMaster() {
        var d = Self.discovery()
        _ = d.handle(.start)
        #expect(d.handle(.sentinelAnswered(Self.s1, primary: Self.p1)) == [.checkRole(Self.p1)])
        #expect(d.primary == nil)
        #expect(d.handle(.roleAnswered(Self.p1, role: "master")) == [.use(Self.p1), .refresh(after: .seconds(10))])
        #expect(d.primary == Self.p1 && d.phase == .settled)
    }

    @Test func unreachableAndIgnorantSentinelsAreSkippedInTurn() {
        var d = Self.discovery()
        _ = d.handle(.start)
        #expect(d.handle(.sentinelFailed(Self.s1, reason: "connection refused")) == [.ask(Self.s2)])
        #expect(d.handle(.sentinelAnswered(Self.s2, primary: nil)) == [.ask(Self.s3)])
        #expect(d.handle(.sentinelAnswered(Self.s3, primary: Self.p1)) == [.checkRole(Self.p1)])
        _ = d.handle(.roleAnswered(Self.p1, role: "master"))
        // The sentinel that answered is asked first from now on.
        #expect(d.sentinels == [Self.s3, Self.s1, Self.s2])
        #expect(d.handle(.refreshDue) == [.ask(Self.s3)])
    }

    @Test func aRoundWithoutAPrimaryIsRetriedWithBackoffAndNamesEveryProblem() {
        var d = Self.discovery()
        _ = d.handle(.start)
        _ = d.handle(.sentinelAnswered(Self.s1, primary: nil))
        _ = d.handle(.sentinelFailed(Self.s2, reason: "timed out"))
        let actions = d.handle(.sentinelAnswered(Self.s3, primary: nil))
        #expect(
            actions == [
                .retry(
                    after: .milliseconds(250),
                    problems: [
                        "sentinel 10.0.0.1:26379 monitors no master named \"mymaster\"", "sentinel 10.0.0.2:26379: timed out",
                        "sentinel 10.0.0.3:26379 monitors no master named \"mymaster\"",
                    ])
            ])
        #expect(d.phase == .waiting && d.primary == nil)
        #expect(d.handle(.retryDue) == [.ask(Self.s1)])
        _ = d.handle(.sentinelFailed(Self.s1, reason: "x"))
        _ = d.handle(.sentinelFailed(Self.s2, reason: "x"))
        #expect(
            d.handle(.sentinelFailed(Self.s3, reason: "x")).first
                == .retry(
                    after: .milliseconds(500),
                    problems: ["sentinel 10.0.0.1:26379: x", "sentinel 10.0.0.2:26379: x", "sentinel 10.0.0.3:26379: x"]))
        // Backoff stops growing at 5 s.
        for _ in 0..<10 {
            _ = d.handle(.retryDue)
            _ = d.handle(.sentinelFailed(Self.s1, reason: "x"))
            _ = d.handle(.sentinelFailed(Self.s2, reason: "x"))
            _ = d.handle(.sentinelFailed(Self.s3, reason: "x"))
        }
        _ = d.handle(.retryDue)
        _ = d.handle(.sentinelFailed(Self.s1, reason: "x"))
        _ = d.handle(.sentinelFailed(Self.s2, reason: "x"))
        guard case .retry(let delay, _)? = d.handle(.sentinelFailed(Self.s3, reason: "x")).first else {
            Issue.record("expected a retry")
            return
        }
        #expect(delay == .seconds(5))
    }

    @Test func aReplicaNamedByAStaleSentinelIsNotUsed() {
        var d = Self.discovery()
        _ = d.handle(.start)
        _ = d.handle(.sentinelAnswered(Self.s1, primary: Self.p1))
        #expect(d.handle(.roleAnswered(Self.p1, role: "slave")) == [.ask(Self.s2)])
        #expect(d.problems == ["10.0.1.1:6379 is a replica, not the primary"])
        _ = d.handle(.sentinelAnswered(Self.s2, primary: Self.p2))
        #expect(d.handle(.roleAnswered(Self.p2, role: "master")).first == .use(Self.p2))
    }

    @Test func anUnreachableCandidateSendsTheRoundOn() {
        var d = Self.discovery()
        _ = d.handle(.start)
        _ = d.handle(.sentinelAnswered(Self.s1, primary: Self.p1))
        #expect(d.handle(.roleFailed(Self.p1, reason: "connection refused")) == [.ask(Self.s2)])
    }

    @Test func switchMasterDropsTheOldPrimaryAndVerifiesTheNewOne() {
        var d = Self.settled()
        #expect(d.handle(.switchMaster(name: "mymaster", to: Self.p2)) == [.use(nil), .checkRole(Self.p2)])
        #expect(d.primary == nil)
        #expect(d.handle(.roleAnswered(Self.p2, role: "master")).first == .use(Self.p2))
        #expect(d.primary == Self.p2)
    }

    @Test func switchMasterOfAnotherGroupOrToTheCurrentPrimaryIsIgnored() {
        var d = Self.settled()
        #expect(d.handle(.switchMaster(name: "other", to: Self.p2)) == [])
        #expect(d.handle(.switchMaster(name: "mymaster", to: Self.p1)) == [])
        #expect(d.primary == Self.p1)
    }

    @Test func anAnnouncedPrimaryThatIsNotYetMasterLeadsToANewRound() {
        var d = Self.settled()
        _ = d.handle(.switchMaster(name: "mymaster", to: Self.p2))
        #expect(d.handle(.roleAnswered(Self.p2, role: "slave")) == [.ask(Self.s1)])
    }

    @Test func aLostPrimaryConnectionStartsDiscoveryOnce() {
        var d = Self.settled()
        #expect(d.handle(.primaryLost(Self.p1)) == [.use(nil), .ask(Self.s1)])
        // Another connection to the same server closing meanwhile changes nothing.
        #expect(d.handle(.primaryLost(Self.p1)) == [])
        // A connection to some older server closing is no news.
        #expect(d.handle(.primaryLost(Self.p2)) == [])
    }

    @Test func answersFromAnEarlierStepAreIgnored() {
        var d = Self.settled()
        #expect(d.handle(.sentinelAnswered(Self.s2, primary: Self.p2)) == [])
        #expect(d.handle(.roleAnswered(Self.p2, role: "master")) == [])
        #expect(d.handle(.retryDue) == [])
        #expect(d.primary == Self.p1)
    }

    @Test func aRefreshThatFindsAnotherPrimarySwitchesToIt() {
        var d = Self.settled()
        #expect(d.handle(.refreshDue) == [.ask(Self.s1)])
        _ = d.handle(.sentinelAnswered(Self.s1, primary: Self.p2))
        #expect(d.primary == Self.p1)  // kept until the new one is verified
        #expect(d.handle(.roleAnswered(Self.p2, role: "master")).first == .use(Self.p2))
    }

    @Test func aRefreshWhileEverySentinelIsDownKeepsThePrimary() {
        var d = Self.settled()
        _ = d.handle(.refreshDue)
        _ = d.handle(.sentinelFailed(Self.s1, reason: "x"))
        _ = d.handle(.sentinelFailed(Self.s2, reason: "x"))
        guard case .retry? = d.handle(.sentinelFailed(Self.s3, reason: "x")).first else {
            Issue.record("expected a retry")
            return
        }
        #expect(d.primary == Self.p1)
    }

    @Test func aRefreshWhoseCheckFindsThePrimaryDemotedDropsIt() {
        var d = Self.settled()
        _ = d.handle(.refreshDue)
        _ = d.handle(.sentinelAnswered(Self.s1, primary: Self.p1))
        #expect(d.handle(.roleAnswered(Self.p1, role: "slave")) == [.use(nil), .ask(Self.s2)])
    }

    @Test func aLostWatchMovesToTheNextSentinelAndLooksForMissedSwitches() {
        var d = Self.settled()
        _ = d.handle(.watchSubscribed(Self.s1))
        #expect(d.handle(.watchLost(Self.s1)) == [.watchAgain(after: .zero)])
        #expect(d.handle(.watchRetryDue) == [.watch(Self.s2)])
        #expect(d.handle(.watchLost(Self.s2)) == [.watchAgain(after: .milliseconds(100))])
        #expect(d.handle(.watchRetryDue) == [.watch(Self.s3)])
        // Watching again: a switch may have been missed meanwhile.
        #expect(d.handle(.watchSubscribed(Self.s3)) == [.ask(Self.s1)])
        #expect(d.watch == .subscribed(Self.s3))
        #expect(d.handle(.watchLost(Self.s1)) == [])  // not the watched one
    }

    @Test func addressesParseAsREDIS_SENTINELSWritesThem() {
        #expect(RedisAddress("h:26379") == RedisAddress(host: "h", port: 26379))
        #expect(RedisAddress("[::1]:26380") == RedisAddress(host: "::1", port: 26380))
        #expect(RedisAddress("[::1]:26380")?.description == "[::1]:26380")
        #expect(RedisAddress("h") == nil && RedisAddress(":1") == nil && RedisAddress("h:0") == nil)
    }
}
