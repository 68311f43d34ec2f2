/// How a replica exchanges change events with the others: in this process only,
/// through one Redis server, or through a Redis Cluster (sharded pub/sub).
///
/// Three generations of settings say it: Switchboard's `WEBSOCKETS_BROKER_URL`,
/// Directus 10's `MESSENGER_STORE`, Directus 11's `REDIS_ENABLED` /
/// `SYNCHRONIZATION_STORE` (with `REDIS` or `REDIS_HOST` & co. for the server).
/// `resolve` reads them all, so an `.env` written for any of them works unchanged,
/// and refuses settings that contradict each other instead of picking one.
public enum MessengerRoute: Sendable, Equatable {
    /// Events stay in this process (a single instance).
    case local
    /// Events go through the Redis server at this URL.
    case redis(url: String)
    /// Events go through the Redis Cluster whose seed nodes this URL names
    /// (`redis+cluster://host:port,host2:port2`, or a `redis://` seed with `REDIS_CLUSTER=true`).
    case redisCluster(url: String)
    /// Events go through the primary that these Redis Sentinel nodes (`host:port`) name for the
    /// master group `name`, followed across failovers (`REDIS_SENTINELS`, `REDIS_SENTINEL_NAME`).
    case redisSentinel(sentinels: [String], name: String)

    /// The route the settings in `config` ask for.
    ///
    /// - Redis is ruled out by `MESSENGER_STORE=memory` or `REDIS_ENABLED=false`.
    /// - Redis is asked for by `WEBSOCKETS_BROKER_URL`, `MESSENGER_STORE=redis`,
    ///   `REDIS_ENABLED=true` or `SYNCHRONIZATION_STORE=redis`; when nothing rules
    ///   on it, by `REDIS` or `REDIS_HOST` alone, as Directus 11 does.
    /// - `REDIS_SENTINELS` asks for Redis through Sentinel; it names the server, so `REDIS`,
    ///   `REDIS_HOST`, `WEBSOCKETS_BROKER_URL`, `REDIS_CLUSTER` or TLS files beside it contradict it.
    /// - Asking for and ruling out Redis at once, or a broker URL and `REDIS`
    ///   naming different servers, is a `ConfigError` naming both variables.
    public static func resolve(_ config: SwitchboardConfig) throws(ConfigError) -> MessengerRoute {
        let broker = config.websocketsBrokerURL
        let connection = config.redisConnectionURL
        let connectionName = config.redisURL != nil ? "REDIS" : "REDIS_HOST"

        var wants: [(name: String, value: String)] = []
        if broker != nil { wants.append(("WEBSOCKETS_BROKER_URL", "…")) }
        if config.messengerStore == .redis { wants.append(("MESSENGER_STORE", "redis")) }
        if config.redisEnabled == true { wants.append(("REDIS_ENABLED", "true")) }
        if config.synchronizationStore == .redis { wants.append(("SYNCHRONIZATION_STORE", "redis")) }
        if config.redisCluster { wants.append(("REDIS_CLUSTER", "true")) }
        let sentinels = config.redisSentinels
        if !sentinels.isEmpty { wants.append(("REDIS_SENTINELS", sentinels.joined(separator: ","))) }
        var refuses: [(name: String, value: String)] = []
        if config.messengerStore == .memory { refuses.append(("MESSENGER_STORE", "memory")) }
        if config.redisEnabled == false { refuses.append(("REDIS_ENABLED", "false")) }

        for want in wants {
            for refuse in refuses where refuse.name != want.name {
                throw ConfigError(
                    conflict: want.name, refuse.name,
                    message: "\(setting(want)) sends events through Redis, \(setting(refuse)) keeps them in this process; "
                        + "keep one of them")
            }
        }
        if config.cacheStore == .redis && config.redisEnabled == false {
            throw ConfigError(
                conflict: "CACHE_STORE", "REDIS_ENABLED",
                message: "CACHE_STORE=redis needs Redis, REDIS_ENABLED=false turns it off; keep one of them")
        }
        if let broker, let connection, server(of: broker) != server(of: connection) {
            throw ConfigError(
                conflict: "WEBSOCKETS_BROKER_URL", connectionName,
                message: "they name different Redis servers (\(server(of: broker)) and \(server(of: connection))); "
                    + "set one of them, or make them the same")
        }

        if !sentinels.isEmpty {
            return try sentinelRoute(config)
        }
        if config.redisSentinelName != nil {
            throw ConfigError(
                variable: "REDIS_SENTINEL_NAME", message: "names a Sentinel master group, but REDIS_SENTINELS lists no sentinels")
        }

        let url = broker ?? connection
        var askers = wants.filter { $0.name != "WEBSOCKETS_BROKER_URL" }
        if config.cacheStore == .redis { askers.append(("CACHE_STORE", "redis")) }
        if url == nil, let asker = askers.first {
            throw ConfigError(variable: asker.name, message: "\"\(asker.value)\" requires REDIS or REDIS_HOST to be set")
        }
        guard refuses.isEmpty, let url else { return .local }
        return config.redisCluster || isClusterURL(url) ? .redisCluster(url: url) : .redis(url: url)
    }

    /// The Sentinel route (nothing ruled Redis out: that conflict was reported); `REDIS_SENTINELS` beside a setting that
    /// names a server of its own (or a cluster, or TLS, which Sentinel mode does not speak) is refused.
    private static func sentinelRoute(_ config: SwitchboardConfig) throws(ConfigError) -> MessengerRoute {
        let others: [(String, Bool, String)] = [
            ("REDIS_CLUSTER", config.redisCluster, "a Redis Cluster has no Sentinel; keep one of them"),
            ("WEBSOCKETS_BROKER_URL", config.websocketsBrokerURL != nil, "the sentinels name the server; keep one of them"),
            ("REDIS", config.redisURL != nil, "the sentinels name the server; keep one of them"),
            ("REDIS_HOST", config.redisHost != nil, "the sentinels name the server; keep one of them"),
            ("REDIS_TLS_CA", config.redisTLSCAFile != nil, "Sentinel mode speaks plain TCP only; keep one of them"),
            ("REDIS_TLS_CERT", config.redisTLSCertFile != nil, "Sentinel mode speaks plain TCP only; keep one of them"),
            ("REDIS_TLS_KEY", config.redisTLSKeyFile != nil, "Sentinel mode speaks plain TCP only; keep one of them"),
        ]
        for (name, isSet, why) in others where isSet {
            throw ConfigError(conflict: "REDIS_SENTINELS", name, message: why)
        }
        guard let name = config.redisSentinelName else {
            throw ConfigError(
                variable: "REDIS_SENTINEL_NAME",
                message: "is required with REDIS_SENTINELS: the name of the master group (sentinel monitor <name> …)")
        }
        return .redisSentinel(sentinels: config.redisSentinels, name: name)
    }

    /// Whether `url` names a Redis Cluster by its scheme (`redis+cluster://`, `rediss+cluster://`).
    public static func isClusterURL(_ url: String) -> Bool {
        guard let schemeEnd = url.firstRange(of: "://") else { return false }
        return url[..<schemeEnd.lowerBound].lowercased().hasSuffix("+cluster")
    }

    private static func setting(_ s: (name: String, value: String)) -> String {
        s.name == "WEBSOCKETS_BROKER_URL" ? s.name : "\(s.name)=\(s.value)"
    }

    /// `scheme://host:port/db` of a Redis URL: what tells two servers apart, without credentials
    /// (so it may be printed). Text that is no URL is compared as written, minus anything before `@`.
    static func server(of url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return String(url.split(separator: "@").last ?? "") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        var rest = Substring(url[schemeEnd.upperBound...])
        var db = "0"
        if let q = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: q)...].split(separator: "&") where pair.hasPrefix("db=") {
                db = String(pair.dropFirst(3))
            }
            rest = rest[..<q]
        }
        if scheme == "unix" { return "unix://\(rest)/\(db)" }
        var authority = rest
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty { db = String(path) }
        }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host = authority
        var port = "6379"
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":"), after.count > 1 { port = String(after.dropFirst()) }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            let digits = authority[authority.index(after: colon)...]
            if !digits.isEmpty { port = String(digits) }
        }
        var hostName = host.lowercased()
        if hostName == "localhost" || hostName.isEmpty { hostName = "127.0.0.1" }
        return "\(scheme)://\(hostName):\(port)/\(db)"
    }
}
