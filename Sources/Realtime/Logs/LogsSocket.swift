import Access
import Logging
import NIOCore
import NIOWebSocket
import RealtimeProtocol
import Store
import SwitchboardCore

/// One logs-stream connection on its event loop: feeds frames, auth results
/// and its token's expiry to its `LogsStateMachine` and carries out the
/// actions. Records come from the `LogStream`'s hand-off to this loop, are
/// written behind the socket's replies and dropped (never queued) while its
/// outbound buffer is full. No task, timer or queue of its own.
final class LogsSocket: ChannelDuplexHandler, RemovableChannelHandler, ShardSocket, LogSubscriber {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let id: UInt64
    let shard: LoopShard
    let endpoint: LogsEndpoint
    private(set) var context: ItemsContext
    var accountability: Accountability { context.accountability }
    var authState: SocketAuthState { .user }

    private let client: ClientInfo
    private var machine: LogsStateMachine
    private var inbound: WebSocketInbound
    private let writer = SocketWriter()
    var deadlineGeneration: UInt32 { writer.deadlineGeneration }
    private var closing: Bool { writer.closing }
    private var finished = false
    private var subscribed = false
    private var readSuppressed = false
    /// An `auth` answered without leaving the loop, fed back once the actions that asked for it are done.
    private var completed: ConnectionServices.AuthOutcome?
    private var completedUID: JSONValue?

    private var engine: RealtimeEngine { endpoint.engine }

    init(
        id: UInt64, shard: LoopShard, endpoint: LogsEndpoint, context: ItemsContext, client: ClientInfo, expiresAt: Int64?
    ) {
        self.id = id
        self.shard = shard
        self.endpoint = endpoint
        self.context = context
        self.client = client
        machine = LogsStateMachine(settings: endpoint.settings.connection, now: Clock.nowMs(), expiresAt: expiresAt)
        inbound = WebSocketInbound(maxMessageSize: endpoint.engine.settings.maxMessageSize)
    }

    var allocator: ByteBufferAllocator { writer.allocator }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        writer.attach(context)
        shard.register(self)
        rescheduleDeadline()
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
        writer.detach()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch inbound.take(unwrapInboundIn(data)) {
        case .text(let buffer):
            perform(machine.received(Array(buffer.readableBytesView), now: Clock.nowMs()))
        case .binary:
            perform(machine.receivedBinary())
        case .ping(let data):
            writer.write(WebSocketWire.pongFrame(data, allocator: context.channel.allocator), flush: true)
        case .peerClosed(let code):
            perform(machine.close(code.flatMap(CloseCode.init(rawValue:)) ?? .normal, ""))
        case .violation(let code, let reason):
            perform(machine.close(code, reason))
        case .nothing:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        engine.logger.debug("logs socket error", metadata: ["socket": "\(id)", "error": "\(error)"])
        let (code, reason) = WebSocketInbound.violation(for: error)
        perform(machine.close(code, reason))
    }

    /// While an `auth` is checked no more frames are read (TCP pushes back on the client).
    func read(context: ChannelHandlerContext) {
        if machine.authenticating {
            readSuppressed = true
        } else {
            context.read()
        }
    }

    // MARK: From the stream

    func writeLog(_ frame: ByteBuffer) -> LogWrite {
        guard !closing, let channel = writer.context?.channel else { return .closed }
        // A full outbound buffer drops the record: a log reader that falls behind loses lines, not the socket.
        guard channel.isWritable else { return .full }
        writer.write(frame, flush: false)
        return .written
    }

    func flushLogs() { writer.flush() }

    // MARK: From the shard

    func enqueueEvent(_ frame: ByteBuffer) -> Bool { false }

    func flushEvents() {}

    func tick(now: Int64) { perform(machine.tick(now: now)) }

    func close(_ code: CloseCode, _ reason: String) { perform(machine.close(code, reason)) }

    func revoke() {
        writer.writeText(RealtimeFrames.error("auth", "AUTH_FAILED", "User is no longer active.", uid: nil))
        close(.policyViolation, "User is no longer active.")
    }

    func bind(_ subscription: String, to classID: UInt64, key: QueryClassKey) -> Bool { false }

    func boundClasses() -> [(String, UInt64)] { [] }

    /// A new identity for the same user (identity refresh): one that is no longer an admin's ends the stream.
    func adopt(_ newContext: ItemsContext) -> [Fanout.Move] {
        context = newContext
        if !newContext.accountability.admin {
            writer.writeText(LogsFrames.unauthorized)
            close(.policyViolation, "Unauthorized access.")
        }
        return []
    }

    // MARK: Actions

    private func perform(_ actions: [LogsStateMachine.Action]) {
        var flush = false
        for action in actions {
            switch action {
            case .send(let bytes):
                writer.writeText(bytes)
                flush = true
            case .close(let code, let reason):
                if flush { writer.flush() }
                closeChannel(code, reason)
                return
            case .authenticate(let credentials, let uid):
                startAuthentication(credentials, uid: uid)
            case .subscribe(let level):
                subscribed = true
                endpoint.stream.subscribe(self, level: level, on: shard.eventLoop)
            case .unsubscribe:
                leaveStream()
            }
        }
        if flush { writer.flush() }
        rescheduleDeadline()
        if readSuppressed, !machine.authenticating {
            readSuppressed = false
            writer.context?.read()
        }
        if let outcome = completed {
            completed = nil
            authenticated(outcome, uid: completedUID)
        }
    }

    private func closeChannel(_ code: CloseCode, _ reason: String) {
        leaveStream()
        guard writer.close(code, reason, socket: id, logger: engine.logger) else { return }
        finish()
    }

    private func leaveStream() {
        guard subscribed else { return }
        subscribed = false
        endpoint.stream.unsubscribe(self, on: shard.eventLoop)
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        writer.stop()
        machine.peerClosed()
        completed = nil
        leaveStream()
        shard.unregister(self)
        endpoint.socketClosed()
    }

    private func rescheduleDeadline() { writer.schedule(machine.nextDeadline, socket: id, in: shard) }

    // MARK: Authentication (off the loop when the caches do not know the token)

    private var bound: NIOLoopBound<LogsSocket> { NIOLoopBound(self, eventLoop: shard.eventLoop) }

    private func startAuthentication(_ credentials: ClientMessage.AuthCredentials?, uid: JSONValue?) {
        if let outcome = engine.services.authenticateAtOnce(credentials, uid: uid, client: client) {
            completed = outcome
            completedUID = uid
            return
        }
        let (services, client, me, loop) = (engine.services, client, bound, shard.eventLoop)
        Task {
            let outcome = await services.authenticate(credentials, uid: uid, client: client)
            loop.execute { me.value.authenticated(outcome, uid: uid) }
        }
    }

    private func authenticated(_ outcome: ConnectionServices.AuthOutcome, uid: JSONValue?) {
        guard !closing else { return }
        switch outcome {
        case .ok(let newContext, let expiresAt, let reply):
            let admin = newContext.accountability.admin
            if admin { context = newContext }
            perform(machine.authenticated(admin: admin, expiresAt: expiresAt, reply: reply))
        case .failed:
            perform(machine.authFailed(uid: uid))
        }
    }
}
