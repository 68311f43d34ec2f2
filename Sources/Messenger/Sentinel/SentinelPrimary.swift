import Logging
import NIOCore
import NIOPosix
import RESP
import Synchronization

/// The primary of a Redis Sentinel master group, kept current: carries out what
/// `SentinelDiscovery` decides (asks sentinels, checks `ROLE`, watches `+switch-master`)
/// and tells its user when the primary changes.
public final class SentinelPrimary: Sendable {
    public struct Settings: Sendable {
        public var sentinels: [RedisAddress]
        /// The master group (`sentinel monitor <name> …`).
        public var name: String
        /// Credentials for the sentinels.
        public var sentinelUsername: String?
        public var sentinelPassword: String?
        /// Credentials and database for the primary.
        public var username: String?
        public var password: String?
        public var database: Int
        /// Bounds every sentinel and `ROLE` exchange.
        public var timeouts: RedisTimeouts
        /// The primary is checked against the sentinels this often even without an announcement.
        public var refreshInterval: Duration

        public init(
            sentinels: [RedisAddress], name: String, sentinelUsername: String? = nil, sentinelPassword: String? = nil,
            username: String? = nil, password: String? = nil, database: Int = 0, timeouts: RedisTimeouts = RedisTimeouts(),
            refreshInterval: Duration = .seconds(10)
        ) {
            self.sentinels = sentinels
            self.name = name
            self.sentinelUsername = sentinelUsername
            self.sentinelPassword = sentinelPassword
            self.username = username
            self.password = password
            self.database = database
            self.timeouts = timeouts
            self.refreshInterval = refreshInterval
        }
    }

    private struct State {
        var machine: SentinelDiscovery
        var primary: RedisEndpoint?
        var watchConnection: RedisConnection?
        var retryTimer: Task<Void, Never>?
        var refreshTimer: Task<Void, Never>?
        var watchTimer: Task<Void, Never>?
        var lastProblems: [String] = []
        var stopped = false
    }

    public let settings: Settings
    private let logger: Logger
    private let group: any EventLoopGroup
    private let shared: Mutex<State>
    private let inbox: AsyncStream<SentinelDiscovery.Event>
    private let post: AsyncStream<SentinelDiscovery.Event>.Continuation
    /// The primary after each change (nil: none known); one consumer.
    public let changes: AsyncStream<RedisEndpoint?>
    private let changed: AsyncStream<RedisEndpoint?>.Continuation

    public init(
        settings: Settings, logger: Logger = Logger(label: "switchboard.messenger"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        precondition(!settings.sentinels.isEmpty, "at least one sentinel")
        self.settings = settings
        self.logger = logger
        self.group = group
        shared = Mutex(
            State(
                machine: SentinelDiscovery(
                    sentinels: settings.sentinels, name: settings.name, refreshInterval: settings.refreshInterval)))
        (inbox, post) = AsyncStream.makeStream(of: SentinelDiscovery.Event.self, bufferingPolicy: .unbounded)
        (changes, changed) = AsyncStream.makeStream(of: RedisEndpoint?.self, bufferingPolicy: .bufferingNewest(16))
    }

    /// `sentinel:<name>@host:port,…` for logs.
    public var description: String {
        "sentinel:\(settings.name)@" + settings.sentinels.map(\.description).joined(separator: ",")
    }

    /// The verified primary, if one is known.
    public var current: RedisEndpoint? { shared.withLock { $0.primary } }

    /// The verified primary, waiting for one at most `timeout`; throws naming what the last
    /// discovery round ran into when none is known by then.
    func primary(within timeout: Duration) async throws -> RedisEndpoint {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (primary, problems, stopped) = shared.withLock { ($0.primary, $0.lastProblems, $0.stopped) }
            if let primary { return primary }
            if stopped || ContinuousClock.now >= deadline || Task.isCancelled {
                throw RedisConnection.RedisError(
                    description: "no primary known for Sentinel master group \"\(settings.name)\""
                        + (problems.isEmpty ? "" : ": " + problems.joined(separator: "; ")))
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A connection to `endpoint` closed, or it answered as a replica: find the primary again.
    func lost(_ endpoint: RedisEndpoint) {
        guard case .tcp(let host, let port) = endpoint.address else { return }
        post.yield(.primaryLost(RedisAddress(host: host, port: port)))
    }

    /// Discovers and follows the primary until `shutdown()`.
    public func run() async {
        post.yield(.start)
        for await event in inbox {
            let actions = shared.withLock { $0.stopped ? [] : $0.machine.handle(event) }
            for action in actions { perform(action) }
        }
    }

    public func shutdown() {
        let (watch, timers) = shared.withLock { s -> (RedisConnection?, [Task<Void, Never>?]) in
            s.stopped = true
            defer { s.watchConnection = nil }
            return (s.watchConnection, [s.retryTimer, s.refreshTimer, s.watchTimer])
        }
        for t in timers { t?.cancel() }
        watch?.close()
        post.finish()
        changed.finish()
    }

    // MARK: Actions

    private func perform(_ action: SentinelDiscovery.Action) {
        switch action {
        case .ask(let sentinel):
            Task { await self.ask(sentinel) }
        case .checkRole(let candidate):
            Task { await self.checkRole(candidate) }
        case .use(let address):
            use(address)
        case .retry(let delay, let problems):
            let repeated = shared.withLock { s -> Bool in
                defer { s.lastProblems = problems }
                return s.lastProblems == problems
            }
            if !repeated {
                logger.warning(
                    "Redis Sentinel: no primary found for master group \"\(settings.name)\"; retrying",
                    metadata: ["sentinels": "\(description)", "problems": "\(problems.joined(separator: "; "))"])
            }
            schedule(\.retryTimer, after: delay, .retryDue)
        case .refresh(let delay):
            schedule(\.refreshTimer, after: delay, .refreshDue)
        case .watch(let sentinel):
            Task { await self.watch(sentinel) }
        case .watchAgain(let delay):
            schedule(\.watchTimer, after: delay, .watchRetryDue)
        }
    }

    private func schedule(
        _ timer: any WritableKeyPath<State, Task<Void, Never>?> & Sendable, after delay: Duration,
        _ event: SentinelDiscovery.Event
    ) {
        let task = Task { [post] in
            if delay > .zero { try? await Task.sleep(for: delay) }
            if !Task.isCancelled { post.yield(event) }
        }
        let previous = shared.withLock { s -> Task<Void, Never>? in
            defer { s[keyPath: timer] = task }
            return s[keyPath: timer]
        }
        previous?.cancel()
    }

    private func use(_ address: RedisAddress?) {
        let endpoint = address.map {
            RedisEndpoint(
                address: .tcp(host: $0.host, port: $0.port), username: settings.username, password: settings.password,
                database: settings.database)
        }
        let previous = shared.withLock { s -> RedisEndpoint?? in
            guard s.primary != endpoint else { return .none }
            defer {
                s.primary = endpoint
                if endpoint != nil { s.lastProblems = [] }
            }
            return .some(s.primary)
        }
        guard case .some(let old) = previous else { return }
        if let endpoint {
            logger.notice(
                old == nil ? "Redis Sentinel: using primary" : "Redis Sentinel: primary changed",
                metadata: [
                    "master": "\(settings.name)", "primary": "\(endpoint.description)",
                    "previous": "\(old?.description ?? "-")",
                ])
        } else {
            logger.warning(
                "Redis Sentinel: primary lost; asking the sentinels",
                metadata: ["master": "\(settings.name)", "previous": "\(old?.description ?? "-")"])
        }
        changed.yield(endpoint)
    }

    private func sentinelEndpoint(_ sentinel: RedisAddress) -> RedisEndpoint {
        RedisEndpoint(
            address: .tcp(host: sentinel.host, port: sentinel.port), username: settings.sentinelUsername,
            password: settings.sentinelPassword)
    }

    private func ask(_ sentinel: RedisAddress) async {
        do {
            let connection = try await RedisConnection.connect(
                to: sentinelEndpoint(sentinel), on: group, timeouts: settings.timeouts, onClose: {})
            defer { connection.close() }
            let reply = try await connection.request(["SENTINEL", "get-master-addr-by-name", settings.name])
            switch reply {
            case .array(let items?) where items.count == 2:
                guard let host = items[0].text, let port = items[1].text.flatMap({ Int($0) }) else {
                    post.yield(.sentinelFailed(sentinel, reason: "unexpected answer \(reply)"))
                    return
                }
                post.yield(.sentinelAnswered(sentinel, primary: RedisAddress(host: host, port: port)))
            case .array(nil), .bulk(nil):
                post.yield(.sentinelAnswered(sentinel, primary: nil))
            case .error(let message):
                post.yield(.sentinelFailed(sentinel, reason: message))
            default:
                post.yield(.sentinelFailed(sentinel, reason: "unexpected answer \(reply)"))
            }
        } catch {
            post.yield(.sentinelFailed(sentinel, reason: "\(error)"))
        }
    }

    private func checkRole(_ candidate: RedisAddress) async {
        let endpoint = RedisEndpoint(
            address: .tcp(host: candidate.host, port: candidate.port), username: settings.username,
            password: settings.password, database: settings.database)
        do {
            let connection = try await RedisConnection.connect(
                to: endpoint, on: group, timeouts: settings.timeouts, onClose: {})
            defer { connection.close() }
            let reply = try await connection.request(["ROLE"])
            if case .array(let items?) = reply, let role = items.first?.text {
                post.yield(.roleAnswered(candidate, role: role))
            } else if case .error(let message) = reply {
                post.yield(.roleFailed(candidate, reason: "ROLE: \(message)"))
            } else {
                post.yield(.roleFailed(candidate, reason: "unexpected ROLE answer \(reply)"))
            }
        } catch {
            post.yield(.roleFailed(candidate, reason: "\(error)"))
        }
    }

    private func watch(_ sentinel: RedisAddress) async {
        let name = settings.name
        do {
            let connection = try await RedisConnection.connect(
                to: sentinelEndpoint(sentinel), on: group, timeouts: settings.timeouts,
                onPush: { [post] value in
                    guard case .array(let items?) = value, items.count == 3, items[0].text == "message",
                        items[1].text == "+switch-master", let text = items[2].text
                    else { return }
                    // <name> <old-ip> <old-port> <new-ip> <new-port>
                    let parts = text.split(separator: " ").map(String.init)
                    guard parts.count == 5, parts[0] == name, let port = Int(parts[4]) else { return }
                    post.yield(.switchMaster(name: parts[0], to: RedisAddress(host: parts[3], port: port)))
                },
                onClose: { [post] in post.yield(.watchLost(sentinel)) })
            let keep = shared.withLock { s -> Bool in
                guard !s.stopped else { return false }
                s.watchConnection?.close()
                s.watchConnection = connection
                return true
            }
            guard keep else { return connection.close() }
            connection.send(["SUBSCRIBE", "+switch-master"])
            try await connection.barrier()
            post.yield(.watchSubscribed(sentinel))
        } catch {
            post.yield(.watchLost(sentinel))
        }
    }
}
