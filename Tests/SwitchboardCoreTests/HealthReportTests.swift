import Testing

@testable import SwitchboardCore

@Suite struct HealthReportTests {
    static let settings = HealthReport.Settings(
        releaseID: "0.1.0", serviceID: "https://data.example.com", databaseClient: "pg", databaseThresholdMilliseconds: 150,
        outboxLagThresholdMilliseconds: 10_000)

    static func report(
        draining: Bool = false, database: HealthReport.DatabaseProbe = .answered(milliseconds: 1.5),
        pool: HealthReport.ConnectionPool? = nil, messenger: HealthReport.MessengerProbe? = nil,
        lag: HealthReport.OutboxLag? = nil
    ) -> HealthReport {
        HealthReport(
            .init(draining: draining, database: database, pool: pool, messenger: messenger, outboxLag: lag),
            settings: settings)
    }

    static let subscribed = HealthReport.MessengerProbe(state: "connected", hasSubscribed: true)

    @Test func aHealthySingleNodeIsOkAndReady() {
        let r = Self.report(lag: .init(events: 0, behindForMilliseconds: 0))
        #expect(r.status == .ok)
        #expect(r.isReady)
        #expect(!r.isUnavailable)
        #expect(r.readinessBody == ["status": "ok"])
    }

    @Test func theBodyIsDirectusShapedAndChecksAreForAdminsOnly() {
        let r = Self.report(
            pool: .init(used: 2, available: 8), messenger: Self.subscribed, lag: .init(events: 0, behindForMilliseconds: 0))
        #expect(r.body(forAdmin: false) == ["status": "ok"])
        let admin = r.body(forAdmin: true)
        #expect(
            admin
                == [
                    "status": "ok", "releaseId": "0.1.0", "serviceId": "https://data.example.com",
                    "checks": [
                        "pg:responseTime": [
                            [
                                "componentType": "datastore", "observedValue": 1.5, "observedUnit": "ms", "status": "ok",
                                "threshold": 150,
                            ]
                        ],
                        "pg:connectionsAvailable": [["componentType": "datastore", "observedValue": 8, "status": "ok"]],
                        "pg:connectionsUsed": [["componentType": "datastore", "observedValue": 2, "status": "ok"]],
                        "messenger:redis": [["componentType": "datastore", "observedValue": "connected", "status": "ok"]],
                        "outbox:lag": [
                            [
                                "componentType": "system", "observedValue": 0, "observedUnit": "events", "status": "ok",
                                "threshold": 10_000,
                            ]
                        ],
                    ],
                ])
    }

    @Test func drainingIsAnErrorAndNotReady() {
        let r = Self.report(draining: true, messenger: Self.subscribed)
        #expect(r.status == .error)
        #expect(r.isUnavailable)
        #expect(!r.isReady)
        #expect(r.readinessBody == ["status": "error", "output": "draining"])
    }

    @Test func anUnreachableDatabaseIsAnErrorAndNotReady() {
        let r = Self.report(database: .failed(milliseconds: 1000.0004))
        #expect(r.status == .error)
        #expect(!r.isReady)
        #expect(r.notReadyBecause == ["database unreachable"])
        let check = r.checks.first { $0.name == "pg:responseTime" }
        #expect(check?.status == .error)
        #expect(check?.output == "Can't connect to the database.")
        #expect(check?.observedValue == 1000.0)
    }

    @Test func aSlowDatabaseWarnsButStaysReady() {
        let r = Self.report(database: .answered(milliseconds: 151))
        #expect(r.status == .warn)
        #expect(r.isReady)
        #expect(!r.isUnavailable)
    }

    @Test func aMessengerThatNeverSubscribedWarnsAndIsNotReady() {
        let r = Self.report(messenger: .init(state: "connecting", hasSubscribed: false))
        #expect(r.status == .warn)
        #expect(!r.isUnavailable)
        #expect(!r.isReady)
        #expect(r.readinessBody == ["status": "error", "output": "messenger not subscribed yet"])
    }

    @Test func redisLostAfterTheFirstSubscribeWarnsAndStaysReady() {
        let r = Self.report(messenger: .init(state: "connecting", hasSubscribed: true))
        #expect(r.status == .warn)
        #expect(r.isReady)
        #expect(r.checks.first { $0.name == "messenger:redis" }?.observedValue == "connecting")
    }

    @Test func outboxLagWarnsOnlyOnceItLastsPastTheThreshold() {
        #expect(Self.report(lag: .init(events: 40, behindForMilliseconds: 9_999)).status == .ok)
        let r = Self.report(lag: .init(events: 40, behindForMilliseconds: 12_000))
        #expect(r.status == .warn)
        #expect(r.isReady)
        let check = r.checks.first { $0.name == "outbox:lag" }
        #expect(check?.observedValue == 40)
        #expect(check?.output == "behind for 12 s")
    }

    @Test func everyReasonIsListedAndTheWorstCheckWins() {
        let r = Self.report(
            draining: true, database: .failed(milliseconds: 3), messenger: .init(state: "connecting", hasSubscribed: false))
        #expect(r.notReadyBecause == ["draining", "database unreachable", "messenger not subscribed yet"])
        #expect(r.status == .error)
        #expect(HealthReport.Status.warn > .ok && HealthReport.Status.error > .warn)
    }

    @Test func serviceIdIsLeftOutWhenPublicURLIsUnset() {
        var settings = Self.settings
        settings.serviceID = nil
        let r = HealthReport(
            .init(draining: false, database: .answered(milliseconds: 0), messenger: nil, outboxLag: nil), settings: settings)
        guard case .object(let o) = r.body(forAdmin: true) else { return #expect(Bool(false)) }
        #expect(o.keys == ["status", "releaseId", "checks"])
    }
}
