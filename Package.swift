// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["Server"]),
        .executable(name: "switchboard-bench", targets: ["Bench"]),
        // For the separate benchmark package in Benchmarks/ (not built by this package's CI).
        .library(name: "SwitchboardKit", targets: ["SwitchboardCore", "Query", "Store", "Access", "RealtimeProtocol", "Realtime"]),
        // For the fuzz package in Fuzz/: the parsers that face the wire, without the server's dependencies.
        .library(name: "SwitchboardParsers", targets: ["SwitchboardCore", "Query", "RealtimeProtocol", "RESP", "Tokens"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/GraphQLSwift/GraphQL", from: "4.3.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(name: "SwitchboardCore", swiftSettings: swiftSettings),
        .target(name: "Query", dependencies: ["SwitchboardCore"], swiftSettings: swiftSettings),
        .target(name: "RealtimeProtocol", dependencies: ["SwitchboardCore", "Query"], swiftSettings: swiftSettings),
        .target(name: "RESP", dependencies: ["CHiredis"], swiftSettings: swiftSettings),
        .target(name: "Tokens", dependencies: ["SwitchboardCore", "COpenSSL"], swiftSettings: swiftSettings),
        .target(
            name: "Store",
            dependencies: [
                "SwitchboardCore", "Query", "CSQLite", .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Access",
            dependencies: ["SwitchboardCore", "Query", "Store", "Tokens", "CArgon2", "COpenSSL"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GraphQLAPI",
            dependencies: [
                "SwitchboardCore", "Query", "Store", .product(name: "GraphQL", package: "GraphQL"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Messenger",
            dependencies: [
                "SwitchboardCore", "RESP", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Realtime",
            dependencies: [
                "SwitchboardCore", "Query", "RealtimeProtocol", "Access", "Store", "Messenger", "Tokens", "COpenSSL",
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Server",
            dependencies: [
                "SwitchboardCore", "Query", "Store", "Tokens", "Access", "Messenger", "RealtimeProtocol", "Realtime",
                "GraphQLAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The demo chat page (DEMO_ENABLED), compiled into the binary: nothing to install beside it.
            // And the admin view of the fleet (`/admin/realtime`), the same way.
            resources: [
                .embedInCode("Demo/index.html"), .embedInCode("Demo/chat.css"), .embedInCode("Demo/chat.js"),
                .embedInCode("Admin/realtime.html"), .embedInCode("Admin/realtime.css"), .embedInCode("Admin/realtime.js"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Bench",
            dependencies: [
                "SwitchboardCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BenchTests",
            dependencies: ["Bench", .product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SwitchboardCoreTests", dependencies: ["SwitchboardCore"], swiftSettings: swiftSettings),
        .testTarget(name: "QueryTests", dependencies: ["Query", "SwitchboardCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "StoreTests",
            // Realtime: the property tests hold the SQL read against fan-out's in-memory read (`InMemoryRead`);
            // Access: PolicyAgreementPropertyTests builds its contexts with the production `PermissionResolver`.
            dependencies: [
                "Store", "Query", "SwitchboardCore", "Realtime", "Access", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(name: "MessengerTests", dependencies: ["Messenger", "RESP"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RealtimeProtocolTests", dependencies: ["RealtimeProtocol", "Query", "SwitchboardCore"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "RealtimeTests",
            dependencies: [
                "Realtime", "RealtimeProtocol", "Store", "Query", "SwitchboardCore",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GraphQLAPITests", dependencies: ["GraphQLAPI", "Store", "Query", "SwitchboardCore"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "AccessTests", dependencies: ["Access", "Tokens", "Store", "Query", "SwitchboardCore"],
            swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
