import NIOCore
import NIOEmbedded
import RealtimeProtocol
import Testing

@testable import Realtime

/// The logs stream's hand-off to event loops: level filters, bounds and drops.
@Suite struct LogStreamTests {
    /// A subscriber that keeps what it was written, with an outbound buffer that can be full.
    final class Reader: LogSubscriber {
        let id: UInt64
        var full = false
        var frames: [String] = []
        var flushes = 0

        init(_ id: UInt64) { self.id = id }

        func writeLog(_ frame: ByteBuffer) -> LogWrite {
            guard !full else { return .full }
            // The payload after the 2-byte WebSocket header (short frames).
            frames.append(String(decoding: frame.readableBytesView.dropFirst(2), as: UTF8.self))
            return .written
        }

        func flushLogs() { flushes += 1 }
    }

    func stream(threshold: LogLevel = .info, limit: Int = 1024) -> LogStream {
        LogStream(
            settings: .init(threshold: threshold, style: .pretty, handOffLimit: limit), nodeID: "node0001", pid: 1,
            hostname: "h")
    }

    func record(_ level: LogLevel, _ message: String) -> LogRecord {
        LogRecord(level: level, timeMs: 5, message: message, label: "test")
    }

    @Test func recordsGoToSubscribersAtOrAboveTheirLevelInOneFlush() {
        let loop = EmbeddedEventLoop()
        let s = stream(threshold: .debug)
        let warn = Reader(1)
        let debug = Reader(2)
        s.subscribe(warn, level: .warn, on: loop)
        s.subscribe(debug, level: .debug, on: loop)
        #expect(s.subscriberCount == 2)
        s.publish(record(.info, "i"))
        s.publish(record(.error, "e"))
        s.publish(record(.trace, "below the threshold"))
        loop.run()
        #expect(warn.frames == [#"{"type":"logs","data":{"level":50,"time":5,"msg":"e"},"uid":"node0001"}"#])
        #expect(debug.frames.count == 2 && debug.flushes == 1)
    }

    @Test func nothingIsRenderedWithoutSubscribers() {
        let loop = EmbeddedEventLoop()
        let s = stream()
        let reader = Reader(1)
        s.subscribe(reader, level: .info, on: loop)
        s.unsubscribe(reader, on: loop)
        #expect(!s.hasSubscribers)
        s.publish(record(.error, "e"))
        loop.run()
        #expect(reader.frames.isEmpty)
    }

    @Test func aFullSubscriberDropsRecordsAndTheOthersGetThem() {
        let loop = EmbeddedEventLoop()
        let s = stream()
        let slow = Reader(1)
        let fast = Reader(2)
        slow.full = true
        s.subscribe(slow, level: .info, on: loop)
        s.subscribe(fast, level: .info, on: loop)
        s.publish(record(.info, "a"))
        s.publish(record(.info, "b"))
        loop.run()
        #expect(fast.frames.count >= 2)
        #expect(slow.frames.isEmpty)
        #expect(s.droppedRecords >= 2)
        // Once it reads again it gets the records that come after.
        slow.full = false
        s.publish(record(.info, "c"))
        loop.run()
        #expect(slow.frames.contains { $0.contains(#""msg":"c""#) })
    }

    @Test func aLoopHoldsAtMostTheHandOffLimit() {
        let loop = EmbeddedEventLoop()
        let s = stream(limit: 3)
        let reader = Reader(1)
        s.subscribe(reader, level: .info, on: loop)
        for i in 0..<10 { s.publish(record(.info, "\(i)")) }
        loop.run()
        #expect(reader.frames.count == 3)
        #expect(s.droppedRecords == 7)
    }

    @Test func aNewLevelReplacesTheOld() {
        let loop = EmbeddedEventLoop()
        let s = stream()
        let reader = Reader(1)
        s.subscribe(reader, level: .info, on: loop)
        s.subscribe(reader, level: .error, on: loop)
        #expect(s.subscriberCount == 1)
        s.publish(record(.warn, "w"))
        loop.run()
        #expect(reader.frames.isEmpty)
    }
}
