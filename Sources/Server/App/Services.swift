import Access
import Foundation
import GraphQLAPI
import Logging
import Messenger
import Prometheus
import Query
import Realtime
import RealtimeProtocol
import Store
import SwitchboardCore
import Tokens

/// The long-lived parts of one Switchboard process, built from configuration.
struct Services: Sendable {
    let config: SwitchboardConfig
    let logger: Logger
    let store: Store
    let resolver: PermissionResolver
    let auth: AuthService
    let realtime: RealtimeEngine
    let relay: EventRelay
    let messenger: (any Messenger)?
    let graphql: GraphQLService
    /// `graphql-transport-ws` subscriptions, carried by the realtime engine.
    let graphqlSubscriptions: GraphQLEndpoint
    /// Directus's logs stream (`WEBSOCKETS_LOGS_*`), carried by the realtime engine; nil when off.
    let logs: LogsEndpoint?
    /// The `/metrics` registry when `METRICS_ENABLED` (swift-metrics records into it).
    let metricsRegistry: PrometheusCollectorRegistry?

    static let version = "0.1.0"

    /// This process among the replicas: the origin of its events and the `replica` of its log lines.
    static let replicaID = ProcessInfo.processInfo.hostName + ":" + String(ProcessInfo.processInfo.processIdentifier)

    /// Opens the database, creates missing tables and wires the services together.
    static func make(config: SwitchboardConfig, logger: Logger, logStream: LogStream?) async throws -> Services {
        if config.usesRedisMessenger && config.secretIsGenerated {
            throw SwitchboardError(
                .serviceUnavailable,
                "SECRET must be set when replicas share a Redis messenger: every replica has to sign and accept the same tokens.")
        }
        // Before anything that records metrics is made.
        let metricsRegistry = config.metricsEnabled ? ServerMetrics.bootstrap(prefix: config.metricsNamePrefix) : nil
        let database: any SQLDatabase
        switch config.dbClient {
        case .sqlite3:
            database = try SQLiteDatabase(path: config.dbFilename)
        case .pg:
            var settings: PostgresDatabase.Settings
            if let url = config.dbConnectionString {
                guard let parsed = PostgresDatabase.Settings.parse(connectionString: url) else {
                    throw SwitchboardError(.serviceUnavailable, "DB_CONNECTION_STRING is not a postgres:// URL.")
                }
                settings = parsed
            } else {
                settings = PostgresDatabase.Settings(
                    host: config.dbHost ?? "127.0.0.1", port: config.dbPort ?? 5432, username: config.dbUser ?? "postgres",
                    password: config.dbPassword, database: config.dbDatabase, tls: config.dbSSL)
            }
            settings.maxConnections = config.dbPoolMax
            settings.minConnections = config.dbPoolMin
            settings.acquireTimeout = .milliseconds(config.dbPoolAcquireTimeoutMs)
            settings.statementTimeout = config.dbStatementTimeoutMs > 0 ? .milliseconds(config.dbStatementTimeoutMs) : nil
            database = try PostgresDatabase(settings: settings, logger: Logger(label: "switchboard.postgres"))
        }
        let hasher = PasswordHasher()
        let replicaID = Self.replicaID
        let environment = StoreEnvironment(
            replicaID: replicaID,
            limits: QueryLimits(
                defaultLimit: config.queryLimitDefault, maxLimit: config.queryLimitMax,
                maxFilterConditions: config.queryMaxFilterConditions, maxFilterDepth: config.queryMaxFilterDepth,
                maxFilterValues: config.queryMaxFilterValues, maxFields: config.queryMaxFields, maxSort: config.queryMaxSort,
                maxRelationalDepth: config.maxRelationalDepth, maxDeep: config.queryMaxDeep,
                maxParameters: config.queryMaxParameters, maxParameterDepth: config.queryMaxParameterDepth),
            hashPassword: { try hasher.hash($0) },
            newUUID: { SecureRandom.uuidV4() })
        let store = Store(database: database, environment: environment, logger: logger)
        try await store.migrate()
        let resolver = PermissionResolver(store: store, logger: logger)
        store.addSink(resolver)
        let auth = AuthService(
            store: store, resolver: resolver, signer: AccessTokenSigner(secret: config.secret), hasher: hasher,
            settings: AuthSettings(
                accessTokenTTLms: config.accessTokenTTLms, refreshTokenTTLms: config.refreshTokenTTLms,
                sessionTTLms: config.sessionCookieTTLms, refreshGracePeriodMs: config.sessionRefreshGracePeriodMs))
        let realtime = RealtimeEngine(
            store: store, auth: auth,
            settings: RealtimeSettings(
                connection: ConnectionStateMachine.Settings(
                    authMode: ConnectionStateMachine.AuthMode(rawValue: config.websocketsRestAuth.rawValue) ?? .handshake,
                    authTimeoutMs: Int64(config.websocketsRestAuthTimeoutSeconds) * 1000,
                    heartbeatPeriodMs: config.websocketsHeartbeatEnabled
                        ? Int64(config.websocketsHeartbeatPeriodSeconds) * 1000 : nil,
                    rateLimit: config.rateLimiterEnabled
                        ? .init(points: config.rateLimiterPoints, durationMs: Int64(config.rateLimiterDurationSeconds) * 1000)
                        : nil,
                    maxSubscriptions: config.websocketsMaxSubscriptions, limits: environment.limits),
                connectionLimit: config.websocketsRestConnLimit, maxMessageSize: config.websocketsMaxMessageSize,
                maxQueuedBytes: config.websocketsMaxQueuedBytes, liveWindowKeysMax: config.websocketsLiveWindowKeysMax,
                relatedRowsMax: config.websocketsRelatedRowsMax,
                sessionCookieName: config.sessionCookieName,
                allowedOrigins: config.allowedOrigins, fleetIntervalMs: config.fleetIntervalMs),
            logger: Logger(label: "switchboard.realtime"))
        var messenger: (any Messenger)?
        let timeouts = RedisTimeouts(
            connect: .milliseconds(config.redisConnectTimeoutMs), command: .milliseconds(config.redisCommandTimeoutMs),
            ping: .milliseconds(config.redisPingIntervalMs))
        func withTLSFiles(_ endpoint: RedisEndpoint) -> RedisEndpoint {
            var endpoint = endpoint
            endpoint.caFile = config.redisTLSCAFile
            endpoint.certFile = config.redisTLSCertFile
            endpoint.keyFile = config.redisTLSKeyFile
            return endpoint
        }
        switch config.messenger {
        case .local:
            break
        case .redis(let url):
            let endpoint: RedisEndpoint
            do { endpoint = try RedisEndpoint.parse(url) } catch {
                throw SwitchboardError(.serviceUnavailable, "\(error)")
            }
            messenger = RedisMessenger(
                endpoint: withTLSFiles(endpoint),
                settings: RedisMessenger.Settings(timeouts: timeouts, publishQueueLimit: config.publishQueueLimit),
                logger: Logger(label: "switchboard.messenger"))
        case .redisSentinel(let sentinels, let name):
            let primary = SentinelPrimary(
                settings: SentinelPrimary.Settings(
                    sentinels: sentinels.compactMap { RedisAddress($0) }, name: name,
                    sentinelUsername: config.redisSentinelUsername, sentinelPassword: config.redisSentinelPassword,
                    username: config.redisUsername, password: config.redisPassword, database: config.redisDB,
                    timeouts: timeouts),
                logger: Logger(label: "switchboard.messenger"))
            messenger = RedisMessenger(
                sentinel: primary,
                settings: RedisMessenger.Settings(timeouts: timeouts, publishQueueLimit: config.publishQueueLimit),
                logger: Logger(label: "switchboard.messenger"))
        case .redisCluster(let url):
            let seeds: [RedisEndpoint]
            do { seeds = try RedisEndpoint.parseCluster(url) } catch {
                throw SwitchboardError(.serviceUnavailable, "\(error)")
            }
            messenger = RedisClusterMessenger(
                seeds: seeds.map(withTLSFiles),
                settings: RedisClusterMessenger.Settings(
                    timeouts: timeouts, publishQueueLimit: config.publishQueueLimit,
                    clientName: "switchboard-\(ProcessInfo.processInfo.processIdentifier)"),
                logger: Logger(label: "switchboard.messenger"))
        }
        let relay = EventRelay(
            store: store, fanout: realtime.fanout, auth: auth, messenger: messenger, namespace: config.messengerNamespace,
            retention: (config.outboxRetentionMs, config.outboxMaxEvents), crashAfterCommit: config.faultCrashAfterCommit,
            fleet: realtime.fleet,
            logger: Logger(label: "switchboard.relay"))
        store.addSink(relay)
        store.addSchemaObserver { await relay.schemaChanged() }
        try await relay.start()
        let graphql = GraphQLService(
            store: store,
            settings: GraphQLSettings(
                introspection: config.graphqlIntrospection, schemaCacheCapacity: config.graphqlSchemaCacheCapacity,
                maxDocumentSize: config.graphqlQueryMaxSize, maxDepth: config.graphqlQueryMaxDepth,
                maxFields: config.graphqlQueryMaxFields),
            logger: Logger(label: "switchboard.graphql"))
        let connection = realtime.settings.connection
        let graphqlSubscriptions = GraphQLEndpoint(
            engine: realtime,
            settings: GraphQLEndpointSettings(
                connection: GraphQLTransportStateMachine.Settings(
                    authMode: ConnectionStateMachine.AuthMode(rawValue: config.websocketsGraphQLAuth.rawValue) ?? .handshake,
                    initTimeoutMs: Int64(config.websocketsGraphQLAuthTimeoutSeconds) * 1000,
                    heartbeatPeriodMs: connection.heartbeatPeriodMs, rateLimit: connection.rateLimit,
                    maxOperations: connection.maxSubscriptions),
                connectionLimit: config.websocketsGraphQLConnLimit),
            operations: GraphQLSocketOperations(service: graphql))
        let logs = logStream.map { stream in
            LogsEndpoint(
                engine: realtime, stream: stream,
                settings: LogsEndpointSettings(
                    connection: LogsStateMachine.Settings(rateLimit: connection.rateLimit),
                    connectionLimit: config.websocketsLogsConnLimit))
        }
        return Services(
            config: config, logger: logger, store: store, resolver: resolver, auth: auth, realtime: realtime, relay: relay,
            messenger: messenger, graphql: graphql, graphqlSubscriptions: graphqlSubscriptions, logs: logs,
            metricsRegistry: metricsRegistry)
    }

    /// Runs the idempotent bootstrap and reports what it created.
    func bootstrap() async throws -> Bootstrapper.Report {
        let report = try await Bootstrapper(store: store).run(
            adminEmail: config.adminEmail, adminPassword: config.adminPassword, adminToken: config.adminToken)
        resolver.invalidate()
        return report
    }
}
