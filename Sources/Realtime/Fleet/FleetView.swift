import SwitchboardCore

/// The replicas one replica has heard from, as the admin view shows them: snapshots in (from
/// the messenger and from itself), changes out (`create` for a replica seen for the first time,
/// `update` for a newer snapshot, `delete` for one not heard from for `expireAfterMs`). Changes
/// come only from `tick`, once per interval, so a subscriber gets at most one event per replica
/// per interval however often snapshots arrive. Times are the caller's clock (ms); expiry uses
/// only the receiving replica's clock, so clock skew between replicas cannot expire anyone.
public struct FleetView: Sendable {
    /// One replica as subscribers see it.
    public struct Row: Sendable, Equatable {
        public var snapshot: ReplicaSnapshot
        /// Counter deltas over the two newest snapshots of the same run, per second (0 for the first).
        public var eventsReceivedPerSecond: Double
        public var eventsDeliveredPerSecond: Double

        /// The row of the `switchboard_replicas` virtual collection.
        public var json: JSONValue {
            let s = snapshot
            return [
                "id": .string(s.replica),
                "started_at": .string(ISOTimestamp(epochMilliseconds: s.startedAt).iso8601),
                "updated_at": .string(ISOTimestamp(epochMilliseconds: s.takenAt).iso8601),
                "connections": ReplicaSnapshot.counts(s.connections),
                "connections_total": .int(Int64(s.connections.values.reduce(0, +))),
                "subscriptions": ReplicaSnapshot.counts(s.subscriptions),
                "subscriptions_total": .int(Int64(s.subscriptions.values.reduce(0, +))),
                "events_received": .int(Int64(clamping: s.eventsReceived)),
                "events_delivered": .int(Int64(clamping: s.eventsDelivered)),
                "events_received_per_second": .double(eventsReceivedPerSecond),
                "events_delivered_per_second": .double(eventsDeliveredPerSecond),
            ]
        }
    }

    public enum Change: Sendable, Equatable {
        case create(Row)
        case update(Row)
        case delete(replica: String)

        public var replica: String {
            switch self {
            case .create(let row), .update(let row): row.snapshot.replica
            case .delete(let replica): replica
            }
        }
    }

    private struct Heard {
        var row: Row
        /// When the newest snapshot arrived (the caller's clock).
        var heardAt: Int64
    }

    /// A replica unheard for longer than this leaves the view.
    public let expireAfterMs: Int64
    private var heard: [String: Heard] = [:]
    /// What subscribers were last told, per replica.
    private var shown: [String: Row] = [:]

    /// `intervalMs`: how often replicas send snapshots; one silent for `expireAfterIntervals` of them is gone.
    public init(intervalMs: Int64, expireAfterIntervals: Int64 = 3) {
        expireAfterMs = max(1, intervalMs) * max(1, expireAfterIntervals)
    }

    /// Takes a snapshot. One that is not newer than the last of the same run (a duplicate, an echo
    /// of this replica's own publish, a late delivery) changes nothing; a restarted replica
    /// (another `startedAt` under the same id) starts its rates afresh.
    public mutating func receive(_ snapshot: ReplicaSnapshot, now: Int64) {
        var perSecond = (received: 0.0, delivered: 0.0)
        if let known = heard[snapshot.replica]?.row.snapshot, known.startedAt == snapshot.startedAt {
            guard snapshot.takenAt > known.takenAt else { return }
            let seconds = Double(snapshot.takenAt - known.takenAt) / 1000
            perSecond.received = Self.rate(snapshot.eventsReceived, known.eventsReceived, seconds)
            perSecond.delivered = Self.rate(snapshot.eventsDelivered, known.eventsDelivered, seconds)
        }
        heard[snapshot.replica] = Heard(
            row: Row(
                snapshot: snapshot, eventsReceivedPerSecond: perSecond.received, eventsDeliveredPerSecond: perSecond.delivered),
            heardAt: now)
    }

    /// What changed since the last tick, by replica id; replicas unheard for `expireAfterMs` are removed.
    public mutating func tick(now: Int64) -> [Change] {
        var changes: [Change] = []
        for (replica, h) in heard where now - h.heardAt > expireAfterMs {
            heard[replica] = nil
        }
        for replica in shown.keys.sorted() where heard[replica] == nil {
            shown[replica] = nil
            changes.append(.delete(replica: replica))
        }
        for replica in heard.keys.sorted() {
            guard let row = heard[replica]?.row else { continue }
            switch shown[replica] {
            case nil: changes.append(.create(row))
            case let old? where old != row: changes.append(.update(row))
            default: continue
            }
            shown[replica] = row
        }
        return changes
    }

    /// The rows subscribers were last told about (an `init`), by replica id.
    public var rows: [Row] { shown.keys.sorted().compactMap { shown[$0] } }

    /// One decimal, so the page shows steady numbers; a counter that went backwards counts as 0.
    static func rate(_ now: UInt64, _ before: UInt64, _ seconds: Double) -> Double {
        guard seconds > 0, now >= before else { return 0 }
        return (Double(now - before) / seconds * 10).rounded() / 10
    }
}
