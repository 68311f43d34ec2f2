/// What `/server/health` and `/server/health/ready` answer, decided from one set of
/// observations: a pure value, so the rules are tested without a database or Redis.
///
/// The shape is Directus's (`api/src/services/server.ts` `health()`, after
/// draft-inadarei-api-health-check): `status`, `releaseId`, `serviceId` and `checks`,
/// the last three for admins only. Readiness is stricter than `status` in one way and
/// looser in another: a replica whose messenger never subscribed is not ready (it would
/// miss other replicas' events) though `status` only warns, and a replica that lost
/// Redis later stays ready (local delivery goes on, the outbox closes the gap) with `warn`.
public struct HealthReport: Sendable, Equatable {
    public enum Status: String, Sendable, Comparable {
        case ok, warn, error

        private var rank: Int {
            switch self {
            case .ok: 0
            case .warn: 1
            case .error: 2
            }
        }

        public static func < (a: Status, b: Status) -> Bool { a.rank < b.rank }
    }

    /// One entry of `checks`, as Directus writes them.
    public struct Check: Sendable, Equatable {
        public var name: String
        public var componentType: String
        public var observedValue: JSONValue
        public var observedUnit: String?
        public var status: Status
        public var threshold: Int64?
        public var output: String?

        var json: JSONValue {
            var o: JSONObject = ["componentType": .string(componentType), "observedValue": observedValue]
            if let observedUnit { o["observedUnit"] = .string(observedUnit) }
            o["status"] = .string(status.rawValue)
            if let threshold { o["threshold"] = .int(threshold) }
            if let output { o["output"] = .string(output) }
            return .object(o)
        }
    }

    /// How a database ping went.
    public enum DatabaseProbe: Sendable, Equatable {
        case answered(milliseconds: Double)
        /// No answer (an error or the probe's timeout) after this long.
        case failed(milliseconds: Double)
    }

    /// The cluster messenger's connection (absent on a single node).
    public struct MessengerProbe: Sendable, Equatable {
        /// `connected`, `connecting` or `disconnected`.
        public var state: String
        /// Whether its subscriptions were ever confirmed since the process started.
        public var hasSubscribed: Bool

        public init(state: String, hasSubscribed: Bool) {
            self.state = state
            self.hasSubscribed = hasSubscribed
        }
    }

    /// How far local delivery is behind the events known to exist.
    public struct OutboxLag: Sendable, Equatable {
        /// Events committed (or held above a gap) and not yet delivered here.
        public var events: Int64
        /// How long some collection has been behind without pause, in ms (0 when caught up).
        public var behindForMilliseconds: Int64

        public init(events: Int64, behindForMilliseconds: Int64) {
            self.events = events
            self.behindForMilliseconds = behindForMilliseconds
        }
    }

    /// The database's connections at the time of the probe (Directus's `connectionsAvailable` /
    /// `connectionsUsed`, from its pool).
    public struct ConnectionPool: Sendable, Equatable {
        /// Connections held by an operation.
        public var used: Int
        /// Connections that can still be handed out without waiting (capacity minus used).
        public var available: Int

        public init(used: Int, available: Int) {
            self.used = used
            self.available = available
        }
    }

    public struct Observations: Sendable, Equatable {
        public var draining: Bool
        public var database: DatabaseProbe
        public var pool: ConnectionPool?
        public var messenger: MessengerProbe?
        public var outboxLag: OutboxLag?

        public init(
            draining: Bool, database: DatabaseProbe, pool: ConnectionPool? = nil, messenger: MessengerProbe?,
            outboxLag: OutboxLag?
        ) {
            self.draining = draining
            self.database = database
            self.pool = pool
            self.messenger = messenger
            self.outboxLag = outboxLag
        }
    }

    public struct Settings: Sendable, Equatable {
        /// `releaseId`: the server's version.
        public var releaseID: String
        /// `serviceId`: `PUBLIC_URL`, as Directus (omitted when unset).
        public var serviceID: String?
        /// `DB_CLIENT`, naming the database check (`pg:responseTime`).
        public var databaseClient: String
        /// Response time above which the database check warns (`DB_HEALTHCHECK_THRESHOLD`).
        public var databaseThresholdMilliseconds: Int64
        /// How long delivery may stay behind before the outbox check warns: backfills
        /// normally close a gap within a couple of periodic checks (2 s apart).
        public var outboxLagThresholdMilliseconds: Int64

        public init(
            releaseID: String, serviceID: String?, databaseClient: String, databaseThresholdMilliseconds: Int64 = 150,
            outboxLagThresholdMilliseconds: Int64 = 10_000
        ) {
            self.releaseID = releaseID
            self.serviceID = serviceID
            self.databaseClient = databaseClient
            self.databaseThresholdMilliseconds = databaseThresholdMilliseconds
            self.outboxLagThresholdMilliseconds = outboxLagThresholdMilliseconds
        }
    }

    public let settings: Settings
    public let observed: Observations
    /// The worst of the checks; `error` while draining.
    public let status: Status
    /// Why the replica must not take traffic now (empty: it is ready).
    public let notReadyBecause: [String]
    public let checks: [Check]

    public var isReady: Bool { notReadyBecause.isEmpty }

    public init(_ observed: Observations, settings: Settings) {
        self.settings = settings
        self.observed = observed
        var checks: [Check] = []
        var notReady: [String] = []
        if observed.draining { notReady.append("draining") }

        var database = Check(
            name: "\(settings.databaseClient):responseTime", componentType: "datastore", observedValue: 0,
            observedUnit: "ms", status: .ok, threshold: settings.databaseThresholdMilliseconds)
        switch observed.database {
        case .answered(let ms):
            database.observedValue = .double(Self.rounded(ms))
            if ms > Double(settings.databaseThresholdMilliseconds) { database.status = .warn }
        case .failed(let ms):
            database.observedValue = .double(Self.rounded(ms))
            database.status = .error
            database.output = "Can't connect to the database."
            notReady.append("database unreachable")
        }
        checks.append(database)
        if let pool = observed.pool {
            for (suffix, value) in [("connectionsAvailable", pool.available), ("connectionsUsed", pool.used)] {
                checks.append(
                    Check(
                        name: "\(settings.databaseClient):\(suffix)", componentType: "datastore",
                        observedValue: .int(Int64(value)), status: .ok))
            }
        }

        if let messenger = observed.messenger {
            var check = Check(
                name: "messenger:redis", componentType: "datastore", observedValue: .string(messenger.state),
                status: messenger.state == "connected" ? .ok : .warn)
            if !messenger.hasSubscribed {
                check.output = "not subscribed to Redis yet: other replicas' events would be missed"
                notReady.append("messenger not subscribed yet")
            } else if check.status != .ok {
                check.output = "Redis unreachable: local delivery goes on, other replicas' events follow from the outbox"
            }
            checks.append(check)
        }

        if let lag = observed.outboxLag {
            var check = Check(
                name: "outbox:lag", componentType: "system", observedValue: .int(lag.events), observedUnit: "events",
                status: .ok, threshold: settings.outboxLagThresholdMilliseconds)
            if lag.events > 0 && lag.behindForMilliseconds >= settings.outboxLagThresholdMilliseconds {
                check.status = .warn
                check.output = "behind for \(lag.behindForMilliseconds / 1000) s"
            }
            checks.append(check)
        }

        self.checks = checks
        self.notReadyBecause = notReady
        self.status = observed.draining ? .error : checks.map(\.status).max() ?? .ok
    }

    /// Whether `/server/health` answers 503 (as Directus: when the status is `error`).
    public var isUnavailable: Bool { status == .error }

    /// `/server/health`'s body: `{status}` for everyone, the rest for admins only.
    public func body(forAdmin admin: Bool) -> JSONValue {
        var o: JSONObject = ["status": .string(status.rawValue)]
        guard admin else { return .object(o) }
        o["releaseId"] = .string(settings.releaseID)
        if let serviceID = settings.serviceID { o["serviceId"] = .string(serviceID) }
        var checksObject = JSONObject()
        for check in checks { checksObject[check.name] = [check.json] }
        o["checks"] = .object(checksObject)
        return .object(o)
    }

    /// `/server/health/ready`'s body: `ok`, or `error` with the reasons (none of them secret).
    public var readinessBody: JSONValue {
        guard !isReady else { return ["status": "ok"] }
        return ["status": "error", "output": .string(notReadyBecause.joined(separator: "; "))]
    }

    /// Milliseconds to three decimals, as Directus prints them.
    static func rounded(_ ms: Double) -> Double { (ms * 1000).rounded() / 1000 }
}
