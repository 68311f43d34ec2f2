import SwitchboardCore
import Testing

@testable import RealtimeProtocol

/// The logs stream's protocol (Directus's `/websocket/logs`), without a socket.
@Suite struct LogsStateMachineTests {
    typealias M = LogsStateMachine

    func frame(_ text: String) -> [UInt8] { Array(text.utf8) }

    func sent(_ actions: [M.Action]) -> [String] {
        actions.compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }
    }

    func closed(_ actions: [M.Action]) -> CloseCode? {
        actions.compactMap { if case .close(let c, _) = $0 { c } else { nil } }.first
    }

    @Test func subscribeTakesALevelAndIsConfirmedAsDirectusDoes() {
        var m = M(now: 0, expiresAt: nil)
        let out = m.received(frame(#"{"type":"subscribe","log_level":"warn","uid":"x"}"#), now: 1)
        #expect(out.first == .subscribe(.warn))
        #expect(sent(out) == [#"{"type":"logs","event":"subscribe","log_level":"warn"}"#])
        #expect(m.level == .warn)
    }

    @Test func aSecondSubscribeReplacesTheLevel() {
        var m = M(now: 0, expiresAt: nil)
        _ = m.received(frame(#"{"type":"subscribe","log_level":"trace"}"#), now: 1)
        let out = m.received(frame(#"{"type":"subscribe","log_level":"error"}"#), now: 2)
        #expect(out.first == .subscribe(.error))
        #expect(m.level == .error)
    }

    @Test func anUnknownLevelIsAnInvalidPayload() {
        var m = M(now: 0, expiresAt: nil)
        let out = m.received(frame(#"{"type":"subscribe","log_level":"loud"}"#), now: 1)
        #expect(
            sent(out) == [
                #"{"type":"logs","status":"error","error":{"code":"INVALID_PAYLOAD","message":"Invalid \"loud\" log level"}}"#
            ])
        #expect(m.level == nil && !m.isClosed)
    }

    @Test func aMissingLevelIsAnInvalidPayload() {
        var m = M(now: 0, expiresAt: nil)
        for text in [#"{"type":"subscribe"}"#, #"{"type":"subscribe","log_level":30}"#] {
            let out = m.received(frame(text), now: 1)
            #expect(out.count == 1)
            #expect(sent(out).first?.hasPrefix(#"{"type":"logs","status":"error","error":{"code":"INVALID_PAYLOAD""#) == true)
        }
    }

    @Test func unsubscribeStopsTheStreamAndIsConfirmed() {
        var m = M(now: 0, expiresAt: nil)
        _ = m.received(frame(#"{"type":"subscribe","log_level":"info"}"#), now: 1)
        let out = m.received(frame(#"{"type":"unsubscribe"}"#), now: 2)
        #expect(out == [.unsubscribe, .send(Array(#"{"type":"logs","event":"unsubscribe"}"#.utf8))])
        #expect(m.level == nil)
        // Without a subscription it is confirmed all the same.
        #expect(sent(m.received(frame(#"{"type":"unsubscribe"}"#), now: 3)) == [#"{"type":"logs","event":"unsubscribe"}"#])
    }

    @Test func otherMessageTypesGetNoAnswer() {
        var m = M(now: 0, expiresAt: nil)
        for text in [#"{"type":"ping"}"#, #"{"type":"items","collection":"a","action":"read"}"#, #"{"type":"pong"}"#] {
            #expect(m.received(frame(text), now: 1).isEmpty)
        }
        #expect(!m.isClosed)
    }

    @Test func unparsableFramesGetTheServerError() {
        var m = M(now: 0, expiresAt: nil)
        for text in ["nope", "[1]", #"{"type":5}"#] {
            #expect(sent(m.received(frame(text), now: 1)) == [String(decoding: FrameRejection.unparsable.frame, as: UTF8.self)])
        }
        #expect(!m.isClosed)
    }

    @Test func binaryFramesClose() {
        var m = M(now: 0, expiresAt: nil)
        #expect(closed(m.receivedBinary()) == .unsupportedData)
    }

    @Test func anAdminsAuthReplacesTheTokenAndFramesThatWaitedFollow() {
        var m = M(now: 0, expiresAt: 100)
        #expect(
            m.received(frame(#"{"type":"auth","access_token":"t","uid":1}"#), now: 1) == [
                .authenticate(.accessToken("t"), uid: .int(1))
            ])
        #expect(m.authenticating)
        #expect(m.received(frame(#"{"type":"subscribe","log_level":"info"}"#), now: 2).isEmpty)
        let out = m.authenticated(admin: true, expiresAt: 500, reply: frame(#"{"type":"auth","status":"ok","uid":1}"#))
        #expect(
            sent(out) == [#"{"type":"auth","status":"ok","uid":1}"#, #"{"type":"logs","event":"subscribe","log_level":"info"}"#])
        #expect(m.nextDeadline == 500_000 && m.level == .info)
    }

    @Test func aNonAdminsAuthIsUnauthorizedAndCloses() {
        var m = M(now: 0, expiresAt: nil)
        _ = m.received(frame(#"{"type":"subscribe","log_level":"info"}"#), now: 1)
        _ = m.received(frame(#"{"type":"auth","access_token":"t"}"#), now: 2)
        let out = m.authenticated(admin: false, expiresAt: nil, reply: frame(#"{"type":"auth","status":"ok"}"#))
        #expect(
            sent(out) == [#"{"type":"auth","status":"error","error":{"code":"AUTH_FAILED","message":"Unauthorized access."}}"#])
        #expect(out.contains(.unsubscribe))
        #expect(closed(out) == .policyViolation && m.isClosed)
    }

    @Test func aFailedAuthCloses() {
        var m = M(now: 0, expiresAt: nil)
        _ = m.received(frame(#"{"type":"auth","access_token":"bad","uid":"a"}"#), now: 1)
        let out = m.authFailed(uid: .string("a"))
        #expect(
            sent(out) == [
                #"{"type":"auth","status":"error","error":{"code":"AUTH_FAILED","message":"Authentication failed."},"uid":"a"}"#
            ])
        #expect(closed(out) == .policyViolation)
    }

    @Test func anExpiredTokenClosesWithoutWaitingForANewOne() {
        var m = M(now: 0, expiresAt: 10)
        #expect(m.nextDeadline == 10_000)
        #expect(m.tick(now: 9_999).isEmpty)
        let out = m.tick(now: 10_000)
        #expect(
            sent(out) == [
                #"{"type":"auth","status":"error","error":{"code":"TOKEN_EXPIRED","message":"Token expired."}}"#,
                #"{"type":"auth","status":"error","error":{"code":"AUTH_TIMEOUT","message":"Authentication timed out."}}"#,
            ])
        #expect(closed(out) == .policyViolation && m.nextDeadline == nil)
    }

    @Test func aStaticTokenNeverExpires() {
        var m = M(now: 0, expiresAt: nil)
        #expect(m.nextDeadline == nil)
        #expect(m.tick(now: .max / 2).isEmpty)
    }

    @Test func tooManyFramesWaitingForAnAuthClose() {
        var m = M(settings: .init(maxPendingFrames: 2), now: 0, expiresAt: nil)
        _ = m.received(frame(#"{"type":"auth","access_token":"t"}"#), now: 1)
        #expect(m.received(frame(#"{"type":"unsubscribe"}"#), now: 2).isEmpty)
        #expect(m.received(frame(#"{"type":"unsubscribe"}"#), now: 3).isEmpty)
        #expect(closed(m.received(frame(#"{"type":"unsubscribe"}"#), now: 4)) == .policyViolation)
    }

    @Test func theRateLimitAnswersWithTheServerError() {
        var m = M(settings: .init(rateLimit: .init(points: 1, durationMs: 1000)), now: 0, expiresAt: nil)
        _ = m.received(frame(#"{"type":"unsubscribe"}"#), now: 1)
        let out = m.received(frame(#"{"type":"unsubscribe"}"#), now: 2)
        #expect(sent(out).first?.contains(#""code":"REQUESTS_EXCEEDED""#) == true)
    }

    @Test func closingEndsTheSubscriptionFirst() {
        var m = M(now: 0, expiresAt: nil)
        _ = m.received(frame(#"{"type":"subscribe","log_level":"info"}"#), now: 1)
        #expect(m.close(.goingAway, "bye") == [.unsubscribe, .close(.goingAway, "bye")])
        #expect(m.received(frame(#"{"type":"subscribe","log_level":"info"}"#), now: 2).isEmpty)
    }

    @Test func levelsArePinosNumbers() {
        #expect(LogLevel.allCases.map(\.rawValue) == [10, 20, 30, 40, 50, 60])
        #expect(LogLevel(name: "warn") == .warn && LogLevel(name: "warning") == nil && LogLevel(name: "silent") == nil)
    }
}

/// Log records as the logs stream's frames.
@Suite struct LogFrameRendererTests {
    let record = LogRecord(
        level: .warn, timeMs: 1_700_000_000_123, message: "login failed", label: "switchboard.auth",
        metadata: [("msg", "not me"), ("replica", "host:1"), ("request", "r1")])

    @Test func prettyKeepsLevelTimeAndMessage() {
        let r = LogFrameRenderer(style: .pretty, nodeID: "abcdEFGH", pid: 7, hostname: "h")
        #expect(
            String(decoding: r.frame(record), as: UTF8.self)
                == #"{"type":"logs","data":{"level":40,"time":1700000000123,"msg":"login failed"},"uid":"abcdEFGH"}"#)
    }

    @Test func rawIsTheWholeRecordWithMessageLast() {
        let r = LogFrameRenderer(style: .raw, nodeID: "n", pid: 7, hostname: "h")
        #expect(
            String(decoding: r.frame(record), as: UTF8.self)
                == #"{"type":"logs","data":{"level":40,"time":1700000000123,"pid":7,"hostname":"h","label":"switchboard.auth","replica":"host:1","request":"r1","msg":"login failed"},"uid":"n"}"#
        )
    }

    @Test func aRequestsRecordReadsAsItsRequestLineInPrettyStyle() {
        let request = LogRecord(
            level: .debug, timeMs: 1, message: "request", label: "switchboard",
            metadata: [("method", "GET"), ("ms", "3"), ("path", "/items/a"), ("status", "200")])
        let pretty = LogFrameRenderer(style: .pretty, nodeID: "n", pid: 1, hostname: "h")
        #expect(pretty.data(request).objectValue?["msg"] == .string("GET /items/a 200 3ms"))
        let raw = LogFrameRenderer(style: .raw, nodeID: "n", pid: 1, hostname: "h")
        #expect(raw.data(request).objectValue?["msg"] == .string("request"))
    }
}
