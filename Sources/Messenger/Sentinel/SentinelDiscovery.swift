/// A Redis server's TCP address, as Sentinel reports it (`host:port`).
public struct RedisAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` or `[v6]:port` (the form `REDIS_SENTINELS` is normalized to); nil when it is not one.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Finds the primary of a Sentinel master group and follows it across failovers; a value type,
/// events in, actions out (the IO is `SentinelPrimary`'s).
///
/// A discovery round asks the sentinels in turn (`SENTINEL get-master-addr-by-name`), each bounded
/// by the connect and command timeouts; the address one names is used only once it answers `ROLE`
/// with `master`. The sentinel that answered is asked first next time. A round in which no
/// sentinel leads to a primary is retried with backoff; the last verified primary stays in use
/// meanwhile unless it was lost. One sentinel is watched (`SUBSCRIBE +switch-master`) so a
/// failover is followed at once; a periodic round, a lost watch and a lost primary connection
/// rediscover too, so a missed announcement costs at most one refresh interval.
struct SentinelDiscovery: Sendable {
    enum Event: Sendable, Equatable {
        case start
        /// A sentinel's answer: the address it names, or nil when it monitors no group of that name.
        case sentinelAnswered(RedisAddress, primary: RedisAddress?)
        /// A sentinel was unreachable, refused us, or did not answer within the timeouts.
        case sentinelFailed(RedisAddress, reason: String)
        /// A candidate answered `ROLE` (`master`, `slave`, …).
        case roleAnswered(RedisAddress, role: String)
        case roleFailed(RedisAddress, reason: String)
        /// `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>` from the watched sentinel.
        case switchMaster(name: String, to: RedisAddress)
        /// A connection to this primary closed, or it answered as a read-only replica.
        case primaryLost(RedisAddress)
        case retryDue
        case refreshDue
        case watchSubscribed(RedisAddress)
        /// The watch connection could not be opened or closed.
        case watchLost(RedisAddress)
        case watchRetryDue
    }

    enum Action: Sendable, Equatable {
        /// Ask this sentinel for the group's primary.
        case ask(RedisAddress)
        /// Ask this candidate for its `ROLE`.
        case checkRole(RedisAddress)
        /// The primary to use is now this one (nil: none is known; close connections to the old one).
        case use(RedisAddress?)
        /// A round found no primary: log the problems, send `retryDue` after the delay.
        case retry(after: Duration, problems: [String])
        /// Send `refreshDue` after the delay (replaces an earlier one).
        case refresh(after: Duration)
        /// Open a subscribe connection to this sentinel for `+switch-master`.
        case watch(RedisAddress)
        /// Send `watchRetryDue` after the delay.
        case watchAgain(after: Duration)
    }

    enum Phase: Sendable, Equatable {
        case idle
        /// Waiting for the answer of `sentinels[index]`.
        case asking(index: Int)
        /// Waiting for `ROLE` from a candidate named by `sentinels[index]` (nil: by `+switch-master`).
        case checking(RedisAddress, index: Int?)
        /// A round failed; `retryDue` starts the next.
        case waiting
        /// The primary is verified; `refreshDue` checks it again.
        case settled
    }

    enum Watch: Sendable, Equatable {
        case none
        case opening(RedisAddress)
        case subscribed(RedisAddress)
        case waiting
    }

    let name: String
    let refreshInterval: Duration
    /// In the order they are asked: the last one that answered first.
    private(set) var sentinels: [RedisAddress]
    private(set) var phase: Phase = .idle
    private(set) var primary: RedisAddress?
    private(set) var watch: Watch = .none
    /// What went wrong in this round, one line per sentinel or candidate.
    private(set) var problems: [String] = []
    private var failedRounds = 0
    private var watchFailures = 0
    private var nextWatch = 0

    init(sentinels: [RedisAddress], name: String, refreshInterval: Duration = .seconds(10)) {
        precondition(!sentinels.isEmpty, "at least one sentinel")
        self.sentinels = sentinels
        self.name = name
        self.refreshInterval = refreshInterval
    }

    mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .start:
            guard phase == .idle else { return [] }
            watch = .opening(sentinels[0])
            return beginRound() + [.watch(sentinels[0])]

        case .sentinelAnswered(let sentinel, let answer):
            guard case .asking(let i) = phase, sentinels[i] == sentinel else { return [] }
            guard let answer else {
                problems.append("sentinel \(sentinel) monitors no master named \"\(name)\"")
                return askNext(after: i)
            }
            phase = .checking(answer, index: i)
            return [.checkRole(answer)]

        case .sentinelFailed(let sentinel, let reason):
            guard case .asking(let i) = phase, sentinels[i] == sentinel else { return [] }
            problems.append("sentinel \(sentinel): \(reason)")
            return askNext(after: i)

        case .roleAnswered(let candidate, let role):
            guard case .checking(let expected, let i) = phase, expected == candidate else { return [] }
            guard role == "master" else {
                return candidateRefused(candidate, i, "\(candidate) is a \(role == "slave" ? "replica" : role), not the primary")
            }
            if let i, i != 0 { sentinels.insert(sentinels.remove(at: i), at: 0) }
            phase = .settled
            primary = candidate
            problems = []
            failedRounds = 0
            return [.use(candidate), .refresh(after: refreshInterval)]

        case .roleFailed(let candidate, let reason):
            guard case .checking(let expected, let i) = phase, expected == candidate else { return [] }
            return candidateRefused(candidate, i, "primary candidate \(candidate): \(reason)")

        case .switchMaster(let group, let to):
            guard group == name else { return [] }
            if phase == .settled, primary == to { return [] }
            let dropped = primary != nil && primary != to
            if dropped { primary = nil }
            phase = .checking(to, index: nil)
            problems = []
            return (dropped ? [.use(nil)] : []) + [.checkRole(to)]

        case .primaryLost(let lost):
            guard lost == primary else { return [] }
            primary = nil
            switch phase {
            case .settled, .waiting, .idle: return [.use(nil)] + beginRound()
            case .asking, .checking: return [.use(nil)]  // a round is under way
            }

        case .retryDue:
            guard phase == .waiting else { return [] }
            return beginRound()

        case .refreshDue:
            guard phase == .settled else { return [] }
            return beginRound()

        case .watchSubscribed(let sentinel):
            guard watch == .opening(sentinel) else { return [] }
            watch = .subscribed(sentinel)
            let rewatched = watchFailures > 0
            watchFailures = 0
            // A switch announced while no sentinel was watched would be missed: look again.
            return rewatched && phase == .settled ? beginRound() : []

        case .watchLost(let sentinel):
            guard watch == .opening(sentinel) || watch == .subscribed(sentinel) else { return [] }
            watch = .waiting
            watchFailures += 1
            if let i = sentinels.firstIndex(of: sentinel) { nextWatch = (i + 1) % sentinels.count }
            // Right away on the next sentinel, then backing off while none can be watched.
            let delay = watchFailures <= 1 ? Duration.zero : .milliseconds(min(2000, 100 << min(watchFailures - 2, 5)))
            return [.watchAgain(after: delay)]

        case .watchRetryDue:
            guard watch == .waiting else { return [] }
            let sentinel = sentinels[nextWatch % sentinels.count]
            watch = .opening(sentinel)
            return [.watch(sentinel)]
        }
    }

    private mutating func beginRound() -> [Action] {
        phase = .asking(index: 0)
        problems = []
        return [.ask(sentinels[0])]
    }

    private mutating func askNext(after i: Int) -> [Action] {
        if i + 1 < sentinels.count {
            phase = .asking(index: i + 1)
            return [.ask(sentinels[i + 1])]
        }
        phase = .waiting
        failedRounds += 1
        // 250 ms doubling up to 5 s between rounds while no sentinel leads to a primary.
        return [.retry(after: .milliseconds(min(5000, 250 << min(failedRounds - 1, 5))), problems: problems)]
    }

    private mutating func candidateRefused(_ candidate: RedisAddress, _ i: Int?, _ problem: String) -> [Action] {
        problems.append(problem)
        var actions: [Action] = []
        if candidate == primary {
            primary = nil
            actions.append(.use(nil))
        }
        if let i { return actions + askNext(after: i) }
        // Announced by +switch-master but not (yet) a master: ask the sentinels from the start.
        let kept = problems
        actions += beginRound()
        problems = kept
        return actions
    }
}
