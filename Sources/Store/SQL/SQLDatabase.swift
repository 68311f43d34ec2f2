import Synchronization

/// Executes statements inside one connection's current transaction (or
/// autocommit for reads).
public protocol SQLExecutor: Sendable {
    func query(_ statement: SQLStatement) async throws -> [SQLRow]
    /// Runs a statement that returns no rows; answers the number of changed rows.
    @discardableResult
    func execute(_ statement: SQLStatement) async throws -> Int
    /// Runs the transaction's last statement and commits with it where the database can send
    /// the commit right behind it (PostgreSQL: one wait for both instead of two round trips).
    /// Nothing may run on this executor afterwards; the transaction's own commit is skipped.
    /// A statement that fails rolls back as any other. Outside a transaction, or on a database
    /// that cannot, it is `query`.
    func queryCommitting(_ statement: SQLStatement) async throws -> [SQLRow]
}

extension SQLExecutor {
    public func queryCommitting(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await query(statement)
    }

    /// `queryCommitting` when `committing`, else `query`.
    public func query(_ statement: SQLStatement, committing: Bool) async throws -> [SQLRow] {
        committing ? try await queryCommitting(statement) : try await query(statement)
    }

    public func query(_ sql: String, _ binds: [SQLValue] = []) async throws -> [SQLRow] {
        try await query(SQLStatement(sql, binds))
    }

    @discardableResult
    public func execute(_ sql: String, _ binds: [SQLValue] = []) async throws -> Int {
        try await execute(SQLStatement(sql, binds))
    }
}

/// A database: SQLite (embedded) or PostgreSQL, behind one interface.
public protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// Runs `body` outside a write transaction (a consistent snapshot is not promised across statements).
    func read<T: Sendable>(_ body: @Sendable (any SQLExecutor) async throws -> T) async throws -> T
    /// Runs `body` in one transaction; commits when it returns, rolls back when it throws.
    /// `afterCommit` runs after the commit and before the next writer starts, so
    /// whatever it hands on (change events) leaves in commit order.
    func transaction<T: Sendable>(
        _ body: @Sendable (any SQLExecutor) async throws -> T, afterCommit: @Sendable (T) async -> Void
    ) async throws -> T
    /// A cheap round trip, for health checks.
    func ping() async throws
    /// Connections in use and operations waiting for one, now (for `/metrics`).
    var usage: DatabaseUsage { get }
    func close() async
}

/// How busy a database's connections are.
public struct DatabaseUsage: Sendable, Equatable {
    /// Operations holding a connection.
    public var inUse: Int
    /// Operations waiting for one.
    public var waiting: Int
    /// Connections there can be at most.
    public var capacity: Int
}

/// Counts operations as they wait for and hold connections (atomics: any thread).
final class UsageCounter: Sendable {
    private let holding = Atomic<Int>(0)
    private let queued = Atomic<Int>(0)

    func startWaiting() { queued.add(1, ordering: .relaxed) }
    /// A waiting operation got its connection.
    func acquired() {
        queued.subtract(1, ordering: .relaxed)
        holding.add(1, ordering: .relaxed)
    }
    /// An operation ended: it gives back its connection, or stops waiting if it never had one.
    func ended(acquired: Bool) {
        if acquired {
            holding.subtract(1, ordering: .relaxed)
        } else {
            queued.subtract(1, ordering: .relaxed)
        }
    }

    func usage(capacity: Int) -> DatabaseUsage {
        DatabaseUsage(
            inUse: holding.load(ordering: .relaxed), waiting: queued.load(ordering: .relaxed), capacity: capacity)
    }
}

extension SQLDatabase {
    public func transaction<T: Sendable>(_ body: @Sendable (any SQLExecutor) async throws -> T) async throws -> T {
        try await transaction(body, afterCommit: { _ in })
    }
}

/// A database error classified so that the API can answer with Directus's codes.
public struct SQLError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case uniqueViolation(column: String?)
        case notNullViolation(column: String?)
        case foreignKeyViolation
        case checkViolation
        /// A value the column's type refuses (PostgreSQL class 22).
        case invalidValue
        /// Over a database limit: expression depth, bind parameters, statement size.
        case tooComplex
        /// The statement ran past `statement_timeout`.
        case timedOut
        case unavailable
        case other
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
