import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RESP

/// How long Redis may take before a connection counts as hung.
public struct RedisTimeouts: Sendable, Equatable {
    /// TCP (and TLS) connect.
    public var connect: Duration
    /// Any command's reply; a connection that misses it is closed and replaced.
    public var command: Duration
    /// An idle connection is pinged this often; no answer within `command` closes it.
    public var ping: Duration

    public init(connect: Duration = .seconds(5), command: Duration = .seconds(2), ping: Duration = .seconds(1)) {
        self.connect = connect
        self.command = command
        self.ping = ping
    }
}

/// One connection to Redis over SwiftNIO; RESP through hiredis.
///
/// Commands sent with `request` or `pipeline` are answered in order. A
/// connection put into subscribe mode receives pushes (`message`,
/// `subscribe`, …) through `onPush`. Either kind is pinged when idle; a reply
/// or pong that does not come within the command timeout closes the
/// connection, so a hung Redis (a partition, SIGSTOP) is noticed in about
/// `ping + command` instead of never.
final class RedisConnection: Sendable {
    struct RedisError: Error, CustomStringConvertible {
        let description: String
    }

    let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    static func connect(
        to endpoint: RedisEndpoint, on group: any EventLoopGroup, timeouts: RedisTimeouts,
        name: String? = nil, onPush: (@Sendable (RESPValue) -> Void)? = nil, onClose: @escaping @Sendable () -> Void
    ) async throws -> RedisConnection {
        let (tlsContext, serverName) = try tlsSetup(endpoint)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(timeouts.connect))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(timeouts: timeouts, onPush: onPush))
                }
            }
        let channel: any Channel
        switch endpoint.address {
        case .tcp(let host, let port): channel = try await bootstrap.connect(host: host, port: port).get()
        case .unix(let path): channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
        }
        channel.closeFuture.whenComplete { _ in onClose() }
        let connection = RedisConnection(channel: channel)
        do {
            if let password = endpoint.password {
                let auth = endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                try check(await connection.request(auth), "AUTH")
            }
            if endpoint.database != 0 { try check(await connection.request(["SELECT", String(endpoint.database)]), "SELECT") }
            // A label for CLIENT LIST only: a server refusing it (ACL) does not stop the connection.
            if let name { _ = try await connection.request(["CLIENT", "SETNAME", name]) }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// The TLS context for `rediss://`, with the configured CA and client certificate.
    private static func tlsSetup(_ endpoint: RedisEndpoint) throws -> (NIOSSLContext?, String?) {
        guard endpoint.tls else { return (nil, nil) }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = endpoint.caFile { tls.trustRoots = .file(ca) }
        if let cert = endpoint.certFile {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
        }
        if let key = endpoint.keyFile { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)) }
        var serverName: String?
        if case .tcp(let host, _) = endpoint.address, host.first?.isNumber == false, !host.contains(":") { serverName = host }
        return (try NIOSSLContext(configuration: tls), serverName)
    }

    private static func check(_ reply: RESPValue, _ what: String) throws {
        if case .error(let message) = reply { throw RedisError(description: "\(what) failed: \(message)") }
    }

    /// Sends one command and waits for its reply (at most the command timeout).
    func request(_ arguments: [String]) async throws -> RESPValue {
        try await request(arguments.map { Array($0.utf8) })
    }

    func request(_ arguments: [[UInt8]]) async throws -> RESPValue {
        guard let reply = pipeline([arguments]).first else { throw RedisError(description: "no reply") }
        return try await reply.get()
    }

    /// Sends several commands with one write and flush; one future per reply, in order.
    func pipeline(_ commands: [[[UInt8]]]) -> [EventLoopFuture<RESPValue>] {
        let loop = channel.eventLoop
        var bytes = ByteBuffer()
        var replies: [EventLoopPromise<RESPValue>] = []
        replies.reserveCapacity(commands.count)
        for command in commands {
            bytes.writeBytes(RESPCodec.encode(command))
            replies.append(loop.makePromise(of: RESPValue.self))
        }
        let all = replies
        let written = loop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in for r in all { r.fail(error) } }  // later completions are ignored
        channel.writeAndFlush(RedisOutbound.commands(bytes, replies: all), promise: written)
        return all.map(\.futureResult)
    }

    /// Sends a command whose answer arrives as a push (subscribe mode).
    func send(_ arguments: [String]) {
        channel.writeAndFlush(
            RedisOutbound.commands(ByteBuffer(bytes: RESPCodec.encode(arguments)), replies: []), promise: nil)
    }

    /// Returns when Redis has processed everything sent before (a `PING` round
    /// trip); throws when the connection closes or the command timeout passes.
    func barrier() async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { promise.fail($0) }
        channel.writeAndFlush(RedisOutbound.barrier(promise), promise: written)
        try await promise.futureResult.get()
    }

    func close() { channel.close(promise: nil) }
}

enum RedisOutbound: Sendable {
    /// Encoded commands and one promise per reply (none in subscribe mode, where answers are pushes).
    case commands(ByteBuffer, replies: [EventLoopPromise<RESPValue>])
    /// A `PING <token>` whose pong completes the promise.
    case barrier(EventLoopPromise<Void>)
}

/// Parses replies and matches them to waiting requests (what nobody waits for
/// is a push), pings when idle and closes the connection when Redis stops
/// answering within the command timeout.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisOutbound
    typealias OutboundOut = ByteBuffer

    private struct Waiter {
        /// nil for our own heartbeat `PING`.
        let promise: EventLoopPromise<RESPValue>?
        let sentAt: NIODeadline
    }

    private static let heartbeatToken = "sb-hb"

    private var waiting = CircularBuffer<Waiter>()
    private var barriers: [(token: String, promise: EventLoopPromise<Void>, sentAt: NIODeadline)] = []
    private var nextBarrier = 0
    private let parser: RESPParser?
    private let onPush: (@Sendable (RESPValue) -> Void)?
    private let command: TimeAmount
    private let commandText: String
    private let pingEvery: TimeAmount
    private var lastRead = NIODeadline.now()
    private var pingSentAt: NIODeadline?
    private var timer: RepeatedTask?

    init(timeouts: RedisTimeouts, onPush: (@Sendable (RESPValue) -> Void)?) {
        self.parser = RESPParser()
        self.onPush = onPush
        self.command = TimeAmount(timeouts.command)
        self.commandText = "\(timeouts.command)"
        self.pingEvery = TimeAmount(timeouts.ping)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        lastRead = .now()
        let tick = min(TimeAmount.milliseconds(250), max(TimeAmount.milliseconds(10), .nanoseconds(command.nanoseconds / 4)))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            let (handler, context) = loopBound.value
            handler.check(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let now = NIODeadline.now()
        switch unwrapOutboundIn(data) {
        case .commands(let bytes, let replies):
            for reply in replies { waiting.append(Waiter(promise: reply, sentAt: now)) }
            context.write(wrapOutboundOut(bytes), promise: promise)
        case .barrier(let done):
            nextBarrier += 1
            let token = "sb-b\(nextBarrier)"
            barriers.append((token, done, now))
            context.write(wrapOutboundOut(ByteBuffer(bytes: RESPCodec.encode(["PING", token]))), promise: promise)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let parser else {
            context.close(promise: nil)
            return
        }
        lastRead = .now()
        pingSentAt = nil
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { parser.feed($0) }
        do {
            while let value = try parser.next() {
                if let waiter = waiting.popFirst() {
                    waiter.promise?.succeed(value)
                } else if let token = Self.pongToken(value) {
                    if let i = barriers.firstIndex(where: { $0.token == token }) { barriers.remove(at: i).promise.succeed(()) }
                } else {
                    onPush?(value)
                }
            }
        } catch {
            context.fireErrorCaught(error)
        }
    }

    /// The token of a `PING <token>` answer: `["pong", token]` in subscribe mode, the bulk token otherwise.
    private static func pongToken(_ value: RESPValue) -> String? {
        switch value {
        case .array(let items?) where items.count == 2 && items[0].text?.lowercased() == "pong":
            return items[1].text.flatMap { $0.hasPrefix("sb-") ? $0 : nil }
        case .bulk(let b?):
            let text = String(decoding: b, as: UTF8.self)
            return text.hasPrefix("sb-") ? text : nil
        default:
            return nil
        }
    }

    /// Every tick: time out the oldest outstanding reply, and ping when idle.
    private func check(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        if let oldest = waiting.first, now - oldest.sentAt > command {
            return hung(context, "no reply within \(commandText)")
        }
        if let oldest = barriers.first, now - oldest.sentAt > command {
            return hung(context, "no pong within \(commandText)")
        }
        if let sent = pingSentAt {
            if now - sent > command { hung(context, "no answer to PING within \(commandText)") }
            return
        }
        if waiting.isEmpty, barriers.isEmpty, now - lastRead >= pingEvery {
            pingSentAt = now
            if onPush == nil { waiting.append(Waiter(promise: nil, sentAt: now)) }
            context.writeAndFlush(
                wrapOutboundOut(ByteBuffer(bytes: RESPCodec.encode(["PING", Self.heartbeatToken]))), promise: nil)
        }
    }

    private func hung(_ context: ChannelHandlerContext, _ why: String) {
        failAll(RedisConnection.RedisError(description: "Redis is not answering (\(why)); closing the connection"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisConnection.RedisError(description: "connection to Redis closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let waiter = waiting.popFirst() { waiter.promise?.fail(error) }
        for b in barriers { b.promise.fail(error) }
        barriers = []
    }
}
