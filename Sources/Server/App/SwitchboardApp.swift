import Access
import Hummingbird
import HummingbirdCore
import Logging
import Messenger
import NIOHTTP1
import Realtime
import SwitchboardCore
import Synchronization

/// The HTTP application: middleware and route collections over the services.
enum SwitchboardApp {
    static func make(_ services: Services, readiness: Readiness) -> some ApplicationProtocol {
        let config = services.config
        let router = Router(context: SwitchboardRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        if config.corsEnabled, config.corsOrigin != .disabled { router.add(middleware: CORSPolicyMiddleware(config: config)) }

        let callers = CallerResolver(auth: services.auth, sessionCookieName: config.sessionCookieName)
        let items = ItemsEndpoints(store: services.store, callers: callers, maxPayload: config.maxPayloadSize)
        ServerRoutes(
            store: services.store, callers: callers, version: Services.version,
            queryLimitDefault: config.queryLimitDefault, queryLimitMax: config.queryLimitMax,
            isReady: { readiness.isReady },
            messengerState: { [messenger = services.messenger] in messenger?.state.rawValue }
        ).register(on: router)
        if config.metricsEnabled {
            MetricsRoutes(
                realtime: services.realtime, callers: callers, tokens: config.metricsTokens, prefix: config.metricsNamePrefix,
                isReady: { readiness.isReady },
                messengerState: { [messenger = services.messenger] in messenger?.state.rawValue }
            ).register(on: router)
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

        let configuration = ApplicationConfiguration(
            address: .hostname(config.host, port: config.port), serverName: "Switchboard")
        let realtimeOn = config.websocketsEnabled && config.websocketsRestEnabled
        if realtimeOn { RealtimeRoutes(path: config.websocketsRestPath).register(on: router) }
        let realtime = realtimeOn ? services.realtime : nil
        let path = config.websocketsRestPath
        // Every connection starts at the front door: realtime upgrades become sockets on their
        // event loops, everything else is Hummingbird's (REST).
        let server = HTTPServerBuilder { responder in
            SwitchboardChannel(
                responder: responder, realtime: realtime, realtimePath: path, decoderLimits: NIOHTTPDecoderLimitConfiguration())
        }
        return Application(router: router, server: server, configuration: configuration, logger: services.logger)
    }
}

/// Whether this replica takes traffic (`/server/health` turns 503 while draining).
final class Readiness: Sendable {
    private let flag = Atomic<Bool>(true)

    var isReady: Bool { flag.load(ordering: .relaxed) }

    func markDraining() { flag.store(false, ordering: .relaxed) }
}
