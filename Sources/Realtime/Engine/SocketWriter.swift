import Logging
import NIOCore
import RealtimeProtocol

/// The channel side every protocol's socket shares, on its event loop: frames
/// written (event frames flushed once per fan-out hop), the close frame
/// behind what is already buffered, and the socket's one deadline in its
/// shard's heap. A class, not a struct: a write can call back into the socket
/// (a failed write closes the channel, a full buffer reports writability) while
/// it runs, and a struct's mutating method would hold exclusive access across that.
final class SocketWriter {
    private(set) var context: ChannelHandlerContext?
    /// Set once a close began (or the peer went away): nothing more is written.
    private(set) var closing = false
    private var eventsWritten = false
    /// Matches the generation the socket's current deadline was scheduled with.
    private(set) var deadlineGeneration: UInt32 = 0
    private var scheduledDeadline: Int64?

    var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }

    func attach(_ context: ChannelHandlerContext) { self.context = context }

    func detach() { context = nil }

    /// No more writes (the socket finished).
    func stop() { closing = true }

    func write(_ frame: ByteBuffer, flush: Bool) {
        guard let context, !closing else { return }
        if flush {
            context.writeAndFlush(NIOAny(frame), promise: nil)
        } else {
            context.write(NIOAny(frame), promise: nil)
        }
    }

    func writeText(_ payload: [UInt8]) {
        write(WebSocketWire.textFrame(payload, allocator: allocator), flush: false)
    }

    func flush() { context?.flush() }

    /// Writes an event frame; true when it is the first since the last flush (the hop then
    /// flushes this socket once at its end).
    func writeEvent(_ frame: ByteBuffer) -> Bool {
        guard !closing else { return false }
        write(frame, flush: false)
        defer { eventsWritten = true }
        return !eventsWritten
    }

    /// The end of a fan-out hop: one flush for everything it wrote.
    func flushEvents() {
        guard eventsWritten else { return }
        eventsWritten = false
        context?.flush()
    }

    /// Starts the close (once): the close frame, then the channel closes when it is out. False
    /// when it had begun already.
    func close(_ code: CloseCode, _ reason: String, socket: UInt64, logger: Logger) -> Bool {
        guard let context, !closing else { return false }
        logger.debug("closing a socket", metadata: ["socket": "\(socket)", "code": "\(code.rawValue)", "reason": "\(reason)"])
        closing = true
        WebSocketWire.close(context, code: code, reason: reason)
        return true
    }

    /// Puts the socket's next deadline in its shard's heap (an earlier entry is left to be skipped
    /// by its generation).
    func schedule(_ next: Int64?, socket: UInt64, in shard: LoopShard) {
        guard let next else {
            scheduledDeadline = nil
            return
        }
        guard next != scheduledDeadline else { return }
        scheduledDeadline = next
        deadlineGeneration &+= 1
        shard.schedule(socket, at: next, generation: deadlineGeneration)
    }
}
