import Logging
import NIOCore
import NIOHTTP1
import Realtime
import RealtimeProtocol

/// The first handler of every connection: reads its first bytes as a plain
/// WebSocket upgrade for an endpoint's path (`UpgradeRequest`) and, when they
/// are one, admits it and installs the endpoint's socket with no HTTP/1.1
/// codec in the pipeline at all. Anything else (REST, an unusual upgrade) is
/// handed with its bytes to the general HTTP/1.1 path: the HTTP codec and the
/// `FrontDoor`, which route it as before.
final class WebSocketDoor: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case reading
        /// An upgrade waits for its admission; reads meanwhile are the client's first frames.
        case upgrading
        case done
    }

    /// Bytes a client may send before its upgrade is answered.
    static let maxEarlyBytes = 1 << 20

    private let endpoints: [String: any UpgradeEndpoint]
    private let paths: Set<String>
    private let route: EventLoopPromise<FrontDoor.Route>
    private let logger: Logger
    private let decoderLimits: NIOHTTPDecoderLimitConfiguration
    private var state = State.reading
    /// The bytes read and not yet passed on: a head's prefix, then the client's early frames.
    private var buffered: ByteBuffer?
    private var timeout: Scheduled<Void>?

    init(
        endpoints: [String: any UpgradeEndpoint], paths: Set<String>, route: EventLoopPromise<FrontDoor.Route>,
        decoderLimits: NIOHTTPDecoderLimitConfiguration, logger: Logger
    ) {
        self.endpoints = endpoints
        self.paths = paths
        self.route = route
        self.decoderLimits = decoderLimits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timeout = context.eventLoop.scheduleTask(in: FrontDoor.firstRequestTimeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        if case .done = state {
        } else {
            route.fail(ChannelError.ioOnClosedChannel)
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        switch state {
        case .reading:
            if var held = buffered {
                buffered = nil  // the only reference: appending copies nothing
                held.writeBuffer(&bytes)
                bytes = held
            }
            let reading = bytes.withUnsafeReadableBytes { UpgradeRequest.read($0, paths: paths) }
            switch reading {
            case .needMore:
                buffered = bytes
            case .other:
                buffered = nil
                handOver(bytes, context: context)
            case .upgrade(let request, let headLength):
                guard let endpoint = endpoints[String(request.path)] else {
                    buffered = nil
                    return handOver(bytes, context: context)
                }
                timeout?.cancel()
                bytes.moveReaderIndex(forwardBy: headLength)
                buffered = bytes
                state = .upgrading
                upgrade(request, endpoint: endpoint, context: context)
            }
        case .upgrading:
            var early = buffered ?? context.channel.allocator.buffer(capacity: 0)
            buffered = nil
            early.writeBuffer(&bytes)
            guard early.readableBytes <= Self.maxEarlyBytes else {
                state = .done
                buffered = nil
                return context.close(promise: nil)
            }
            buffered = early
        case .done:
            break
        }
    }

    // MARK: The general path

    /// The HTTP/1.1 codec and the front door go in behind this handler, get every byte read so
    /// far, and this handler leaves.
    private func handOver(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        state = .done
        timeout?.cancel()
        do {
            let sync = context.pipeline.syncOperations
            let door = FrontDoor(endpoints: endpoints, route: route, logger: logger)
            let http: [any ChannelHandler] = [
                HTTPResponseEncoder(configuration: .init()),
                ByteToMessageHandler(
                    HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, limitConfiguration: decoderLimits)),
                door,
            ]
            try sync.addHandlers(http)
            context.fireChannelRead(wrapInboundOut(bytes))
            sync.removeHandler(self, promise: nil)
        } catch {
            logger.error("could not hand a connection to the HTTP server", metadata: ["error": "\(error)"])
            route.fail(error)
            context.close(promise: nil)
        }
    }

    // MARK: Upgrade

    private func upgrade(_ request: UpgradeRequest, endpoint: any UpgradeEndpoint, context: ChannelHandlerContext) {
        let headers = HTTPHeaders(request.headers.map { ($0.name, $0.value) })
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: request.target, headers: headers)
        endpoint.decide(head, remoteAddress: context.channel.remoteAddress?.ipAddress, on: context.eventLoop) {
            self.admitted($0, head: head, context: context)
        }
    }

    private func admitted(_ admission: UpgradeAdmission, head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard case .upgrading = state, context.channel.isActive else {
            // The client left while the admission was decided.
            if case .accept(_, _, let abandon) = admission { abandon() }
            return
        }
        switch admission {
        case .refuse(let status, let text):
            respond(status, text, context: context)
        case .accept(let subprotocol, let install, let abandon):
            guard let accept = WebSocketHandshake.acceptValue(head) else {
                abandon()
                return respond(.badRequest, "Invalid WebSocket upgrade request.", context: context)
            }
            state = .done
            // The 101 goes first; whatever the socket writes from here follows it on the wire.
            var response = context.channel.allocator.buffer(capacity: 160)
            WebSocketHandshake.writeSwitchingProtocols(accept: accept, subprotocol: subprotocol, into: &response)
            context.writeAndFlush(wrapOutboundOut(response), promise: nil)
            let channel = context.channel
            do {
                try install(channel)  // from here `install` owns the slot (and gives it back if it throws)
            } catch {
                logger.error("could not install a realtime socket", metadata: ["error": "\(error)"])
                channel.close(promise: nil)
                return
            }
            route.succeed(.realtime)
            if let early = buffered, early.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(early)) }
            buffered = nil
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
    }

    private func respond(_ status: HTTPResponseStatus, _ text: String, context: ChannelHandlerContext) {
        state = .done
        buffered = nil
        var headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")])
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        var bytes = Self.serialize(
            HTTPResponseHead(version: .http1_1, status: status, headers: headers), allocator: context.channel.allocator)
        bytes.writeString(text)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in channel.close(promise: nil) }
        route.fail(ChannelError.ioOnClosedChannel)
    }

    /// A response head as HTTP/1.1 puts it on the wire (no body framing: the callers' heads carry theirs).
    static func serialize(_ head: HTTPResponseHead, allocator: ByteBufferAllocator) -> ByteBuffer {
        var bytes = allocator.buffer(capacity: 256)
        bytes.writeString("HTTP/1.1 \(head.status.code) \(head.status.reasonPhrase)\r\n")
        for (name, value) in head.headers { bytes.writeString("\(name): \(value)\r\n") }
        bytes.writeString("\r\n")
        return bytes
    }
}
