/// Everything Switchboard reads from its environment, with Directus's
/// variable names and defaults.
///
/// Build one with `SwitchboardConfig.load(environment:)`, usually from
/// `SwitchboardConfig.mergedEnvironment(processEnvironment:dotEnvPath:)`.
/// A value that is unset, empty or only whitespace means "use the default".
public struct SwitchboardConfig: Sendable, Equatable {
    /// The database engine (`DB_CLIENT`).
    public enum DatabaseClient: String, Sendable, CaseIterable {
        case sqlite3
        case pg
    }

    /// How log lines are printed (`LOG_STYLE`).
    public enum LogStyle: String, Sendable, CaseIterable {
        /// Human-readable lines.
        case pretty
        /// One JSON object per line.
        case raw
    }

    /// When a realtime connection must authenticate (`WEBSOCKETS_*_AUTH`).
    public enum WebSocketAuthMode: String, Sendable, CaseIterable {
        /// No authentication required; unauthenticated clients act as the public role.
        case `public`
        /// The first message must be an `auth` message, within the auth timeout.
        case handshake
        /// The connection request itself must carry a valid access token.
        case strict
    }

    /// Which origins may make cross-origin requests (`CORS_ORIGIN`).
    public enum CORSOrigin: Sendable, Equatable {
        /// No `Access-Control-Allow-Origin` header (`false`).
        case disabled
        /// Reflect any origin (`true` or `*`).
        case any
        /// Only these origins (a comma-separated list).
        case list([String])
    }

    /// Where cross-instance state lives (`MESSENGER_STORE`, `CACHE_STORE`).
    public enum StoreKind: String, Sendable, CaseIterable {
        /// In this process only (single instance).
        case memory
        /// Shared through Redis.
        case redis
    }

    // MARK: Server

    /// Interface to listen on (`HOST`).
    public var host = "0.0.0.0"
    /// TCP port to listen on (`PORT`).
    public var port = 8055
    /// The URL clients reach this server at (`PUBLIC_URL`), if configured.
    public var publicURL: String?
    /// Whether `GET /` serves the demo chat page (`DEMO_ENABLED`).
    public var demoEnabled = false
    /// Event-loop threads (`EVENT_LOOPS`); 0: one per CPU core.
    public var eventLoops = 0

    // MARK: Security

    /// The key material for signing access tokens (`SECRET`).
    public var secret: String
    /// `true` when `SECRET` was unset and a random one was generated: tokens
    /// will not survive a restart or work across instances, so callers should
    /// log a loud warning.
    public var secretIsGenerated: Bool
    /// Lifetime of access tokens in milliseconds (`ACCESS_TOKEN_TTL`, default `15m`).
    public var accessTokenTTLms: Int64 = 900_000
    /// Lifetime of refresh tokens in milliseconds (`REFRESH_TOKEN_TTL`, default `7d`).
    public var refreshTokenTTLms: Int64 = 604_800_000
    /// Lifetime of session cookies in milliseconds (`SESSION_COOKIE_TTL`, default `1d`).
    public var sessionCookieTTLms: Int64 = 86_400_000
    /// How long a rotated refresh token keeps answering with its successor, in
    /// milliseconds (`SESSION_REFRESH_GRACE_PERIOD`, default `10s`), so parallel refreshes don't log users out.
    public var sessionRefreshGracePeriodMs: Int64 = 10_000
    /// Name of the refresh token cookie (`REFRESH_TOKEN_COOKIE_NAME`).
    public var refreshTokenCookieName = "directus_refresh_token"
    /// Name of the session token cookie (`SESSION_COOKIE_NAME`).
    public var sessionCookieName = "directus_session_token"
    /// Whether auth cookies carry `Secure` (`REFRESH_TOKEN_COOKIE_SECURE`).
    public var refreshTokenCookieSecure = false
    /// `SameSite` of auth cookies: `lax`, `strict` or `none` (`REFRESH_TOKEN_COOKIE_SAME_SITE`).
    public var refreshTokenCookieSameSite = "lax"
    /// `Domain` of auth cookies (`REFRESH_TOKEN_COOKIE_DOMAIN`), if any.
    public var refreshTokenCookieDomain: String?

    // MARK: Database

    /// Database engine (`DB_CLIENT`: `sqlite3`/`sqlite` or `pg`/`postgres`/`postgresql`).
    public var dbClient: DatabaseClient = .sqlite3
    /// SQLite database file (`DB_FILENAME`).
    public var dbFilename = "./data/data.db"
    /// PostgreSQL host (`DB_HOST`).
    public var dbHost: String?
    /// PostgreSQL port (`DB_PORT`).
    public var dbPort: Int?
    /// PostgreSQL database name (`DB_DATABASE`).
    public var dbDatabase: String?
    /// PostgreSQL user (`DB_USER`).
    public var dbUser: String?
    /// PostgreSQL password (`DB_PASSWORD`).
    public var dbPassword: String?
    /// PostgreSQL connection URL, overriding the separate settings (`DB_CONNECTION_STRING`).
    public var dbConnectionString: String?
    /// Whether to connect to PostgreSQL over TLS (`DB_SSL`).
    public var dbSSL = false
    /// Most PostgreSQL connections per replica (`DB_POOL__MAX`).
    public var dbPoolMax = 20
    /// PostgreSQL connections kept open while idle (`DB_POOL__MIN`).
    public var dbPoolMin = 1
    /// How long a request waits for a PostgreSQL connection, in ms (`DB_POOL__ACQUIRE_TIMEOUT_MILLIS`).
    public var dbPoolAcquireTimeoutMs: Int64 = 5000
    /// Database response time in ms above which `/server/health` warns (`DB_HEALTHCHECK_THRESHOLD`).
    public var dbHealthcheckThresholdMs = 150
    /// Longest a PostgreSQL statement may run, in ms; 0 = no limit (`DB_STATEMENT_TIMEOUT`).
    public var dbStatementTimeoutMs: Int64 = 30_000

    // MARK: First admin

    /// Email of the admin user created on first start (`ADMIN_EMAIL`).
    public var adminEmail = "admin@example.com"
    /// Password of that admin (`ADMIN_PASSWORD`); generated and printed when unset.
    public var adminPassword: String?
    /// Static token for that admin (`ADMIN_TOKEN`).
    public var adminToken: String?

    // MARK: Logging

    /// Minimum level logged: `trace`, `debug`, `info`, `warn`, `error`, `fatal` or `silent` (`LOG_LEVEL`).
    public var logLevel = "info"
    /// Log line format (`LOG_STYLE`).
    public var logStyle: LogStyle = .pretty

    // MARK: CORS

    /// Whether CORS headers are sent (`CORS_ENABLED`).
    public var corsEnabled = false
    /// Allowed origins (`CORS_ORIGIN`).
    public var corsOrigin: CORSOrigin = .disabled
    /// `Access-Control-Allow-Methods` (`CORS_METHODS`).
    public var corsMethods = ["GET", "POST", "PATCH", "DELETE"]
    /// `Access-Control-Allow-Headers` (`CORS_ALLOWED_HEADERS`).
    public var corsAllowedHeaders = ["Content-Type", "Authorization"]
    /// `Access-Control-Expose-Headers` (`CORS_EXPOSED_HEADERS`).
    public var corsExposedHeaders = ["Content-Range"]
    /// `Access-Control-Allow-Credentials` (`CORS_CREDENTIALS`).
    public var corsCredentials = true
    /// `Access-Control-Max-Age` in seconds (`CORS_MAX_AGE`).
    public var corsMaxAge = 18000

    // MARK: Requests and queries

    /// Largest accepted request body in bytes (`MAX_PAYLOAD_SIZE`, default `1mb`).
    public var maxPayloadSize = 1_048_576
    /// `limit` applied when a query gives none (`QUERY_LIMIT_DEFAULT`); never above `queryLimitMax`.
    public var queryLimitDefault = 100
    /// Largest `limit` a query may ask for (`QUERY_LIMIT_MAX`); `nil` is unlimited.
    public var queryLimitMax: Int?
    /// Field conditions in one filter (`QUERY_MAX_FILTER_CONDITIONS`).
    public var queryMaxFilterConditions = 1000
    /// Nesting of filter groups (`QUERY_MAX_FILTER_DEPTH`).
    public var queryMaxFilterDepth = 16
    /// Values in a filter's lists, all together (`QUERY_MAX_FILTER_VALUES`).
    public var queryMaxFilterValues = 10_000
    /// Entries in each of fields, groupBy, aggregate (`QUERY_MAX_FIELDS`).
    public var queryMaxFields = 1000
    /// Keys in sort (`QUERY_MAX_SORT`).
    public var queryMaxSort = 32
    /// Segments of a field path (`MAX_RELATIONAL_DEPTH`, as Directus).
    public var maxRelationalDepth = 10
    /// Nested queries in deep (`QUERY_MAX_DEEP`).
    public var queryMaxDeep = 100
    /// Pairs in a URL's query string (`QUERY_MAX_PARAMETERS`).
    public var queryMaxParameters = 1000
    /// Bracket levels in one URL parameter name (`QUERY_MAX_PARAMETER_DEPTH`).
    public var queryMaxParameterDepth = 64
    /// Whether `/graphql` answers introspection (`__schema`, `__type`) (`GRAPHQL_INTROSPECTION`).
    public var graphqlIntrospection = true
    /// GraphQL schemas kept per replica, one per schema version and read permissions (`GRAPHQL_SCHEMA_CACHE_CAPACITY`).
    public var graphqlSchemaCacheCapacity = 100
    /// Largest GraphQL document in bytes (`GRAPHQL_QUERY_MAX_SIZE`).
    public var graphqlQueryMaxSize = 65_536
    /// Nesting of brackets in a GraphQL document and of its selections, fragments expanded (`GRAPHQL_QUERY_MAX_DEPTH`).
    public var graphqlQueryMaxDepth = 64
    /// Fields one GraphQL document selects, fragments expanded (`GRAPHQL_QUERY_MAX_FIELDS`).
    public var graphqlQueryMaxFields = 1000

    // MARK: Realtime

    /// Master switch for realtime (`WEBSOCKETS_ENABLED`).
    public var websocketsEnabled = true
    /// Whether the REST-style realtime endpoint is served (`WEBSOCKETS_REST_ENABLED`).
    public var websocketsRestEnabled = true
    /// Path of the REST-style realtime endpoint (`WEBSOCKETS_REST_PATH`).
    public var websocketsRestPath = "/websocket"
    /// Authentication mode of the REST-style endpoint (`WEBSOCKETS_REST_AUTH`).
    public var websocketsRestAuth: WebSocketAuthMode = .handshake
    /// Seconds a handshake-mode client has to authenticate (`WEBSOCKETS_REST_AUTH_TIMEOUT`).
    public var websocketsRestAuthTimeoutSeconds = 10
    /// Maximum concurrent REST-style connections (`WEBSOCKETS_REST_CONN_LIMIT`); `nil` is unlimited.
    public var websocketsRestConnLimit: Int?
    /// Whether the server pings clients (`WEBSOCKETS_HEARTBEAT_ENABLED`).
    public var websocketsHeartbeatEnabled = true
    /// Seconds between pings (`WEBSOCKETS_HEARTBEAT_PERIOD`).
    public var websocketsHeartbeatPeriodSeconds = 30
    /// Whether `GET /metrics` (Prometheus text format) is served (`METRICS_ENABLED`).
    public var metricsEnabled = false
    /// Tokens accepted as `Authorization: Metrics <token>` on `/metrics` (`METRICS_TOKENS`);
    /// admins may always read it.
    public var metricsTokens: [String] = []
    /// Prefix of Switchboard's own metric names (`METRICS_NAME_PREFIX`).
    public var metricsNamePrefix = "switchboard_"
    /// Whether the GraphQL subscriptions endpoint is served (`WEBSOCKETS_GRAPHQL_ENABLED`).
    public var websocketsGraphQLEnabled = true
    /// Path of the GraphQL subscriptions endpoint (`WEBSOCKETS_GRAPHQL_PATH`).
    public var websocketsGraphQLPath = "/graphql"
    /// Authentication mode of the GraphQL endpoint (`WEBSOCKETS_GRAPHQL_AUTH`).
    public var websocketsGraphQLAuth: WebSocketAuthMode = .handshake
    /// Seconds a handshake-mode GraphQL client has to authenticate (`WEBSOCKETS_GRAPHQL_AUTH_TIMEOUT`).
    public var websocketsGraphQLAuthTimeoutSeconds = 10
    /// Maximum concurrent GraphQL connections (`WEBSOCKETS_GRAPHQL_CONN_LIMIT`); `nil` is unlimited.
    public var websocketsGraphQLConnLimit: Int?
    /// Whether the logs stream is served (`WEBSOCKETS_LOGS_ENABLED`).
    public var websocketsLogsEnabled = true
    /// Path of the logs stream (`WEBSOCKETS_LOGS_PATH`).
    public var websocketsLogsPath = "/websocket/logs"
    /// Lowest level that enters the logs stream (`WEBSOCKETS_LOGS_LEVEL`).
    public var websocketsLogsLevel = "info"
    /// Shape of the logs stream's records (`WEBSOCKETS_LOGS_STYLE`): `pretty` keeps level, time and
    /// message, `raw` the whole record.
    public var websocketsLogsStyle: LogStyle = .pretty
    /// Maximum concurrent logs-stream connections (`WEBSOCKETS_LOGS_CONN_LIMIT`); `nil` is unlimited.
    public var websocketsLogsConnLimit: Int?
    /// Largest accepted realtime message in bytes (`WEBSOCKETS_MAX_MESSAGE_SIZE`, default `1mb`).
    public var websocketsMaxMessageSize = 1_048_576
    /// Whether realtime messages are rate limited (`RATE_LIMITER_ENABLED`).
    public var rateLimiterEnabled = false
    /// Messages allowed per window (`RATE_LIMITER_POINTS`).
    public var rateLimiterPoints = 50
    /// Length of the rate limit window in seconds (`RATE_LIMITER_DURATION`).
    public var rateLimiterDurationSeconds = 1
    /// Subscriptions one realtime socket may hold (`WEBSOCKETS_MAX_SUBSCRIPTIONS`).
    public var websocketsMaxSubscriptions = 256
    /// Rows per `live` query class whose `$NOW` window exit is waited for (`WEBSOCKETS_LIVE_WINDOW_KEYS_MAX`).
    public var websocketsLiveWindowKeysMax = 10_000
    /// Rows of one query class re-read per change to a row it reaches through a relation (`WEBSOCKETS_RELATED_ROWS_MAX`).
    public var websocketsRelatedRowsMax = 1000
    /// Bytes waiting to be written to one socket before it is closed as too slow (`WEBSOCKETS_MAX_QUEUED_BYTES`).
    public var websocketsMaxQueuedBytes = 4_194_304
    /// On SIGTERM, open sockets are closed (1001) spread over this window, in ms (`SHUTDOWN_DRAIN_WINDOW`).
    public var shutdownDrainWindowMs: Int64 = 5000
    /// How often a replica publishes its stats snapshot to the others, in ms (`SWITCHBOARD_FLEET_INTERVAL`).
    public var fleetIntervalMs: Int64 = 1000
    /// Outbox events older than this are trimmed, in ms (`SWITCHBOARD_OUTBOX_RETENTION`, default `24h`).
    public var outboxRetentionMs: Int64 = 86_400_000
    /// At most this many newest events per collection stay in the outbox (`SWITCHBOARD_OUTBOX_MAX_EVENTS`).
    public var outboxMaxEvents = 100_000
    /// Test-only fault hook: the process exits right after committing a write to
    /// this collection, before publishing it (`SWITCHBOARD_FAULT_CRASH_AFTER_COMMIT`). Never set in production.
    public var faultCrashAfterCommit: String?

    // MARK: Cluster

    /// URL of an external message broker for realtime fan-out (`WEBSOCKETS_BROKER_URL`).
    public var websocketsBrokerURL: String?
    /// Directus 11's switch for Redis (`REDIS_ENABLED`); `nil` when unset.
    public var redisEnabled: Bool?
    /// Where cross-instance messages travel, Directus 10's way (`MESSENGER_STORE`); `nil` when unset.
    public var messengerStore: StoreKind?
    /// Where Directus 11 keeps state shared by instances (`SYNCHRONIZATION_STORE`); `nil` when unset.
    public var synchronizationStore: StoreKind?
    /// How this replica exchanges events with the others, resolved from the settings above
    /// and the Redis connection ones by `MessengerRoute.resolve`.
    public var messenger: MessengerRoute = .local
    /// The Redis servers form a Redis Cluster: sharded pub/sub on each channel's master (`REDIS_CLUSTER`).
    public var redisCluster = false
    /// Redis Sentinel nodes as `host:port`, in the order they are tried (`REDIS_SENTINELS`, or
    /// Directus's `REDIS_SENTINELS__0__HOST` / `REDIS_SENTINELS__0__PORT`); empty: no Sentinel.
    public var redisSentinels: [String] = []
    /// The master group the sentinels watch (`REDIS_SENTINEL_NAME`, Directus's `REDIS_NAME`).
    public var redisSentinelName: String?
    /// User and password for the sentinels themselves (`REDIS_SENTINEL_USERNAME`, `REDIS_SENTINEL_PASSWORD`).
    public var redisSentinelUsername: String?
    public var redisSentinelPassword: String?
    /// Redis connection URL (`REDIS`), overriding the separate settings.
    public var redisURL: String?
    /// Redis host (`REDIS_HOST`).
    public var redisHost: String?
    /// Redis port (`REDIS_PORT`).
    public var redisPort = 6379
    /// Redis user (`REDIS_USERNAME`).
    public var redisUsername: String?
    /// Redis password (`REDIS_PASSWORD`).
    public var redisPassword: String?
    /// Redis database number (`REDIS_DB`).
    public var redisDB = 0
    /// Prefix of messenger channels and keys (`REDIS_BUS_NAMESPACE`, Directus 10's `MESSENGER_NAMESPACE`).
    public var messengerNamespace = "switchboard"
    /// PEM files for `rediss://`: CA bundle, client certificate and key (`REDIS_TLS_CA`, `REDIS_TLS_CERT`, `REDIS_TLS_KEY`).
    public var redisTLSCAFile: String?
    public var redisTLSCertFile: String?
    public var redisTLSKeyFile: String?
    /// Connecting to Redis, in ms (`REDIS_CONNECT_TIMEOUT`, as ioredis).
    public var redisConnectTimeoutMs: Int64 = 5000
    /// A Redis command's answer, in ms (`REDIS_COMMAND_TIMEOUT`, as ioredis).
    public var redisCommandTimeoutMs: Int64 = 2000
    /// Idle Redis connections are pinged this often, in ms (`SWITCHBOARD_REDIS_PING_INTERVAL`).
    public var redisPingIntervalMs: Int64 = 1000
    /// Events waiting to be published to Redis (`SWITCHBOARD_PUBLISH_QUEUE_LIMIT`).
    public var publishQueueLimit = 10_000

    /// Origins that may open sockets from browsers besides the request's own host:
    /// `PUBLIC_URL`'s origin and the `CORS_ORIGIN` list.
    public var allowedOrigins: [String] {
        var out: [String] = []
        if let origin = publicOrigin { out.append(origin) }
        if case .list(let list) = corsOrigin { out += list }
        return out
    }

    /// `scheme://host[:port]` of `PUBLIC_URL`, if set.
    public var publicOrigin: String? {
        guard let url = publicURL else { return nil }
        let parts = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        return parts.count >= 3 ? parts[0] + "//" + parts[2] : nil
    }

    /// Whether replicas share events through Redis.
    public var usesRedisMessenger: Bool { messenger != .local }

    /// The Redis URL the messenger connects to, when it uses one (Sentinel names no fixed server).
    public var messengerRedisURL: String? {
        switch messenger {
        case .local, .redisSentinel: return nil
        case .redis(let url), .redisCluster(let url): return url
        }
    }

    /// The Redis URL of `REDIS`, else one built from `REDIS_HOST` & co., else `nil`.
    public var redisConnectionURL: String? {
        if let redisURL { return redisURL }
        guard let host = redisHost else { return nil }
        var credentials = ""
        if let password = redisPassword {
            credentials = (redisUsername ?? "") + ":" + Self.escapeUserInfo(password) + "@"
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "redis://\(credentials)\(hostPart):\(redisPort)/\(redisDB)"
    }

    private static func escapeUserInfo(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isLetter && byte < 128 || c.isNumber && byte < 128 || "-._~".contains(c) {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }
    /// Where the cache lives (`CACHE_STORE`).
    public var cacheStore: StoreKind = .memory

    /// A configuration with every default and the given secret.
    public init(secret: String, secretIsGenerated: Bool = false) {
        self.secret = secret
        self.secretIsGenerated = secretIsGenerated
    }

    // MARK: Loading

    /// Log levels accepted by `LOG_LEVEL`.
    public static let logLevels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"]
    /// The levels of the logs stream (`WEBSOCKETS_LOGS_LEVEL`): `LOG_LEVEL`'s without `silent`.
    public static let streamLogLevels = ["trace", "debug", "info", "warn", "error", "fatal"]

    /// Merges the process environment with the `.env` file at `dotEnvPath`
    /// when it exists (a missing file is fine). Variables set in the process
    /// environment win over the file. An unreadable file or a malformed line
    /// throws a `ConfigError` with the path (and line number).
    public static func mergedEnvironment(
        processEnvironment: [String: String], dotEnvPath: String?
    ) throws(ConfigError) -> [String: String] {
        try EnvironmentReader.merged(processEnvironment: processEnvironment, dotEnvPath: dotEnvPath)
    }

    /// `CORS_ORIGIN`: `true`/`*` → any, `false` → disabled, otherwise a comma-separated list.
    static func parseCORSOrigin(_ value: String?) -> CORSOrigin? {
        guard let value else { return nil }
        switch value.lowercased() {
        case "true", "*": return .any
        case "false": return .disabled
        default:
            let origins = EnvironmentReader.splitList(value)
            if origins.contains("*") { return .any }
            return origins.isEmpty ? .disabled : .list(origins)
        }
    }

    /// 32 random bytes as 64 lowercase hex digits.
    static func generateSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        var out = ""
        out.reserveCapacity(64)
        for _ in 0..<32 {
            let byte = UInt8.random(in: 0...255, using: &rng)
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
