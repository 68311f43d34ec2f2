import ArgumentParser
import Foundation

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-bench",
        abstract: "Load-testing harness for Switchboard (Directus Realtime protocol).",
        subcommands: [Fanout.self, Filtered.self, Chat.self, Churn.self, Idle.self, Crossnode.self, Merge.self, Worker.self]
    )
}

struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("ws"), help: "WebSocket URL (repeatable: several replicas, used round-robin).")
    var ws: [String] = []

    @Option(help: "REST base URL for writes (POST /items/<collection>).")
    var rest: String = "http://127.0.0.1:8055"

    @Option(help: "Static access token used for WebSocket auth and REST writes.")
    var token: String = ""

    @Option(help: "Log in with this e-mail (and --password) over REST; the access token replaces --token.")
    var email: String?

    @Option(help: "Password for --email.")
    var password: String?

    @Option(help: "Collection to subscribe to and write into.")
    var collection: String = "bench"

    @Option(help: "Measured phase length: 10s, 500ms, 2m.")
    var duration: String = "10s"

    @Option(help: "Upper bound on client connections this run may open.")
    var maxConnections: Int = 1000

    @Option(help: "Writes per second (REST POST).")
    var rate: Double = 10

    @Option(help: "Number of subscriber connections.")
    var subscribers: Int = 100

    @Option(help: "Server process id(s) whose VmRSS is sampled (repeatable).")
    var pid: [Int32] = []

    @Option(help: "A server's /metrics URL; its process_resident_memory_bytes counts as server memory (repeatable).")
    var metrics: [String] = []

    @Option(help: "Token for --metrics, sent as `Authorization: Metrics <token>` (default: --token as Bearer).")
    var metricsToken: String?

    @Flag(help: "Target is an nchan server: --ws are /sub/<channel> URLs, writes POST <rest>/pub/<collection>.")
    var nchan = false

    @Option(help: "Label for the target in reports.")
    var target: String = "switchboard"

    @Option(help: "Write the JSON report here.")
    var json: String?

    @Option(help: "Write the self-contained HTML report here.")
    var html: String?

    @Option(help: "Most seconds to wait for late deliveries after the last write (ends early, see --quiet).")
    var drain: Double = 30

    @Option(help: "Seconds without any delivery that end the drain early.")
    var quiet: Double = 1

    @Option(help: "Seconds allowed for all subscribers to connect and subscribe.")
    var connectTimeout: Double = 60

    @Option(help: "New connections per second while ramping up (all workers together).")
    var connectRate: Double = 2000

    @Option(help: "Client worker processes (default: as many as the open-file limit needs, 1 = in this process).")
    var workers: Int?

    @Option(help: "Most client sockets one worker process holds (each process may open at most 20,000 files).")
    var perWorker: Int = 18000

    @Option(help: "Source address in 127.0.0.0/8 to bind client sockets to (repeatable; default: one per worker).")
    var source: [String] = []

    @Option(help: "Most connections sent to one --ws target (a replica holds ~18,000 before its open-file limit).")
    var perTarget: Int = 18000

    var durationSeconds: Double { DurationParser.seconds(duration) ?? 10 }

    func validate() throws {
        if ws.isEmpty { throw ValidationError("at least one --ws URL is required") }
        guard DurationParser.seconds(duration) != nil else { throw ValidationError("bad --duration '\(duration)'") }
        for url in ws + [rest] + metrics {
            guard let host = URL(string: url)?.host else { throw ValidationError("bad URL '\(url)'") }
            if !(host.hasPrefix("127.") || host == "localhost" || host == "::1" || host == "[::1]") {
                throw ValidationError("only loopback targets are allowed (got \(host))")
            }
        }
        for address in source where !address.hasPrefix("127.") || address.split(separator: ".").count != 4 {
            throw ValidationError("--source must be an IPv4 address in 127.0.0.0/8 (got \(address))")
        }
        if subscribers < 0 || maxConnections < 1 || perWorker < 1 || perTarget < 1 || connectRate <= 0 {
            throw ValidationError("counts and rates must be positive")
        }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if drain < 0 || quiet <= 0 { throw ValidationError("--drain must be >= 0 and --quiet > 0") }
        if (email == nil) != (password == nil) { throw ValidationError("--email and --password go together") }
    }
}

protocol Scenario: AsyncParsableCommand {
    var common: CommonOptions { get }
}

// MARK: - scenarios

struct Fanout: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "N subscribers of one collection; one writer at --rate over REST.")
    @OptionGroup var common: CommonOptions
    @Flag(help: "Label the run as one step of a knee sweep (scenario `knee`: run once per --rate, then `merge`).")
    var kneeStep = false
    func run() async throws {
        var runner = Runner(common: common, scenario: kneeStep ? KneeCurve.scenario : "fanout")
        try await runner.subscribeAndWrite(rooms: nil, subscriberURLs: common.ws)
    }
}

struct Filtered: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "N subscribers spread over K `_eq` filters on the integer `room` field.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Number of distinct filters (rooms).") var filters: Int = 10
    func run() async throws {
        var runner = Runner(common: common, scenario: "filtered")
        try await runner.subscribeAndWrite(rooms: Swift.max(1, filters), subscriberURLs: common.ws)
    }
}

struct Crossnode: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "Subscribers on --ws[1...] (other replicas), writes via --rest (first replica).")
    @OptionGroup var common: CommonOptions
    func run() async throws {
        let urls = common.ws.count > 1 ? Array(common.ws.dropFirst()) : common.ws
        var runner = Runner(common: common, scenario: "crossnode")
        if common.ws.count < 2 { runner.notes.append("only one --ws given: not actually cross-node") }
        try await runner.subscribeAndWrite(rooms: nil, subscriberURLs: urls)
    }
}

struct Chat: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "Chat rooms: --subscribers users over --rooms rooms; every user subscribes to its room "
            + "(`room _eq`) and writes `items` creates over its own socket; --rate messages/s in all.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Number of rooms.") var rooms: Int = 10
    func run() async throws {
        if common.nchan { throw ValidationError("chat writes over the Directus socket protocol; not for nchan") }
        var runner = Runner(common: common, scenario: "chat")
        try await runner.chat(rooms: Swift.max(1, rooms))
    }
}

struct Churn: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "Connect/auth/subscribe/disconnect loops with --subscribers concurrent loops.")
    @OptionGroup var common: CommonOptions
    func run() async throws {
        var runner = Runner(common: common, scenario: "churn")
        try await runner.churn()
    }
}

struct Idle: Scenario {
    static let configuration = CommandConfiguration(
        abstract: "Hold N authenticated, subscribed connections; report server RSS per connection (--pid).")
    @OptionGroup var common: CommonOptions
    func run() async throws {
        var runner = Runner(common: common, scenario: "idle")
        try await runner.idle()
    }
}

struct Merge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine JSON reports into one HTML page and a Markdown summary (with Switchboard/nchan ratios).")
    @Option(help: "Combined HTML report.") var html: String?
    @Option(help: "Markdown summary table.") var summary: String?
    @Argument(help: "JSON reports written by --json.") var reports: [String]

    func run() async throws {
        let decoded = try reports.map { try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: $0))) }
        if let html { try Data(ReportWriter.html(decoded).utf8).write(to: URL(fileURLWithPath: html)) }
        let md = ReportWriter.summary(decoded)
        if let summary { try Data(md.utf8).write(to: URL(fileURLWithPath: summary)) } else { print(md) }
    }
}
