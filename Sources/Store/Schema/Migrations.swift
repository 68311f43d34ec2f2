import SwitchboardCore

/// Creates the system tables, the outbox and their indexes. Idempotent: every
/// statement is `IF NOT EXISTS`, so running it on every start is safe.
enum Migrations {
    static func run(_ executor: any SQLExecutor, dialect: SQLDialect) async throws {
        let ddl = SchemaDDL(dialect: dialect)
        if dialect == .postgres {
            // Replicas starting together must not create the same tables at once.
            _ = try await executor.query("SELECT pg_advisory_xact_lock(73204501)")
        }
        for collection in SystemCollections.all {
            try await executor.execute(
                ddl.createTable(collection, extraColumns: SystemCollections.internalColumns[collection.name] ?? []))
        }
        let bigint = dialect == .sqlite ? "INTEGER" : "BIGINT"
        try await executor.execute(
            "CREATE TABLE IF NOT EXISTS switchboard_seq (collection VARCHAR(255) PRIMARY KEY, seq \(bigint) NOT NULL)")
        // The outbox holds each committed event with its per-collection sequence number.
        try await executor.execute(
            "CREATE TABLE IF NOT EXISTS switchboard_outbox (collection VARCHAR(255) NOT NULL, seq \(bigint) NOT NULL, action VARCHAR(16) NOT NULL, event TEXT NOT NULL, created_at \(bigint) NOT NULL, PRIMARY KEY (collection, seq))"
        )
        try await executor.execute(ddl.index("switchboard_outbox", ["created_at"]))
        // Where each live replica has delivered up to, so trimming never removes what one still needs.
        try await executor.execute(
            "CREATE TABLE IF NOT EXISTS switchboard_replicas (replica VARCHAR(255) NOT NULL, collection VARCHAR(255) NOT NULL, last_seq \(bigint) NOT NULL, seen_at \(bigint) NOT NULL, PRIMARY KEY (replica, collection))"
        )
        try await executor.execute(ddl.index(SystemCollections.sessions, ["user"]))
        try await executor.execute(ddl.index(SystemCollections.access, ["role"]))
        try await executor.execute(ddl.index(SystemCollections.access, ["user"]))
        try await executor.execute(ddl.index(SystemCollections.permissions, ["policy"]))
        try await executor.execute(ddl.index(SystemCollections.activity, ["collection", "item"]))
        try await executor.execute(ddl.index(SystemCollections.notifications, ["recipient"]))
        try await executor.execute(ddl.index(SystemCollections.fields, ["collection"]))
    }
}
