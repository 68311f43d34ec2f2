import Access
import Hummingbird
import HummingbirdWebSocket
import Logging
import Messenger
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
                hub: services.hub, callers: callers, tokens: config.metricsTokens, prefix: config.metricsNamePrefix,
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
        guard config.websocketsEnabled && config.websocketsRestEnabled else {
            return Application(router: router, server: .http1(), configuration: configuration, logger: services.logger)
        }
        let refusals = UpgradeRefusals()
        let realtime = RealtimeRoutes(
            hub: services.hub, auth: services.auth, path: config.websocketsRestPath,
            strict: config.websocketsRestAuth == .strict, maxMessageSize: config.websocketsMaxMessageSize,
            sessionCookieName: config.sessionCookieName, allowedOrigins: allowedOrigins(config), refusals: refusals)
        realtime.registerFallback(on: router)
        let refusalHandlers = refusals
        let webSocketRouter = Router(context: SwitchboardWebSocketContext.self)
        realtime.registerUpgrade(on: webSocketRouter)
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: webSocketRouter,
                configuration: .init(
                    http1: .init(additionalChannelHandlers: [refusalHandlers.makeHandler()]),
                    ws: .init(maxFrameSize: config.websocketsMaxMessageSize, autoPing: .disabled, closeTimeout: .seconds(5)))),
            configuration: configuration, logger: services.logger)
    }

    /// `PUBLIC_URL`'s origin and the `CORS_ORIGIN` list may open sockets from browsers.
    private static func allowedOrigins(_ config: SwitchboardConfig) -> [String] {
        var out: [String] = []
        if let url = config.publicURL {
            // scheme://host[:port] of PUBLIC_URL
            let parts = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
            if parts.count >= 3 { out.append(parts[0] + "//" + parts[2]) }
        }
        if case .list(let list) = config.corsOrigin { out += list }
        return out
    }
}

/// Whether this replica takes traffic (`/server/health` turns 503 while draining).
final class Readiness: Sendable {
    private let flag = Atomic<Bool>(true)

    var isReady: Bool { flag.load(ordering: .relaxed) }

    func markDraining() { flag.store(false, ordering: .relaxed) }
}
