import RealtimeProtocol
import Testing

@Suite struct UpgradeRequestTests {
    let paths: Set<String> = ["/websocket", "/graphql"]

    static let plain =
        "GET /websocket?access_token=abc HTTP/1.1\r\nHost: 127.0.0.1:8055\r\nUpgrade: websocket\r\n"
        + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    func read(_ text: String, limits: UpgradeRequest.Limits = .init()) -> UpgradeRequest.Reading {
        UpgradeRequest.read(Array(text.utf8), paths: paths, limits: limits)
    }

    @Test func aPlainUpgradeIsReadWithItsHeadersInOrder() throws {
        guard case .upgrade(let request, let headLength) = read(Self.plain + "\u{81}\u{80}") else {
            Issue.record("not read as an upgrade")
            return
        }
        #expect(headLength == Self.plain.utf8.count)
        #expect(request.target == "/websocket?access_token=abc")
        #expect(request.path == "/websocket")
        #expect(request.headers.map(\.name) == ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"])
        #expect(request.headers[0].value == "127.0.0.1:8055")
    }

    @Test func everyPrefixOfAnUpgradeNeedsMore() {
        let bytes = Array(Self.plain.utf8)
        for count in 0..<bytes.count {
            #expect(UpgradeRequest.read(Array(bytes[..<count]), paths: paths) == .needMore, "\(count)")
        }
    }

    @Test func valuesLoseSurroundingWhitespaceAndKeepInnerSpaces() throws {
        let text = "GET /graphql HTTP/1.1\r\nUpgrade:\t WebSocket , h2c \r\nUser-Agent:  a b\t\r\n\r\n"
        guard case .upgrade(let request, _) = read(text) else {
            Issue.record("not read as an upgrade")
            return
        }
        #expect(request.headers == [.init(name: "Upgrade", value: "WebSocket , h2c"), .init(name: "User-Agent", value: "a b")])
    }

    @Test func otherRequestsAreTheGeneralPathsFromTheirFirstBytes() {
        #expect(read("P") == .other)
        #expect(read("POST /websocket HTTP/1.1\r\n") == .other)
        #expect(read("GET /items/a HTTP/1.1\r\n") == .other)
        #expect(read("GET /websocketx HTTP/1.1\r\n") == .other)
        #expect(read("GET websocket HTTP/1.1\r\n") == .other)
        #expect(read("GET  /websocket HTTP/1.1\r\n") == .other)
        #expect(read("GET /websocket HTTP/1.0\r\n") == .other)
        #expect(read("GET /websocket HTTP/1.1\n") == .other)
    }

    @Test func unusualUpgradesAreTheGeneralPaths() {
        let start = "GET /websocket HTTP/1.1\r\nUpgrade: websocket\r\n"
        // Not an upgrade.
        #expect(read("GET /websocket HTTP/1.1\r\nHost: x\r\n\r\n") == .other)
        #expect(read("GET /websocket HTTP/1.1\r\nUpgrade: h2c\r\n\r\n") == .other)
        // A body.
        #expect(read(start + "Content-Length: 5\r\n\r\nhello") == .other)
        #expect(read(start + "Transfer-Encoding: chunked\r\n\r\n") == .other)
        // Header names in any case; names of the same length that are not these are plain headers.
        #expect(read(start + "CONTENT-length: 5\r\n\r\nhello") == .other)
        #expect(read(start + "transfer-ENCODING: chunked\r\n\r\n") == .other)
        #expect(read("GET /websocket HTTP/1.1\r\nUPGRADE: WebSocket\r\n\r\n") != .other)
        #expect(read("GET /websocket HTTP/1.1\r\nUpgrader: websocket\r\n\r\n") == .other)
        #expect(read("GET /websocket HTTP/1.1\r\nUpgrad_: websocket\r\n\r\n") == .other)
        if case .upgrade(let request, _) = read(start + "Content-Lengtx: 5\r\nTransfer-Encodinh: x\r\n\r\n") {
            #expect(request.headers.map(\.name) == ["Upgrade", "Content-Lengtx", "Transfer-Encodinh"])
        } else {
            Issue.record("look-alike header names not read as plain headers")
        }
        // Obsolete folding, bare LF, bad names, control or non-ASCII bytes.
        #expect(read(start + "X-A: 1\r\n  folded\r\n\r\n") == .other)
        #expect(read(start + "X-A: 1\n\r\n") == .other)
        #expect(read(start + "X A: 1\r\n\r\n") == .other)
        #expect(read(start + ": 1\r\n\r\n") == .other)
        #expect(read(start + "X-A: \u{1}\r\n\r\n") == .other)
        #expect(read(start + "X-A: é\r\n\r\n") == .other)
        #expect(read(start + "\rX") == .other)
        #expect(read("GET /web\u{7F}socket HTTP/1.1\r\n") == .other)
        // An empty body is fine.
        guard case .upgrade = read(start + "Content-Length: 0\r\n\r\n") else {
            Issue.record("Content-Length: 0 not read as an upgrade")
            return
        }
    }

    @Test func headsOverTheLimitsAreTheGeneralPaths() {
        let limits = UpgradeRequest.Limits(maxHeadBytes: 200, maxHeaders: 3)
        let start = "GET /websocket HTTP/1.1\r\nUpgrade: websocket\r\n"
        #expect(read(start + "A: 1\r\nB: 2\r\n\r\n", limits: limits) != .other)
        #expect(read(start + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits) == .other)
        #expect(read(start + "A: " + String(repeating: "x", count: 200), limits: limits) == .other)
        #expect(read(String(repeating: "x", count: 10), limits: limits) == .other)
        // Exactly at the limit, still incomplete: the general path.
        let unfinished = start + "A: " + String(repeating: "x", count: 200 - start.utf8.count - 3)
        #expect(unfinished.utf8.count == 200)
        #expect(read(unfinished, limits: limits) == .other)
    }
}
