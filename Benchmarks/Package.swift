// swift-tools-version:6.2
// Micro-benchmarks for Switchboard (ordo-one/benchmark). A separate package so
// the main package's build and CI never compile it. Run from this directory:
//   swift package --disable-sandbox benchmark
import PackageDescription

let package = Package(
    name: "switchboard-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "switchboard", path: ".."),
        // The explicit trait list keeps the malloc interposer (malloc metrics
        // without jemalloc) and leaves out the default RuntimeInterposer trait,
        // whose swift-runtime-interposer dependency is not available offline here.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "SwitchboardBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SwitchboardKit", package: "switchboard"),
            ],
            path: "Benchmarks/SwitchboardBenchmarks",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
