import SwitchboardCore

/// The outbox: every committed change with its per-collection sequence
/// number, written in the change's own transaction. It is the truth that
/// replicas backfill gaps from, that clients resume from (`after`), and that
/// is trimmed by age and size — never past what a live replica still needs.
///
/// Tables: `switchboard_seq` (the last seq per collection), `switchboard_outbox`
/// (the events), `switchboard_replicas` (how far each replica delivered).
public struct Outbox: Sendable {
    let database: any SQLDatabase

    // MARK: Writing (inside a write transaction)

    /// Allocates the next seq of `collection` and stores the event under it.
    /// The seq row stays locked until commit, so seqs commit in seq order.
    /// On PostgreSQL both happen in one statement (one round trip per event); the event's
    /// text is assembled around the seq the statement allocates.
    static func append(
        _ executor: any SQLExecutor, dialect: SQLDialect, collection: String, _ makeEvent: (Int64) -> ChangeEvent
    ) async throws -> ChangeEvent {
        switch dialect {
        case .postgres:
            var event = makeEvent(0)
            let text = event.jsonAroundSeq
            let rows = try await executor.query(
                "WITH s AS (\(allocateSeq) RETURNING seq) INSERT INTO switchboard_outbox (collection, seq, action, event, created_at) SELECT ?, s.seq, ?, CAST(? AS TEXT) || CAST(s.seq AS TEXT) || CAST(? AS TEXT), ? FROM s RETURNING seq",
                [
                    .text(collection), .text(collection), .text(event.action.rawValue), .text(text.prefix), .text(text.suffix),
                    .int(event.timestamp.epochMilliseconds),
                ])
            guard let seq = rows.first?[0].int else { throw SwitchboardError.internalError("sequence allocation failed") }
            event.seq = seq
            return event
        case .sqlite:
            let seqRows = try await executor.query("\(allocateSeq) RETURNING seq", [.text(collection)])
            guard let seq = seqRows.first?[0].int else { throw SwitchboardError.internalError("sequence allocation failed") }
            let event = makeEvent(seq)
            try await executor.execute(
                "INSERT INTO switchboard_outbox (collection, seq, action, event, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(collection), .int(seq), .text(event.action.rawValue), .text(JSONValue.object(event.json).jsonString),
                    .int(event.timestamp.epochMilliseconds),
                ])
            return event
        }
    }

    /// Takes the next seq of the collection bound first (the row is locked until commit).
    private static let allocateSeq =
        "INSERT INTO switchboard_seq (collection, seq) VALUES (?, 1) ON CONFLICT (collection) DO UPDATE SET seq = switchboard_seq.seq + 1"

    /// A dropped collection's events go with it (its seq keeps counting if it is created again).
    static func forget(_ collection: String, _ executor: any SQLExecutor) async throws {
        try await executor.execute("DELETE FROM switchboard_outbox WHERE collection = ?", [.text(collection)])
    }

    static func createTables(_ executor: any SQLExecutor, dialect: SQLDialect) async throws {
        let bigint = dialect == .sqlite ? "INTEGER" : "BIGINT"
        try await executor.execute(
            "CREATE TABLE IF NOT EXISTS switchboard_seq (collection VARCHAR(255) PRIMARY KEY, seq \(bigint) NOT NULL)")
        try await executor.execute(
            "CREATE TABLE IF NOT EXISTS switchboard_outbox (collection VARCHAR(255) NOT NULL, seq \(bigint) NOT NULL, action VARCHAR(16) NOT NULL, event TEXT NOT NULL, created_at \(bigint) NOT NULL, PRIMARY KEY (collection, seq))"
        )
        try await executor.execute(SchemaDDL(dialect: dialect).index("switchboard_outbox", ["created_at"]))
        try await executor.execute(
            "CREATE TABLE IF NOT EXISTS switchboard_replicas (replica VARCHAR(255) NOT NULL, collection VARCHAR(255) NOT NULL, last_seq \(bigint) NOT NULL, seen_at \(bigint) NOT NULL, PRIMARY KEY (replica, collection))"
        )
    }

    // MARK: Reading

    /// The seq of the last committed change to `collection` (0 if none).
    public func currentSeq(_ collection: String) async throws -> Int64 {
        try await database.read { db in
            try await db.query("SELECT seq FROM switchboard_seq WHERE collection = ?", [.text(collection)]).first?[0].int ?? 0
        }
    }

    /// The last committed seq of each of `collections` (0 for those without changes), in one query.
    public func currentSeqs(_ collections: [String]) async throws -> [String: Int64] {
        guard !collections.isEmpty else { return [:] }
        var statement = SQLStatement("SELECT collection, seq FROM switchboard_seq WHERE collection IN (")
        for (i, c) in collections.enumerated() {
            if i > 0 { statement.append(", ") }
            statement.bind(.text(c))
        }
        statement.append(")")
        let query = statement
        let rows = try await database.read { db in try await db.query(query) }
        var out = Dictionary(uniqueKeysWithValues: collections.map { ($0, Int64(0)) })
        for row in rows { if let c = row[0].text, let s = row[1].int { out[c] = s } }
        return out
    }

    /// Events of `collection` with `seq > after`, oldest first, at most `limit` rows.
    public func events(_ collection: String, after: Int64, limit: Int = 1000) async throws -> [ChangeEvent] {
        try await database.read { executor in
            try await executor.query(
                "SELECT event FROM switchboard_outbox WHERE collection = ? AND seq > ? ORDER BY seq LIMIT \(max(1, limit))",
                [.text(collection), .int(after)]
            ).compactMap { row in
                // An unreadable row (never written by this code) reads as a hole, which the relay logs as skipped.
                row[0].text.flatMap { try? JSONValue(parsing: $0) }?.objectValue.flatMap(ChangeEvent.init(json:))
            }
        }
    }

    // MARK: Retention

    /// Trims the outbox: events older than `cutoff` (epoch ms) go, and so do
    /// events beyond the newest `maxPerCollection` of a collection — but never
    /// one that a replica seen within `liveWindowMs` has not delivered yet.
    public func trim(olderThan cutoff: Int64, maxPerCollection: Int, liveWindowMs: Int64 = 60_000) async throws -> Int {
        let now = ISOTimestamp.now().epochMilliseconds
        return try await database.transaction { executor in
            try await executor.execute(
                """
                DELETE FROM switchboard_outbox WHERE (created_at < ? OR seq <= (SELECT s.seq - ? FROM switchboard_seq AS s WHERE s.collection = switchboard_outbox.collection))
                AND seq <= COALESCE((SELECT MIN(r.last_seq) FROM switchboard_replicas AS r WHERE r.collection = switchboard_outbox.collection AND r.seen_at >= ?), seq)
                """,
                [.int(cutoff), .int(Int64(maxPerCollection)), .int(now - liveWindowMs)])
        }
    }

    /// Records how far `replica` has delivered each followed collection.
    public func reportPositions(replica: String, _ positions: [String: Int64]) async throws {
        guard !positions.isEmpty else { return }
        let now = ISOTimestamp.now().epochMilliseconds
        try await database.transaction { executor in
            for (collection, seq) in positions {
                try await executor.execute(
                    "INSERT INTO switchboard_replicas (replica, collection, last_seq, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT (replica, collection) DO UPDATE SET last_seq = excluded.last_seq, seen_at = excluded.seen_at",
                    [.text(replica), .text(collection), .int(seq), .int(now)])
            }
            try await executor.execute("DELETE FROM switchboard_replicas WHERE seen_at < ?", [.int(now - 86_400_000)])
        }
    }
}
