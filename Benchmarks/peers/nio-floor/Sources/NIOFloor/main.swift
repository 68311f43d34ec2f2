// The least a SwiftNIO server does for a WebSocket connection, as a floor to measure
// Switchboard's connection churn against (`scripts/churn-floor`):
//
// - any path but `/websocket`: the upgrade, then a close handshake (nchan's shape: the
//   upgrade is the subscription);
// - `/websocket`: the upgrade, then canned answers to the Directus realtime round trips
//   (the first text frame gets `auth ok`, every later one a subscription `init` with no
//   rows), then the close handshake. No token check, no query, no registry.
//
// NIO's HTTP/1.1 codec and `NIOWebSocketServerUpgrader`, the frame codec, one handler.
// Usage: nio-floor PORT [LOOPS]
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

final class CannedSocket: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    static let authOK = #"{"type":"auth","status":"ok"}"#
    static let initNoRows = #"{"type":"subscription","event":"init","data":[],"uid":"1"}"#

    private let answersText: Bool
    private var textsRead = 0

    init(answersText: Bool) { self.answersText = answersText }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text where answersText:
            textsRead += 1
            send(textsRead == 1 ? Self.authOK : Self.initNoRows, context: context)
        case .ping:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            var code = context.channel.allocator.buffer(capacity: 2)
            code.writeInteger(UInt16(1000))
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)))
                .whenComplete { _ in channel.close(promise: nil) }
        default:
            break
        }
    }

    private func send(_ text: String, context: ChannelHandlerContext) {
        var bytes = context.channel.allocator.buffer(capacity: text.utf8.count)
        bytes.writeString(text)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: bytes)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let port = Int(arguments[1]) else {
    print("usage: nio-floor PORT [LOOPS]")
    exit(2)
}
let loops = arguments.count >= 3 ? Int(arguments[2]) ?? System.coreCount : System.coreCount
let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
let server = try await ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        let upgrader = NIOWebSocketServerUpgrader(
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, head in
                let path = head.uri.split(separator: "?", maxSplits: 1).first ?? ""
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CannedSocket(answersText: path == "/websocket"))
                }
            })
        return channel.pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
    }
    .bind(host: "127.0.0.1", port: port).get()
print("nio-floor on 127.0.0.1:\(port), \(loops) event loops")
try await server.closeFuture.get()
