import Testing

@testable import SwitchboardCore

/// Directus 10, Directus 11 and Switchboard's own names for the messenger settings, resolved
/// by `MessengerRoute.resolve` (through `SwitchboardConfig.load`).
@Suite struct MessengerRouteTests {
    static func route(_ env: [String: String]) throws -> MessengerRoute {
        try SwitchboardConfig.load(environment: env).messenger
    }

    static func conflict(_ env: [String: String]) -> ConfigError? {
        #expect(throws: ConfigError.self) { try SwitchboardConfig.load(environment: env) }
    }

    @Test func nothingSetIsASingleNode() throws {
        #expect(try Self.route([:]) == .local)
        #expect(try SwitchboardConfig.load(environment: [:]).usesRedisMessenger == false)
    }

    @Test func aDirectus11EnvUsesRedis() throws {
        let env = [
            "REDIS": "redis://127.0.0.1:6390", "REDIS_ENABLED": "true", "SYNCHRONIZATION_STORE": "redis",
            "REDIS_BUS_NAMESPACE": "x", "CACHE_ENABLED": "true", "CACHE_STORE": "redis", "CACHE_TTL": "5m",
            "CACHE_NAMESPACE": "c",
        ]
        let config = try SwitchboardConfig.load(environment: env)
        #expect(config.messenger == .redis(url: "redis://127.0.0.1:6390"))
        #expect(config.messengerNamespace == "x")
    }

    @Test func redisAloneUsesRedisAsDirectus11Does() throws {
        #expect(try Self.route(["REDIS": "redis://r:6379"]) == .redis(url: "redis://r:6379"))
        #expect(try Self.route(["REDIS_HOST": "r", "REDIS_PORT": "6380"]) == .redis(url: "redis://r:6380/0"))
    }

    @Test func redisEnabledFalseOrMessengerStoreMemoryKeepsEventsLocalThoughRedisIsSet() throws {
        #expect(try Self.route(["REDIS": "redis://r", "REDIS_ENABLED": "false"]) == .local)
        // Directus 10: Redis for the cache, the messenger in memory.
        #expect(try Self.route(["REDIS": "redis://r", "MESSENGER_STORE": "memory", "CACHE_STORE": "redis"]) == .local)
    }

    @Test func directus10AndSwitchboardNamesKeepWorking() throws {
        #expect(try Self.route(["MESSENGER_STORE": "redis", "REDIS_HOST": "r"]) == .redis(url: "redis://r:6379/0"))
        #expect(try Self.route(["WEBSOCKETS_BROKER_URL": "redis://b:7000"]) == .redis(url: "redis://b:7000"))
        #expect(try Self.route(["MESSENGER_STORE": "redis", "WEBSOCKETS_BROKER_URL": "redis://b"]) == .redis(url: "redis://b"))
        let config = try SwitchboardConfig.load(environment: ["MESSENGER_NAMESPACE": "old", "REDIS": "redis://r"])
        #expect(config.messengerNamespace == "old")
    }

    @Test func theBrokerURLAndRedisMayNameTheSameServer() throws {
        let env = ["WEBSOCKETS_BROKER_URL": "redis://u:p@localhost:6379/0", "REDIS": "redis://127.0.0.1", "REDIS_ENABLED": "1"]
        #expect(try Self.route(env) == .redis(url: "redis://u:p@localhost:6379/0"))
    }

    @Test(arguments: [
        (["MESSENGER_STORE": "memory", "REDIS_ENABLED": "true", "REDIS": "redis://r"], "REDIS_ENABLED", "MESSENGER_STORE"),
        (["MESSENGER_STORE": "redis", "REDIS_ENABLED": "false", "REDIS": "redis://r"], "MESSENGER_STORE", "REDIS_ENABLED"),
        (["WEBSOCKETS_BROKER_URL": "redis://r", "MESSENGER_STORE": "memory"], "WEBSOCKETS_BROKER_URL", "MESSENGER_STORE"),
        (["WEBSOCKETS_BROKER_URL": "redis://r", "REDIS_ENABLED": "no"], "WEBSOCKETS_BROKER_URL", "REDIS_ENABLED"),
        (
            ["SYNCHRONIZATION_STORE": "redis", "REDIS_ENABLED": "false", "REDIS": "redis://r"], "SYNCHRONIZATION_STORE",
            "REDIS_ENABLED"
        ),
        (
            ["SYNCHRONIZATION_STORE": "redis", "MESSENGER_STORE": "memory", "REDIS": "redis://r"], "SYNCHRONIZATION_STORE",
            "MESSENGER_STORE"
        ),
        (["CACHE_STORE": "redis", "REDIS_ENABLED": "false", "REDIS": "redis://r"], "CACHE_STORE", "REDIS_ENABLED"),
        (["WEBSOCKETS_BROKER_URL": "redis://a:6379", "REDIS": "redis://b:6379"], "WEBSOCKETS_BROKER_URL", "REDIS"),
        (["WEBSOCKETS_BROKER_URL": "redis://a:6379/1", "REDIS": "redis://a:6379/2"], "WEBSOCKETS_BROKER_URL", "REDIS"),
        (["WEBSOCKETS_BROKER_URL": "redis://a", "REDIS_HOST": "a", "REDIS_PORT": "7000"], "WEBSOCKETS_BROKER_URL", "REDIS_HOST"),
        (["REDIS_BUS_NAMESPACE": "a", "MESSENGER_NAMESPACE": "b"], "REDIS_BUS_NAMESPACE", "MESSENGER_NAMESPACE"),
    ])
    func contradictionsFailNamingBothVariables(_ env: [String: String], _ first: String, _ second: String) {
        let error = Self.conflict(env)
        #expect(error?.variable == first)
        #expect(error?.conflictingVariable == second)
        #expect(error?.description.hasPrefix("Conflicting settings \(first) and \(second): ") == true)
    }

    @Test func theServerMismatchMessageShowsNoPassword() {
        let error = Self.conflict(["WEBSOCKETS_BROKER_URL": "redis://u:hunter2@a:6379", "REDIS": "redis://:s3cret@b"])
        #expect(error?.description.contains("redis://a:6379/0") == true)
        #expect(error?.description.contains("redis://b:6379/0") == true)
        #expect(error?.description.contains("hunter2") == false)
        #expect(error?.description.contains("s3cret") == false)
    }

    @Test(arguments: [
        ("REDIS_ENABLED", "true", "\"true\""), ("SYNCHRONIZATION_STORE", "redis", "\"redis\""),
        ("MESSENGER_STORE", "redis", "\"redis\""), ("CACHE_STORE", "redis", "\"redis\""),
    ])
    func askingForRedisWithoutAServerNamesTheVariable(_ name: String, _ value: String, _ quoted: String) {
        let error = #expect(throws: ConfigError.self) { try SwitchboardConfig.load(environment: [name: value]) }
        #expect(error?.description == "Invalid value for \(name): \(quoted) requires REDIS or REDIS_HOST to be set")
    }

    @Test func theSameValueUnderBothNamesIsFine() throws {
        let config = try SwitchboardConfig.load(environment: ["REDIS_BUS_NAMESPACE": "n", "MESSENGER_NAMESPACE": " n "])
        #expect(config.messengerNamespace == "n")
    }

    @Test func aliasesAreDocumentedWithTheirVariable() {
        let variable = SwitchboardConfig.variables.first { $0.name == "REDIS_BUS_NAMESPACE" }
        #expect(variable?.aliases == ["MESSENGER_NAMESPACE"])
        #expect(!SwitchboardConfig.variables.contains { $0.name == "MESSENGER_NAMESPACE" })
        #expect(SwitchboardConfig.markdownTable().contains("| `REDIS_BUS_NAMESPACE` or `MESSENGER_NAMESPACE` | `switchboard` |"))
        #expect(SwitchboardConfig.envExample().contains("Also read as MESSENGER_NAMESPACE.\n# REDIS_BUS_NAMESPACE=switchboard\n"))
    }

    @Test(arguments: [
        ("redis://u:p@Host:6379/0", "redis://host:6379/0"), ("redis://host", "redis://host:6379/0"),
        ("rediss://[::1]:7000/3", "rediss://[::1]:7000/3"), ("redis://localhost:6379?db=2", "redis://127.0.0.1:6379/2"),
        ("unix:///run/r.sock?db=1", "unix:///run/r.sock/1"),
    ])
    func serversAreComparedWithoutCredentials(_ url: String, _ server: String) {
        #expect(MessengerRoute.server(of: url) == server)
    }

    @Test func aClusterURLOrREDIS_CLUSTERSelectsRedisCluster() throws {
        let seeds = "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"
        #expect(try Self.route(["REDIS": seeds]) == .redisCluster(url: seeds))
        #expect(
            try Self.route(["WEBSOCKETS_BROKER_URL": "rediss+cluster://h:7000"]) == .redisCluster(url: "rediss+cluster://h:7000"))
        #expect(try Self.route(["REDIS": "redis://r:7000", "REDIS_CLUSTER": "true"]) == .redisCluster(url: "redis://r:7000"))
        #expect(try Self.route(["REDIS_HOST": "r", "REDIS_CLUSTER": "true"]) == .redisCluster(url: "redis://r:6379/0"))
        #expect(try Self.route(["REDIS": "redis://r:7000", "REDIS_CLUSTER": "false"]) == .redis(url: "redis://r:7000"))
        let config = try SwitchboardConfig.load(environment: ["REDIS": seeds])
        #expect(config.usesRedisMessenger && config.messengerRedisURL == seeds)
    }

    @Test func REDIS_CLUSTERWithoutAServerOrWithRedisOffIsRefused() {
        #expect(Self.conflict(["REDIS_CLUSTER": "true"])?.variable == "REDIS_CLUSTER")
        let off = Self.conflict(["REDIS_CLUSTER": "true", "REDIS_ENABLED": "false", "REDIS": "redis://r"])
        #expect(off?.description.contains("REDIS_CLUSTER") == true && off?.description.contains("REDIS_ENABLED") == true)
        #expect(Self.conflict(["REDIS_CLUSTER": "maybe", "REDIS": "redis://r"])?.variable == "REDIS_CLUSTER")
    }

    @Test func REDIS_CLUSTERIsDeclaredOnceWithItsDocumentation() {
        #expect(SwitchboardConfig.variables.filter { $0.name == "REDIS_CLUSTER" }.count == 1)
        #expect(SwitchboardConfig.markdownTable().contains("| `REDIS_CLUSTER` | `false` |"))
    }

    // MARK: Redis Sentinel

    @Test func REDIS_SENTINELSWithAMasterNameSelectsSentinel() throws {
        let route = try Self.route(["REDIS_SENTINELS": "s1:26379, s2 ,[::1]:26380", "REDIS_SENTINEL_NAME": "mymaster"])
        #expect(route == .redisSentinel(sentinels: ["s1:26379", "s2:26379", "[::1]:26380"], name: "mymaster"))
        let config = try SwitchboardConfig.load(environment: ["REDIS_SENTINELS": "s1", "REDIS_NAME": "m"])
        #expect(config.usesRedisMessenger && config.messengerRedisURL == nil)
        #expect(config.messenger == .redisSentinel(sentinels: ["s1:26379"], name: "m"))
    }

    @Test func directusIndexedAndJSONSentinelListsAreRead() throws {
        let indexed = try Self.route([
            "REDIS_SENTINELS__1__HOST": "b", "REDIS_SENTINELS__1__PORT": "26380", "REDIS_SENTINELS__0__HOST": "a",
            "REDIS_NAME": "m",
        ])
        #expect(indexed == .redisSentinel(sentinels: ["a:26379", "b:26380"], name: "m"))
        let json = try Self.route([
            "REDIS_SENTINELS": #"json:[{"host":"a","port":26381},{"host":"b"},"c:1"]"#, "REDIS_SENTINEL_NAME": "m",
        ])
        #expect(json == .redisSentinel(sentinels: ["a:26381", "b:26379", "c:1"], name: "m"))
    }

    @Test func badSentinelListsNameTheVariable() {
        #expect(Self.conflict(["REDIS_SENTINELS": "a:0", "REDIS_SENTINEL_NAME": "m"])?.variable == "REDIS_SENTINELS")
        #expect(Self.conflict(["REDIS_SENTINELS": "json:[1]", "REDIS_SENTINEL_NAME": "m"])?.variable == "REDIS_SENTINELS")
        #expect(
            Self.conflict(["REDIS_SENTINELS__0__PORT": "1", "REDIS_SENTINEL_NAME": "m"])?.variable == "REDIS_SENTINELS__0__HOST")
        #expect(
            Self.conflict(["REDIS_SENTINELS__0__HOST": "a", "REDIS_SENTINELS__0__PORT": "x", "REDIS_NAME": "m"])?.variable
                == "REDIS_SENTINELS__0__HOST")
        #expect(Self.conflict(["REDIS_SENTINELS__X": "a", "REDIS_NAME": "m"])?.variable == "REDIS_SENTINELS__X")
        let both = Self.conflict(["REDIS_SENTINELS": "a", "REDIS_SENTINELS__0__HOST": "b", "REDIS_NAME": "m"])
        #expect(both?.conflictingVariable == "REDIS_SENTINELS__0__HOST")
    }

    @Test func sentinelsNeedAMasterNameAndANameNeedsSentinels() {
        #expect(Self.conflict(["REDIS_SENTINELS": "a"])?.variable == "REDIS_SENTINEL_NAME")
        #expect(Self.conflict(["REDIS_SENTINEL_NAME": "m"])?.variable == "REDIS_SENTINEL_NAME")
        let both = Self.conflict(["REDIS_SENTINELS": "a", "REDIS_SENTINEL_NAME": "m", "REDIS_NAME": "n"])
        #expect(both?.conflictingVariable == "REDIS_NAME")
    }

    @Test(arguments: [
        ("REDIS_CLUSTER", "true"), ("REDIS", "redis://r:6379"), ("REDIS_HOST", "r"), ("WEBSOCKETS_BROKER_URL", "redis://r"),
        ("REDIS_TLS_CA", "/ca.pem"), ("MESSENGER_STORE", "memory"), ("REDIS_ENABLED", "false"),
    ])
    func sentinelsBesideAnotherServerOrRedisOffAreAConflictNamingBoth(name: String, value: String) {
        let error = Self.conflict(["REDIS_SENTINELS": "a", "REDIS_SENTINEL_NAME": "m", name: value])
        #expect(error?.description.contains("REDIS_SENTINELS") == true, "\(String(describing: error))")
        #expect(error?.description.contains(name) == true, "\(String(describing: error))")
        #expect(error?.conflictingVariable != nil)
    }

    @Test func sentinelVariablesAreDeclaredOnceWithTheirDocumentation() {
        for name in ["REDIS_SENTINELS", "REDIS_SENTINEL_NAME", "REDIS_SENTINEL_USERNAME", "REDIS_SENTINEL_PASSWORD"] {
            #expect(SwitchboardConfig.variables.filter { $0.name == name }.count == 1)
            #expect(SwitchboardConfig.markdownTable().contains("| `\(name)`"))
            #expect(SwitchboardConfig.envExample().contains("# \(name)="))
        }
    }
}
