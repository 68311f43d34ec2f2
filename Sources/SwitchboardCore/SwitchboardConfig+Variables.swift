extension SwitchboardConfig {
    /// Every configuration variable, in documentation order. Names and
    /// defaults follow Directus where it has the setting.
    public static let variables: [ConfigVariable] = [
        // Server
        .string("HOST", \.host, .server, "Interface to listen on."),
        .port("PORT", \.port, .server, "TCP port to listen on (1-65535)."),
        .optional(
            "PUBLIC_URL", \.publicURL, .server,
            "URL clients reach this server at, e.g. https://data.example.com (cookies, Origin checks)."),
        .bool(
            "DEMO_ENABLED", \.demoEnabled, .server,
            "Serve the demo chat page at GET / (Directus's 'Connect to Realtime Data' guide as a page; see README)."),
        .int(
            "EVENT_LOOPS", \.eventLoops, .server,
            "Event-loop threads serving connections, REST and the database clients (0: one per CPU core). Several replicas on one host: its cores divided by the replicas.",
            in: 0...1024),
        // Security
        ConfigVariable(
            "SECRET", .security, "Key for signing access tokens. Unset: a random one per start (tokens die on restart).",
            read: { c, env in
                if let secret = env.rawString("SECRET"), !DurationParser.trim(secret).isEmpty {
                    c.secret = secret
                    c.secretIsGenerated = false
                }
            }, render: { _ in "" }),
        .duration(
            "ACCESS_TOKEN_TTL", \.accessTokenTTLms, .security,
            "Lifetime of access tokens (e.g. 30s, 15m, 1h; a bare number is milliseconds)."),
        .duration("REFRESH_TOKEN_TTL", \.refreshTokenTTLms, .security, "Lifetime of refresh tokens and sessions."),
        .duration("SESSION_COOKIE_TTL", \.sessionCookieTTLms, .security, "Lifetime of the session cookie in session mode."),
        .duration(
            "SESSION_REFRESH_GRACE_PERIOD", \.sessionRefreshGracePeriodMs, .security,
            "How long a rotated refresh token still answers with its successor."),
        .string(
            "REFRESH_TOKEN_COOKIE_NAME", \.refreshTokenCookieName, .security, "Name of the refresh token cookie.",
            validate: cookieNameProblem),
        .string(
            "SESSION_COOKIE_NAME", \.sessionCookieName, .security, "Name of the session token cookie.",
            validate: cookieNameProblem),
        .bool("REFRESH_TOKEN_COOKIE_SECURE", \.refreshTokenCookieSecure, .security, "Mark auth cookies Secure (HTTPS only)."),
        .choice(
            "REFRESH_TOKEN_COOKIE_SAME_SITE", \.refreshTokenCookieSameSite, .security,
            "SameSite of auth cookies: lax, strict or none.", allowed: ["lax", "strict", "none"]),
        .optional("REFRESH_TOKEN_COOKIE_DOMAIN", \.refreshTokenCookieDomain, .security, "Domain attribute of auth cookies."),
        // Database
        .choice(
            "DB_CLIENT", \.dbClient, .database, "Database engine: sqlite3 or pg.",
            aliases: ["sqlite": .sqlite3, "postgres": .pg, "postgresql": .pg]),
        .string("DB_FILENAME", \.dbFilename, .database, "SQLite database file."),
        .optional("DB_HOST", \.dbHost, .database, "PostgreSQL host."),
        .optionalPort("DB_PORT", \.dbPort, .database, "PostgreSQL port (5432 when unset)."),
        .optional("DB_DATABASE", \.dbDatabase, .database, "PostgreSQL database name."),
        .optional("DB_USER", \.dbUser, .database, "PostgreSQL user."),
        .optional("DB_PASSWORD", \.dbPassword, .database, "PostgreSQL password.", raw: true),
        .optional(
            "DB_CONNECTION_STRING", \.dbConnectionString, .database,
            "PostgreSQL connection URL; overrides the DB_HOST..DB_PASSWORD settings."),
        .bool("DB_SSL", \.dbSSL, .database, "Connect to PostgreSQL over TLS."),
        .int("DB_POOL__MAX", \.dbPoolMax, .database, "Most PostgreSQL connections one replica opens.", in: 1...10_000),
        .int(
            "DB_POOL__MIN", \.dbPoolMin, .database,
            "PostgreSQL connections kept open while idle (reconnected by themselves after a restart).", in: 0...10_000),
        .duration(
            "DB_POOL__ACQUIRE_TIMEOUT_MILLIS", \.dbPoolAcquireTimeoutMs, .database,
            "How long a request waits for a PostgreSQL connection before it fails with 503 (ms).", style: .milliseconds),
        .int(
            "DB_HEALTHCHECK_THRESHOLD", \.dbHealthcheckThresholdMs, .database,
            "Database response time (ms) above which /server/health reports warn (as Directus).", in: 1...Int.max),
        .duration(
            "DB_STATEMENT_TIMEOUT", \.dbStatementTimeoutMs, .database,
            "Longest one PostgreSQL statement may run (server-side statement_timeout; ms, 0 = no limit).",
            style: .milliseconds, allowZero: true),
        // First admin
        .string("ADMIN_EMAIL", \.adminEmail, .admin, "Email of the admin user created on first start."),
        .optional(
            "ADMIN_PASSWORD", \.adminPassword, .admin,
            "Password of that admin. Unset: a random one is generated and printed once.", raw: true),
        .optional("ADMIN_TOKEN", \.adminToken, .admin, "Static API token for that admin."),
        // Logging
        .choice(
            "LOG_LEVEL", \.logLevel, .logging, "Minimum level logged: trace, debug, info, warn, error, fatal or silent.",
            allowed: logLevels),
        .choice("LOG_STYLE", \.logStyle, .logging, "Log format: pretty (human-readable) or raw (JSON lines)."),
        // CORS
        .bool("CORS_ENABLED", \.corsEnabled, .cors, "Send CORS headers."),
        ConfigVariable(
            "CORS_ORIGIN", .cors, "Allowed origins: true or * for any, false for none, or a comma-separated list.",
            read: { c, env in c.corsOrigin = parseCORSOrigin(env.string("CORS_ORIGIN")) ?? c.corsOrigin },
            render: { c in
                switch c.corsOrigin {
                case .disabled: return "false"
                case .any: return "true"
                case .list(let origins): return origins.joined(separator: ",")
                }
            }),
        .list("CORS_METHODS", \.corsMethods, .cors, "Value of Access-Control-Allow-Methods.", transform: { $0.uppercased() }),
        .list("CORS_ALLOWED_HEADERS", \.corsAllowedHeaders, .cors, "Value of Access-Control-Allow-Headers."),
        .list("CORS_EXPOSED_HEADERS", \.corsExposedHeaders, .cors, "Value of Access-Control-Expose-Headers."),
        .bool("CORS_CREDENTIALS", \.corsCredentials, .cors, "Send Access-Control-Allow-Credentials: true."),
        .int("CORS_MAX_AGE", \.corsMaxAge, .cors, "Seconds browsers may cache preflight responses.", in: 0...Int.max),
        // Requests and queries
        .size(
            "MAX_PAYLOAD_SIZE", \.maxPayloadSize, .queries,
            "Largest accepted request body (e.g. 100kb, 1mb; a bare number is bytes)."),
        .int("QUERY_LIMIT_DEFAULT", \.queryLimitDefault, .queries, "Items returned when a query sets no limit.", in: 1...Int.max),
        .limit(
            "QUERY_LIMIT_MAX", \.queryLimitMax, .queries, "Largest limit a query may ask for (Infinity or -1 for no maximum)."),
        .int(
            "QUERY_MAX_FILTER_CONDITIONS", \.queryMaxFilterConditions, .queries,
            "Field conditions one filter may hold (REST, socket and permission filters alike).", in: 1...1_000_000),
        .int(
            "QUERY_MAX_FILTER_DEPTH", \.queryMaxFilterDepth, .queries,
            "How deep _and / _or / _some / _none groups may nest in one filter.", in: 1...64),
        .int(
            "QUERY_MAX_FILTER_VALUES", \.queryMaxFilterValues, .queries,
            "Values in one filter's _in / _nin / _between lists, all together.", in: 1...30_000),
        .int(
            "QUERY_MAX_FIELDS", \.queryMaxFields, .queries, "Entries in each of fields, groupBy and aggregate.",
            in: 1...1_000_000),
        .int("QUERY_MAX_SORT", \.queryMaxSort, .queries, "Keys in sort.", in: 1...10_000),
        .int(
            "MAX_RELATIONAL_DEPTH", \.maxRelationalDepth, .queries,
            "Segments of a field path (author.team.name) in fields, filter, sort and deep.", in: 2...32),
        .int("QUERY_MAX_DEEP", \.queryMaxDeep, .queries, "Nested queries in deep, at all levels together.", in: 1...100_000),
        .int(
            "QUERY_MAX_PARAMETERS", \.queryMaxParameters, .queries, "Name/value pairs in one URL's query string.",
            in: 1...1_000_000),
        .int(
            "QUERY_MAX_PARAMETER_DEPTH", \.queryMaxParameterDepth, .queries,
            "Bracket levels in one URL parameter name (filter[a][_eq] has 2).", in: 1...1000),
        .bool(
            "GRAPHQL_INTROSPECTION", \.graphqlIntrospection, .queries,
            "Answer GraphQL introspection queries (__schema, __type)."),
        .int(
            "GRAPHQL_SCHEMA_CACHE_CAPACITY", \.graphqlSchemaCacheCapacity, .queries,
            "GraphQL schemas kept per replica (one per schema version and set of read permissions).", in: 1...100_000),
        .size(
            "GRAPHQL_QUERY_MAX_SIZE", \.graphqlQueryMaxSize, .queries,
            "Largest GraphQL document (query text), e.g. 64kb; a bare number is bytes."),
        .int(
            "GRAPHQL_QUERY_MAX_DEPTH", \.graphqlQueryMaxDepth, .queries,
            "Nesting of { [ ( in a GraphQL document, and of its selections with fragments expanded.", in: 2...1000),
        .int(
            "GRAPHQL_QUERY_MAX_FIELDS", \.graphqlQueryMaxFields, .queries,
            "Fields one GraphQL document selects, fragments expanded.", in: 1...1_000_000),
        // Realtime
        .bool("WEBSOCKETS_ENABLED", \.websocketsEnabled, .realtime, "Enable realtime (WebSockets). Directus: false."),
        .bool("WEBSOCKETS_REST_ENABLED", \.websocketsRestEnabled, .realtime, "Serve the REST-style realtime endpoint."),
        .string(
            "WEBSOCKETS_REST_PATH", \.websocketsRestPath, .realtime, "Path of the REST-style realtime endpoint.",
            validate: pathProblem),
        .choice("WEBSOCKETS_REST_AUTH", \.websocketsRestAuth, .realtime, "Realtime authentication: public, handshake or strict."),
        .seconds(
            "WEBSOCKETS_REST_AUTH_TIMEOUT", \.websocketsRestAuthTimeoutSeconds, .realtime,
            "Seconds a handshake-mode client has to authenticate."),
        .limit(
            "WEBSOCKETS_REST_CONN_LIMIT", \.websocketsRestConnLimit, .realtime,
            "Most concurrent realtime connections per replica; over it the upgrade is refused with 403."),
        .bool(
            "WEBSOCKETS_HEARTBEAT_ENABLED", \.websocketsHeartbeatEnabled, .realtime,
            "Ping realtime clients and drop those that do not answer."),
        .seconds(
            "WEBSOCKETS_HEARTBEAT_PERIOD", \.websocketsHeartbeatPeriodSeconds, .realtime, "Seconds between heartbeat pings."),
        .bool("WEBSOCKETS_GRAPHQL_ENABLED", \.websocketsGraphQLEnabled, .realtime, "Serve the GraphQL subscriptions endpoint."),
        .string(
            "WEBSOCKETS_GRAPHQL_PATH", \.websocketsGraphQLPath, .realtime, "Path of the GraphQL subscriptions endpoint.",
            validate: pathProblem),
        .choice(
            "WEBSOCKETS_GRAPHQL_AUTH", \.websocketsGraphQLAuth, .realtime,
            "GraphQL subscription authentication: public, handshake or strict."),
        .seconds(
            "WEBSOCKETS_GRAPHQL_AUTH_TIMEOUT", \.websocketsGraphQLAuthTimeoutSeconds, .realtime,
            "Seconds a handshake-mode GraphQL client has to authenticate."),
        .limit(
            "WEBSOCKETS_GRAPHQL_CONN_LIMIT", \.websocketsGraphQLConnLimit, .realtime,
            "Most concurrent GraphQL subscription connections per replica."),
        .bool(
            "WEBSOCKETS_LOGS_ENABLED", \.websocketsLogsEnabled, .realtime,
            "Serve the logs stream (admins only): this replica's log records over WebSocket."),
        .string(
            "WEBSOCKETS_LOGS_PATH", \.websocketsLogsPath, .realtime, "Path of the logs stream.", validate: pathProblem),
        .choice(
            "WEBSOCKETS_LOGS_LEVEL", \.websocketsLogsLevel, .realtime,
            "Lowest level that enters the logs stream (trace, debug, info, warn, error or fatal), whatever LOG_LEVEL is.",
            allowed: streamLogLevels),
        .choice(
            "WEBSOCKETS_LOGS_STYLE", \.websocketsLogsStyle, .realtime,
            "Shape of streamed records: pretty (level, time, msg) or raw (the whole record with its metadata)."),
        .limit(
            "WEBSOCKETS_LOGS_CONN_LIMIT", \.websocketsLogsConnLimit, .realtime,
            "Most concurrent logs stream connections per replica; over it the upgrade is refused with 403."),
        .size(
            "WEBSOCKETS_MAX_MESSAGE_SIZE", \.websocketsMaxMessageSize, .realtime,
            "Largest accepted realtime message; a bigger frame closes the socket with 1009."),
        .bool("RATE_LIMITER_ENABLED", \.rateLimiterEnabled, .realtime, "Rate limit realtime messages per connection."),
        .int("RATE_LIMITER_POINTS", \.rateLimiterPoints, .realtime, "Messages allowed per rate limit window.", in: 1...Int.max),
        .seconds("RATE_LIMITER_DURATION", \.rateLimiterDurationSeconds, .realtime, "Length of the rate limit window in seconds."),
        .int(
            "WEBSOCKETS_MAX_SUBSCRIPTIONS", \.websocketsMaxSubscriptions, .realtime,
            "Subscriptions one realtime socket may hold; one more is answered with a subscribe error.", in: 1...100_000),
        .int(
            "WEBSOCKETS_LIVE_WINDOW_KEYS_MAX", \.websocketsLiveWindowKeysMax, .realtime,
            "Rows per `live` query class whose `$NOW(…)` window exit is timed (a `left` without a write); rows beyond it leave on update only; 0 times none.",
            in: 0...10_000_000),
        .int(
            "WEBSOCKETS_RELATED_ROWS_MAX", \.websocketsRelatedRowsMax, .realtime,
            "Rows of one subscribed query re-read when a row it reaches through a relation changes (`author.email` after an author update); beyond it that query's subscribers are closed (1011) and read afresh.",
            in: 1...1_000_000),
        .size(
            "WEBSOCKETS_MAX_QUEUED_BYTES", \.websocketsMaxQueuedBytes, .realtime,
            "Bytes waiting to be written to one socket before it is closed as too slow (1013); nobody else waits for it."),
        .duration(
            "SHUTDOWN_DRAIN_WINDOW", \.shutdownDrainWindowMs, .realtime,
            "On SIGTERM: readiness fails and open sockets are closed (1001) spread over this window."),
        ConfigVariable(
            "SWITCHBOARD_FLEET_INTERVAL", .realtime,
            "How often each replica shares its stats with the others (the admin view, `switchboard_replicas`); a replica unheard for 3 intervals leaves the view (250ms to 60s).",
            read: { c, env throws(ConfigError) in
                let ms = try env.durationMilliseconds("SWITCHBOARD_FLEET_INTERVAL", default: c.fleetIntervalMs, allowZero: false)
                guard (250...60_000).contains(ms) else {
                    throw ConfigError(variable: "SWITCHBOARD_FLEET_INTERVAL", message: "must be between 250ms and 60s")
                }
                c.fleetIntervalMs = ms
            }, render: { DurationParser.format(milliseconds: $0.fleetIntervalMs) }),
        // Metrics
        .bool("METRICS_ENABLED", \.metricsEnabled, .metrics, "Serve GET /metrics (Prometheus text format)."),
        ConfigVariable(
            "METRICS_TOKENS", .metrics,
            "Comma-separated tokens allowed to read /metrics as `Authorization: Metrics <token>` (admins always may).",
            read: { c, env in c.metricsTokens = env.list("METRICS_TOKENS", default: []).filter { !$0.isEmpty } },
            render: { $0.metricsTokens.joined(separator: ",") }),
        .string(
            "METRICS_NAME_PREFIX", \.metricsNamePrefix, .metrics, "Prefix of Switchboard's metric names.",
            validate: { prefix in
                prefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) && prefix.first?.isNumber != true
                    ? nil : "\"\(prefix)\" must be letters, digits and _ only, not starting with a digit"
            }),
        // Outbox
        .duration(
            "SWITCHBOARD_OUTBOX_RETENTION", \.outboxRetentionMs, .outbox,
            "Outbox events older than this are trimmed (resume with `after` reaches this far back)."),
        .int(
            "SWITCHBOARD_OUTBOX_MAX_EVENTS", \.outboxMaxEvents, .outbox, "Newest events kept per collection in the outbox.",
            in: 100...100_000_000),
        // Cluster
        .optional(
            "WEBSOCKETS_BROKER_URL", \.websocketsBrokerURL, .cluster,
            "redis:// or rediss:// URL of the broker carrying events between replicas (must name the same server as REDIS)."),
        .optionalBool(
            "REDIS_ENABLED", \.redisEnabled, .cluster,
            "Directus 11: true = replicas share events through Redis (REDIS or REDIS_HOST), false = never. "
                + "Unset: Redis is used when REDIS, REDIS_HOST or WEBSOCKETS_BROKER_URL is set."),
        .optionalChoice(
            "MESSENGER_STORE", \.messengerStore, .cluster,
            "Directus 10: memory (single instance) or redis. Unset: REDIS_ENABLED and REDIS decide."),
        .optionalChoice(
            "SYNCHRONIZATION_STORE", \.synchronizationStore, .cluster,
            "Directus 11: redis = replicas share state through Redis (so events go through Redis too), memory = no say."),
        .string("REDIS_BUS_NAMESPACE", \.messengerNamespace, .cluster, "Prefix of messenger channels and keys.")
            .alias("MESSENGER_NAMESPACE"),
        .choice(
            "CACHE_STORE", \.cacheStore, .cluster,
            "Accepted for Directus .env files (Switchboard keeps no shared cache): memory, or redis (needs Redis configured)."),
        .bool(
            "REDIS_CLUSTER", \.redisCluster, .cluster,
            "The Redis URL names a seed node of a Redis Cluster: sharded pub/sub on each channel's master "
                + "(a redis+cluster://host:port,host2:port2 URL says the same)."),
        ConfigVariable(
            "REDIS_SENTINELS", .cluster,
            "Redis Sentinel nodes, host:port,host2:port2 (port 26379 when left out): the messenger asks them for the "
                + "primary of REDIS_SENTINEL_NAME and follows its failovers. Directus's REDIS_SENTINELS__0__HOST / "
                + "REDIS_SENTINELS__0__PORT … and json:[{\"host\":…,\"port\":…}] are read too.",
            read: { c, env throws(ConfigError) in c.redisSentinels = try readSentinels(env) },
            render: { $0.redisSentinels.joined(separator: ",") }),
        .optional(
            "REDIS_SENTINEL_NAME", \.redisSentinelName, .cluster,
            "Name of the master group the sentinels watch (sentinel monitor <name> …); required with REDIS_SENTINELS."
        ).alias("REDIS_NAME"),
        .optional("REDIS_SENTINEL_USERNAME", \.redisSentinelUsername, .cluster, "User for the sentinels (ACL)."),
        .optional(
            "REDIS_SENTINEL_PASSWORD", \.redisSentinelPassword, .cluster,
            "Password for the sentinels (requirepass of the sentinels; REDIS_PASSWORD is the primary's).", raw: true),
        .optional(
            "REDIS", \.redisURL, .cluster,
            "Redis connection URL, e.g. redis://user:pass@host:6379/0; overrides REDIS_HOST..REDIS_DB."),
        .optional("REDIS_HOST", \.redisHost, .cluster, "Redis host."),
        .port("REDIS_PORT", \.redisPort, .cluster, "Redis port."),
        .optional("REDIS_USERNAME", \.redisUsername, .cluster, "Redis user."),
        .optional("REDIS_PASSWORD", \.redisPassword, .cluster, "Redis password.", raw: true),
        .int("REDIS_DB", \.redisDB, .cluster, "Redis database number.", in: 0...Int.max),
        .optional("REDIS_TLS_CA", \.redisTLSCAFile, .cluster, "CA bundle (PEM) to trust for rediss:// connections."),
        .optional("REDIS_TLS_CERT", \.redisTLSCertFile, .cluster, "Client certificate (PEM) for rediss:// connections."),
        .optional("REDIS_TLS_KEY", \.redisTLSKeyFile, .cluster, "Client private key (PEM) for rediss:// connections."),
        .duration(
            "REDIS_CONNECT_TIMEOUT", \.redisConnectTimeoutMs, .cluster, "How long connecting to Redis may take (ms).",
            style: .milliseconds),
        .duration(
            "REDIS_COMMAND_TIMEOUT", \.redisCommandTimeoutMs, .cluster,
            "How long Redis may take to answer a command (ms); a connection that misses it is replaced.",
            style: .milliseconds),
        .duration(
            "SWITCHBOARD_REDIS_PING_INTERVAL", \.redisPingIntervalMs, .cluster,
            "Idle Redis connections are pinged this often (ms); no answer within REDIS_COMMAND_TIMEOUT replaces them.",
            style: .milliseconds),
        .int(
            "SWITCHBOARD_PUBLISH_QUEUE_LIMIT", \.publishQueueLimit, .cluster,
            "Events waiting to be published to Redis; beyond it the oldest is dropped (other replicas read it from the outbox).",
            in: 1...10_000_000),
        // Testing
        .optional(
            "SWITCHBOARD_FAULT_CRASH_AFTER_COMMIT", \.faultCrashAfterCommit, .testing,
            "Test only: exit right after committing a write to this collection, before publishing."),
    ]

    /// The sentinel list of `REDIS_SENTINELS` (`host:port,…`, or a JSON array of `{"host","port"}`
    /// objects or `"host:port"` strings, with an optional `json:` / `array:` cast prefix as Directus
    /// writes it) or of Directus's indexed `REDIS_SENTINELS__<i>__HOST` / `__PORT`; normalized to `host:port`.
    static func readSentinels(_ env: EnvironmentReader) throws(ConfigError) -> [String] {
        let name = "REDIS_SENTINELS"
        var indexed: [Int: (host: String?, port: String?)] = [:]
        for (key, value) in env.environment where key.hasPrefix(name + "__") {
            let parts = key.dropFirst(name.count + 2).split(separator: "_", omittingEmptySubsequences: false)
            // <i>__HOST splits on "_" into [i, "", HOST]
            guard parts.count == 3, parts[1].isEmpty, let i = Int(parts[0]), i >= 0,
                parts[2] == "HOST" || parts[2] == "PORT"
            else {
                throw ConfigError(variable: key, message: "expected REDIS_SENTINELS__<index>__HOST or __PORT")
            }
            let trimmed = String(DurationParser.trim(value))
            if parts[2] == "HOST" {
                indexed[i, default: (nil, nil)].host = trimmed
            } else {
                indexed[i, default: (nil, nil)].port = trimmed
            }
        }
        var entries: [(host: String, port: String?, variable: String)] = []
        if var value = env.string(name) {
            guard indexed.isEmpty else {
                throw ConfigError(
                    conflict: name, "\(name)__\(indexed.keys.min() ?? 0)__HOST",
                    message: "both list the sentinels; keep one of them")
            }
            for prefix in ["json:", "array:"] where value.lowercased().hasPrefix(prefix) {
                value = String(DurationParser.trim(value.dropFirst(prefix.count)))
            }
            if value.hasPrefix("[") {
                guard let json = try? JSONReader.parse(value), case .array(let items) = json else {
                    throw ConfigError(variable: name, message: "\"\(value)\" is not a JSON array")
                }
                for item in items {
                    switch item {
                    case .string(let s): entries.append(try splitHostPort(s, variable: name))
                    case .object(let o):
                        guard case .string(let host)? = o["host"] else {
                            throw ConfigError(variable: name, message: "every sentinel object needs a \"host\"")
                        }
                        var port: String?
                        switch o["port"] {
                        case .string(let p)?: port = p
                        case .int(let n)?: port = String(n)
                        case nil, .null?: port = nil
                        default: throw ConfigError(variable: name, message: "\"port\" of \(host) is not a port number")
                        }
                        entries.append((host, port, name))
                    default:
                        throw ConfigError(
                            variable: name, message: "expected objects {\"host\",\"port\"} or \"host:port\" strings")
                    }
                }
            } else {
                for item in EnvironmentReader.splitList(value) { entries.append(try splitHostPort(item, variable: name)) }
            }
        } else {
            for i in indexed.keys.sorted() {
                let variable = "\(name)__\(i)__HOST"
                guard let host = indexed[i]?.host, !host.isEmpty else {
                    throw ConfigError(variable: variable, message: "is missing (\(name)__\(i)__PORT is set)")
                }
                entries.append((host, indexed[i]?.port, variable))
            }
        }
        return try entries.map { e throws(ConfigError) in
            let host = e.host.hasPrefix("[") && e.host.hasSuffix("]") ? String(e.host.dropFirst().dropLast()) : e.host
            guard !host.isEmpty, !host.contains(where: { $0 == "/" || $0 == "@" || $0 == " " }) else {
                throw ConfigError(variable: e.variable, message: "\"\(e.host)\" is not a host name or address")
            }
            var port = 26379
            if let p = e.port, !p.isEmpty {
                guard let n = Int(p), (1...65535).contains(n) else {
                    throw ConfigError(variable: e.variable, message: "\"\(p)\" is not a port number (1-65535)")
                }
                port = n
            }
            return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    /// `host`, `host:port` or `[v6]:port`.
    private static func splitHostPort(_ s: String, variable: String) throws(ConfigError) -> (
        host: String, port: String?, variable: String
    ) {
        let s = String(DurationParser.trim(s))
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
            let after = s[s.index(after: close)...]
            return (String(s[...close]), after.hasPrefix(":") ? String(after.dropFirst()) : nil, variable)
        }
        if let colon = s.lastIndex(of: ":"), s.firstIndex(of: ":") == colon {
            return (String(s[..<colon]), String(s[s.index(after: colon)...]), variable)
        }
        return (s, nil, variable)
    }

    /// The defaults, as every variable's documentation shows them.
    public static let defaults = SwitchboardConfig(secret: "", secretIsGenerated: true)

    /// Loads the configuration from a merged environment. Throws a
    /// `ConfigError` naming the variable for any value that is set but
    /// invalid (non-numeric or out-of-range port, unknown `DB_CLIENT`, bad
    /// duration, size, boolean or enum value, …).
    public static func load(environment: [String: String]) throws(ConfigError) -> SwitchboardConfig {
        let env = EnvironmentReader(environment)
        var config = SwitchboardConfig(secret: generateSecret(), secretIsGenerated: true)
        for variable in variables { try variable.load(into: &config, from: env) }
        if let max = config.queryLimitMax { config.queryLimitDefault = min(config.queryLimitDefault, max) }
        config.messenger = try MessengerRoute.resolve(config)
        return config
    }

    /// `.env.example`: every variable with its default, commented out.
    public static func envExample() -> String {
        var out = "# Switchboard configuration: every variable with its default.\n"
        out += "# Copy to .env and uncomment what you change. The process environment wins over .env.\n"
        var section: ConfigVariable.Section?
        for variable in variables {
            if variable.section != section {
                section = variable.section
                out += "\n# ---- \(variable.section.rawValue) ----\n"
            }
            let aliases = variable.aliases.isEmpty ? "" : " Also read as \(variable.aliases.joined(separator: ", "))."
            out += "\n# \(variable.summary)\(aliases)\n# \(variable.name)=\(variable.documentedDefault)\n"
        }
        return out
    }

    /// The README's configuration table (Markdown).
    public static func markdownTable() -> String {
        func cell(_ text: String) -> String { String(text.flatMap { $0 == "|" ? ["\\", "|"] : [$0] }) }
        var out = "| variable | default | meaning |\n|---|---|---|\n"
        for variable in variables {
            let value = variable.documentedDefault
            let names = ([variable.name] + variable.aliases).map { "`\($0)`" }.joined(separator: " or ")
            out += "| \(names) | \(value.isEmpty ? "—" : "`\(cell(value))`") | \(cell(variable.summary)) |\n"
        }
        return out
    }

    /// A reason `value` is not a path (it must start with "/"), or nil.
    static func pathProblem(_ value: String) -> String? {
        value.hasPrefix("/") && !value.contains(where: { $0 == " " || $0 == "?" || $0 == "#" })
            ? nil : "\"\(value)\" is not a path (it must start with \"/\")"
    }

    /// RFC 6265 cookie-name is an RFC 7230 token.
    static func cookieNameProblem(_ value: String) -> String? {
        let separators = Set("()<>@,;:\\\"/[]?={} \t")
        return value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            && !value.contains(where: { separators.contains($0) }) ? nil : "\"\(value)\" is not a valid cookie name"
    }
}
