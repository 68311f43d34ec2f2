import Query
import RealtimeProtocol
import SwitchboardCore
import Testing

@Suite struct ClientMessageTests {
    func parse(_ text: String) -> Result<ClientMessage, FrameRejection> {
        ClientMessage.parse(Array(text.utf8), limits: QueryLimits(maxFilterConditions: 2))
    }

    func rejection(_ text: String) -> FrameRejection? {
        if case .failure(let r) = parse(text) { return r }
        return nil
    }

    @Test func framesThatAreNotJSONObjectsWithATypeAreUnparsable() throws {
        for text in ["", "nope", "[]", "42", #"{"uid":1}"#, #"{"type":5}"#, #"{"type":"ping""#] {
            #expect(rejection(text) == .unparsable, "\(text)")
        }
        #expect(
            String(decoding: FrameRejection.unparsable.frame, as: UTF8.self)
                == #"{"type":"server","status":"error","error":{"code":"INVALID_PAYLOAD","message":"Unable to parse the incoming message."}}"#
        )
    }

    @Test func authCredentialsInEveryForm() throws {
        #expect(try parse(#"{"type":"auth","access_token":"t"}"#).get() == .auth(.accessToken("t"), uid: nil))
        #expect(
            try parse(#"{"type":"auth","email":"a@b","password":"p","uid":"1"}"#).get()
                == .auth(.login(email: "a@b", password: "p"), uid: "1"))
        #expect(try parse(#"{"type":"auth","refresh_token":"r","uid":7}"#).get() == .auth(.refreshToken("r"), uid: 7))
        // No usable credentials is an authentication failure for the session, not a payload error.
        #expect(try parse(#"{"type":"auth","email":"a@b"}"#).get() == .auth(nil, uid: nil))
    }

    @Test func uidsAreStringsOrNumbersOnly() throws {
        #expect(try parse(#"{"type":"ping","uid":"x"}"#).get().uid == "x")
        #expect(try parse(#"{"type":"ping","uid":1.5}"#).get().uid == 1.5)
        #expect(try parse(#"{"type":"ping","uid":{"a":1}}"#).get().uid == nil)
        #expect(try parse(#"{"type":"pong","uid":"x"}"#).get() == .pong)
    }

    @Test func subscribeWithEveryOption() throws {
        let message = try parse(
            #"{"type":"subscribe","collection":"c","event":"update","item":3,"after":9,"live":true,"query":{"fields":"id,a"},"uid":"2"}"#
        ).get()
        guard case .subscribe(let request, let uid) = message else { throw CancellationError() }
        #expect(uid == "2")
        #expect(request.collection == "c" && request.event == .update && request.item == 3)
        #expect(request.after == 9 && request.live && request.query.fields == ["id", "a"])
    }

    @Test func badSubscribesAreRejectedWithTheirTypeAndUid() throws {
        #expect(rejection(#"{"type":"subscribe","uid":"1"}"#)?.message == "\"collection\" is required.")
        #expect(rejection(#"{"type":"subscribe","collection":"c","event":"x","uid":"1"}"#)?.code == "INVALID_PAYLOAD")
        #expect(rejection(#"{"type":"subscribe","collection":"c","after":-1}"#)?.code == "INVALID_PAYLOAD")
        #expect(rejection(#"{"type":"subscribe","collection":"c","live":"yes"}"#)?.code == "INVALID_PAYLOAD")
        #expect(rejection(#"{"type":"subscribe","collection":"c","query":[]}"#)?.code == "INVALID_QUERY")
        let tooBig = rejection(
            #"{"type":"subscribe","collection":"c","uid":"u","query":{"filter":{"a":{"_eq":1},"b":{"_eq":1},"c":{"_eq":1}}}}"#)
        #expect(tooBig?.type == "subscribe" && tooBig?.uid == "u" && tooBig?.code == "INVALID_QUERY")
        #expect(tooBig?.message.contains("QUERY_MAX_FILTER_CONDITIONS") == true)
    }

    @Test func itemsNeedACollectionAndAKnownAction() throws {
        guard case .items(let request, _) = try parse(#"{"type":"items","collection":"c","action":"read","id":1}"#).get()
        else { throw CancellationError() }
        #expect(request.action == .read && request.message["id"] == 1)
        #expect(rejection(#"{"type":"items","action":"read"}"#)?.type == "items")
        #expect(rejection(#"{"type":"items","collection":"c","action":"drop"}"#)?.code == "INVALID_PAYLOAD")
    }

    @Test func unknownTypesAreNamed() throws {
        let r = rejection(#"{"type":"bogus","uid":"9"}"#)
        #expect(r == FrameRejection(type: "bogus", code: "INVALID_PAYLOAD", message: "Unknown message type \"bogus\".", uid: "9"))
    }
}
