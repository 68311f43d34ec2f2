import Access
import Hummingbird
import HummingbirdCore
import Logging
import Messenger
import NIOHTTP1
import Realtime
import Store
import SwitchboardCore
import Synchronization

/// The server: middleware and route collections over the services, behind the front door on one port.
enum SwitchboardApp {
    static func make(_ services: Services, readiness: Readiness) -> Listener {
        let config = services.config
        let router = Router(context: SwitchboardRequestContext.self)
        // Outermost, so it counts the status the client gets (after errors became responses).
        if services.metricsRegistry != nil { router.add(middleware: MetricsMiddleware()) }
        router.add(middleware: ErrorMiddleware())
        if config.corsEnabled, config.corsOrigin != .disabled { router.add(middleware: CORSPolicyMiddleware(config: config)) }

        let callers = CallerResolver(auth: services.auth, sessionCookieName: config.sessionCookieName)
        let items = ItemsEndpoints(store: services.store, callers: callers, maxPayload: config.maxPayloadSize)
        ServerRoutes(
            store: services.store, callers: callers, version: Services.version,
            queryLimitDefault: config.queryLimitDefault, queryLimitMax: config.queryLimitMax,
            websocketInfo: ServerRoutes.websocketInfo(config),
            health: HealthProbe(
                database: services.store.database, messenger: services.messenger, relay: services.relay,
                readiness: readiness,
                settings: HealthReport.Settings(
                    releaseID: Services.version, serviceID: config.publicURL, databaseClient: config.dbClient.rawValue,
                    databaseThresholdMilliseconds: Int64(config.dbHealthcheckThresholdMs)))
        ).register(on: router)
        if let registry = services.metricsRegistry {
            let metrics = ServerMetrics(
                registry: registry, prefix: config.metricsNamePrefix,
                sources: .init(
                    realtime: services.realtime, relay: services.relay, database: services.store.database,
                    messenger: services.messenger, logs: services.logs?.stream, isReady: { readiness.isReady }))
            MetricsRoutes(metrics: metrics, callers: callers, tokens: config.metricsTokens).register(on: router)
        }
        AuthRoutes(
            auth: services.auth, callers: callers,
            cookies: .init(
                refreshName: config.refreshTokenCookieName, sessionName: config.sessionCookieName,
                secure: config.refreshTokenCookieSecure, sameSite: config.refreshTokenCookieSameSite,
                domain: config.refreshTokenCookieDomain, refreshTTLms: config.refreshTokenTTLms,
                sessionTTLms: config.sessionCookieTTLms),
            maxPayload: config.maxPayloadSize
        ).register(on: router)
        ItemsRoutes(items: items).register(on: router)
        SystemRoutes(items: items).register(on: router)
        SchemaRoutes(store: services.store, callers: callers, maxPayload: config.maxPayloadSize).register(on: router)
        GraphQLRoutes(graphql: services.graphql, callers: callers, maxPayload: config.maxPayloadSize).register(on: router)
        if config.demoEnabled { DemoRoutes(settings: .init(config)).register(on: router) }
        if config.websocketsEnabled && config.websocketsRestEnabled {
            AdminRoutes(settings: .init(config)).register(on: router)
        }

        // Every connection starts at the front door: WebSocket upgrades on the realtime paths
        // become sockets on their event loops, everything else is Hummingbird's (REST) with this router.
        var endpoints: [String: any UpgradeEndpoint] = [:]
        if config.websocketsEnabled && config.websocketsRestEnabled {
            RealtimeRoutes(path: config.websocketsRestPath).register(on: router)
            endpoints[config.websocketsRestPath] = services.realtime
        }
        if config.websocketsEnabled && config.websocketsGraphQLEnabled {
            endpoints[config.websocketsGraphQLPath] = services.graphqlSubscriptions
        }
        if let logs = services.logs {
            RealtimeRoutes(path: config.websocketsLogsPath).register(on: router)
            endpoints[config.websocketsLogsPath] = logs
        }
        let channel = SwitchboardChannel(
            responder: respond(with: router.buildResponder(), logger: services.logger),
            endpoints: endpoints,
            decoderLimits: NIOHTTPDecoderLimitConfiguration())
        return Listener(host: config.host, port: config.port, channel: channel, logger: services.logger)
    }

    /// One HTTP request through the router: what Hummingbird's `Application` does for each
    /// request (request id in the logger, a 500 for an error nothing handled, `Date` and `Server`).
    static func respond(
        with responder: some HTTPResponder<SwitchboardRequestContext>, logger: Logger
    ) -> HTTPChannelHandler.Responder {
        let date = ResponseDate()
        return { request, writer, channel in
            var requestLogger = logger
            requestLogger[metadataKey: "request"] = .stringConvertible(RequestID())
            let context = SwitchboardRequestContext(source: .init(channel: channel, logger: requestLogger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                throw error
            } catch {
                requestLogger.debug("unhandled error", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError, body: .init())
            }
            response.headers[.date] = date.now
            response.headers[.server] = "Switchboard"
            do {
                try await writer.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // The request was malformed after all: the connection closes without a second response.
                throw ResponseAbandoned()
            }
        }
    }
}

/// A response could not be finished because the request turned out malformed: not a parse
/// error (that would write a 400 after the response began), so the connection just closes.
struct ResponseAbandoned: Error {}

/// Whether this replica is draining (`/server/health/ready` and `/server/health` turn 503).
final class Readiness: Sendable {
    private let flag = Atomic<Bool>(true)

    var isReady: Bool { flag.load(ordering: .relaxed) }

    func markDraining() { flag.store(false, ordering: .relaxed) }
}
