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

    /// Allocates the next seq of the event's collection and stores the event under it (its
    /// `seq` is ignored and replaced). The seq row stays locked until commit, so seqs commit in
    /// seq order. On PostgreSQL both happen in one statement (one round trip per event); the
    /// event's text is assembled around the seq the statement allocates. `committing`: it is the
    /// transaction's last statement (`SQLExecutor.queryCommitting`).
    static func append(
        _ executor: any SQLExecutor, dialect: SQLDialect, _ event: ChangeEvent, committing: Bool = false
    ) async throws -> ChangeEvent {
        var event = event
        switch dialect {
        case .postgres:
            let text = event.jsonAroundSeq
            var sql = SQLStatement("WITH s AS (\(allocateSeq) RETURNING seq) ", [.text(event.collection)])
            sql.append(storing(event, seqFrom: "s", pieces: [text.prefix, text.suffix]))
            sql.append(" RETURNING seq")
            guard let seq = try await executor.query(sql, committing: committing).first?[0].int else {
                throw SwitchboardError.internalError("sequence allocation failed")
            }
            event.seq = seq
        case .sqlite:
            let seqRows = try await executor.query("\(allocateSeq) RETURNING seq", [.text(event.collection)])
            guard let seq = seqRows.first?[0].int else { throw SwitchboardError.internalError("sequence allocation failed") }
            event.seq = seq
            try await executor.execute(
                "INSERT INTO switchboard_outbox (collection, seq, action, event, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(event.collection), .int(seq), .text(event.action.rawValue),
                    .text(JSONValue.object(event.json).jsonString),
                    .int(event.timestamp.epochMilliseconds),
                ])
        }
        return event
    }

    /// PostgreSQL only: the end of a write in one round trip instead of three. Stores `pending`
    /// (if any; as `append`), runs `insert` (one row: `INSERT … RETURNING <integer key> AS row_key`)
    /// and stores `rowEvent(key)`, the event of that row. `pending` must belong to another
    /// collection than the row (one statement can lock a seq row once). `committing`: it is the
    /// transaction's last statement (`SQLExecutor.queryCommitting`).
    static func append(
        _ executor: any SQLExecutor, pending: ChangeEvent?, insert: SQLStatement, committing: Bool = false,
        rowEvent: (JSONValue) -> ChangeEvent
    ) async throws -> (pending: ChangeEvent?, row: ChangeEvent) {
        // The row event is rendered once with a stand-in key no payload will contain (128 random bits per
        // call); its text is cut there and the statement puts the allocated key in each cut.
        let standIn =
            "row-key-\(String(UInt64.random(in: .min ... .max), radix: 16))\(String(UInt64.random(in: .min ... .max), radix: 16))"
        let template = rowEvent(.string(standIn))
        let around = template.jsonAroundSeq
        let cuts = around.suffix.split(separator: JSONValue.string(standIn).jsonString, omittingEmptySubsequences: false)
        var sql = SQLStatement("WITH ")
        if let pending {
            let text = pending.jsonAroundSeq
            sql.append(SQLStatement("p_seq AS (\(allocateSeq) RETURNING seq), p_event AS (", [.text(pending.collection)]))
            sql.append(storing(pending, seqFrom: "p_seq", pieces: [text.prefix, text.suffix]))
            sql.append(" RETURNING seq), ")
        }
        sql.append("r AS (")
        sql.append(insert)
        // The sub-statements of one WITH run in no set order; the row's seq is allocated from
        // `p_event`'s output, so the pending seq row is always locked first, as two statements
        // would (otherwise two writers can lock the two seq rows in opposite orders: a deadlock).
        let rowSeq = pending == nil ? allocateSeq : allocatingSeq(of: "SELECT ?, 1 FROM p_event")
        sql.append(SQLStatement("), r_seq AS (\(rowSeq) RETURNING seq) ", [.text(template.collection)]))
        sql.append(storing(template, seqFrom: "r_seq", pieces: [around.prefix] + cuts.map(String.init), keyFrom: "r"))
        sql.append(" RETURNING seq, \(pending == nil ? "NULL" : "(SELECT seq FROM p_event)"), (SELECT row_key FROM r)")
        guard let result = try await executor.query(sql, committing: committing).first, let seq = result[0].int,
            let key = result[2].int, pending == nil || result[1].int != nil
        else { throw SwitchboardError.internalError("sequence allocation failed") }
        var row = rowEvent(.int(key))
        row.seq = seq
        var stored = pending
        stored?.seq = result[1].int ?? 0
        return (stored, row)
    }

    /// `INSERT INTO switchboard_outbox … SELECT … FROM <seqFrom>[, <keyFrom>]`. The event's text is
    /// `pieces[0]`, the seq, `pieces[1]`, then each further piece after the row's key.
    private static func storing(_ event: ChangeEvent, seqFrom: String, pieces: [String], keyFrom: String? = nil) -> SQLStatement {
        var sql = SQLStatement("INSERT INTO switchboard_outbox (collection, seq, action, event, created_at) SELECT ")
        sql.bind(.text(event.collection))
        sql.append(", \(seqFrom).seq, ")
        sql.bind(.text(event.action.rawValue))
        sql.append(", ")
        for (i, piece) in pieces.enumerated() {
            if i == 1 { sql.append(" || CAST(\(seqFrom).seq AS TEXT) || ") }
            if i > 1, let keyFrom { sql.append(" || CAST(\(keyFrom).row_key AS TEXT) || ") }
            sql.append("CAST(")
            sql.bind(.text(piece))
            sql.append(" AS TEXT)")
        }
        sql.append(", ")
        sql.bind(.int(event.timestamp.epochMilliseconds))
        sql.append(" FROM \(seqFrom)" + (keyFrom.map { ", \($0)" } ?? ""))
        return sql
    }

    /// Takes the next seq of the collection bound first (the row is locked until commit).
    private static let allocateSeq = allocatingSeq(of: "VALUES (?, 1)")

    /// Takes the next seq of the collection that `rows` (one row: collection, 1) names.
    private static func allocatingSeq(of rows: String) -> String {
        "INSERT INTO switchboard_seq (collection, seq) \(rows) ON CONFLICT (collection) DO UPDATE SET seq = switchboard_seq.seq + 1"
    }

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
