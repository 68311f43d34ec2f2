import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import SwitchboardCore

/// A parsed `ws://host:port/path` target, resolved once per fleet.
struct Endpoint: Sendable, Equatable {
    var host: String
    var port: Int
    var path: String

    init?(url: String) {
        guard let u = URL(string: url), u.scheme == "ws", let host = u.host else { return nil }
        self.host = host
        self.port = u.port ?? 80
        let query = u.query.map { "?\($0)" } ?? ""
        self.path = (u.path.isEmpty ? "/" : u.path) + query
    }

    var hostHeader: String { "\(host):\(port)" }
}

/// One client connection's fixed facts, shared by its two channel handlers.
struct ConnectionPlan: Sendable {
    var index: Int
    var room: Int?
    var endpoint: Endpoint
    var mode: Assignment.Mode
    var nchan: Bool
    var authFrame: ByteBuffer
    var subscribeFrame: ByteBuffer
}

/// Callbacks from a connection's event loop to its fleet.
protocol ConnectionObserver: AnyObject, Sendable {
    func connectionReady(_ plan: ConnectionPlan, channel: any Channel)
    func connectionEnded(_ plan: ConnectionPlan, stream: ClientStream, wasReady: Bool)
    func chatWriteAcknowledged(ok: Bool)
}

/// A lean WebSocket client on SwiftNIO: a handful of handlers per socket and no task per
/// connection, so one process holds ~19,000 sockets on two cores. It authenticates with a
/// static token, subscribes, answers pings, and records every `create` it receives.
enum Connection {
    static func open(
        _ plan: ConnectionPlan, address: SocketAddress, source: SocketAddress?, group: any EventLoopGroup,
        recorder: Recorder, observer: any ConnectionObserver
    ) {
        recorder.connectStarted()
        let started = monotonicSeconds()
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        if let source {
            // IP_BIND_ADDRESS_NO_PORT: the port is picked at connect, per destination, so one source
            // address reaches every target with its own ephemeral range (and ports in TIME_WAIT
            // towards one replica do not block connections to the others).
            bootstrap = bootstrap.channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(ChannelOptions.Types.SocketOption.ipOption(.init(rawValue: Self.ipBindAddressNoPort)), value: 1)
                .bind(to: source)
        }
        bootstrap = bootstrap.channelInitializer { channel in
            let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 24, automaticErrorHandling: true) {
                channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        SocketHandler(plan: plan, recorder: recorder, observer: observer, started: started))
                }
            }
            let config: NIOHTTPClientUpgradeSendableConfiguration = (
                upgraders: [upgrader],
                completionHandler: { context in
                    context.pipeline.removeHandler(name: UpgradeRequester.name, promise: nil)
                }
            )
            return channel.pipeline.addHTTPClientHandlers(withClientUpgrade: config).flatMapThrowing {
                try channel.pipeline.syncOperations.addHandler(
                    UpgradeRequester(plan: plan, recorder: recorder, observer: observer), name: UpgradeRequester.name)
            }
        }
        bootstrap.connect(to: address).whenFailure { error in
            recorder.connectFailed(describe(error, source: source))
            observer.connectionEnded(plan, stream: ClientStream(room: plan.room, seqs: []), wasReady: false)
        }
    }

    /// Names the limit behind common connect errors, so a run says which wall it hit.
    /// Linux `IP_BIND_ADDRESS_NO_PORT` (<linux/in.h>; not exported by Glibc's module).
    static let ipBindAddressNoPort: CInt = 24

    static func describe(_ error: any Error, source: SocketAddress?) -> String {
        let from = source?.ipAddress ?? "default source"
        if let io = error as? IOError {
            switch io.errnoCode {
            case EMFILE, ENFILE:
                return "open-file limit reached in the bench process (RLIMIT_NOFILE); use more --workers"
            case EADDRNOTAVAIL, EADDRINUSE:
                return "ephemeral ports exhausted for \(from) (net.ipv4.ip_local_port_range); add --source addresses"
            case ECONNREFUSED:
                return "connection refused (server down or its accept backlog/fd limit is full)"
            case ECONNRESET:
                return "connection reset by server"
            default: return "\(io)"
            }
        }
        if let e = error as? ChannelError, case .connectTimeout = e { return "connect timeout (10 s)" }
        return "\(error)"
    }

    static func text(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

    static func maskedText(_ buffer: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer)
    }

    static func closeFrame() -> WebSocketFrame {
        var data = ByteBuffer()
        data.write(webSocketErrorCode: .normalClosure)
        return WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
    }

    /// Sends a close frame, then closes the socket (also if the server never answers).
    static func closePolitely(_ channel: any Channel) {
        channel.writeAndFlush(closeFrame()).whenComplete { _ in
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }
}

/// Sends the HTTP upgrade request; sees a response only when the upgrade was refused.
final class UpgradeRequester: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart
    static let name = "bench-upgrade-requester"

    let plan: ConnectionPlan
    let recorder: Recorder
    let observer: any ConnectionObserver
    private var failed = false

    init(plan: ConnectionPlan, recorder: Recorder, observer: any ConnectionObserver) {
        self.plan = plan
        self.recorder = recorder
        self.observer = observer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendRequest(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context)
        context.fireChannelActive()
    }

    private var sent = false
    private func sendRequest(_ context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: plan.endpoint.hostHeader)
        headers.add(name: "User-Agent", value: "switchboard-bench")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: plan.endpoint.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            fail(context, "upgrade refused: HTTP \(head.status.code)")
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, "upgrade: \(error)")
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(context, "closed before the upgrade completed")
        context.fireChannelInactive()
    }

    private func fail(_ context: ChannelHandlerContext, _ message: String) {
        guard !failed else { return }
        failed = true
        recorder.connectFailed(message)
        observer.connectionEnded(plan, stream: ClientStream(room: plan.room, seqs: []), wasReady: false)
        context.close(promise: nil)
    }
}

/// The upgraded connection: auth → subscribe → init → events.
final class SocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let plan: ConnectionPlan
    let recorder: Recorder
    let observer: any ConnectionObserver
    let started: Double
    private var seqs: [Int] = []
    private var ready = false
    private var ended = false
    private var fragments: ByteBuffer?

    init(plan: ConnectionPlan, recorder: Recorder, observer: any ConnectionObserver, started: Double) {
        self.plan = plan
        self.recorder = recorder
        self.observer = observer
        self.started = started
    }

    func handlerAdded(context: ChannelHandlerContext) {
        recorder.connectSucceeded(latencyMs: (monotonicSeconds() - started) * 1000)
        if plan.nchan {
            // nchan: the upgrade is the subscription.
            becomeReady(context)
        } else {
            send(context, plan.authFrame)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            if frame.fin {
                handle(context, frame.unmaskedData)
            } else {
                fragments = frame.unmaskedData
            }
        case .continuation:
            guard var buffer = fragments else { return }
            var more = frame.unmaskedData
            buffer.writeBuffer(&more)
            if frame.fin {
                fragments = nil
                handle(context, buffer)
            } else {
                fragments = buffer
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func end() {
        guard !ended else { return }
        ended = true
        recorder.closed(wasOpen: true, wasReady: ready)
        observer.connectionEnded(plan, stream: ClientStream(room: plan.room, seqs: seqs), wasReady: ready)
    }

    private func send(_ context: ChannelHandlerContext, _ buffer: ByteBuffer) {
        context.writeAndFlush(wrapOutboundOut(Connection.maskedText(buffer)), promise: nil)
    }

    private func becomeReady(_ context: ChannelHandlerContext) {
        guard !ready else { return }
        ready = true
        recorder.becameReady()
        if plan.mode == .churn {
            recorder.cycleCompleted()
            Connection.closePolitely(context.channel)
        } else {
            observer.connectionReady(plan, channel: context.channel)
        }
    }

    private func handle(_ context: ChannelHandlerContext, _ buffer: ByteBuffer) {
        let received = nowMillis()
        // Events, nearly every frame, by a scan of their bytes; the rest by a full parse.
        let event: EventScan? = buffer.withUnsafeReadableBytes { raw in
            plan.nchan ? EventScan.body(raw) : EventScan.create(raw)
        }
        if let event {
            if let seq = event.seq { seqs.append(seq) }
            recorder.delivered(sentAt: event.sentAt, received: received, shard: plan.index)
            return
        }
        let parsed: JSONValue? = buffer.withUnsafeReadableBytes { raw in
            try? JSONReader.parse(buffer: raw.bindMemory(to: UInt8.self))
        }
        guard let object = parsed?.objectValue else {
            recorder.protocolError("unparseable frame: \(String(buffer: buffer).prefix(120))")
            return
        }
        let status = object["status"]?.stringValue
        switch object["type"]?.stringValue {
        case "ping":
            send(context, Connection.text(#"{"type":"pong"}"#))
        case "auth":
            if status == "ok" {
                send(context, plan.subscribeFrame)
            } else {
                recorder.protocolError("auth: \(String(buffer: buffer).prefix(200))")
                Connection.closePolitely(context.channel)
            }
        case "subscription":
            switch object["event"]?.stringValue {
            case "init":
                becomeReady(context)
            default:
                break
            }
        case "items":
            let ok = status != "error"
            if ok {
                recorder.wrote(room: plan.room)
            } else {
                recorder.writeFailed("items: \(String(buffer: buffer).prefix(200))")
            }
            observer.chatWriteAcknowledged(ok: ok)
        default:
            if status == "error" {
                recorder.protocolError(String(String(buffer: buffer).prefix(200)))
            }
        }
    }
}
