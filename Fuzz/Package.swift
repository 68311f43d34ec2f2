// swift-tools-version:6.2
// Coverage-guided fuzz targets (libFuzzer) for the parsers that face the wire. Built and run by
// scripts/fuzz; never part of the root package's build. Each target is one executable whose
// LLVMFuzzerTestOneInput feeds the input to one parser and checks what must always hold.
import PackageDescription

let targets = ["FuzzJSON", "FuzzFrames", "FuzzURLQuery", "FuzzFilter", "FuzzRESP", "FuzzToken", "FuzzUpgrade"]

let package = Package(
    name: "switchboard-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "switchboard", path: "..")],
    targets: targets.map { name in
        .executableTarget(
            name: name, dependencies: [.product(name: "SwitchboardParsers", package: "switchboard")],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")])
    },
    swiftLanguageModes: [.v6]
)
