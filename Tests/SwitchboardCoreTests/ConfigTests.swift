import Foundation
import Testing

@testable import SwitchboardCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite struct DurationParserTests {
    @Test(arguments: [
        ("15m", Int64(900_000)),
        ("7d", 604_800_000),
        ("30s", 30_000),
        ("1h", 3_600_000),
        ("2 days", 172_800_000),
        ("500ms", 500),
        ("1.5h", 5_400_000),
        ("500", 500),
        ("0.5s", 500),
        (".5s", 500),
        ("1 HOUR", 3_600_000),
        ("3 mins", 180_000),
        ("1w", 604_800_000),
        ("1y", 31_557_600_000),
        ("  10s  ", 10_000),
        ("-1s", -1_000),
        ("1.0015s", 1_002),
    ])
    func parses(_ text: String, _ expected: Int64) {
        #expect(DurationParser.milliseconds(from: text) == expected)
    }

    @Test(arguments: ["", "abc", "15 fortnights", "1e3", "m", "1..5h", "--1s", "1h30m", "Infinity"])
    func rejects(_ text: String) {
        #expect(DurationParser.milliseconds(from: text) == nil)
    }
}

@Suite struct ByteSizeTests {
    @Test(arguments: [
        ("1mb", 1_048_576),
        ("100kb", 102_400),
        ("1gb", 1_073_741_824),
        ("1MB", 1_048_576),
        ("1.5kb", 1_536),
        ("2048", 2_048),
        ("512b", 512),
        ("10 mb", 10_485_760),
        ("+1kb", 1_024),
        ("0", 0),
    ])
    func parses(_ text: String, _ expected: Int) {
        #expect(ByteSize.bytes(from: text) == expected)
    }

    @Test(arguments: ["", "mb", "-1mb", "1.5", "1xb", "ten", "1mbb"])
    func rejects(_ text: String) {
        #expect(ByteSize.bytes(from: text) == nil)
    }

    @Test func formats() {
        #expect(ByteSize.format(1_048_576) == "1mb")
        #expect(ByteSize.format(102_400) == "100kb")
        #expect(ByteSize.format(1_500) == "1500b")
    }
}

@Suite struct EnvironmentReaderTests {
    @Test func booleans() throws {
        let env = EnvironmentReader([
            "A": "true", "B": "FALSE", "C": "1", "D": "0", "E": "Yes", "F": "no", "G": " ", "H": "maybe",
        ])
        #expect(try env.bool("A", default: false) == true)
        #expect(try env.bool("B", default: true) == false)
        #expect(try env.bool("C", default: false) == true)
        #expect(try env.bool("D", default: true) == false)
        #expect(try env.bool("E", default: false) == true)
        #expect(try env.bool("F", default: true) == false)
        #expect(try env.bool("G", default: true) == true)  // blank = unset
        #expect(try env.bool("MISSING", default: true) == true)
        let error = #expect(throws: ConfigError.self) { try env.bool("H", default: false) }
        #expect(error?.variable == "H")
        #expect(error?.message.contains("\"maybe\"") == true)
    }

    @Test func integersAndLimits() throws {
        let env = EnvironmentReader(["N": " 42 ", "BAD": "4x", "NEG": "-5", "INF": "Infinity", "M1": "-1", "Z": "0"])
        #expect(try env.int("N", default: 0) == 42)
        #expect(throws: ConfigError.self) { try env.int("BAD", default: 0) }
        #expect(throws: ConfigError.self) { try env.int("NEG", default: 0, in: 0...Int.max) }
        #expect(try env.limit("INF", default: 5) == nil)
        #expect(try env.limit("M1", default: 5) == nil)
        #expect(try env.limit("N", default: nil) == 42)
        #expect(try env.limit("MISSING", default: 5) == 5)
        #expect(throws: ConfigError.self) { try env.limit("Z", default: nil) }
    }

    @Test func lists() {
        let env = EnvironmentReader(["L": " a, b ,,c "])
        #expect(env.list("L", default: []) == ["a", "b", "c"])
        #expect(env.list("MISSING", default: ["x"]) == ["x"])
    }
}

@Suite struct DotEnvTests {
    @Test func parsesAllForms() throws {
        let text = """
            # a comment
               # an indented comment

            PLAIN=hello world
            export EXPORTED=yes
            SPACED = padded value   
            INLINE=value # trailing comment
            HASH=abc#123
            COLOR=#fff
            EMPTY=
            EMPTY_COMMENT= # nothing here
            SINGLE='literal \\n # not a comment'
            DOUBLE="line1\\nline2\\t\\"quoted\\" \\\\ end" # comment
            DOUBLE_HASH="a # b"
            MULTI="first
            second"
            CRLF=windows\r
            DUP=one
            DUP=two
            export=notaprefix
            """
        let env = try EnvironmentReader.parseDotEnv(text)
        #expect(env["PLAIN"] == "hello world")
        #expect(env["EXPORTED"] == "yes")
        #expect(env["SPACED"] == "padded value")
        #expect(env["INLINE"] == "value")
        #expect(env["HASH"] == "abc#123")
        #expect(env["COLOR"] == "#fff")
        #expect(env["EMPTY"] == "")
        #expect(env["EMPTY_COMMENT"] == "")
        #expect(env["DOUBLE"] == "line1\nline2\t\"quoted\" \\ end")
        #expect(env["DOUBLE_HASH"] == "a # b")
        #expect(env["MULTI"] == "first\nsecond")
        #expect(env["CRLF"] == "windows")
        #expect(env["DUP"] == "two")
        #expect(env["export"] == "notaprefix")
        #expect(env["SINGLE"] == "literal \\n # not a comment")
        #expect(env.count == 15)
    }

    @Test func singleQuotesAreLiteral() throws {
        let env = try EnvironmentReader.parseDotEnv("A='x\\ny # z'\nB=\"\"\nC=''")
        #expect(env["A"] == "x\\ny # z")
        #expect(env["B"] == "")
        #expect(env["C"] == "")
    }

    @Test func malformedLinesNameTheLine() {
        let missingEquals = #expect(throws: ConfigError.self) {
            try EnvironmentReader.parseDotEnv("A=1\n\n# c\nNOT A PAIR\n", path: "/x/.env")
        }
        #expect(missingEquals?.line == 4)
        #expect(missingEquals?.variable == "/x/.env")
        #expect(missingEquals?.description.contains("line 4") == true)

        let unterminated = #expect(throws: ConfigError.self) {
            try EnvironmentReader.parseDotEnv("A=1\nB=\"open\nC=3\n")
        }
        #expect(unterminated?.line == 2)
        #expect(unterminated?.message.contains("B") == true)

        let trailing = #expect(throws: ConfigError.self) { try EnvironmentReader.parseDotEnv("A=\"x\" y") }
        #expect(trailing?.line == 1)

        let noKey = #expect(throws: ConfigError.self) { try EnvironmentReader.parseDotEnv("=value") }
        #expect(noKey?.line == 1)

        let lineAfterMultiline = #expect(throws: ConfigError.self) {
            try EnvironmentReader.parseDotEnv("A=\"1\n2\n3\"\nbroken\n")
        }
        #expect(lineAfterMultiline?.line == 4)
    }

    @Test func processEnvironmentWinsOverFile() throws {
        let path = try TemporaryFile(contents: "PORT=1234\nHOST=127.0.0.1\nSECRET=\"from file\"\n")
        let merged = try SwitchboardConfig.mergedEnvironment(
            processEnvironment: ["PORT": "9999", "OTHER": "x"], dotEnvPath: path.path)
        #expect(merged["PORT"] == "9999")
        #expect(merged["HOST"] == "127.0.0.1")
        #expect(merged["SECRET"] == "from file")
        #expect(merged["OTHER"] == "x")
        let config = try SwitchboardConfig.load(environment: merged)
        #expect(config.port == 9999)
        #expect(config.host == "127.0.0.1")
        #expect(config.secret == "from file")
        #expect(config.secretIsGenerated == false)
    }

    @Test func missingFileIsFine() throws {
        let merged = try SwitchboardConfig.mergedEnvironment(
            processEnvironment: ["A": "1"], dotEnvPath: "/nonexistent/dir/.env")
        #expect(merged == ["A": "1"])
        #expect(try SwitchboardConfig.mergedEnvironment(processEnvironment: ["A": "1"], dotEnvPath: nil) == ["A": "1"])
    }

    @Test func malformedFileReportsPathAndLine() throws {
        let file = try TemporaryFile(contents: "OK=1\nbad line\n")
        let error = #expect(throws: ConfigError.self) {
            try SwitchboardConfig.mergedEnvironment(processEnvironment: [:], dotEnvPath: file.path)
        }
        #expect(error?.variable == file.path)
        #expect(error?.line == 2)
    }

    @Test func unreadableFileIsAnError() {
        // A directory exists but cannot be read as a file.
        let error = #expect(throws: ConfigError.self) {
            try SwitchboardConfig.mergedEnvironment(processEnvironment: [:], dotEnvPath: "/")
        }
        #expect(error?.variable == "/")
    }
}

@Suite struct SwitchboardConfigTests {
    @Test func defaults() throws {
        let config = try SwitchboardConfig.load(environment: [:])
        #expect(config.host == "0.0.0.0")
        #expect(config.port == 8055)
        #expect(config.publicURL == nil)
        #expect(config.secretIsGenerated)
        #expect(config.secret.count == 64)
        #expect(config.secret.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(config.accessTokenTTLms == 15 * 60 * 1000)
        #expect(config.refreshTokenTTLms == 7 * 24 * 3600 * 1000)
        #expect(config.sessionCookieTTLms == 24 * 3600 * 1000)
        #expect(config.refreshTokenCookieName == "directus_refresh_token")
        #expect(config.sessionCookieName == "directus_session_token")
        #expect(config.refreshTokenCookieSecure == false)
        #expect(config.refreshTokenCookieSameSite == "lax")
        #expect(config.refreshTokenCookieDomain == nil)
        #expect(config.dbClient == .sqlite3)
        #expect(config.dbFilename == "./data/data.db")
        #expect(config.dbPort == nil)
        #expect(config.dbSSL == false)
        #expect(config.adminEmail == "admin@example.com")
        #expect(config.adminPassword == nil)
        #expect(config.adminToken == nil)
        #expect(config.logLevel == "info")
        #expect(config.logStyle == .pretty)
        #expect(config.corsEnabled == false)
        #expect(config.corsOrigin == .disabled)
        #expect(config.corsMethods == ["GET", "POST", "PATCH", "DELETE"])
        #expect(config.corsAllowedHeaders == ["Content-Type", "Authorization"])
        #expect(config.corsExposedHeaders == ["Content-Range"])
        #expect(config.corsCredentials)
        #expect(config.corsMaxAge == 18000)
        #expect(config.maxPayloadSize == 1_048_576)
        #expect(config.queryLimitDefault == 100)
        #expect(config.queryLimitMax == nil)
        #expect(config.websocketsEnabled)
        #expect(config.websocketsRestEnabled)
        #expect(config.websocketsRestPath == "/websocket")
        #expect(config.websocketsRestAuth == .handshake)
        #expect(config.websocketsRestAuthTimeoutSeconds == 10)
        #expect(config.websocketsRestConnLimit == nil)
        #expect(config.websocketsHeartbeatEnabled)
        #expect(config.websocketsHeartbeatPeriodSeconds == 30)
        #expect(config.websocketsGraphQLEnabled)
        #expect(config.websocketsGraphQLPath == "/graphql")
        #expect(config.websocketsGraphQLAuth == .handshake)
        #expect(config.websocketsGraphQLAuthTimeoutSeconds == 10)
        #expect(config.websocketsGraphQLConnLimit == nil)
        #expect(config.websocketsMaxMessageSize == 1_048_576)
        #expect(config.rateLimiterEnabled == false)
        #expect(config.rateLimiterPoints == 50)
        #expect(config.rateLimiterDurationSeconds == 1)
        #expect(config.websocketsBrokerURL == nil)
        #expect(config.messengerStore == nil)
        #expect(config.redisEnabled == nil)
        #expect(config.synchronizationStore == nil)
        #expect(config.messenger == .local)
        #expect(config.dbHealthcheckThresholdMs == 150)
        #expect(config.cacheStore == .memory)
        #expect(config.redisPort == 6379)
        #expect(config.redisDB == 0)
        #expect(config.messengerNamespace == "switchboard")
    }

    @Test func generatedSecretsDiffer() throws {
        let a = try SwitchboardConfig.load(environment: [:])
        let b = try SwitchboardConfig.load(environment: ["SECRET": "   "])
        #expect(a.secret != b.secret)
        #expect(b.secretIsGenerated)
    }

    @Test func readsEverything() throws {
        let config = try SwitchboardConfig.load(environment: [
            "HOST": "127.0.0.1", "PORT": "3000", "PUBLIC_URL": "https://x.example.com",
            "SECRET": " s3cret ", "ACCESS_TOKEN_TTL": "30m", "REFRESH_TOKEN_TTL": "2 days", "SESSION_COOKIE_TTL": "3600000",
            "REFRESH_TOKEN_COOKIE_NAME": "rt", "SESSION_COOKIE_NAME": "st", "REFRESH_TOKEN_COOKIE_SECURE": "yes",
            "REFRESH_TOKEN_COOKIE_SAME_SITE": "Strict", "REFRESH_TOKEN_COOKIE_DOMAIN": "example.com",
            "DB_CLIENT": "postgresql", "DB_HOST": "db", "DB_PORT": "5433", "DB_DATABASE": "app", "DB_USER": "u",
            "DB_PASSWORD": " p ", "DB_CONNECTION_STRING": "postgres://u:p@db/app", "DB_SSL": "1",
            "ADMIN_EMAIL": "root@example.org", "ADMIN_PASSWORD": "pw", "ADMIN_TOKEN": "tok",
            "LOG_LEVEL": "DEBUG", "LOG_STYLE": "raw",
            "CORS_ENABLED": "true", "CORS_ORIGIN": "https://a.com, https://b.com", "CORS_METHODS": "get,post",
            "CORS_ALLOWED_HEADERS": "X-A", "CORS_EXPOSED_HEADERS": "X-B,X-C", "CORS_CREDENTIALS": "false",
            "CORS_MAX_AGE": "60",
            "MAX_PAYLOAD_SIZE": "10mb", "QUERY_LIMIT_DEFAULT": "25", "QUERY_LIMIT_MAX": "1000",
            "WEBSOCKETS_ENABLED": "false", "WEBSOCKETS_REST_ENABLED": "no", "WEBSOCKETS_REST_PATH": "/ws",
            "WEBSOCKETS_REST_AUTH": "strict", "WEBSOCKETS_REST_AUTH_TIMEOUT": "5", "WEBSOCKETS_REST_CONN_LIMIT": "100",
            "WEBSOCKETS_HEARTBEAT_ENABLED": "0", "WEBSOCKETS_HEARTBEAT_PERIOD": "15",
            "WEBSOCKETS_GRAPHQL_ENABLED": "false", "WEBSOCKETS_GRAPHQL_PATH": "/gql", "WEBSOCKETS_GRAPHQL_AUTH": "public",
            "WEBSOCKETS_GRAPHQL_AUTH_TIMEOUT": "20", "WEBSOCKETS_GRAPHQL_CONN_LIMIT": "Infinity",
            "WEBSOCKETS_MAX_MESSAGE_SIZE": "64kb", "RATE_LIMITER_ENABLED": "true", "RATE_LIMITER_POINTS": "10",
            "RATE_LIMITER_DURATION": "2",
            "WEBSOCKETS_BROKER_URL": "redis://cache:6379/2", "MESSENGER_STORE": "redis", "CACHE_STORE": "Redis",
            "REDIS": "redis://cache:6379/2", "REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_USERNAME": "ru",
            "REDIS_PASSWORD": "rp", "REDIS_DB": "3", "MESSENGER_NAMESPACE": "sb", "REDIS_ENABLED": "yes",
            "SYNCHRONIZATION_STORE": "redis", "DB_HEALTHCHECK_THRESHOLD": "300",
        ])
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 3000)
        #expect(config.publicURL == "https://x.example.com")
        #expect(config.secret == " s3cret ")  // secrets are used verbatim
        #expect(config.secretIsGenerated == false)
        #expect(config.accessTokenTTLms == 1_800_000)
        #expect(config.refreshTokenTTLms == 172_800_000)
        #expect(config.sessionCookieTTLms == 3_600_000)
        #expect(config.refreshTokenCookieName == "rt")
        #expect(config.sessionCookieName == "st")
        #expect(config.refreshTokenCookieSecure)
        #expect(config.refreshTokenCookieSameSite == "strict")
        #expect(config.refreshTokenCookieDomain == "example.com")
        #expect(config.dbClient == .pg)
        #expect(config.dbHost == "db")
        #expect(config.dbPort == 5433)
        #expect(config.dbDatabase == "app")
        #expect(config.dbUser == "u")
        #expect(config.dbPassword == " p ")
        #expect(config.dbConnectionString == "postgres://u:p@db/app")
        #expect(config.dbSSL)
        #expect(config.adminEmail == "root@example.org")
        #expect(config.adminPassword == "pw")
        #expect(config.adminToken == "tok")
        #expect(config.logLevel == "debug")
        #expect(config.logStyle == .raw)
        #expect(config.corsEnabled)
        #expect(config.corsOrigin == .list(["https://a.com", "https://b.com"]))
        #expect(config.corsMethods == ["GET", "POST"])
        #expect(config.corsAllowedHeaders == ["X-A"])
        #expect(config.corsExposedHeaders == ["X-B", "X-C"])
        #expect(config.corsCredentials == false)
        #expect(config.corsMaxAge == 60)
        #expect(config.maxPayloadSize == 10_485_760)
        #expect(config.queryLimitDefault == 25)
        #expect(config.queryLimitMax == 1000)
        #expect(config.websocketsEnabled == false)
        #expect(config.websocketsRestEnabled == false)
        #expect(config.websocketsRestPath == "/ws")
        #expect(config.websocketsRestAuth == .strict)
        #expect(config.websocketsRestAuthTimeoutSeconds == 5)
        #expect(config.websocketsRestConnLimit == 100)
        #expect(config.websocketsHeartbeatEnabled == false)
        #expect(config.websocketsHeartbeatPeriodSeconds == 15)
        #expect(config.websocketsGraphQLEnabled == false)
        #expect(config.websocketsGraphQLPath == "/gql")
        #expect(config.websocketsGraphQLAuth == .public)
        #expect(config.websocketsGraphQLAuthTimeoutSeconds == 20)
        #expect(config.websocketsGraphQLConnLimit == nil)
        #expect(config.websocketsMaxMessageSize == 65_536)
        #expect(config.rateLimiterEnabled)
        #expect(config.rateLimiterPoints == 10)
        #expect(config.rateLimiterDurationSeconds == 2)
        #expect(config.websocketsBrokerURL == "redis://cache:6379/2")
        #expect(config.messenger == .redis(url: "redis://cache:6379/2"))
        #expect(config.redisEnabled == true)
        #expect(config.synchronizationStore == .redis)
        #expect(config.dbHealthcheckThresholdMs == 300)
        #expect(config.messengerStore == .redis)
        #expect(config.cacheStore == .redis)
        #expect(config.redisURL == "redis://cache:6379/2")
        #expect(config.redisHost == "cache")
        #expect(config.redisPort == 6380)
        #expect(config.redisUsername == "ru")
        #expect(config.redisPassword == "rp")
        #expect(config.redisDB == 3)
        #expect(config.messengerNamespace == "sb")
    }

    @Test(arguments: [
        ("sqlite", SwitchboardConfig.DatabaseClient.sqlite3), ("sqlite3", .sqlite3), ("SQLite3", .sqlite3),
        ("pg", .pg), ("postgres", .pg), ("PostgreSQL", .pg),
    ])
    func databaseClientAliases(_ value: String, _ expected: SwitchboardConfig.DatabaseClient) throws {
        #expect(try SwitchboardConfig.load(environment: ["DB_CLIENT": value]).dbClient == expected)
    }

    @Test(arguments: [
        ("true", SwitchboardConfig.CORSOrigin.any), ("*", .any), ("TRUE", .any), ("false", .disabled),
        ("https://a.com", .list(["https://a.com"])), ("https://a.com,*", .any),
    ])
    func corsOrigin(_ value: String, _ expected: SwitchboardConfig.CORSOrigin) throws {
        #expect(try SwitchboardConfig.load(environment: ["CORS_ORIGIN": value]).corsOrigin == expected)
    }

    @Test func queryLimitDefaultIsCappedByMax() throws {
        let config = try SwitchboardConfig.load(environment: ["QUERY_LIMIT_MAX": "50"])
        #expect(config.queryLimitDefault == 50)
        #expect(try SwitchboardConfig.load(environment: ["QUERY_LIMIT_MAX": "-1"]).queryLimitMax == nil)
        #expect(try SwitchboardConfig.load(environment: ["QUERY_LIMIT_MAX": "infinity"]).queryLimitMax == nil)
    }

    @Test(arguments: [
        ("PORT", "abc"), ("PORT", "0"), ("PORT", "65536"), ("PORT", "80.5"),
        ("DB_CLIENT", "mysql"), ("DB_PORT", "x"), ("DB_SSL", "sometimes"),
        ("ACCESS_TOKEN_TTL", "soon"), ("REFRESH_TOKEN_TTL", "0"), ("SESSION_COOKIE_TTL", "-5m"),
        ("REFRESH_TOKEN_COOKIE_SAME_SITE", "loose"), ("REFRESH_TOKEN_COOKIE_NAME", "bad name"),
        ("SESSION_COOKIE_NAME", "a;b"), ("REFRESH_TOKEN_COOKIE_SECURE", "2"),
        ("LOG_LEVEL", "verbose"), ("LOG_STYLE", "json"),
        ("CORS_ENABLED", "enabled"), ("CORS_MAX_AGE", "-1"),
        ("MAX_PAYLOAD_SIZE", "big"), ("MAX_PAYLOAD_SIZE", "0"),
        ("QUERY_LIMIT_DEFAULT", "0"), ("QUERY_LIMIT_MAX", "0"), ("QUERY_LIMIT_MAX", "lots"),
        ("WEBSOCKETS_ENABLED", "on?"), ("WEBSOCKETS_REST_PATH", "websocket"), ("WEBSOCKETS_REST_AUTH", "none"),
        ("WEBSOCKETS_REST_AUTH_TIMEOUT", "0"), ("WEBSOCKETS_REST_CONN_LIMIT", "many"),
        ("WEBSOCKETS_HEARTBEAT_PERIOD", "x"), ("WEBSOCKETS_GRAPHQL_PATH", "/a b"), ("WEBSOCKETS_GRAPHQL_AUTH", "x"),
        ("WEBSOCKETS_MAX_MESSAGE_SIZE", "1zb"), ("RATE_LIMITER_POINTS", "0"), ("RATE_LIMITER_DURATION", "1s"),
        ("REDIS_PORT", "70000"), ("REDIS_DB", "-1"), ("MESSENGER_STORE", "kafka"), ("CACHE_STORE", "disk"),
        ("MESSENGER_STORE", "redis"), ("CACHE_STORE", "redis"), ("REDIS_ENABLED", "maybe"),
        ("SYNCHRONIZATION_STORE", "disk"), ("DB_HEALTHCHECK_THRESHOLD", "0"),
    ])
    func invalidValuesNameTheVariable(_ name: String, _ value: String) {
        let error = #expect(throws: ConfigError.self) {
            try SwitchboardConfig.load(environment: [name: value])
        }
        #expect(error?.variable == name)
        #expect(error?.line == nil)
        #expect(error?.description.hasPrefix("Invalid value for \(name): ") == true)
    }

    @Test func errorDescriptionQuotesTheValue() {
        let error = #expect(throws: ConfigError.self) {
            try SwitchboardConfig.load(environment: ["PORT": "abc"])
        }
        #expect(error?.description == "Invalid value for PORT: \"abc\" is not a port number (1-65535)")
    }

    @Test func redisStoreWithRedisHostIsFine() throws {
        let config = try SwitchboardConfig.load(environment: ["MESSENGER_STORE": "redis", "REDIS_HOST": "r"])
        #expect(config.messengerStore == .redis)
    }

    @Test func everyVariableIsDeclaredOnceAndItsDocumentedDefaultLoadsAsTheDefault() throws {
        let names = SwitchboardConfig.variables.map(\.name)
        let namesAndAliases = SwitchboardConfig.variables.flatMap { [$0.name] + $0.aliases }
        #expect(Set(namesAndAliases).count == namesAndAliases.count)
        for required in [
            "PORT", "SECRET", "ACCESS_TOKEN_TTL", "DB_CLIENT", "MAX_PAYLOAD_SIZE", "WEBSOCKETS_REST_AUTH",
            "RATE_LIMITER_DURATION", "MESSENGER_STORE", "REDIS_DB", "QUERY_MAX_FILTER_CONDITIONS", "REDIS_COMMAND_TIMEOUT",
            "DB_POOL__ACQUIRE_TIMEOUT_MILLIS",
        ] {
            #expect(names.contains(required))
        }
        // Every documented non-empty default loads, and gives exactly the built-in defaults.
        var env: [String: String] = [:]
        for variable in SwitchboardConfig.variables where !variable.documentedDefault.isEmpty {
            env[variable.name] = variable.documentedDefault
        }
        var fromDocs = try SwitchboardConfig.load(environment: env)
        var builtIn = try SwitchboardConfig.load(environment: [:])
        fromDocs.secret = ""
        builtIn.secret = ""
        #expect(fromDocs == builtIn)
        #expect(builtIn == SwitchboardConfig.defaults)
        for variable in SwitchboardConfig.variables { #expect(!variable.summary.isEmpty) }
    }

    @Test func defaultsAreWrittenTheWayOperatorsWriteThem() {
        func documented(_ name: String) -> String? { SwitchboardConfig.variables.first { $0.name == name }?.documentedDefault }
        #expect(documented("ACCESS_TOKEN_TTL") == "15m")
        #expect(documented("REFRESH_TOKEN_TTL") == "7d")
        #expect(documented("MAX_PAYLOAD_SIZE") == "1mb")
        #expect(documented("QUERY_LIMIT_MAX") == "Infinity")
        #expect(documented("REDIS_COMMAND_TIMEOUT") == "2000")
        #expect(documented("CORS_ORIGIN") == "false")
        #expect(documented("SECRET") == "")
        #expect(DurationParser.format(milliseconds: 1500) == "1500ms")
        #expect(DurationParser.format(milliseconds: 90_000) == "90s")
    }

    /// The README table and `.env.example` are generated from the declarations; regenerate with
    /// `switchboard env-example [--markdown]` when this fails.
    @Test func readmeAndEnvExampleMatchTheDeclarations() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let envExample = try String(contentsOf: root.appendingPathComponent(".env.example"), encoding: .utf8)
        #expect(envExample == SwitchboardConfig.envExample())
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = "<!-- configuration table: generated by `switchboard env-example --markdown` -->\n"
        let end = "<!-- end of configuration table -->"
        let start = try #require(readme.range(of: begin))
        let stop = try #require(readme.range(of: end, range: start.upperBound..<readme.endIndex))
        #expect(String(readme[start.upperBound..<stop.lowerBound]) == SwitchboardConfig.markdownTable())
    }
}

/// A file in the temporary directory, removed when the value is released.
private final class TemporaryFile {
    let path: String

    init(contents: String) throws {
        var template = Array("/tmp/switchboard-config-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw TemporaryFileError() }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw TemporaryFileError() }
    }

    deinit { unlink(path) }
}

private struct TemporaryFileError: Error {}
