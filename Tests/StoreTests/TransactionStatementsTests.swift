import Foundation
import Store
import Testing

/// A transaction's statements on each engine. On PostgreSQL `BEGIN` goes out with the first
/// statement and `queryCommitting` sends `COMMIT` right behind the last one; the outcomes must
/// be those of one statement per round trip.
@Suite struct TransactionStatementsTests {
    private static func makeTable(_ store: Store) async throws {
        _ = try await store.database.transaction { db in
            try await db.execute("CREATE TABLE t_statements (id INTEGER PRIMARY KEY, note TEXT)")
        }
    }

    private static func ids(_ store: Store) async throws -> [Int64] {
        try await store.database.read { db in
            try await db.query("SELECT id FROM t_statements ORDER BY id").compactMap { $0[0].int }
        }
    }

    @Test func theLastStatementCommitsTheTransaction() async throws {
        try await onEachDatabase { store in
            try await Self.makeTable(store)
            let returned = try await store.database.transaction { db -> [Int64] in
                try await db.execute("INSERT INTO t_statements (id) VALUES (1)")
                return try await db.queryCommitting(SQLStatement("INSERT INTO t_statements (id) VALUES (2) RETURNING id"))
                    .compactMap { $0[0].int }
            }
            #expect(returned == [2])
            #expect(try await Self.ids(store) == [1, 2])
        }
    }

    @Test func aFailingLastStatementRollsBackTheWholeTransaction() async throws {
        try await onEachDatabase { store in
            try await Self.makeTable(store)
            _ = try await store.database.transaction { db in try await db.execute("INSERT INTO t_statements (id) VALUES (1)") }
            let error = await #expect(throws: SQLError.self) {
                try await store.database.transaction { db in
                    try await db.execute("INSERT INTO t_statements (id) VALUES (2)")
                    _ = try await db.queryCommitting(SQLStatement("INSERT INTO t_statements (id) VALUES (1) RETURNING id"))
                }
            }
            #expect(error?.kind == .uniqueViolation(column: "id") || error?.kind == .uniqueViolation(column: nil))
            #expect(try await Self.ids(store) == [1])
            // The connections are left idle, not in an aborted transaction: later transactions work.
            for id in Int64(10)..<Int64(30) {
                try await store.database.transaction { db in
                    _ = try await db.queryCommitting(SQLStatement("INSERT INTO t_statements (id) VALUES (?)", [.int(id)]))
                }
            }
            #expect(try await Self.ids(store) == [1] + Array(10..<30))
        }
    }

    @Test func aFailureAfterTheFirstStatementRollsItBack() async throws {
        struct Abort: Error {}
        try await onEachDatabase { store in
            try await Self.makeTable(store)
            await #expect(throws: Abort.self) {
                try await store.database.transaction { db in
                    try await db.execute("INSERT INTO t_statements (id) VALUES (1)")
                    throw Abort()
                }
            }
            // A failing first statement: `BEGIN` went out with it and the transaction rolls back.
            await #expect(throws: SQLError.self) {
                try await store.database.transaction { db in
                    try await db.execute("INSERT INTO t_statements (id, missing) VALUES (2, 0)")
                }
            }
            // A body with no statement at all commits an empty transaction.
            try await store.database.transaction { _ in }
            #expect(try await Self.ids(store) == [])
        }
    }

    @Test func onPostgreSQLNoStatementRunsAfterTheCommittingOne() async throws {
        guard ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_PG"] != nil else { return }
        try await withPostgresStore { store in
            try await Self.makeTable(store)
            await #expect(throws: SQLError.self) {
                try await store.database.transaction { db in
                    _ = try await db.queryCommitting(SQLStatement("INSERT INTO t_statements (id) VALUES (1) RETURNING id"))
                    try await db.execute("INSERT INTO t_statements (id) VALUES (2)")
                }
            }
            // The refused statement never ran; the committed one stays.
            #expect(try await Self.ids(store) == [1])
        }
    }
}
