import NIOCore
import NIOWebSocket
import RealtimeProtocol

/// The inbound side every WebSocket protocol shares: text messages put
/// together from their fragments (bounded in size), control frames, and the
/// protocol errors in between. Pure: frames in, what they mean out.
struct WebSocketInbound {
    /// What one frame amounts to.
    enum Outcome {
        /// A whole text message.
        case text(ByteBuffer)
        case binary
        /// Answer with a pong carrying these bytes.
        case ping(ByteBuffer)
        /// The peer closed with this code.
        case peerClosed(UInt16?)
        /// The connection must close with this code and reason.
        case violation(CloseCode, String)
        /// Nothing to do yet (a fragment, a pong).
        case nothing
    }

    let maxMessageSize: Int
    /// Text fragments of a message still arriving.
    private var fragments: ByteBuffer?

    init(maxMessageSize: Int) { self.maxMessageSize = maxMessageSize }

    mutating func take(_ frame: WebSocketFrame) -> Outcome {
        switch frame.opcode {
        case .text:
            guard fragments == nil else { return .violation(.protocolError, "A new message began before the last one ended.") }
            if frame.fin { return .text(frame.unmaskedData) }
            fragments = frame.unmaskedData
            return .nothing
        case .continuation:
            guard var buffer = fragments else { return .violation(.protocolError, "A continuation frame without a message.") }
            var data = frame.unmaskedData
            guard buffer.readableBytes + data.readableBytes <= maxMessageSize else {
                fragments = nil
                return .violation(.messageTooBig, "Message too big.")
            }
            buffer.writeBuffer(&data)
            if frame.fin {
                fragments = nil
                return .text(buffer)
            }
            fragments = buffer
            return .nothing
        case .binary:
            return .binary
        case .ping:
            return .ping(frame.unmaskedData)
        case .pong:
            return .nothing
        case .connectionClose:
            var data = frame.unmaskedData
            return .peerClosed(data.readInteger(as: UInt16.self))
        default:
            return .violation(.protocolError, "Unknown frame type.")
        }
    }

    /// The close an error from the frame decoder calls for.
    static func violation(for error: any Error) -> (CloseCode, String) {
        if let ws = error as? NIOWebSocketError, ws == .invalidFrameLength { return (.messageTooBig, "Message too big.") }
        return (.protocolError, "Invalid WebSocket data.")
    }
}

extension WebSocketWire {
    /// A client that does not read its close frame within this is cut off (as the `ws` library
    /// does: a slow consumer's 1013 waits behind everything already buffered for it).
    static let closeGrace = TimeAmount.seconds(30)

    /// Writes the close frame behind what is already buffered and closes the channel once it is
    /// out (or after `closeGrace`: a client too slow to read it is not waited for).
    static func close(_ context: ChannelHandlerContext, code: CloseCode, reason: String) {
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(closeFrame(code, reason, allocator: channel.allocator)), promise: written)
        let cutOff = context.eventLoop.scheduleTask(in: closeGrace) { channel.close(promise: nil) }
        written.futureResult.whenComplete { _ in
            cutOff.cancel()
            channel.close(promise: nil)
        }
    }
}
