import Access
import Foundation
import Query
import Realtime
import Store
import SwitchboardCore
import Synchronization

/// How 10,000 subscriptions to `messages` are spread over query classes.
enum FanOutLayout: String, CaseIterable, Sendable {
    /// Every subscriber sends the same query (`room _eq 3`): one class, 10,000 members.
    case oneClass
    /// `room _eq k` for k in 0..<1000, 10 subscribers each: the equality index finds the one class.
    case thousandClassesIndexed
    /// `room _in [k]` for k in 0..<1000: not indexable, all 1,000 classes are evaluated.
    case thousandClassesUnindexed
    /// As `oneClass`, but as the public (non-admin) role whose read permission
    /// has a row filter (`hidden _eq false`) and a field list.
    case oneClassPermissionFilter

    static let subscriptions = 10_000
    static let room: Int64 = 3

    var label: String {
        switch self {
        case .oneClass: "10k subs, 1 class"
        case .thousandClassesIndexed: "10k subs, 1k classes (_eq, indexed)"
        case .thousandClassesUnindexed: "10k subs, 1k classes (_in, unindexed)"
        case .oneClassPermissionFilter: "10k subs, 1 class, non-admin permission filter"
        }
    }

    var admin: Bool { self != .oneClassPermissionFilter }

    func filter(subscriber i: Int) -> String {
        switch self {
        case .oneClass, .oneClassPermissionFilter: #"{"room":{"_eq":3}}"#
        case .thousandClassesIndexed: #"{"room":{"_eq":\#(i % 1000)}}"#
        case .thousandClassesUnindexed: #"{"room":{"_in":[\#(i % 1000)]}}"#
        }
    }

    /// Frames one event for room 3 produces.
    var deliveriesPerEvent: Int {
        switch self {
        case .oneClass, .oneClassPermissionFilter: Self.subscriptions
        case .thousandClassesIndexed, .thousandClassesUnindexed: Self.subscriptions / 1000
        }
    }
}

/// A socket stand-in for every subscriber of one fixture: counts frames and
/// wakes a waiter when the expected number arrived.
final class CountingTransport: RealtimeTransport {
    private struct Waiter {
        var reached = false
        var timedOut = false
        var continuation: CheckedContinuation<Bool, Never>?
        var since: ContinuousClock.Instant?
    }

    private let count = Atomic<Int>(0)
    private let target = Atomic<Int>(Int.max)
    private let waiter = Mutex(Waiter())
    private let keepNext = Atomic<Bool>(false)
    private let kept = Mutex<[UInt8]?>(nil)

    /// Arms the counter for the next `n` frames (call before they can arrive).
    func expect(_ n: Int) {
        waiter.withLock { $0 = Waiter() }
        count.store(0, ordering: .sequentiallyConsistent)
        target.store(n, ordering: .sequentiallyConsistent)
    }

    /// Returns true once the expected frames arrived, false if `expireStaleWait` gave up on them.
    func wait() async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let now = waiter.withLock { w -> Bool? in
                if w.reached { return true }
                if w.timedOut { return false }
                w.continuation = c
                w.since = .now
                return nil
            }
            if let now { c.resume(returning: now) }
        }
    }

    /// Ends a wait that has been pending longer than `limit` (frames lost: fail, don't hang).
    func expireStaleWait(after limit: Duration) {
        let c = waiter.withLock { w -> CheckedContinuation<Bool, Never>? in
            guard let since = w.since, w.continuation != nil, ContinuousClock.now - since > limit else { return nil }
            w.timedOut = true
            defer { w.continuation = nil }
            return w.continuation
        }
        c?.resume(returning: false)
    }

    /// Keeps the next frame, for checking what subscribers receive.
    func keepNextFrame() {
        kept.withLock { $0 = nil }
        keepNext.store(true, ordering: .sequentiallyConsistent)
    }

    var keptFrame: String? { kept.withLock { $0.map { String(decoding: $0, as: UTF8.self) } } }

    func send(_ frame: [UInt8]) async throws {
        if keepNext.load(ordering: .relaxed), keepNext.exchange(false, ordering: .sequentiallyConsistent) {
            kept.withLock { $0 = frame }
        }
        let n = count.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
        guard n == target.load(ordering: .sequentiallyConsistent) else { return }
        let c = waiter.withLock { w -> CheckedContinuation<Bool, Never>? in
            w.reached = true
            defer { w.continuation = nil }
            return w.continuation
        }
        c?.resume(returning: true)
    }

    func close(_ code: CloseCode, reason: String) async {}
}

/// One hub with 10,000 subscribed in-process connections, each with its writer running.
final class FanOutFixture: Sendable {
    let layout: FanOutLayout
    let hub: RealtimeHub
    let transport: CountingTransport
    let sessions: [RealtimeSession]
    private let watchdog: Task<Void, Never>
    private let seq = Atomic<Int64>(1000)

    /// How long one event (or the setup's `init` frames) may take before the benchmark fails.
    static let deliveryTimeout: Duration = .seconds(30)

    var deliveriesPerEvent: Int { layout.deliveriesPerEvent }

    private init(
        layout: FanOutLayout, hub: RealtimeHub, transport: CountingTransport, sessions: [RealtimeSession],
        watchdog: Task<Void, Never>
    ) {
        self.layout = layout
        self.hub = hub
        self.transport = transport
        self.sessions = sessions
        self.watchdog = watchdog
    }

    static func row(id: Int64, room: Int64) -> JSONObject {
        [
            "id": .int(id), "room": .int(room), "text": "Hello from the benchmark, how is everyone today?",
            "author": "9f3c1b2e-5d4a-4c1e-9b7a-2f6e8d0c4a11", "hidden": false,
        ]
    }

    static func event(seq: Int64, room: Int64) -> ChangeEvent {
        ChangeEvent(
            collection: "messages", seq: seq, action: .create, keys: [.int(seq)], rows: [row(id: seq, room: room)],
            origin: "bench", userID: nil, timestamp: ISOTimestamp.now())
    }

    /// A create of one row in room 3, with a fresh seq (above every subscriber's `init`).
    func nextEvent() -> ChangeEvent {
        Self.event(seq: seq.wrappingAdd(1, ordering: .relaxed).newValue, room: FanOutLayout.room)
    }

    static func make(_ layout: FanOutLayout, environment: BenchEnvironment) async throws -> FanOutFixture {
        let hub = RealtimeHub(
            store: environment.store, auth: environment.auth,
            settings: RealtimeSettings(
                authMode: .public, heartbeatEnabled: false, maxSubscriptionsPerConnection: 4, maxQueuedFrames: 1 << 16))
        let transport = CountingTransport()
        let watchdog = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                transport.expireStaleWait(after: deliveryTimeout)
            }
        }
        let identity: (Accountability, expiresAt: Int64?)? = layout.admin ? (Accountability(admin: true, app: true), nil) : nil
        var sessions: [RealtimeSession] = []
        sessions.reserveCapacity(FanOutLayout.subscriptions)
        transport.expect(FanOutLayout.subscriptions)  // one `init` frame per subscription
        do {
            for i in 0..<FanOutLayout.subscriptions {
                guard let session = try await RealtimeSession(hub: hub, transport: transport, upgradeIdentity: identity) else {
                    throw FixtureError("connection \(i) refused")
                }
                sessions.append(session)
                Task { await session.runWriter() }
                let frame =
                    #"{"type":"subscribe","collection":"messages","query":{"fields":["*"],"filter":\#(layout.filter(subscriber: i))},"uid":"s\#(i)"}"#
                await session.receive(Array(frame.utf8))
            }
        } catch {
            watchdog.cancel()
            for session in sessions { session.close(.goingAway, "setup failed") }
            throw error
        }
        let fixture = FanOutFixture(layout: layout, hub: hub, transport: transport, sessions: sessions, watchdog: watchdog)
        do {
            guard await transport.wait() else { throw FixtureError("subscriptions did not all receive `init`") }
            try await fixture.check()
        } catch {
            fixture.close()
            throw error
        }
        return fixture
    }

    /// One event end to end, and a look at a frame, so a broken fixture fails loudly.
    private func check() async throws {
        transport.expect(deliveriesPerEvent)
        transport.keepNextFrame()
        await hub.dispatch(nextEvent())
        guard await transport.wait() else { throw FixtureError("the check event was not delivered") }
        guard let frame = transport.keptFrame, frame.hasPrefix(#"{"type":"subscription","event":"create","data":[{"id":"#),
            frame.contains(#""uid":"s"#)
        else { throw FixtureError("unexpected frame: \(transport.keptFrame ?? "none")") }
        if !layout.admin && frame.contains(#""hidden""#) { throw FixtureError("permission field list ignored: \(frame)") }
    }

    func close() {
        watchdog.cancel()
        for session in sessions {
            session.close(.goingAway, "benchmark done")
            session.closed()
        }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The store (a SQLite file in a temporary directory) with a `messages`
/// collection, the public policy and its read permission on `messages`.
final class BenchEnvironment: Sendable {
    let directory: URL
    let database: SQLiteDatabase
    let store: Store
    let auth: AuthService

    private init(directory: URL, database: SQLiteDatabase, store: Store, auth: AuthService) {
        self.directory = directory
        self.database = database
        self.store = store
        self.auth = auth
    }

    static func make() async throws -> BenchEnvironment {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("switchboard-benchmarks-\(UUID().uuidString)", isDirectory: true)
        let database = try SQLiteDatabase(path: directory.appendingPathComponent("switchboard.db").path)
        let environment = StoreEnvironment(
            replicaID: "bench", limits: QueryLimits(defaultLimit: 100), hashPassword: { "plain:" + $0 },
            newUUID: { UUID().uuidString.lowercased() })
        let store = Store(database: database, environment: environment)
        do {
            try await store.migrate()
            _ = try await Bootstrapper(store: store).run(
                adminEmail: "admin@example.com", adminPassword: "benchmark-password", adminToken: nil)
            _ = try await store.changeSchema { editor in
                try await editor.createCollection([
                    "collection": "messages",
                    "fields": [
                        ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                        ["field": "room", "type": "integer"], ["field": "text", "type": "string"],
                        ["field": "author", "type": "uuid"], ["field": "hidden", "type": "boolean"],
                    ],
                ])
            }
            _ = try await store.createItems(
                SystemCollections.permissions,
                [
                    [
                        "policy": .string(Bootstrapper.publicPolicyID), "collection": "messages", "action": "read",
                        "fields": ["id", "room", "text", "author"], "permissions": ["hidden": ["_eq": false]],
                    ]
                ],
                context: .system)
            let resolver = PermissionResolver(store: store)
            let auth = AuthService(
                store: store, resolver: resolver, signer: AccessTokenSigner(secret: "benchmark-secret"),
                hasher: PasswordHasher(),
                settings: AuthSettings(
                    accessTokenTTLms: 900_000, refreshTokenTTLms: 604_800_000, sessionTTLms: 86_400_000,
                    refreshGracePeriodMs: 10_000))
            return BenchEnvironment(directory: directory, database: database, store: store, auth: auth)
        } catch {
            await database.close()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    func close() async {
        await database.close()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// The fixtures of the running benchmarks: built by a benchmark's setup, closed
/// (with the temporary database) by its teardown. The plugin runs each benchmark
/// in its own process, so in practice there is one fixture per process.
actor Fixtures {
    static let shared = Fixtures()

    private var environment: BenchEnvironment?
    private var fixtures: [FanOutLayout: FanOutFixture] = [:]
    private var users: [FanOutLayout: Int] = [:]

    func acquire(_ layout: FanOutLayout) async throws {
        users[layout, default: 0] += 1
        if fixtures[layout] != nil { return }
        let environment = try await sharedEnvironment()
        fixtures[layout] = try await FanOutFixture.make(layout, environment: environment)
    }

    func release(_ layout: FanOutLayout) async {
        users[layout, default: 1] -= 1
        guard users[layout] == 0, let fixture = fixtures.removeValue(forKey: layout) else { return }
        fixture.close()
        if fixtures.isEmpty, let environment {
            self.environment = nil
            await environment.close()
        }
    }

    func fixture(_ layout: FanOutLayout) -> FanOutFixture? { fixtures[layout] }

    private func sharedEnvironment() async throws -> BenchEnvironment {
        if let environment { return environment }
        let made = try await BenchEnvironment.make()
        environment = made
        return made
    }
}
