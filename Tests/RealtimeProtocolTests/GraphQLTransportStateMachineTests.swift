import SwitchboardCore
import Testing

@testable import RealtimeProtocol

/// Every transition of `graphql-transport-ws`, without a socket.
@Suite struct GraphQLTransportStateMachineTests {
    typealias M = GraphQLTransportStateMachine

    func settings(_ mode: ConnectionStateMachine.AuthMode = .handshake, heartbeat: Int64? = nil, maxOperations: Int = 2)
        -> M.Settings
    {
        M.Settings(authMode: mode, initTimeoutMs: 3_000, heartbeatPeriodMs: heartbeat, maxOperations: maxOperations)
    }

    func frame(_ text: String) -> [UInt8] { Array(text.utf8) }

    func sent(_ actions: [M.Action]) -> [String] {
        actions.compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }
    }

    func closed(_ actions: [M.Action]) -> CloseCode? {
        actions.compactMap { if case .close(let c, _) = $0 { c } else { nil } }.first
    }

    /// A connection past `connection_ack` (handshake mode, token `t`, JWT expiring at `expiresAt`).
    func ready(expiresAt: Int64? = nil, heartbeat: Int64? = nil) -> M {
        var m = M(settings: settings(heartbeat: heartbeat), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"connection_init","payload":{"access_token":"t"}}"#), now: 1)
        _ = m.authenticated(expiresAt: expiresAt, now: 2)
        return m
    }

    func subscribe(_ id: String) -> String {
        "{\"id\":\"\(id)\",\"type\":\"subscribe\",\"payload\":{\"query\":\"subscription { a_mutated { key } }\"}}"
    }

    var subscribe1: String { subscribe("1") }

    // MARK: connection_init

    @Test func handshakeModeAuthenticatesTheInitToken() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        #expect(m.phase == .awaitingInit(deadline: 3_000) && m.nextDeadline == 3_000)
        let out = m.received(frame(#"{"type":"connection_init","payload":{"access_token":"t"}}"#), now: 1)
        #expect(out == [.authenticate(token: "t")])
        #expect(m.phase == .authenticating(deadline: 3_000))
        #expect(sent(m.authenticated(expiresAt: 50, now: 2)) == [#"{"type":"connection_ack"}"#])
        #expect(m.phase == .ready(expiresAt: 50) && m.nextDeadline == 50_000)
    }

    @Test func handshakeModeWithoutATokenIsForbidden() {
        for text in [#"{"type":"connection_init"}"#, #"{"type":"connection_init","payload":{"access_token":""}}"#] {
            var m = M(settings: settings(), now: 0, upgradeToken: nil)
            #expect(closed(m.received(frame(text), now: 1)) == .graphQLForbidden)
            #expect(m.isClosed)
        }
    }

    @Test func aRefusedTokenIsForbidden() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"connection_init","payload":{"access_token":"bad"}}"#), now: 1)
        #expect(closed(m.authFailed()) == .graphQLForbidden)
    }

    @Test func publicModeActsAsThePublicRoleOrAsTheTokensUser() {
        var m = M(settings: settings(.public), now: 0, upgradeToken: nil)
        #expect(m.received(frame(#"{"type":"connection_init","payload":{}}"#), now: 1) == [.authenticate(token: nil)])
        var n = M(settings: settings(.public), now: 0, upgradeToken: nil)
        #expect(
            n.received(frame(#"{"type":"connection_init","payload":{"access_token":"t"}}"#), now: 1)
                == [.authenticate(token: "t")])
    }

    @Test func anUpgradeTokenAcknowledgesAtOnce() {
        var m = M(settings: settings(.strict), now: 0, upgradeToken: .init(expiresAt: 9))
        #expect(sent(m.received(frame(#"{"type":"connection_init"}"#), now: 1)) == [#"{"type":"connection_ack"}"#])
        #expect(m.phase == .ready(expiresAt: 9))
    }

    @Test func aSecondInitIsTooMany() {
        var m = ready()
        #expect(closed(m.received(frame(#"{"type":"connection_init"}"#), now: 3)) == .graphQLTooManyInitRequests)
    }

    @Test func noInitInTimeClosesWith4408() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        #expect(m.tick(now: 2_999).isEmpty)
        #expect(closed(m.tick(now: 3_000)) == .graphQLInitTimeout)
        #expect(m.nextDeadline == nil)
    }

    @Test func anAuthenticationStillRunningAtTheDeadlineIsForbidden() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        _ = m.received(frame(#"{"type":"connection_init","payload":{"access_token":"t"}}"#), now: 1)
        #expect(closed(m.tick(now: 3_000)) == .graphQLForbidden)
        #expect(m.authenticated(expiresAt: nil, now: 3_001).isEmpty)
    }

    @Test func anExpiredTokenCloses() {
        var m = ready(expiresAt: 10)
        #expect(m.tick(now: 9_999).isEmpty)
        #expect(closed(m.tick(now: 10_000)) == .graphQLForbidden)
    }

    // MARK: operations

    @Test func subscribeBeforeAckIsUnauthorized() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        #expect(closed(m.received(frame(subscribe1), now: 1)) == .graphQLUnauthorized)
        var n = M(settings: settings(), now: 0, upgradeToken: nil)
        _ = n.received(frame(#"{"type":"connection_init","payload":{"access_token":"t"}}"#), now: 1)
        #expect(closed(n.received(frame(subscribe1), now: 2)) == .graphQLUnauthorized)
    }

    @Test func subscribeStartsAnOperationOnce() {
        var m = ready()
        #expect(m.received(frame(subscribe1), now: 3) == [.start(id: "1", .init(query: "subscription { a_mutated { key } }"))])
        #expect(m.operations == ["1": false])
        #expect(closed(m.received(frame(subscribe1), now: 4)) == .graphQLSubscriberExists)
    }

    @Test func startedFailedAndFinishedOperations() {
        var m = ready()
        _ = m.received(frame(subscribe1), now: 3)
        #expect(m.operationStarted(id: "1").isEmpty)
        #expect(m.operations == ["1": true])
        let errors: JSONValue = [["message": "no"]]
        _ = m.received(frame(subscribe("2")), now: 4)
        let failed = m.operationFailed(id: "2", errors: errors)
        #expect(sent(failed) == [#"{"id":"2","type":"error","payload":[{"message":"no"}]}"#])
        #expect(failed.last == .stop(id: "2"))
        _ = m.received(frame(subscribe("3")), now: 5)
        #expect(
            sent(m.operationFinished(id: "3", result: ["data": ["x": 1]]))
                == [#"{"id":"3","type":"next","payload":{"data":{"x":1}}}"#, #"{"id":"3","type":"complete"}"#])
        #expect(m.operations == ["1": true])
    }

    @Test func completeStopsAnOperationAndALateStartIsUndone() {
        var m = ready()
        _ = m.received(frame(subscribe1), now: 3)
        #expect(m.received(frame(#"{"id":"1","type":"complete"}"#), now: 4) == [.stop(id: "1")])
        #expect(m.operationStarted(id: "1") == [.stop(id: "1")])
        #expect(m.received(frame(#"{"id":"9","type":"complete"}"#), now: 5).isEmpty)
        #expect(m.operationFinished(id: "1", result: nil).isEmpty)
    }

    @Test func operationsAreLimited() {
        var m = ready()
        for id in ["a", "b"] {
            _ = m.received(frame(subscribe(id)), now: 3)
        }
        let out = sent(m.received(frame(subscribe1), now: 4))
        #expect(out.count == 1 && out[0].contains(#""type":"error""#) && out[0].contains("WEBSOCKETS_MAX_SUBSCRIPTIONS"))
        #expect(m.operations.count == 2 && !m.isClosed)
    }

    @Test func anOperationTheServerEndsGetsAnError() {
        var m = ready()
        _ = m.received(frame(subscribe1), now: 3)
        _ = m.operationStarted(id: "1")
        let out = m.operationEnded(id: "1", errors: [["message": "gone"]])
        #expect(sent(out) == [#"{"id":"1","type":"error","payload":[{"message":"gone"}]}"#])
        #expect(m.operations.isEmpty)
    }

    // MARK: ping, heartbeat, bad messages

    @Test func pingIsAnsweredBeforeAndAfterInit() {
        var m = M(settings: settings(), now: 0, upgradeToken: nil)
        #expect(sent(m.received(frame(#"{"type":"ping"}"#), now: 1)) == [#"{"type":"pong"}"#])
        var n = ready()
        #expect(sent(n.received(frame(#"{"type":"ping","payload":{"x":1}}"#), now: 3)) == [#"{"type":"pong"}"#])
        #expect(n.received(frame(#"{"type":"pong"}"#), now: 4).isEmpty)
    }

    @Test func heartbeatPingsAndGivesUpOnASilentPeer() {
        var m = ready(heartbeat: 1_000)
        #expect(m.nextDeadline == 1_000)
        #expect(sent(m.tick(now: 1_000)) == [#"{"type":"ping"}"#])
        _ = m.received(frame(#"{"type":"pong"}"#), now: 1_500)
        #expect(sent(m.tick(now: 2_000)) == [#"{"type":"ping"}"#])
        #expect(sent(m.tick(now: 3_000)) == [#"{"type":"ping"}"#])
        #expect(closed(m.tick(now: 4_000)) == .normal)
    }

    @Test func invalidMessagesCloseWith4400() {
        let bad = [
            "not json", #"[]"#, #"{"type":1}"#, #"{"type":"next","id":"1","payload":{}}"#,
            #"{"type":"subscribe","payload":{"query":"{a}"}}"#, #"{"type":"subscribe","id":"","payload":{"query":"{a}"}}"#,
            #"{"type":"subscribe","id":"1"}"#, #"{"type":"subscribe","id":"1","payload":{"query":1}}"#,
            #"{"type":"subscribe","id":"1","payload":{"query":"{a}","variables":[1]}}"#,
            #"{"type":"subscribe","id":"1","payload":{"query":"{a}","operationName":2}}"#,
            #"{"type":"complete"}"#, #"{"type":"connection_init","payload":"x"}"#,
            "{\"type\":\"complete\",\"id\":\"\(String(repeating: "x", count: 200))\"}",
        ]
        for text in bad {
            var m = ready()
            #expect(closed(m.received(frame(text), now: 3)) == .graphQLBadRequest, "\(text)")
        }
        var m = ready()
        #expect(closed(m.receivedBinary()) == .graphQLBadRequest)
    }

    @Test func subscribeCarriesVariablesAndOperationName() {
        var m = ready()
        let text = #"{"id":"v","type":"subscribe","payload":{"query":"q","variables":{"a":1},"operationName":"Op"}}"#
        #expect(m.received(frame(text), now: 3) == [.start(id: "v", .init(query: "q", variables: ["a": 1], operationName: "Op"))])
    }

    @Test func rateLimitCloses() {
        var m = M(
            settings: M.Settings(authMode: .public, rateLimit: .init(points: 2, durationMs: 1_000)), now: 0,
            upgradeToken: nil)
        _ = m.received(frame(#"{"type":"ping"}"#), now: 1)
        _ = m.received(frame(#"{"type":"ping"}"#), now: 2)
        #expect(closed(m.received(frame(#"{"type":"ping"}"#), now: 3)) == .policyViolation)
    }

    @Test func nothingAfterClose() {
        var m = ready()
        _ = m.close(.goingAway, "bye")
        #expect(m.received(frame(subscribe1), now: 5).isEmpty)
        #expect(m.tick(now: 1_000_000).isEmpty)
        #expect(m.close(.normal, "").isEmpty)
    }
}
