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
        try await Outbox.createTables(executor, dialect: dialect)
        try await executor.execute(ddl.index(SystemCollections.sessions, ["user"]))
        try await executor.execute(ddl.index(SystemCollections.access, ["role"]))
        try await executor.execute(ddl.index(SystemCollections.access, ["user"]))
        try await executor.execute(ddl.index(SystemCollections.permissions, ["policy"]))
        try await executor.execute(ddl.index(SystemCollections.activity, ["collection", "item"]))
        try await executor.execute(ddl.index(SystemCollections.notifications, ["recipient"]))
        try await executor.execute(ddl.index(SystemCollections.fields, ["collection"]))
    }
}
