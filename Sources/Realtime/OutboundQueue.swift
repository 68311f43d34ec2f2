import RealtimeProtocol
import Synchronization

/// The bounded queue of frames waiting to be written to one socket.
///
/// Fan-out only appends bytes here; one writer task per socket drains it, so a
/// slow client never slows anyone else. When more than `limit` frames wait,
/// the queue reports overflow and the connection is closed (1013).
///
/// `hold()` / `release()` keep event frames back while a socket's own write
/// request is in flight, so its `items` reply goes out before the events the
/// write caused (PROTOCOL.md, items over the socket).
final class OutboundQueue: Sendable {
    enum Item: Sendable {
        case frame([UInt8])
        case close(CloseCode, String)
    }

    private struct State {
        var queued = 0
        var holds = 0
        var held: [[UInt8]] = []
        var finished = false
    }

    let stream: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation
    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int) {
        self.limit = limit
        (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .unbounded)
    }

    /// Appends a frame; `false` when the queue is over its limit (the caller closes the socket).
    @discardableResult
    func enqueue(_ bytes: [UInt8], bypassHold: Bool = false) -> Bool {
        let accepted = state.withLock { s -> Bool? in
            if s.finished { return nil }
            if s.queued + s.held.count >= limit { return false }
            if s.holds > 0 && !bypassHold {
                s.held.append(bytes)
                return true
            }
            s.queued += 1
            continuation.yield(.frame(bytes))
            return true
        }
        return accepted ?? true
    }

    func hold() { state.withLock { $0.holds += 1 } }

    func release() {
        state.withLock { s in
            s.holds -= 1
            guard s.holds == 0, !s.finished else { return }
            for frame in s.held {
                s.queued += 1
                continuation.yield(.frame(frame))
            }
            s.held = []
        }
    }

    /// Called by the writer after each frame left.
    func didWrite() { state.withLock { $0.queued -= 1 } }

    /// Queues a close after the frames already queued; later frames are dropped.
    func close(_ code: CloseCode, _ reason: String) {
        state.withLock { s in
            guard !s.finished else { return }
            s.finished = true
            continuation.yield(.close(code, reason))
            continuation.finish()
        }
    }

    /// Ends the stream without a close frame (the socket is already gone).
    func finish() {
        state.withLock { s in
            s.finished = true
            continuation.finish()
        }
    }

    var isFinished: Bool { state.withLock { $0.finished } }
}
