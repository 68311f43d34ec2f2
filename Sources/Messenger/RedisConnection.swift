import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One connection to Redis over SwiftNIO; RESP through hiredis.
///
/// Commands sent with `request` are answered in order (pipelining works).
/// A connection put into subscribe mode receives pushes (`message`,
/// `subscribe`, …) through `onPush`; it must not send `request`s afterwards.
final class RedisConnection: Sendable {
    struct RedisError: Error, CustomStringConvertible {
        let description: String
    }

    let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    static func connect(
        to endpoint: RedisEndpoint, on group: any EventLoopGroup, onPush: @escaping @Sendable (RESPValue) -> Void,
        onClose: @escaping @Sendable () -> Void
    ) async throws -> RedisConnection {
        let (tlsContext, serverName) = try tlsSetup(endpoint)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(onPush: onPush))
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

    /// Sends one command and waits for its reply.
    func request(_ arguments: [String]) async throws -> RESPValue {
        try await request(arguments.map { Array($0.utf8) })
    }

    func request(_ arguments: [[UInt8]]) async throws -> RESPValue {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let bytes = RESPCodec.encode(arguments)
        channel.writeAndFlush(RedisOutbound(bytes: ByteBuffer(bytes: bytes), reply: promise), promise: nil)
        return try await promise.futureResult.get()
    }

    /// Sends a command whose answer arrives as a push (subscribe mode).
    func send(_ arguments: [String]) {
        let bytes = RESPCodec.encode(arguments)
        channel.writeAndFlush(RedisOutbound(bytes: ByteBuffer(bytes: bytes), reply: nil), promise: nil)
    }

    func close() { channel.close(promise: nil) }
}

struct RedisOutbound: Sendable {
    let bytes: ByteBuffer
    let reply: EventLoopPromise<RESPValue>?
}

/// Parses replies and matches them to waiting requests; what nobody waits for is a push.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisOutbound
    typealias OutboundOut = ByteBuffer

    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()
    private let parser: RESPParser?
    private let onPush: @Sendable (RESPValue) -> Void

    init(onPush: @escaping @Sendable (RESPValue) -> Void) {
        self.parser = RESPParser()
        self.onPush = onPush
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outbound = unwrapOutboundIn(data)
        if let reply = outbound.reply { waiting.append(reply) }
        context.write(wrapOutboundOut(outbound.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let parser else {
            context.close(promise: nil)
            return
        }
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { parser.feed($0) }
        do {
            while let value = try parser.next() {
                if let promise = waiting.popFirst() { promise.succeed(value) } else { onPush(value) }
            }
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
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
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}
