import Foundation
import Synchronization
import Testing

@testable import Messenger

/// The behaviour every messenger must have, run against the in-process one and
/// against a real `redis-server` on 127.0.0.1.
@Suite(.serialized) struct MessengerContractTests {
    static func withRedisMessenger(
        _ settings: RedisMessenger.Settings = .init(), _ body: (RedisMessenger, RedisServer) async throws -> Void
    ) async throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let messenger = RedisMessenger(
            endpoint: try RedisEndpoint.parse("redis://127.0.0.1:\(server.port)"), settings: settings)
        let runner = Task { await messenger.run() }
        defer { runner.cancel() }
        try await waitUntil { messenger.state == .connected }
        try await body(messenger, server)
        await messenger.shutdown()
    }

    static func contract(_ messenger: any Messenger) async throws {
        let inbox = Inbox(messenger)
        defer { inbox.stop() }
        await messenger.subscribe("sb:col:a")
        try await Task.sleep(for: .milliseconds(100))
        messenger.publish(Array("one".utf8), to: "sb:col:a")
        messenger.publish(Array("ignored".utf8), to: "sb:col:b")
        messenger.publish(Array("two".utf8), to: "sb:col:a")
        try await waitUntil { inbox.messages.count >= 2 }
        #expect(inbox.messages == ["sb:col:a=one", "sb:col:a=two"])
        await messenger.unsubscribe("sb:col:a")
        await messenger.subscribe("sb:col:c")
        try await Task.sleep(for: .milliseconds(100))
        messenger.publish(Array("after".utf8), to: "sb:col:a")
        messenger.publish(Array("c".utf8), to: "sb:col:c")
        try await waitUntil { inbox.messages.count >= 3 }
        #expect(inbox.messages == ["sb:col:a=one", "sb:col:a=two", "sb:col:c=c"])
        #expect(messenger.channels == ["sb:col:c"])
    }

    @Test func localMessengerDeliversOnlySubscribedChannelsInOrder() async throws {
        let m = LocalMessenger()
        try await Self.contract(m)
    }

    @Test func redisMessengerDeliversOnlySubscribedChannelsInOrder() async throws {
        try await Self.withRedisMessenger { messenger, _ in try await Self.contract(messenger) }
    }

    @Test func redisClusterMessengerDeliversOnlySubscribedChannelsInOrder() async throws {
        // A one-node Redis Cluster owning every slot: the sharded pub/sub path, nothing more.
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("sb-nodes-\(UUID().uuidString).conf").path
        let server = try RedisServer.start(extraArguments: ["--cluster-enabled", "yes", "--cluster-config-file", config])
        defer {
            server.stop()
            try? FileManager.default.removeItem(atPath: config)
        }
        #expect(try redisCLI(server.port, ["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]) == "OK")
        try await waitUntil { (try? redisCLI(server.port, ["CLUSTER", "INFO"]))?.contains("cluster_state:ok") == true }
        let messenger = RedisClusterMessenger(seeds: [try RedisEndpoint.parse("redis://127.0.0.1:\(server.port)")])
        let runner = Task { await messenger.run() }
        defer { runner.cancel() }
        await messenger.subscribe("sb:control")
        try await waitUntil { messenger.state == .connected && messenger.hasSubscribed }
        await messenger.unsubscribe("sb:control")
        try await Self.contract(messenger)
        #expect(messenger.stats.published >= 5 && messenger.stats.failed == 0)
        await messenger.shutdown()
    }

    /// The least rights the cluster messenger needs (README "Redis ACL and TLS"): sharded pub/sub
    /// on its own channels and the slot map; no keys, no classic pub/sub.
    @Test func redisClusterMessengerWorksWithLeastRightsACLUser() async throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("sb-nodes-\(UUID().uuidString).conf").path
        let server = try RedisServer.start(extraArguments: [
            "--cluster-enabled", "yes", "--cluster-config-file", config, "--user", "app", "on", ">s3cret", "resetkeys",
            "resetchannels", "&sb:*", "-@all", "+ssubscribe", "+sunsubscribe", "+spublish", "+ping", "+cluster|shards",
        ])
        defer {
            server.stop()
            try? FileManager.default.removeItem(atPath: config)
        }
        #expect(try redisCLI(server.port, ["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]) == "OK")
        try await waitUntil { (try? redisCLI(server.port, ["CLUSTER", "INFO"]))?.contains("cluster_state:ok") == true }
        let messenger = RedisClusterMessenger(seeds: [try RedisEndpoint.parse("redis://app:s3cret@127.0.0.1:\(server.port)")])
        let runner = Task { await messenger.run() }
        defer { runner.cancel() }
        await messenger.subscribe("sb:control")
        try await waitUntil { messenger.state == .connected && messenger.hasSubscribed }
        await messenger.unsubscribe("sb:control")
        try await Self.contract(messenger)
        #expect(messenger.stats.published >= 5 && messenger.stats.failed == 0)
        // A channel outside the user's pattern is refused by Redis, and the refusal is counted, not fatal.
        messenger.publish(Array("x".utf8), to: "other:col:a")
        try await waitUntil { messenger.stats.failed >= 1 }
        #expect(messenger.state == .connected)
        await messenger.shutdown()
    }

    /// Through Redis Sentinel (one sentinel, quorum 1), as the least-rights users README
    /// "Redis Sentinel" names: the primary's user may also run `ROLE`, the sentinel asks a password.
    @Test func redisMessengerViaSentinelDeliversOnlySubscribedChannelsInOrder() async throws {
        let primary = try RedisServer.start(extraArguments: [
            "--user", "app", "on", ">s3cret", "resetkeys", "resetchannels", "&sb:*", "-@all", "+subscribe", "+unsubscribe",
            "+publish", "+ping", "+select", "+role",
        ])
        defer { primary.stop() }
        let sentinel = try RedisServer.startSentinel(
            monitoring: primary.port, name: "sbm", extraConfig: ["requirepass sentinelpw"])
        defer {
            sentinel.stop()
            sentinel.removeSentinelConfig()
        }
        let discovery = SentinelPrimary(
            settings: SentinelPrimary.Settings(
                sentinels: [RedisAddress(host: "127.0.0.1", port: 1), RedisAddress(host: "127.0.0.1", port: sentinel.port)],
                name: "sbm", sentinelPassword: "sentinelpw", username: "app", password: "s3cret",
                timeouts: RedisTimeouts(connect: .seconds(1), command: .milliseconds(500), ping: .milliseconds(200))))
        let messenger = RedisMessenger(sentinel: discovery)
        let runner = Task { await messenger.run() }
        defer { runner.cancel() }
        try await waitUntil { messenger.state == .connected }
        #expect(discovery.current?.address == .tcp(host: "127.0.0.1", port: primary.port))
        try await Self.contract(messenger)
        #expect(messenger.stats.published >= 5 && messenger.stats.failed == 0)
        await messenger.shutdown()
    }

    @Test func aSentinelThatKnowsNoSuchMasterLeavesTheMessengerConnectingWithTheReason() async throws {
        let primary = try RedisServer.start()
        defer { primary.stop() }
        let sentinel = try RedisServer.startSentinel(monitoring: primary.port, name: "sbm")
        defer {
            sentinel.stop()
            sentinel.removeSentinelConfig()
        }
        let discovery = SentinelPrimary(
            settings: SentinelPrimary.Settings(
                sentinels: [RedisAddress(host: "127.0.0.1", port: sentinel.port)], name: "other",
                timeouts: RedisTimeouts(connect: .milliseconds(300), command: .milliseconds(500), ping: .milliseconds(200))))
        let messenger = RedisMessenger(sentinel: discovery)
        let runner = Task { await messenger.run() }
        defer { runner.cancel() }
        await #expect(throws: (any Error).self) { try await discovery.primary(within: .milliseconds(400)) }
        do {
            _ = try await discovery.primary(within: .milliseconds(100))
        } catch {
            #expect("\(error)".contains("monitors no master named \"other\""), "\(error)")
        }
        #expect(messenger.state == .connecting && !messenger.hasSubscribed)
        await messenger.shutdown()
    }

    static let quick = RedisMessenger.Settings(
        timeouts: RedisTimeouts(connect: .seconds(1), command: .milliseconds(500), ping: .milliseconds(200)),
        publishQueueLimit: 3)

    @Test func publishingNeverWaitsOnAFrozenRedisAndTheQueueStaysBounded() async throws {
        try await Self.withRedisMessenger(Self.quick) { messenger, server in
            server.freeze()
            defer { server.thaw() }
            let start = ContinuousClock.now
            for i in 0..<10 { messenger.publish(Array("p\(i)".utf8), to: "sb:col:f") }
            #expect(ContinuousClock.now - start < .milliseconds(100))
            // At most 3 wait (plus what the publisher already took); the rest were pushed out, and
            // what waits fails within the command timeout.
            try await waitUntil(timeout: .seconds(5)) {
                let s = messenger.stats
                return s.dropped + s.failed == 10 && s.queued == 0
            }
            #expect(messenger.stats.dropped >= 1)  // the queue held at most 3: the rest were pushed out
            #expect(messenger.stats.published == 0)
        }
    }

    @Test func aFrozenRedisIsDetectedAndTheSubscriptionComesBackWhenItThaws() async throws {
        try await Self.withRedisMessenger(Self.quick) { messenger, server in
            let inbox = Inbox(messenger)
            defer { inbox.stop() }
            await messenger.subscribe("sb:col:z")
            try await waitUntil { inbox.resubscribed >= 1 }
            server.freeze()
            // Ping every 200 ms, no pong within 500 ms: the connection is replaced.
            try await waitUntil(timeout: .seconds(5)) { messenger.state == .connecting }
            // A subscribe while Redis hangs returns within the command timeout.
            let start = ContinuousClock.now
            await messenger.subscribe("sb:col:z2")
            #expect(ContinuousClock.now - start < .seconds(2))
            server.thaw()
            try await waitUntil(timeout: .seconds(15)) { messenger.state == .connected && inbox.resubscribed >= 2 }
            #expect(messenger.channels == ["sb:col:z", "sb:col:z2"])
            try await waitUntil(timeout: .seconds(10)) {
                messenger.publish(Array("thawed".utf8), to: "sb:col:z2")
                try? await Task.sleep(for: .milliseconds(200))
                return inbox.messages.contains("sb:col:z2=thawed")
            }
        }
    }

    @Test func redisMessengerResubscribesAfterRedisRestarts() async throws {
        try await Self.withRedisMessenger { messenger, server in
            let inbox = Inbox(messenger)
            defer { inbox.stop() }
            await messenger.subscribe("sb:col:r")
            try await waitUntil { inbox.resubscribed >= 1 }
            server.stop()
            try await waitUntil { messenger.state == .connecting }
            #expect(messenger.hasSubscribed)  // a later outage does not undo the first subscription
            try server.restart()
            try await waitUntil(timeout: .seconds(15)) { messenger.state == .connected && inbox.resubscribed >= 2 }
            try await waitUntil(timeout: .seconds(10)) {
                messenger.publish(Array("back".utf8), to: "sb:col:r")
                try? await Task.sleep(for: .milliseconds(200))
                return inbox.messages.contains("sb:col:r=back")
            }
            #expect(messenger.stats.reconnects >= 1)
        }
    }

    @Test func hasSubscribedTurnsTrueOnlyOnceRedisConfirmedTheSubscriptions() async throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let port = server.port
        server.stop()  // nothing listens there yet
        let messenger = RedisMessenger(endpoint: try RedisEndpoint.parse("redis://127.0.0.1:\(port)"), settings: Self.quick)
        let runner = Task { await messenger.run() }
        defer { runner.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        #expect(!messenger.hasSubscribed)
        #expect(messenger.state == .connecting)
        try server.restart()
        try await waitUntil(timeout: .seconds(15)) { messenger.hasSubscribed }
        #expect(messenger.state == .connected)
        await messenger.shutdown()
    }

    /// `rediss://` against a real TLS `redis-server`, with certificates made here: the contract
    /// holds when the CA is trusted (`REDIS_TLS_CA`), and nothing connects when it is not.
    @Test func redisMessengerSpeaksTLSToATLSServer() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let server = try RedisServer.start(tls: pki)
        defer { server.stop() }
        var endpoint = try RedisEndpoint.parse("rediss://127.0.0.1:\(server.port)")
        endpoint.caFile = pki.caCert
        let messenger = RedisMessenger(endpoint: endpoint)
        let runner = Task { await messenger.run() }
        defer { runner.cancel() }
        try await waitUntil { messenger.state == .connected }
        try await Self.contract(messenger)
        await messenger.shutdown()

        // Another CA: the handshake fails, the messenger keeps trying and never reports connected.
        var untrusted = endpoint
        untrusted.caFile = pki.otherCACert
        let refused = RedisMessenger(endpoint: untrusted)
        let refusedRunner = Task { await refused.run() }
        defer { refusedRunner.cancel() }
        try await Task.sleep(for: .seconds(1.5))
        #expect(refused.state != .connected)
        await refused.shutdown()
    }

    /// The least rights the messenger needs (README "Redis ACL"): its commands, no keys, and only
    /// the channels under its namespace.
    @Test func redisMessengerWorksWithLeastRightsACLUser() async throws {
        let server = try RedisServer.start(extraArguments: [
            "--user", "default", "off", "--user", "app", "on", ">s3cret", "resetkeys", "resetchannels", "&sb:*", "-@all",
            "+subscribe", "+unsubscribe", "+publish", "+ping", "+select",
        ])
        defer { server.stop() }
        let messenger = RedisMessenger(endpoint: try RedisEndpoint.parse("redis://app:s3cret@127.0.0.1:\(server.port)"))
        let runner = Task { await messenger.run() }
        defer { runner.cancel() }
        try await waitUntil { messenger.state == .connected }
        try await Self.contract(messenger)
        #expect(messenger.stats.failed == 0)
        await messenger.shutdown()
    }

    @Test func redisMessengerAuthenticatesWithACLUser() async throws {
        let server = try RedisServer.start(extraArguments: [
            "--user", "default", "off", "--user", "app", "on", ">s3cret", "~*", "&*", "+@all",
        ])
        defer { server.stop() }
        let messenger = RedisMessenger(endpoint: try RedisEndpoint.parse("redis://app:s3cret@127.0.0.1:\(server.port)"))
        let runner = Task { await messenger.run() }
        defer { runner.cancel() }
        try await waitUntil { messenger.state == .connected }
        try await Self.contract(messenger)
        await messenger.shutdown()
    }
}

/// Collects what a messenger delivers, for assertions.
final class Inbox: Sendable {
    private final class Received: Sendable {
        let state = Mutex<(messages: [String], resubscribed: Int)>(([], 0))
    }

    private let received = Received()
    private let task: Task<Void, Never>

    init(_ messenger: any Messenger) {
        let received = self.received
        task = Task {
            for await event in messenger.events {
                switch event {
                case .message(let m):
                    received.state.withLock { $0.messages.append(m.channel + "=" + String(decoding: m.payload, as: UTF8.self)) }
                case .resubscribed:
                    received.state.withLock { $0.resubscribed += 1 }
                }
            }
        }
    }

    var messages: [String] { received.state.withLock { $0.messages } }
    var resubscribed: Int { received.state.withLock { $0.resubscribed } }

    func stop() { task.cancel() }
}

/// The trimmed output of `redis-cli -p port args…`.
func redisCLI(_ port: Int, _ args: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
    process.arguments = ["-h", "127.0.0.1", "-p", String(port)] + args
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition not met within \(timeout)")
    throw CancellationError()
}

/// A throwaway `redis-server` on 127.0.0.1 (no persistence).
final class RedisServer: @unchecked Sendable {
    // @unchecked: the Process is only touched from the test that owns this server.
    let port: Int
    private var process: Process
    private let arguments: [String]

    private init(port: Int, arguments: [String], process: Process) {
        self.port = port
        self.arguments = arguments
        self.process = process
    }

    /// With `tls`, the port speaks TLS only (`--port 0 --tls-port`), clients need no certificate.
    /// Ports come from below Linux's ephemeral range (32768+), so no client socket holds one; a
    /// server that exits at once (its port taken by another test's server) is retried on another.
    static func start(extraArguments: [String] = [], tls: TestPKI? = nil) throws -> RedisServer {
        try withFreshPort(in: 20000...32000) { port in
            var listen = ["--port", String(port)]
            if let tls {
                listen = [
                    "--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.serverCert, "--tls-key-file",
                    tls.serverKey, "--tls-ca-cert-file", tls.caCert, "--tls-auth-clients", "no",
                ]
            }
            return listen + ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"] + extraArguments
        }
    }

    private static func withFreshPort(in range: ClosedRange<Int>, _ arguments: (Int) throws -> [String]) throws
        -> RedisServer
    {
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = Int.random(in: range)
            let args = try arguments(port)
            let server = RedisServer(port: port, arguments: args, process: try launch(args))
            do {
                try server.waitForPort()
                return server
            } catch {
                server.stop()
                lastError = error
            }
        }
        throw lastError ?? CocoaError(.fileReadUnknown)
    }

    /// A sentinel (`redis-server CONF --sentinel`) monitoring the primary at `port` as `name`, quorum 1.
    static func startSentinel(monitoring primaryPort: Int, name: String, extraConfig: [String] = []) throws -> RedisServer {
        try withFreshPort(in: 10000...19999) { port in
            let conf = NSTemporaryDirectory() + "sb-sentinel-\(UUID().uuidString).conf"
            let lines =
                [
                    "port \(port)", "bind 127.0.0.1", "dir \(NSTemporaryDirectory())",
                    "sentinel monitor \(name) 127.0.0.1 \(primaryPort) 1",
                ]
                + extraConfig
            try (lines.joined(separator: "\n") + "\n").write(toFile: conf, atomically: true, encoding: .utf8)
            return [conf, "--sentinel"]
        }
    }

    private static func launch(_ arguments: [String]) throws -> Process {
        let process = Process()
        let candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CocoaError(
                .fileNoSuchFile,
                userInfo: [NSLocalizedDescriptionKey: "redis-server is not installed (apt-get install redis-server)"])
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Up to 15 s (a loaded 2-core machine starts processes slowly); stops early if the server exited.
    private func waitForPort() throws {
        for _ in 0..<300 where process.isRunning {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if ok == 0 { return }
            usleep(50_000)
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "redis-server did not start on port \(port)"])
    }

    /// SIGTERM, then SIGKILL; bounded polling (Foundation's waitUntilExit can hang under Swift Testing).
    func stop() {
        guard process.isRunning else { return }
        thaw()
        process.terminate()
        for i in 0..<100 where process.isRunning {
            if i == 60 { kill(process.processIdentifier, SIGKILL) }
            usleep(50_000)
        }
    }

    /// Removes the config file `startSentinel` wrote (the sentinel rewrites it while running).
    func removeSentinelConfig() {
        guard arguments.last == "--sentinel", let conf = arguments.first else { return }
        try? FileManager.default.removeItem(atPath: conf)
    }

    /// SIGSTOP: connections stay open but nothing answers (a partition, a stuck failover).
    func freeze() { kill(process.processIdentifier, SIGSTOP) }

    func thaw() { kill(process.processIdentifier, SIGCONT) }

    func restart() throws {
        stop()
        process = try Self.launch(arguments)
        try waitForPort()
    }
}

/// A CA and a server certificate for 127.0.0.1 made with the `openssl` command, plus a second CA
/// that signed nothing here, in a temporary directory.
struct TestPKI: Sendable {
    let directory: String
    var caCert: String { directory + "/ca.pem" }
    var otherCACert: String { directory + "/other-ca.pem" }
    var serverCert: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }

    static func make() throws -> TestPKI {
        let directory = NSTemporaryDirectory() + "sb-pki-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pki = TestPKI(directory: directory)
        for ca in ["ca", "other-ca"] {
            try openssl([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=switchboard test \(ca)",
                "-keyout", "\(directory)/\(ca).key", "-out", "\(directory)/\(ca).pem",
            ])
        }
        try openssl([
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", pki.serverKey, "-out",
            "\(directory)/server.csr",
        ])
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(directory)/san.ext", atomically: true, encoding: .utf8)
        try openssl([
            "x509", "-req", "-in", "\(directory)/server.csr", "-CA", pki.caCert, "-CAkey", "\(directory)/ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "\(directory)/san.ext", "-out", pki.serverCert,
        ])
        return pki
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl \(arguments[0]) failed"])
        }
    }
}
