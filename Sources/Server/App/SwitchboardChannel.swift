import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Realtime
import Synchronization

/// Every connection to the server's port starts here. Its first request
/// decides what it becomes: a WebSocket upgrade on the path of an upgrade
/// endpoint (`/websocket`: the realtime engine) is admitted (or refused with
/// 401 / 403) and the channel becomes that endpoint's socket on its event
/// loop, with no task of its own; anything else is handed, with that request,
/// to Hummingbird's HTTP/1.1 handling (REST). A plain upgrade is read from the
/// raw bytes (`WebSocketDoor`); only other requests get the HTTP/1.1 codec
/// (`FrontDoor`).
struct SwitchboardChannel: ServerChildChannel, HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
        let route: EventLoopFuture<FrontDoor.Route>
    }

    let responder: HTTPChannelHandler.Responder
    /// path → the protocol served there over WebSocket
    let endpoints: [String: any UpgradeEndpoint]
    let decoderLimits: NIOHTTPDecoderLimitConfiguration
    /// The endpoints' paths, for the upgrade reader.
    let upgradePaths: Set<String>

    init(
        responder: @escaping HTTPChannelHandler.Responder, endpoints: [String: any UpgradeEndpoint],
        decoderLimits: NIOHTTPDecoderLimitConfiguration
    ) {
        self.responder = responder
        self.endpoints = endpoints
        self.decoderLimits = decoderLimits
        upgradePaths = Set(endpoints.keys)
    }

    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 256, initial: 512, maximum: 65536)

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let promise = channel.eventLoop.makePromise(of: FrontDoor.Route.self)
            let sync = channel.pipeline.syncOperations
            // The receive buffer lives as long as the connection: start it small (an idle
            // realtime socket keeps it) and let it grow for larger reads.
            try channel.syncOptions?.setOption(.recvAllocator, value: Self.receiveBuffers)
            try sync.addHandler(
                WebSocketDoor(
                    endpoints: endpoints, paths: upgradePaths, route: promise, decoderLimits: decoderLimits, logger: logger))
            return Value(channel: channel, route: promise.futureResult)
        }
    }

    /// An HTTP connection's task, started by the `Listener` once the front door routed it (or
    /// failed: then it closes).
    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.route.get() {
            case .http(let asyncChannel): await handleHTTP(asyncChannel: asyncChannel, logger: logger)
            case .realtime: return  // the socket lives on its event loop from here
            }
        } catch {
            value.channel.close(promise: nil)
        }
    }
}

/// Reads a connection's first request head and routes the connection.
final class FrontDoor: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum Route: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case realtime
    }

    private enum State {
        case awaitingHead
        /// An upgrade waits for its admission, the 101 to leave and the request's end.
        case upgrading
        /// Handed to Hummingbird (reads pass through until this handler is gone).
        case handedOver
        case done
    }

    /// A connection that sends no request head within this is closed.
    static let firstRequestTimeout = TimeAmount.seconds(30)

    private let endpoints: [String: any UpgradeEndpoint]
    private let route: EventLoopPromise<Route>
    private let logger: Logger
    private var state = State.awaitingHead
    /// The upgrade request's end was read: the HTTP decoder has nothing more to say about it.
    private var upgradeRequestEnded = false
    /// The 101 left: what installs the socket once the request's end is read too.
    private var switched: (@Sendable (any Channel) throws -> Void)?
    /// An accepted upgrade whose socket is not installed yet: what gives its slot back if it never is.
    private var abandon: (@Sendable () -> Void)?
    private var timeout: Scheduled<Void>?

    init(endpoints: [String: any UpgradeEndpoint], route: EventLoopPromise<Route>, logger: Logger) {
        self.endpoints = endpoints
        self.route = route
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timeout = context.eventLoop.scheduleTask(in: Self.firstRequestTimeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        abandonUpgrade()
        route.fail(ChannelError.ioOnClosedChannel)  // no-op once the route is decided
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        abandonUpgrade()
        route.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch state {
        case .awaitingHead:
            guard case .head(let head) = part else { return }
            timeout?.cancel()
            let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            if let endpoint = endpoints[String(path)], WebSocketHandshake.isUpgrade(head) {
                state = .upgrading
                upgrade(head, endpoint: endpoint, context: context)
            } else {
                handOver(first: part, context: context)
            }
        case .upgrading:
            // An upgrade request carries no body worth keeping; its end lets the socket switch.
            if case .end = part {
                upgradeRequestEnded = true
                becomeRealtimeIfReady(channel: context.channel)
            }
        case .handedOver:
            context.fireChannelRead(data)
        case .done:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard case .awaitingHead = state, error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // A request that does not parse (too long a URL or headers, bad syntax): a clear 4xx, then close.
        state = .done
        let status: HTTPResponseStatus =
            (error as? HTTPParserError).map { $0 == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest } ?? .badRequest
        respond(status, "The request could not be read: \(status.reasonPhrase).", context: context)
    }

    private func abandonUpgrade() {
        abandon?()
        abandon = nil
    }

    // MARK: REST

    private func handOver(first: HTTPServerRequestPart, context: ChannelHandlerContext) {
        do {
            let sync = context.pipeline.syncOperations
            try sync.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try sync.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                wrappingChannelSynchronously: context.channel, configuration: .init(isOutboundHalfClosureEnabled: true))
            state = .handedOver
            route.succeed(.http(asyncChannel))
            context.fireChannelRead(NIOAny(first))
            sync.removeHandler(self, promise: nil)
        } catch {
            logger.error("could not hand a connection to the HTTP server", metadata: ["error": "\(error)"])
            state = .done
            route.fail(error)
            context.close(promise: nil)
        }
    }

    // MARK: Realtime

    private func upgrade(_ head: HTTPRequestHead, endpoint: any UpgradeEndpoint, context: ChannelHandlerContext) {
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
            state = .done
            respond(status, text, context: context)
        case .accept(let subprotocol, let install, let abandon):
            guard let accept = WebSocketHandshake.acceptValue(head) else {
                state = .done
                abandon()
                return respond(.badRequest, "Invalid WebSocket upgrade request.", context: context)
            }
            self.abandon = abandon
            let response = WebSocketHandshake.switchingProtocols(accept: accept, subprotocol: subprotocol)
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            let channel = context.channel
            let me = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { result in
                guard case .success = result else { return channel.close(promise: nil) }
                me.value.switched = install
                me.value.becomeRealtimeIfReady(channel: channel)
            }
        }
    }

    /// Once the 101 left and the request's end was read (the two happen in either order; an
    /// admission decided at once completes inside the decoder's report of the head): the
    /// realtime handlers go in, the HTTP handlers out (the decoder last, forwarding any frames
    /// the client sent early).
    private func becomeRealtimeIfReady(channel: any Channel) {
        guard case .upgrading = state, upgradeRequestEnded, let install = switched else { return }
        state = .done
        switched = nil
        abandon = nil  // from here `install` owns the slot (and gives it back if it throws)
        do {
            let sync = channel.pipeline.syncOperations
            try install(channel)
            let encoder = try sync.handler(type: HTTPResponseEncoder.self)
            let decoder = try sync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            route.succeed(.realtime)
            sync.removeHandler(encoder, promise: nil)
            sync.removeHandler(self, promise: nil)
            sync.removeHandler(decoder, promise: nil)
        } catch {
            logger.error("could not install a realtime socket", metadata: ["error": "\(error)"])
            channel.close(promise: nil)
        }
    }

    private func respond(_ status: HTTPResponseStatus, _ text: String, context: ChannelHandlerContext) {
        let body = ByteBuffer(string: text)
        var headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")])
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        route.fail(ChannelError.ioOnClosedChannel)
    }
}
