/// Everything Switchboard reads from its environment, with Directus's
/// variable names and defaults.
///
/// Build one with `SwitchboardConfig.load(environment:)`, usually from
/// `SwitchboardConfig.mergedEnvironment(processEnvironment:dotEnvPath:)`.
/// A value that is unset, empty or only whitespace means "use the default".
public struct SwitchboardConfig: Sendable {
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
    /// Frames queued for one socket before it is closed as too slow (`WEBSOCKETS_MAX_QUEUED_FRAMES`).
    public var websocketsMaxQueuedFrames = 4096
    /// On SIGTERM, open sockets are closed (1001) spread over this window, in ms (`SHUTDOWN_DRAIN_WINDOW`).
    public var shutdownDrainWindowMs: Int64 = 5000
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
    /// Where cross-instance messages travel (`MESSENGER_STORE`).
    public var messengerStore: StoreKind = .memory
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
    /// Prefix of messenger channels and keys (`MESSENGER_NAMESPACE`).
    public var messengerNamespace = "switchboard"
    /// PEM files for `rediss://`: CA bundle, client certificate and key (`REDIS_TLS_CA`, `REDIS_TLS_CERT`, `REDIS_TLS_KEY`).
    public var redisTLSCAFile: String?
    public var redisTLSCertFile: String?
    public var redisTLSKeyFile: String?

    /// Whether replicas share events through Redis (`WEBSOCKETS_BROKER_URL` or `MESSENGER_STORE=redis`).
    public var usesRedisMessenger: Bool { websocketsBrokerURL != nil || messengerStore == .redis }

    /// The Redis URL for the messenger: `WEBSOCKETS_BROKER_URL`, else `REDIS`, else one built from `REDIS_HOST` & co.
    public var messengerRedisURL: String? {
        if let url = websocketsBrokerURL ?? redisURL { return url }
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

    /// Loads the configuration from a merged environment. Throws a
    /// `ConfigError` naming the variable for any value that is set but
    /// invalid (non-numeric or out-of-range port, unknown `DB_CLIENT`, bad
    /// duration, size, boolean or enum value, …).
    public static func load(environment: [String: String]) throws(ConfigError) -> SwitchboardConfig {
        let env = EnvironmentReader(environment)

        var config: SwitchboardConfig
        if let secret = env.rawString("SECRET"), !DurationParser.trim(secret).isEmpty {
            config = SwitchboardConfig(secret: secret, secretIsGenerated: false)
        } else {
            config = SwitchboardConfig(secret: generateSecret(), secretIsGenerated: true)
        }

        config.host = env.string("HOST") ?? config.host
        config.port = try env.port("PORT", default: config.port)
        config.publicURL = env.string("PUBLIC_URL")

        config.accessTokenTTLms = try env.durationMilliseconds("ACCESS_TOKEN_TTL", default: config.accessTokenTTLms)
        config.refreshTokenTTLms = try env.durationMilliseconds("REFRESH_TOKEN_TTL", default: config.refreshTokenTTLms)
        config.sessionCookieTTLms = try env.durationMilliseconds(
            "SESSION_COOKIE_TTL", default: config.sessionCookieTTLms)
        config.sessionRefreshGracePeriodMs = try env.durationMilliseconds(
            "SESSION_REFRESH_GRACE_PERIOD", default: config.sessionRefreshGracePeriodMs)
        config.refreshTokenCookieName = try cookieName(env, "REFRESH_TOKEN_COOKIE_NAME", config.refreshTokenCookieName)
        config.sessionCookieName = try cookieName(env, "SESSION_COOKIE_NAME", config.sessionCookieName)
        config.refreshTokenCookieSecure = try env.bool(
            "REFRESH_TOKEN_COOKIE_SECURE", default: config.refreshTokenCookieSecure)
        config.refreshTokenCookieSameSite = try env.choice(
            "REFRESH_TOKEN_COOKIE_SAME_SITE", default: config.refreshTokenCookieSameSite,
            allowed: ["lax", "strict", "none"])
        config.refreshTokenCookieDomain = env.string("REFRESH_TOKEN_COOKIE_DOMAIN")

        config.dbClient = try env.choice(
            "DB_CLIENT", default: config.dbClient,
            aliases: ["sqlite": .sqlite3, "postgres": .pg, "postgresql": .pg])
        config.dbFilename = env.string("DB_FILENAME") ?? config.dbFilename
        config.dbHost = env.string("DB_HOST")
        config.dbPort = try env.optionalPort("DB_PORT")
        config.dbDatabase = env.string("DB_DATABASE")
        config.dbUser = env.string("DB_USER")
        config.dbPassword = env.rawString("DB_PASSWORD")
        config.dbConnectionString = env.string("DB_CONNECTION_STRING")
        config.dbSSL = try env.bool("DB_SSL", default: config.dbSSL)

        config.adminEmail = env.string("ADMIN_EMAIL") ?? config.adminEmail
        config.adminPassword = env.rawString("ADMIN_PASSWORD")
        config.adminToken = env.string("ADMIN_TOKEN")

        config.logLevel = try env.choice("LOG_LEVEL", default: config.logLevel, allowed: logLevels)
        config.logStyle = try env.choice("LOG_STYLE", default: config.logStyle)

        config.corsEnabled = try env.bool("CORS_ENABLED", default: config.corsEnabled)
        config.corsOrigin = parseCORSOrigin(env.string("CORS_ORIGIN")) ?? config.corsOrigin
        config.corsMethods = env.list("CORS_METHODS", default: config.corsMethods).map { $0.uppercased() }
        config.corsAllowedHeaders = env.list("CORS_ALLOWED_HEADERS", default: config.corsAllowedHeaders)
        config.corsExposedHeaders = env.list("CORS_EXPOSED_HEADERS", default: config.corsExposedHeaders)
        config.corsCredentials = try env.bool("CORS_CREDENTIALS", default: config.corsCredentials)
        config.corsMaxAge = try env.int("CORS_MAX_AGE", default: config.corsMaxAge, in: 0...Int.max)

        config.maxPayloadSize = try env.size("MAX_PAYLOAD_SIZE", default: config.maxPayloadSize)
        config.queryLimitMax = try env.limit("QUERY_LIMIT_MAX", default: config.queryLimitMax)
        config.queryLimitDefault = try env.int(
            "QUERY_LIMIT_DEFAULT", default: config.queryLimitDefault, in: 1...Int.max)
        if let max = config.queryLimitMax { config.queryLimitDefault = min(config.queryLimitDefault, max) }

        config.websocketsEnabled = try env.bool("WEBSOCKETS_ENABLED", default: config.websocketsEnabled)
        config.websocketsRestEnabled = try env.bool("WEBSOCKETS_REST_ENABLED", default: config.websocketsRestEnabled)
        config.websocketsRestPath = try path(env, "WEBSOCKETS_REST_PATH", config.websocketsRestPath)
        config.websocketsRestAuth = try env.choice("WEBSOCKETS_REST_AUTH", default: config.websocketsRestAuth)
        config.websocketsRestAuthTimeoutSeconds = try env.int(
            "WEBSOCKETS_REST_AUTH_TIMEOUT", default: config.websocketsRestAuthTimeoutSeconds, in: 1...Int.max)
        config.websocketsRestConnLimit = try env.limit(
            "WEBSOCKETS_REST_CONN_LIMIT", default: config.websocketsRestConnLimit)
        config.websocketsHeartbeatEnabled = try env.bool(
            "WEBSOCKETS_HEARTBEAT_ENABLED", default: config.websocketsHeartbeatEnabled)
        config.websocketsHeartbeatPeriodSeconds = try env.int(
            "WEBSOCKETS_HEARTBEAT_PERIOD", default: config.websocketsHeartbeatPeriodSeconds, in: 1...Int.max)
        config.metricsEnabled = try env.bool("METRICS_ENABLED", default: config.metricsEnabled)
        config.metricsTokens = env.list("METRICS_TOKENS", default: []).filter { !$0.isEmpty }
        config.metricsNamePrefix = env.string("METRICS_NAME_PREFIX") ?? config.metricsNamePrefix
        guard config.metricsNamePrefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }),
            config.metricsNamePrefix.first?.isNumber != true
        else {
            throw ConfigError(
                variable: "METRICS_NAME_PREFIX",
                message: "\"\(config.metricsNamePrefix)\" must be letters, digits and _ only, not starting with a digit")
        }
        config.websocketsGraphQLEnabled = try env.bool(
            "WEBSOCKETS_GRAPHQL_ENABLED", default: config.websocketsGraphQLEnabled)
        config.websocketsGraphQLPath = try path(env, "WEBSOCKETS_GRAPHQL_PATH", config.websocketsGraphQLPath)
        config.websocketsGraphQLAuth = try env.choice(
            "WEBSOCKETS_GRAPHQL_AUTH", default: config.websocketsGraphQLAuth)
        config.websocketsGraphQLAuthTimeoutSeconds = try env.int(
            "WEBSOCKETS_GRAPHQL_AUTH_TIMEOUT", default: config.websocketsGraphQLAuthTimeoutSeconds, in: 1...Int.max)
        config.websocketsGraphQLConnLimit = try env.limit(
            "WEBSOCKETS_GRAPHQL_CONN_LIMIT", default: config.websocketsGraphQLConnLimit)
        config.websocketsMaxMessageSize = try env.size(
            "WEBSOCKETS_MAX_MESSAGE_SIZE", default: config.websocketsMaxMessageSize)
        config.rateLimiterEnabled = try env.bool("RATE_LIMITER_ENABLED", default: config.rateLimiterEnabled)
        config.rateLimiterPoints = try env.int("RATE_LIMITER_POINTS", default: config.rateLimiterPoints, in: 1...Int.max)
        config.rateLimiterDurationSeconds = try env.int(
            "RATE_LIMITER_DURATION", default: config.rateLimiterDurationSeconds, in: 1...Int.max)
        config.websocketsMaxSubscriptions = try env.int(
            "WEBSOCKETS_MAX_SUBSCRIPTIONS", default: config.websocketsMaxSubscriptions, in: 1...100_000)
        config.websocketsMaxQueuedFrames = try env.int(
            "WEBSOCKETS_MAX_QUEUED_FRAMES", default: config.websocketsMaxQueuedFrames, in: 1...10_000_000)
        config.shutdownDrainWindowMs = try env.durationMilliseconds(
            "SHUTDOWN_DRAIN_WINDOW", default: config.shutdownDrainWindowMs)
        config.outboxRetentionMs = try env.durationMilliseconds(
            "SWITCHBOARD_OUTBOX_RETENTION", default: config.outboxRetentionMs)
        config.outboxMaxEvents = try env.int(
            "SWITCHBOARD_OUTBOX_MAX_EVENTS", default: config.outboxMaxEvents, in: 100...100_000_000)
        config.faultCrashAfterCommit = env.string("SWITCHBOARD_FAULT_CRASH_AFTER_COMMIT")

        config.websocketsBrokerURL = env.string("WEBSOCKETS_BROKER_URL")
        config.redisURL = env.string("REDIS")
        config.redisHost = env.string("REDIS_HOST")
        config.redisPort = try env.port("REDIS_PORT", default: config.redisPort)
        config.redisUsername = env.string("REDIS_USERNAME")
        config.redisPassword = env.rawString("REDIS_PASSWORD")
        config.redisDB = try env.int("REDIS_DB", default: config.redisDB, in: 0...Int.max)
        config.messengerNamespace = env.string("MESSENGER_NAMESPACE") ?? config.messengerNamespace
        config.redisTLSCAFile = env.string("REDIS_TLS_CA")
        config.redisTLSCertFile = env.string("REDIS_TLS_CERT")
        config.redisTLSKeyFile = env.string("REDIS_TLS_KEY")
        config.messengerStore = try env.choice("MESSENGER_STORE", default: config.messengerStore)
        config.cacheStore = try env.choice("CACHE_STORE", default: config.cacheStore)
        let redisConfigured = config.redisURL != nil || config.redisHost != nil
        for (name, store) in [("MESSENGER_STORE", config.messengerStore), ("CACHE_STORE", config.cacheStore)]
        where store == .redis && !redisConfigured {
            throw ConfigError(variable: name, message: "\"redis\" requires REDIS or REDIS_HOST to be set")
        }

        return config
    }

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

    private static func path(_ env: EnvironmentReader, _ name: String, _ defaultValue: String) throws(ConfigError)
        -> String
    {
        guard let value = env.string(name) else { return defaultValue }
        guard value.hasPrefix("/"), !value.contains(where: { $0 == " " || $0 == "?" || $0 == "#" }) else {
            throw ConfigError(variable: name, message: "\"\(value)\" is not a path (it must start with \"/\")")
        }
        return value
    }

    private static func cookieName(_ env: EnvironmentReader, _ name: String, _ defaultValue: String)
        throws(ConfigError) -> String
    {
        guard let value = env.string(name) else { return defaultValue }
        // RFC 6265 cookie-name is an RFC 7230 token.
        let separators = Set("()<>@,;:\\\"/[]?={} \t")
        guard value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }),
            !value.contains(where: { separators.contains($0) })
        else {
            throw ConfigError(variable: name, message: "\"\(value)\" is not a valid cookie name")
        }
        return value
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

    // MARK: Documentation

    /// Every variable with its default and a one-line description, grouped
    /// logically, for `.env.example` and the README. An empty default means
    /// "unset".
    public static let documentedVariables: [(name: String, defaultValue: String, description: String)] = [
        // Server
        ("HOST", "0.0.0.0", "Interface to listen on."),
        ("PORT", "8055", "TCP port to listen on (1-65535)."),
        ("PUBLIC_URL", "", "URL clients reach this server at, e.g. https://data.example.com."),
        // Security
        ("SECRET", "", "Key for signing access tokens. Unset: a random one per start (tokens die on restart)."),
        ("ACCESS_TOKEN_TTL", "15m", "Lifetime of access tokens (e.g. 30s, 15m, 1h; a bare number is milliseconds)."),
        ("REFRESH_TOKEN_TTL", "7d", "Lifetime of refresh tokens and sessions."),
        ("SESSION_COOKIE_TTL", "1d", "Lifetime of the session cookie in session mode."),
        ("SESSION_REFRESH_GRACE_PERIOD", "10s", "How long a rotated refresh token still answers with its successor."),
        ("REFRESH_TOKEN_COOKIE_NAME", "directus_refresh_token", "Name of the refresh token cookie."),
        ("SESSION_COOKIE_NAME", "directus_session_token", "Name of the session token cookie."),
        ("REFRESH_TOKEN_COOKIE_SECURE", "false", "Mark auth cookies Secure (HTTPS only)."),
        ("REFRESH_TOKEN_COOKIE_SAME_SITE", "lax", "SameSite of auth cookies: lax, strict or none."),
        ("REFRESH_TOKEN_COOKIE_DOMAIN", "", "Domain attribute of auth cookies."),
        // Database
        ("DB_CLIENT", "sqlite3", "Database engine: sqlite3 or pg."),
        ("DB_FILENAME", "./data/data.db", "SQLite database file."),
        ("DB_HOST", "", "PostgreSQL host."),
        ("DB_PORT", "", "PostgreSQL port (5432 when unset)."),
        ("DB_DATABASE", "", "PostgreSQL database name."),
        ("DB_USER", "", "PostgreSQL user."),
        ("DB_PASSWORD", "", "PostgreSQL password."),
        ("DB_CONNECTION_STRING", "", "PostgreSQL connection URL; overrides the DB_HOST..DB_PASSWORD settings."),
        ("DB_SSL", "false", "Connect to PostgreSQL over TLS."),
        // First admin
        ("ADMIN_EMAIL", "admin@example.com", "Email of the admin user created on first start."),
        ("ADMIN_PASSWORD", "", "Password of that admin. Unset: a random one is generated and printed once."),
        ("ADMIN_TOKEN", "", "Static API token for that admin."),
        // Logging
        ("LOG_LEVEL", "info", "Minimum level logged: trace, debug, info, warn, error, fatal or silent."),
        ("LOG_STYLE", "pretty", "Log format: pretty (human-readable) or raw (JSON lines)."),
        // CORS
        ("CORS_ENABLED", "false", "Send CORS headers."),
        ("CORS_ORIGIN", "false", "Allowed origins: true or * for any, false for none, or a comma-separated list."),
        ("CORS_METHODS", "GET,POST,PATCH,DELETE", "Value of Access-Control-Allow-Methods."),
        ("CORS_ALLOWED_HEADERS", "Content-Type,Authorization", "Value of Access-Control-Allow-Headers."),
        ("CORS_EXPOSED_HEADERS", "Content-Range", "Value of Access-Control-Expose-Headers."),
        ("CORS_CREDENTIALS", "true", "Send Access-Control-Allow-Credentials: true."),
        ("CORS_MAX_AGE", "18000", "Seconds browsers may cache preflight responses."),
        // Requests and queries
        ("MAX_PAYLOAD_SIZE", "1mb", "Largest accepted request body (e.g. 100kb, 1mb; a bare number is bytes)."),
        ("QUERY_LIMIT_DEFAULT", "100", "Items returned when a query sets no limit."),
        ("QUERY_LIMIT_MAX", "Infinity", "Largest limit a query may ask for (Infinity or -1 for no maximum)."),
        // Realtime
        ("WEBSOCKETS_ENABLED", "true", "Enable realtime (WebSockets)."),
        ("WEBSOCKETS_REST_ENABLED", "true", "Serve the REST-style realtime endpoint."),
        ("WEBSOCKETS_REST_PATH", "/websocket", "Path of the REST-style realtime endpoint."),
        ("WEBSOCKETS_REST_AUTH", "handshake", "Realtime authentication: public, handshake or strict."),
        ("WEBSOCKETS_REST_AUTH_TIMEOUT", "10", "Seconds a handshake-mode client has to authenticate."),
        ("WEBSOCKETS_REST_CONN_LIMIT", "Infinity", "Maximum concurrent realtime connections."),
        ("WEBSOCKETS_HEARTBEAT_ENABLED", "true", "Ping realtime clients and drop those that do not answer."),
        ("WEBSOCKETS_HEARTBEAT_PERIOD", "30", "Seconds between heartbeat pings."),
        ("WEBSOCKETS_GRAPHQL_ENABLED", "true", "Serve the GraphQL subscriptions endpoint."),
        ("WEBSOCKETS_GRAPHQL_PATH", "/graphql", "Path of the GraphQL subscriptions endpoint."),
        ("WEBSOCKETS_GRAPHQL_AUTH", "handshake", "GraphQL subscription authentication: public, handshake or strict."),
        ("WEBSOCKETS_GRAPHQL_AUTH_TIMEOUT", "10", "Seconds a handshake-mode GraphQL client has to authenticate."),
        ("WEBSOCKETS_GRAPHQL_CONN_LIMIT", "Infinity", "Maximum concurrent GraphQL subscription connections."),
        ("WEBSOCKETS_MAX_MESSAGE_SIZE", "1mb", "Largest accepted realtime message."),
        ("RATE_LIMITER_ENABLED", "false", "Rate limit realtime messages per connection."),
        ("RATE_LIMITER_POINTS", "50", "Messages allowed per rate limit window."),
        ("RATE_LIMITER_DURATION", "1", "Length of the rate limit window in seconds."),
        ("WEBSOCKETS_MAX_SUBSCRIPTIONS", "256", "Subscriptions one realtime socket may hold."),
        ("WEBSOCKETS_MAX_QUEUED_FRAMES", "4096", "Frames queued for one socket before it is closed as too slow (1013)."),
        ("SHUTDOWN_DRAIN_WINDOW", "5s", "On SIGTERM, close open sockets (1001) spread over this window."),
        // Metrics
        ("METRICS_ENABLED", "false", "Serve GET /metrics (Prometheus text format)."),
        ("METRICS_TOKENS", "", "Comma-separated tokens allowed to read /metrics as `Authorization: Metrics <token>`."),
        ("METRICS_NAME_PREFIX", "switchboard_", "Prefix of Switchboard's metric names."),
        (
            "SWITCHBOARD_OUTBOX_RETENTION", "24h",
            "Outbox events older than this are trimmed (resume with `after` reaches this far back)."
        ),
        ("SWITCHBOARD_OUTBOX_MAX_EVENTS", "100000", "Newest events kept per collection in the outbox."),
        (
            "SWITCHBOARD_FAULT_CRASH_AFTER_COMMIT", "",
            "Test only: exit right after committing a write to this collection, before publishing."
        ),
        // Cluster
        ("WEBSOCKETS_BROKER_URL", "", "URL of an external message broker for realtime fan-out."),
        ("MESSENGER_STORE", "memory", "Cross-instance messaging: memory (single instance) or redis."),
        ("MESSENGER_NAMESPACE", "switchboard", "Prefix of messenger channels and keys."),
        ("CACHE_STORE", "memory", "Cache location: memory or redis."),
        ("REDIS", "", "Redis connection URL, e.g. redis://user:pass@host:6379/0; overrides REDIS_HOST..REDIS_DB."),
        ("REDIS_HOST", "", "Redis host."),
        ("REDIS_PORT", "6379", "Redis port."),
        ("REDIS_USERNAME", "", "Redis user."),
        ("REDIS_PASSWORD", "", "Redis password."),
        ("REDIS_DB", "0", "Redis database number."),
        ("REDIS_TLS_CA", "", "CA bundle (PEM) to trust for rediss:// connections."),
        ("REDIS_TLS_CERT", "", "Client certificate (PEM) for rediss:// connections."),
        ("REDIS_TLS_KEY", "", "Client private key (PEM) for rediss:// connections."),
    ]
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
