import Access
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Realtime
import RealtimeProtocol
import SwitchboardCore

/// `/websocket`: the Directus Realtime endpoint. The upgrade is decided here
/// (connection limit, `Origin`, strict-mode token); everything after it is
/// the `Realtime` module's.
struct RealtimeRoutes: Sendable {
    let hub: RealtimeHub
    let auth: AuthService
    let path: String
    let strict: Bool
    let maxMessageSize: Int
    let sessionCookieName: String
    /// Origins accepted besides the request's own host (`PUBLIC_URL`, `CORS_ORIGIN` list).
    let allowedOrigins: [String]
    let refusals: UpgradeRefusals

    enum Refusal: Error {
        case limit, origin, unauthorized

        var status: HTTPResponse.Status {
            switch self {
            case .limit, .origin: return .forbidden
            case .unauthorized: return .unauthorized
            }
        }

        var response: Response {
            switch self {
            case .limit: return HTTPSupport.text("Too many connections", status: status)
            case .origin: return HTTPSupport.text("Origin not allowed", status: status)
            case .unauthorized: return HTTPSupport.text("Unauthorized", status: status)
            }
        }
    }

    /// The upgrade router: sockets that pass the checks are handed to a `RealtimeSession`.
    func registerUpgrade(on router: Router<SwitchboardWebSocketContext>) {
        router.ws(RouterPath(path)) { request, context in
            do {
                _ = try await admit(request, remoteAddress: context.remoteAddress)
                return .upgrade([:])
            } catch {
                refusals.record((error as? Refusal)?.status ?? .forbidden, for: context.channel)
                return .dontUpgrade
            }
        } onUpgrade: { inbound, outbound, context in
            let identity = try? await admit(context.request, remoteAddress: context.requestContext.remoteAddress)
            let transport = WebSocketTransport(outbound: outbound, channel: context.requestContext.channel)
            guard let session = try await RealtimeSession(hub: hub, transport: transport, upgradeIdentity: identity ?? nil) else {
                try await outbound.close(.policyViolation, reason: "Too many connections")
                return
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await session.runWriter() }
                do {
                    for try await message in inbound.messages(maxSize: maxMessageSize) {
                        switch message {
                        case .text(let text): await session.receive(Array(text.utf8))
                        case .binary: session.close(.unsupportedData, "Binary frames are not supported.")
                        }
                    }
                } catch {
                    session.closed()
                    throw error  // the WebSocket layer closes with the matching code (1009, 1002, …)
                }
                session.closed()
                try await group.waitForAll()
            }
        }
    }

    /// Plain GET on the path (or a refused upgrade): the HTTP answer Directus gives.
    func registerFallback(on router: Router<SwitchboardRequestContext>) {
        router.get(RouterPath(path)) { request, context in
            do {
                _ = try await admit(request, remoteAddress: context.remoteAddress)
            } catch let refusal as Refusal {
                return refusal.response
            }
            return HTTPSupport.text("Expected a WebSocket upgrade request.", status: .badRequest)
        }
    }

    /// Checks a request's right to a socket; answers the identity its token gives, if any.
    func admit(_ request: Request, remoteAddress: String?) async throws -> (Accountability, expiresAt: Int64?)? {
        guard hub.acceptsConnections else { throw Refusal.limit }
        if let origin = request.headers[.origin], !originAllowed(origin, host: request.head.authority) {
            throw Refusal.origin
        }
        let token = HTTPSupport.queryValue(request, "access_token") ?? request.cookies[sessionCookieName]?.value
        guard let token, !token.isEmpty else {
            if strict { throw Refusal.unauthorized }
            return nil
        }
        let client = ClientInfo(ip: remoteAddress, userAgent: request.headers[.userAgent], origin: request.headers[.origin])
        do {
            let accountability = try await auth.authenticate(token: token, client: client)
            guard accountability.userID != nil else { throw Refusal.unauthorized }
            return (accountability, auth.expiry(ofToken: token))
        } catch {
            throw Refusal.unauthorized
        }
    }

    private func originAllowed(_ origin: String, host: String?) -> Bool {
        let normalized = origin.lowercased()
        if let host, normalized == "http://" + host.lowercased() || normalized == "https://" + host.lowercased() {
            return true
        }
        return allowedOrigins.contains { $0.lowercased() == normalized }
    }
}

/// Frames to a Hummingbird WebSocket.
///
/// While the socket is writable a frame goes straight into the NIO channel: no hop through
/// the WebSocket writer's actor and async writer (measured: lower latency under overload,
/// ~5% less CPU per delivery). When the client stops reading and the channel's buffer passes
/// its high-water mark, frames take the async writer, which suspends until the client
/// drains; the socket's bounded queue then fills and a client that stays behind is closed
/// with 1013. Both paths reach the event loop in submission order.
struct WebSocketTransport: RealtimeTransport {
    let outbound: WebSocketOutboundWriter
    let channel: any Channel

    func send(_ frame: [UInt8]) async throws {
        let frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: frame))
        if channel.isWritable {
            channel.writeAndFlush(frame, promise: nil)
        } else {
            try await outbound.write(.custom(frame))
        }
    }

    func close(_ code: CloseCode, reason: String) async {
        try? await outbound.close(WebSocketErrorCode(codeNumber: Int(code.rawValue)), reason: reason)
    }
}
