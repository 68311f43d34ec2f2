import Query
import SwitchboardCore
import Testing

@testable import RealtimeProtocol

/// Every transition of the connection protocol, without a socket.
@Suite struct ConnectionStateMachineTests {
    typealias M = ConnectionStateMachine

    func settings(_ mode: M.AuthMode = .handshake, heartbeat: Int64? = 30_000, rate: M.Settings.RateLimit? = nil)
        -> M.Settings
    {
        M.Settings(authMode: mode, authTimeoutMs: 10_000, heartbeatPeriodMs: heartbeat, rateLimit: rate, maxSubscriptions: 2)
    }

    func frame(_ text: String) -> [UInt8] { Array(text.utf8) }

    func sent(_ actions: [M.Action]) -> [String] {
        actions.compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }
    }

    func closed(_ actions: [M.Action]) -> CloseCode? {
        actions.compactMap { if case .close(let c, _) = $0 { c } else { nil } }.first
    }

    let handshakeFailed =
        #"{"type":"auth","status":"error","error":{"code":"AUTH_FAILED","message":"Authentication handshake failed."}}"#

    // MARK: handshake

    @Test func handshakeModeWaitsForAuthFirst() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        #expect(m.identity == .awaitingHandshake(deadline: 10_000))
        #expect(m.nextDeadline == 10_000)
        let out = m.received(frame(#"{"type":"auth","access_token":"t"}"#), now: 5)
        #expect(out == [.authenticate(.accessToken("t"), uid: nil)])
        #expect(m.inFlight == .auth(handshake: true) && m.holdsEvents)
        let ok = m.authenticated(expiresAt: 100, reply: frame(#"{"type":"auth","status":"ok"}"#), now: 10)
        #expect(sent(ok) == [#"{"type":"auth","status":"ok"}"#])
        #expect(ok.contains(.releaseEvents))
        #expect(m.identity == .authenticated(expiresAt: 100) && !m.holdsEvents)
    }

    @Test func anyOtherFirstFrameFailsTheHandshakeAndCloses() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        let out = m.received(frame(#"{"type":"subscribe","collection":"c"}"#), now: 1)
        #expect(sent(out) == [handshakeFailed])
        #expect(closed(out) == .policyViolation && m.isClosed)
        #expect(m.received(frame(#"{"type":"ping"}"#), now: 2).isEmpty)
    }

    @Test func unparsableFramesBeforeTheHandshakeGetAnErrorAndTheSocketStays() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        let out = m.received(frame("nope"), now: 1)
        #expect(sent(out) == [String(decoding: FrameRejection.unparsable.frame, as: UTF8.self)])
        #expect(!m.isClosed)
    }

    @Test func aFailedHandshakeClosesWithThePolicyCode() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"auth","access_token":"bad"}"#), now: 1)
        let out = m.authFailed(uid: nil, now: 2)
        #expect(sent(out) == [handshakeFailed] && closed(out) == .policyViolation)
    }

    @Test func noAuthWithinTheTimeoutClosesTheSocket() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        #expect(m.tick(now: 9_999).isEmpty)
        let out = m.tick(now: 10_000)
        #expect(sent(out) == [handshakeFailed] && closed(out) == .policyViolation)
    }

    @Test func theHandshakeDeadlineWaitsForAnAuthInFlight() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"auth","access_token":"t"}"#), now: 9_000)
        #expect(m.tick(now: 10_500).isEmpty)
        _ = m.authenticated(expiresAt: nil, reply: [], now: 10_600)
        #expect(m.identity == .authenticated(expiresAt: nil))
    }

    @Test func anUpgradeTokenSkipsTheHandshake() {
        let m = M(settings: settings(.strict), now: 0, upgradeToken: .init(expiresAt: 50))
        #expect(m.identity == .authenticated(expiresAt: 50))
        #expect(m.nextDeadline == 30_000)  // the heartbeat comes before expiry at 50 s
    }

    // MARK: public mode and re-auth

    @Test func publicModeActsAnonymouslyAndAFailedAuthKeepsTheSocket() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        #expect(m.identity == .anonymous)
        #expect(m.received(frame(#"{"type":"ping","uid":1}"#), now: 1) == [.send(frame(#"{"type":"pong","uid":1}"#))])
        _ = m.received(frame(#"{"type":"auth","access_token":"bad","uid":"a"}"#), now: 2)
        let out = m.authFailed(uid: "a", now: 3)
        #expect(out.contains(.becomePublic) && closed(out) == nil && m.holdsEvents)
        #expect(m.becamePublic() == [.releaseEvents] && !m.holdsEvents)
        #expect(
            sent(out).first
                == #"{"type":"auth","status":"error","error":{"code":"AUTH_FAILED","message":"Authentication failed."},"uid":"a"}"#
        )
    }

    @Test func aFailedReauthOutsidePublicModeCloses() {
        var m = M(settings: settings(), now: 0, upgradeToken: .init(expiresAt: nil))
        _ = m.received(frame(#"{"type":"auth","access_token":"bad"}"#), now: 1)
        #expect(m.inFlight == .auth(handshake: false))
        let out = m.authFailed(uid: nil, now: 2)
        #expect(!out.contains(.becomePublic) && closed(out) == .policyViolation)
    }

    @Test func anExpiredTokenFallsBackToPublicAndWaitsForANewAuth() {
        var m = M(settings: settings(heartbeat: nil), now: 0, upgradeToken: .init(expiresAt: 60))
        #expect(m.nextDeadline == 60_000)
        #expect(m.tick(now: 59_999).isEmpty)
        let out = m.tick(now: 60_000)
        #expect(sent(out) == [#"{"type":"auth","status":"error","error":{"code":"TOKEN_EXPIRED","message":"Token expired."}}"#])
        #expect(out.contains(.becomePublic) && m.inFlight == .becomingPublic)
        #expect(m.identity == .expired(deadline: 70_000))
        // Frames wait until the switch is done: nothing runs with the expired identity.
        #expect(m.received(frame(#"{"type":"ping","uid":"w"}"#), now: 60_500).isEmpty)
        #expect(m.becamePublic() == [.releaseEvents, .send(frame(#"{"type":"pong","uid":"w"}"#))])
        // Subscriptions and frames go on meanwhile.
        #expect(m.received(frame(#"{"type":"ping"}"#), now: 61_000) == [.send(frame(#"{"type":"pong"}"#))])
        let timeout = m.tick(now: 70_000)
        #expect(sent(timeout).first?.contains("AUTH_TIMEOUT") == true && closed(timeout) == .policyViolation)
    }

    @Test func reauthenticatingAfterExpiryKeepsTheConnection() {
        var m = M(settings: settings(heartbeat: nil), now: 0, upgradeToken: .init(expiresAt: 1))
        _ = m.tick(now: 1_000)
        _ = m.becamePublic()
        _ = m.received(frame(#"{"type":"auth","refresh_token":"r"}"#), now: 2_000)
        _ = m.authenticated(expiresAt: 900, reply: [], now: 2_100)
        #expect(m.identity == .authenticated(expiresAt: 900))
        #expect(m.tick(now: 20_000).isEmpty)
    }

    @Test func inPublicModeAnExpiredTokenJustBecomesAnonymous() {
        var m = M(settings: settings(.public, heartbeat: nil), now: 0, upgradeToken: .init(expiresAt: 1))
        _ = m.tick(now: 1_000)
        _ = m.becamePublic()
        #expect(m.identity == .anonymous && m.nextDeadline == nil)
    }

    @Test func aTokenExpiringDuringARequestSwitchesToPublicRightAfterIt() {
        var m = M(settings: settings(heartbeat: nil), now: 0, upgradeToken: .init(expiresAt: 5))
        _ = m.received(frame(#"{"type":"items","collection":"c","action":"read"}"#), now: 4_000)
        let expired = m.tick(now: 5_000)
        #expect(!expired.contains(.becomePublic) && sent(expired).first?.contains("TOKEN_EXPIRED") == true)
        let done = m.itemsFinished(reply: frame("r"))
        #expect(done == [.send(frame("r")), .becomePublic] && m.inFlight == .becomingPublic)
        #expect(m.becamePublic() == [.releaseEvents])
    }

    @Test func aNewAuthDuringTheSwitchWinsOverTheExpiredIdentity() {
        var m = M(settings: settings(heartbeat: nil), now: 0, upgradeToken: .init(expiresAt: 5))
        _ = m.received(frame(#"{"type":"auth","access_token":"new"}"#), now: 4_000)
        _ = m.tick(now: 5_000)  // expires while the new auth is checked
        let ok = m.authenticated(expiresAt: 99, reply: frame("ok"), now: 5_100)
        #expect(ok == [.send(frame("ok")), .releaseEvents] && m.identity == .authenticated(expiresAt: 99))
    }

    // MARK: heartbeat

    @Test func theHeartbeatPingsAndClosesSilentClients() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        #expect(m.nextDeadline == 30_000)
        #expect(m.tick(now: 30_000) == [.send(RealtimeFrames.ping)])
        #expect(m.nextDeadline == 60_000)
        _ = m.received(frame(#"{"type":"pong"}"#), now: 40_000)
        #expect(m.tick(now: 60_000) == [.send(RealtimeFrames.ping)])
        #expect(m.tick(now: 90_000) == [.send(RealtimeFrames.ping)])
        let out = m.tick(now: 120_001)  // nothing since 40 s: more than two periods
        #expect(closed(out) == .normal)
    }

    // MARK: subscriptions and items

    @Test func subscribeRunsAsARequestAndHoldsEventsUntilItsInit() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        let out = m.received(frame(#"{"type":"subscribe","collection":"c","uid":"1"}"#), now: 1)
        guard case .subscribe(let key, let request, let uid)? = out.first else {
            Issue.record("no subscribe action")
            return
        }
        #expect(key == "1" && request.collection == "c" && uid == "1")
        #expect(m.holdsEvents && m.subscriptions == ["1"])
        let done = m.subscribed(key: "1", frames: [frame("init")])
        #expect(done == [.send(frame("init")), .releaseEvents])
        #expect(!m.holdsEvents)
    }

    @Test func framesArrivingDuringARequestWaitAndRunInOrder() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"items","collection":"c","action":"read","uid":"r"}"#), now: 1)
        #expect(m.received(frame(#"{"type":"ping","uid":"p"}"#), now: 2).isEmpty)
        #expect(m.received(frame(#"{"type":"subscribe","collection":"c","uid":"s"}"#), now: 3).isEmpty)
        #expect(m.received(frame(#"{"type":"ping","uid":"q"}"#), now: 4).isEmpty)
        let out = m.itemsFinished(reply: frame("items-reply"))
        // reply, then release, then the waiting ping, then the subscribe starts (and the last ping waits again)
        #expect(out.count == 4)
        #expect(out[0] == .send(frame("items-reply")) && out[1] == .releaseEvents)
        #expect(out[2] == .send(frame(#"{"type":"pong","uid":"p"}"#)))
        guard case .subscribe(key: "s", _, _) = out[3] else {
            Issue.record("expected the subscribe to start")
            return
        }
        let next = m.subscribed(key: "s", frames: [])
        #expect(next == [.releaseEvents, .send(frame(#"{"type":"pong","uid":"q"}"#))])
    }

    @Test func tooManyWaitingFramesClose() {
        var m = M(settings: M.Settings(authMode: .public, maxPendingFrames: 2), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"items","collection":"c","action":"read"}"#), now: 1)
        _ = m.received(frame(#"{"type":"ping"}"#), now: 2)
        _ = m.received(frame(#"{"type":"ping"}"#), now: 3)
        #expect(closed(m.received(frame(#"{"type":"ping"}"#), now: 4)) == .policyViolation)
    }

    @Test func theSubscriptionLimitCountsKeysAndAllowsReplacing() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        for uid in ["1", "2"] {
            _ = m.received(frame(#"{"type":"subscribe","collection":"c","uid":"\#(uid)"}"#), now: 1)
            _ = m.subscribed(key: uid, frames: [])
        }
        let over = m.received(frame(#"{"type":"subscribe","collection":"c","uid":"3"}"#), now: 2)
        #expect(sent(over).first?.contains("WEBSOCKETS_MAX_SUBSCRIPTIONS") == true)
        #expect(!m.holdsEvents && m.subscriptions == ["1", "2"])
        let replace = m.received(frame(#"{"type":"subscribe","collection":"d","uid":"2"}"#), now: 3)
        guard case .subscribe(key: "2", _, _)? = replace.first else {
            Issue.record("replacing must be allowed")
            return
        }
    }

    @Test func aFailedSubscribeForgetsItsKey() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"subscribe","collection":"c"}"#), now: 1)
        let key = "\u{0}1"
        #expect(m.subscriptions == [key])
        let out = m.subscribeFailed(key: key, reply: frame("err"))
        #expect(out == [.send(frame("err")), .releaseEvents] && m.subscriptions.isEmpty)
    }

    @Test func unsubscribeOneOrAllAndAlwaysReply() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        for uid in ["1", "2"] {
            _ = m.received(frame(#"{"type":"subscribe","collection":"c","uid":"\#(uid)"}"#), now: 1)
            _ = m.subscribed(key: uid, frames: [])
        }
        let one = m.received(frame(#"{"type":"unsubscribe","uid":"1"}"#), now: 2)
        #expect(one.first == .unsubscribe(keys: ["1"]))
        #expect(sent(one) == [#"{"type":"subscription","event":"unsubscribe","uid":"1"}"#])
        #expect(m.received(frame(#"{"type":"unsubscribe","uid":"9"}"#), now: 3).count == 1)  // just the reply
        let all = m.received(frame(#"{"type":"unsubscribe"}"#), now: 4)
        #expect(all.first == .unsubscribe(keys: ["2"]) && m.subscriptions.isEmpty)
    }

    @Test func invalidRequestsAreAnsweredWithoutStartingOne() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        let out = m.received(frame(#"{"type":"subscribe","uid":"x"}"#), now: 1)
        #expect(
            sent(out).first?.contains("\"collection\\\" is required.") == true || sent(out).first?.contains("collection") == true)
        #expect(!m.holdsEvents)
    }

    // MARK: rate limit, binary, close

    @Test func theRateLimitAnswersButKeepsTheSocket() {
        var m = M(settings: settings(.public, rate: .init(points: 2, durationMs: 1000)), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"ping"}"#), now: 100)
        _ = m.received(frame(#"{"type":"ping"}"#), now: 200)
        let limited = m.received(frame(#"{"type":"ping"}"#), now: 300)
        #expect(
            sent(limited) == [
                #"{"type":"server","status":"error","error":{"code":"REQUESTS_EXCEEDED","message":"Too many messages, retry after 700ms."}}"#
            ])
        #expect(m.received(frame(#"{"type":"ping"}"#), now: 1_200) == [.send(frame(#"{"type":"pong"}"#))])
    }

    @Test func binaryFramesCloseWith1003() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        #expect(closed(m.receivedBinary()) == .unsupportedData)
    }

    @Test func afterACloseNothingHappens() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"items","collection":"c","action":"read"}"#), now: 1)
        #expect(closed(m.close(.goingAway, "Server is shutting down.")) == .goingAway)
        #expect(m.close(.normal, "again").isEmpty)
        #expect(m.itemsFinished(reply: []).isEmpty && m.tick(now: 999_999).isEmpty && m.nextDeadline == nil)
    }

    @Test func resultsThatDoNotMatchTheRequestInFlightAreIgnored() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        #expect(m.authenticated(expiresAt: nil, reply: [], now: 1).isEmpty)
        _ = m.received(frame(#"{"type":"subscribe","collection":"c","uid":"a"}"#), now: 1)
        #expect(m.subscribed(key: "b", frames: []).isEmpty)
        #expect(m.itemsFinished(reply: []).isEmpty)
        #expect(m.holdsEvents)
    }
}
