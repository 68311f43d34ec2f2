import Access
import Logging
import NIOCore
import NIOHTTP1
import RealtimeProtocol
import Store
import SwitchboardCore

/// How the logs stream endpoint behaves (`WEBSOCKETS_LOGS_*`).
public struct LogsEndpointSettings: Sendable {
    public var connection: LogsStateMachine.Settings
    /// Sockets per replica on this endpoint; over it the upgrade is refused with 403.
    public var connectionLimit: Int?

    public init(connection: LogsStateMachine.Settings = .init(), connectionLimit: Int? = nil) {
        self.connection = connection
        self.connectionLimit = connectionLimit
    }
}

/// Directus's logs stream at `WEBSOCKETS_LOGS_PATH`: a third protocol on the
/// realtime engine, with its shards, deadline timer, drain and outbound
/// limits. Authentication is Directus's for this path: strict, admins only.
/// The upgrade must carry an admin's token (`?access_token=` or the session
/// cookie); without one, with a bad one or a non-admin's, it is refused with
/// 401; over the connection limit (or while draining) with 403.
public final class LogsEndpoint: UpgradeEndpoint {
    let engine: RealtimeEngine
    public let stream: LogStream
    let settings: LogsEndpointSettings
    private let connections: ConnectionSlots

    public init(engine: RealtimeEngine, stream: LogStream, settings: LogsEndpointSettings) {
        self.engine = engine
        self.stream = stream
        self.settings = settings
        connections = ConnectionSlots(limit: settings.connectionLimit)
    }

    public var connectionCount: Int { connections.count }

    private var acceptsConnections: Bool { !engine.isDraining && connections.hasRoom }

    public func admitAtOnce(_ head: HTTPRequestHead, remoteAddress: String?) -> UpgradeAdmission? {
        let (client, token): (ClientInfo, String?)
        switch engine.screen(head, remoteAddress: remoteAddress, accepting: acceptsConnections) {
        case .refused(let refusal): return refusal
        case .passed(let c, let t): (client, token) = (c, t)
        }
        guard let token else { return .refuse(.unauthorized, "Unauthorized") }
        return engine.tokenIdentityAtOnce(token, client: client).admission(accept)
    }

    public func admit(_ head: HTTPRequestHead, remoteAddress: String?) async -> UpgradeAdmission {
        let (client, token): (ClientInfo, String?)
        switch engine.screen(head, remoteAddress: remoteAddress, accepting: acceptsConnections) {
        case .refused(let refusal): return refusal
        case .passed(let c, let t): (client, token) = (c, t)
        }
        guard let token else { return .refuse(.unauthorized, "Unauthorized") }
        do {
            return try await engine.tokenIdentity(token, client: client).map(accept) ?? .refuse(.unauthorized, "Unauthorized")
        } catch {
            engine.logger.warning("could not admit a logs connection", metadata: ["error": "\(error)"])
            return .refuse(.serviceUnavailable, "Service unavailable")
        }
    }

    private func accept(_ accepted: RealtimeEngine.Accepted) -> UpgradeAdmission {
        // Directus refuses a non-admin's upgrade with the same 401 as a bad token.
        guard accepted.context.accountability.admin else { return .refuse(.unauthorized, "Unauthorized") }
        guard connections.reserve() else { return .refuse(.forbidden, "Too many connections") }
        return .accept(
            subprotocol: nil, install: { channel in try self.install(accepted, on: channel) },
            abandon: { [connections] in connections.release() })
    }

    private func install(_ accepted: RealtimeEngine.Accepted, on channel: any Channel) throws {
        // The slot taken at admission is the socket's from here; given back if it never exists.
        do {
            let (shard, socketID) = try engine.prepare(channel)
            let socket = LogsSocket(
                id: socketID, shard: shard, endpoint: self, context: accepted.context, client: accepted.client,
                expiresAt: accepted.upgradeToken?.expiresAt)
            try channel.pipeline.syncOperations.addHandler(socket)
        } catch {
            connections.release()
            throw error
        }
    }

    func socketClosed() { connections.release() }
}
