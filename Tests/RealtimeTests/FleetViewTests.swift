import SwitchboardCore
import Testing

@testable import Realtime

@Suite struct FleetViewTests {
    func snapshot(
        _ replica: String, at takenAt: Int64, started: Int64 = 1_000, received: UInt64 = 0, delivered: UInt64 = 0,
        subscriptions: [String: Int] = [:]
    ) -> ReplicaSnapshot {
        ReplicaSnapshot(
            replica: replica, startedAt: started, takenAt: takenAt, connections: ["user": 1, "public": 0],
            subscriptions: subscriptions, eventsReceived: received, eventsDelivered: delivered)
    }

    func actions(_ changes: [FleetView.Change]) -> [String] {
        changes.map { change in
            switch change {
            case .create(let row): "create \(row.snapshot.replica)"
            case .update(let row): "update \(row.snapshot.replica)"
            case .delete(let replica): "delete \(replica)"
            }
        }
    }

    @Test func aReplicaHeardForTheFirstTimeIsCreatedThenUpdated() {
        var view = FleetView(intervalMs: 1000)
        view.receive(snapshot("b", at: 10_000), now: 0)
        view.receive(snapshot("a", at: 10_000), now: 0)
        #expect(actions(view.tick(now: 0)) == ["create a", "create b"])
        view.receive(snapshot("a", at: 11_000), now: 1000)
        #expect(actions(view.tick(now: 1000)) == ["update a"])
        #expect(view.rows.map(\.snapshot.replica) == ["a", "b"])
    }

    @Test func nothingNewMeansNoChange() {
        var view = FleetView(intervalMs: 1000)
        view.receive(snapshot("a", at: 10_000), now: 0)
        _ = view.tick(now: 0)
        #expect(view.tick(now: 500).isEmpty)
    }

    @Test func manySnapshotsBetweenTicksMakeOneUpdate() {
        var view = FleetView(intervalMs: 1000)
        view.receive(snapshot("a", at: 10_000), now: 0)
        _ = view.tick(now: 0)
        for i in 1...5 { view.receive(snapshot("a", at: 10_000 + Int64(i) * 100, received: UInt64(i)), now: Int64(i) * 100) }
        let changes = view.tick(now: 1000)
        #expect(actions(changes) == ["update a"])
        guard case .update(let row) = changes.first else { return }
        #expect(row.snapshot.eventsReceived == 5)
    }

    @Test func duplicatesAndOlderSnapshotsAreIgnored() {
        var view = FleetView(intervalMs: 1000)
        view.receive(snapshot("a", at: 10_000, received: 7), now: 0)
        _ = view.tick(now: 0)
        view.receive(snapshot("a", at: 10_000, received: 9), now: 100)  // an echo with the same time
        view.receive(snapshot("a", at: 9_000, received: 1), now: 200)  // late
        #expect(view.tick(now: 300).isEmpty)
        #expect(view.rows.first?.snapshot.eventsReceived == 7)
    }

    @Test func ratesComeFromCounterDeltasBetweenSnapshots() {
        var view = FleetView(intervalMs: 1000)
        view.receive(snapshot("a", at: 10_000, received: 100, delivered: 1_000), now: 0)
        view.receive(snapshot("a", at: 12_000, received: 130, delivered: 1_005), now: 2000)
        _ = view.tick(now: 2000)
        let row = view.rows.first
        #expect(row?.eventsReceivedPerSecond == 15)
        #expect(row?.eventsDeliveredPerSecond == 2.5)
    }

    @Test func aRestartedReplicaStartsItsRatesAfresh() {
        var view = FleetView(intervalMs: 1000)
        view.receive(snapshot("a", at: 10_000, started: 1_000, received: 500), now: 0)
        view.receive(snapshot("a", at: 11_000, started: 10_500, received: 3), now: 1000)
        _ = view.tick(now: 1000)
        #expect(view.rows.first?.snapshot.startedAt == 10_500)
        #expect(view.rows.first?.eventsReceivedPerSecond == 0)
    }

    @Test func aReplicaUnheardForThreeIntervalsIsDeleted() {
        var view = FleetView(intervalMs: 1000)
        view.receive(snapshot("a", at: 10_000), now: 0)
        view.receive(snapshot("b", at: 10_000), now: 0)
        _ = view.tick(now: 0)
        view.receive(snapshot("a", at: 13_000), now: 3000)
        #expect(actions(view.tick(now: 3000)) == ["update a"])  // b: 3 s, not more
        #expect(actions(view.tick(now: 3001)) == ["delete b"])
        #expect(view.rows.map(\.snapshot.replica) == ["a"])
        view.receive(snapshot("b", at: 20_000), now: 4000)
        #expect(actions(view.tick(now: 4000)) == ["create b"])
    }

    @Test func aReplicaNeverShownLeavesWithoutADelete() {
        var view = FleetView(intervalMs: 1000)
        view.receive(snapshot("a", at: 10_000), now: 0)
        #expect(view.tick(now: 5000).isEmpty)
    }

    @Test func theRowNamesTheReplicaItsTotalsAndRates() {
        var view = FleetView(intervalMs: 1000)
        view.receive(snapshot("a", at: 10_000, subscriptions: ["posts": 2, "switchboard_replicas": 1]), now: 0)
        _ = view.tick(now: 0)
        let json = view.rows.first?.json
        #expect(json?["id"] == "a")
        #expect(json?["connections_total"] == 1)
        #expect(json?["subscriptions_total"] == 3)
        #expect(json?["subscriptions"]?["posts"] == 2)
        #expect(json?["started_at"] == "1970-01-01T00:00:01.000Z")
        #expect(json?["events_received_per_second"] == 0)
    }

    @Test func snapshotsSurviveTheWireAndStrayPayloadsAreRefused() throws {
        let s = snapshot("host:42", at: 123_456, received: 9, delivered: 10, subscriptions: ["posts": 3])
        #expect(ReplicaSnapshot(json: try JSONReader.parse(s.json.jsonBytes)) == s)
        #expect(ReplicaSnapshot(json: ["v": 2, "replica": "x"]) == nil)
        #expect(ReplicaSnapshot(json: ["kind": "schema"]) == nil)
        var negative = s.json
        if case .object(var o) = negative {
            o["events_received"] = -1
            negative = .object(o)
        }
        #expect(ReplicaSnapshot(json: negative) == nil)
    }
}
