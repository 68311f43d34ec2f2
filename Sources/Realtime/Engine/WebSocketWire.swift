import NIOCore
import RealtimeProtocol
import SwitchboardCore

/// Server-to-client WebSocket frames, framed here rather than by a pipeline
/// encoder: a frame is rendered once into a `ByteBuffer` and the same buffer
/// is written to every socket that receives it (RFC 6455 §5.2; server frames
/// are never masked).
enum WebSocketWire {
    static let text: UInt8 = 0x1
    static let close: UInt8 = 0x8
    static let pong: UInt8 = 0xA

    /// FIN + opcode and the payload length, in as few bytes as RFC 6455 allows.
    static func writeHeader(opcode: UInt8, length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0x80 | opcode))
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
    }

    static func headerSize(_ length: Int) -> Int { length < 126 ? 2 : length <= Int(UInt16.max) ? 4 : 10 }

    /// A text frame carrying `payload`.
    static func textFrame(_ payload: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: headerSize(payload.count) + payload.count)
        writeHeader(opcode: text, length: payload.count, into: &buffer)
        buffer.writeBytes(payload)
        return buffer
    }

    /// A close frame with a status code and a reason (cut to fit a control frame's 125 bytes).
    static func closeFrame(_ code: CloseCode, _ reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        let why = utf8Prefix(reason, maxBytes: 123)
        var buffer = allocator.buffer(capacity: 4 + why.count)
        writeHeader(opcode: close, length: 2 + why.count, into: &buffer)
        buffer.writeInteger(code.rawValue)
        buffer.writeBytes(why)
        return buffer
    }

    /// At most `maxBytes` of `text`'s UTF-8, never ending inside a character.
    static func utf8Prefix(_ text: String, maxBytes: Int) -> [UInt8] {
        var out: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if out.count + bytes.count > maxBytes { break }
            out += bytes
        }
        return out
    }

    /// The answer to a client's WebSocket ping.
    static func pongFrame(_ data: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var data = data
        let length = min(data.readableBytes, 125)
        var buffer = allocator.buffer(capacity: 2 + length)
        writeHeader(opcode: pong, length: length, into: &buffer)
        if let bytes = data.readBytes(length: length) { buffer.writeBytes(bytes) }
        return buffer
    }
}

extension RenderedEvent {
    /// The whole frame for one subscriber: header, the shared prefix, the uid, the closing brace.
    func webSocketFrame(uid: String?, allocator: ByteBufferAllocator) -> ByteBuffer {
        var suffix: [UInt8] = []
        if let uid {
            suffix.reserveCapacity(uid.utf8.count + 10)
            suffix.append(contentsOf: #","uid":"#.utf8)
            JSONWriter.writeString(uid, into: &suffix)
        }
        suffix.append(UInt8(ascii: "}"))
        let length = prefix.count + suffix.count
        var buffer = allocator.buffer(capacity: WebSocketWire.headerSize(length) + length)
        WebSocketWire.writeHeader(opcode: WebSocketWire.text, length: length, into: &buffer)
        buffer.writeBytes(prefix)
        buffer.writeBytes(suffix)
        return buffer
    }
}
