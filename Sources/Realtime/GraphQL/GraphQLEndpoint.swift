import Access
import Logging
import NIOCore
import NIOHTTP1
import RealtimeProtocol
import Store
import SwitchboardCore
import Synchronization

/// How the GraphQL subscriptions endpoint behaves (`WEBSOCKETS_GRAPHQL_*`).
public struct GraphQLEndpointSettings: Sendable {
    public var connection: GraphQLTransportStateMachine.Settings
    /// Sockets per replica on this endpoint; over it the upgrade is refused with 403.
    public var connectionLimit: Int?

    public init(connection: GraphQLTransportStateMachine.Settings = .init(), connectionLimit: Int? = nil) {
        self.connection = connection
        self.connectionLimit = connectionLimit
    }
}

/// `graphql-transport-ws` at `WEBSOCKETS_GRAPHQL_PATH`: a second protocol on
/// the realtime engine, with its shards, deadline timer, fan-out and outbound
/// limits. Authentication: strict mode takes the upgrade request's token
/// (401 without a valid one); handshake mode wants `connection_init`'s
/// `payload.access_token` (4403 without a valid one); public mode acts as the
/// public role unless `connection_init` brings a token.
public final class GraphQLEndpoint: UpgradeEndpoint {
    let engine: RealtimeEngine
    let settings: GraphQLEndpointSettings
    let operations: any GraphQLOperations
    private let connections: ConnectionSlots

    public init(engine: RealtimeEngine, settings: GraphQLEndpointSettings, operations: any GraphQLOperations) {
        self.engine = engine
        self.settings = settings
        self.operations = operations
        connections = ConnectionSlots(limit: settings.connectionLimit)
    }

    public var connectionCount: Int { connections.count }

    private var acceptsConnections: Bool {
        !engine.isDraining && connections.hasRoom
    }

    public func admitAtOnce(_ head: HTTPRequestHead, remoteAddress: String?) -> UpgradeAdmission? {
        let (client, token): (ClientInfo, String?)
        switch engine.screen(head, remoteAddress: remoteAddress, accepting: acceptsConnections) {
        case .refused(let refusal): return refusal
        case .passed(let c, let t): (client, token) = (c, t)
        }
        guard let token else { return admitWithoutToken(head, client: client) }
        return engine.tokenIdentityAtOnce(token, client: client).admission { accept($0, head) }
    }

    public func admit(_ head: HTTPRequestHead, remoteAddress: String?) async -> UpgradeAdmission {
        let (client, token): (ClientInfo, String?)
        switch engine.screen(head, remoteAddress: remoteAddress, accepting: acceptsConnections) {
        case .refused(let refusal): return refusal
        case .passed(let c, let t): (client, token) = (c, t)
        }
        guard let token else { return admitWithoutToken(head, client: client) }
        do {
            return try await engine.tokenIdentity(token, client: client).map { accept($0, head) }
                ?? .refuse(.unauthorized, "Unauthorized")
        } catch {
            engine.logger.warning("could not admit a graphql connection", metadata: ["error": "\(error)"])
            return .refuse(.serviceUnavailable, "Service unavailable")
        }
    }

    /// Without a token the socket acts as nobody until `connection_init` says who it is.
    private func admitWithoutToken(_ head: HTTPRequestHead, client: ClientInfo) -> UpgradeAdmission {
        guard settings.connection.authMode != .strict else { return .refuse(.unauthorized, "Unauthorized") }
        let nobody = Accountability(admin: false, app: false, ip: client.ip, userAgent: client.userAgent, origin: client.origin)
        return accept(
            RealtimeEngine.Accepted(
                context: ItemsContext(accountability: nobody, permissions: PermissionSet(admin: false)), client: client,
                upgradeToken: nil),
            head)
    }

    private func accept(_ accepted: RealtimeEngine.Accepted, _ head: HTTPRequestHead) -> UpgradeAdmission {
        // A client that does not speak the protocol is closed with 4406 once upgraded (as `graphql-ws` does).
        let agreed = WebSocketHandshake.offeredSubprotocols(head).contains(GraphQLTransportStateMachine.subprotocol)
        guard connections.reserve() else { return .refuse(.forbidden, "Too many connections") }
        return .accept(
            subprotocol: agreed ? GraphQLTransportStateMachine.subprotocol : nil,
            install: { channel in try self.install(accepted, subprotocolAgreed: agreed, on: channel) },
            abandon: { [connections] in connections.release() })
    }

    private func install(_ accepted: RealtimeEngine.Accepted, subprotocolAgreed: Bool, on channel: any Channel) throws {
        // The slot taken at admission is the socket's from here; given back if it never exists.
        do {
            let (shard, socketID) = try engine.prepare(channel)
            let socket = GraphQLSocket(
                id: socketID, shard: shard, endpoint: self, context: accepted.context, client: accepted.client,
                upgradeToken: accepted.upgradeToken, subprotocolAgreed: subprotocolAgreed)
            try channel.pipeline.syncOperations.addHandler(socket)
        } catch {
            connections.release()
            throw error
        }
    }

    func socketClosed() { connections.release() }
}
