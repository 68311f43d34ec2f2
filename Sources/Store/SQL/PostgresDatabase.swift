import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// PostgreSQL for clusters: a postgres-nio connection pool shared by every
/// request of this replica.
///
/// The pool queues a request while PostgreSQL is unreachable and would wait
/// for up to a minute; here a request that gets no connection within the
/// acquire timeout (one second while an outage is known) fails with a 503-class
/// `SQLError(.unavailable)` instead,
/// and a statement runs at most `statement_timeout` on the server. After an
/// outage the pool reconnects with its own growing backoff (up to a minute);
/// so that a restart costs seconds, not that backoff, a probe connects on its
/// own while requests fail and, once PostgreSQL answers it but the pool
/// still does not, replaces the pool with a fresh one.
public final class PostgresDatabase: SQLDatabase {
    public var dialect: SQLDialect { .postgres }

    private let configuration: PostgresClient.Configuration
    /// The probe's own connection settings (same server, user and TLS as the pool).
    private let probeConfiguration: PostgresConnection.Configuration
    private let settings: Settings
    private let logger: Logger

    private struct Pool {
        var client: PostgresClient
        var runner: Task<Void, Never>
        var probing = false
        var closed = false
    }

    private let pool: Mutex<Pool>
    private let watch = ConnectionWatch()
    private let usageCounter = UsageCounter()

    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String?
        public var tls: Bool
        /// `DB_POOL__MAX`
        public var maxConnections: Int
        /// `DB_POOL__MIN`: connections kept open while idle.
        public var minConnections: Int
        /// `DB_POOL__ACQUIRE_TIMEOUT_MILLIS`: how long a request waits for a connection.
        public var acquireTimeout: Duration
        /// `DB_STATEMENT_TIMEOUT`: longest a statement may run (server side); nil = no limit.
        public var statementTimeout: Duration?

        public init(
            host: String, port: Int = 5432, username: String, password: String?, database: String?, tls: Bool,
            maxConnections: Int = 20, minConnections: Int = 1, acquireTimeout: Duration = .seconds(5),
            statementTimeout: Duration? = .seconds(30)
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.tls = tls
            self.maxConnections = maxConnections
            self.minConnections = minConnections
            self.acquireTimeout = acquireTimeout
            self.statementTimeout = statementTimeout
        }

        /// `postgres://user:password@host:port/database?sslmode=require`
        public static func parse(connectionString: String) -> Settings? {
            guard let url = URL(string: connectionString), let scheme = url.scheme, scheme.hasPrefix("postgres"),
                let host = url.host, let user = url.user
            else { return nil }
            let query = URLComponents(string: connectionString)?.queryItems ?? []
            let sslmode = query.first { $0.name == "sslmode" }?.value
            return Settings(
                host: host, port: url.port ?? 5432, username: user.removingPercentEncoding ?? user,
                password: url.password?.removingPercentEncoding, database: url.path.isEmpty ? nil : String(url.path.dropFirst()),
                tls: sslmode == "require" || sslmode == "verify-full" || sslmode == "verify-ca")
        }
    }

    public init(settings: Settings, logger: Logger) throws {
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database, tls: settings.tls ? .require(.makeClientConfiguration()) : .disable)
        var probe = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database,
            tls: settings.tls ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable)
        probe.options.connectTimeout = .seconds(2)
        probeConfiguration = probe
        configuration.options.maximumConnections = max(1, settings.maxConnections)
        configuration.options.minimumConnections = min(max(0, settings.minConnections), max(1, settings.maxConnections))
        configuration.options.connectTimeout = .seconds(5)
        if let timeout = settings.statementTimeout {
            let ms = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
            configuration.options.additionalStartupParameters = [("statement_timeout", String(ms))]
        }
        self.configuration = configuration
        self.settings = settings
        self.logger = logger
        pool = Mutex(Self.makePool(configuration, logger))
    }

    private static func makePool(_ configuration: PostgresClient.Configuration, _ logger: Logger) -> Pool {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return Pool(client: client, runner: Task { await client.run() })
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLExecutor) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await body(PostgresExecutor(connection: connection, logger: self.logger, watch: self.watch))
        }
    }

    public func transaction<T: Sendable>(
        _ body: @Sendable (any SQLExecutor) async throws -> T, afterCommit: @Sendable (T) async -> Void
    ) async throws -> T {
        try await withConnection { connection in
            // `BEGIN` goes out with the body's first statement instead of a round trip of its own:
            // the connection runs its queries in order, and every statement's answer waits for
            // `BEGIN`'s. A `BEGIN` that fails on a connection that still runs the next statement
            // (which would then autocommit) is not a failure PostgreSQL has: on an idle
            // connection it fails only when the connection does.
            let transaction = PostgresTransaction(
                begin: connection.query(PostgresQuery(unsafeSQL: "BEGIN"), logger: self.logger))
            let executor = PostgresExecutor(
                connection: connection, logger: self.logger, watch: self.watch, transaction: transaction)
            let result: T
            do {
                result = try await body(executor)
                if !transaction.committed.load(ordering: .relaxed) {
                    try await executor.execute(SQLStatement("COMMIT"))
                }
            } catch {
                // After a failed statement of `queryCommitting` its `COMMIT` rolled back already,
                // and this `ROLLBACK` only warns.
                _ = try? await PostgresExecutor(connection: connection, logger: self.logger, watch: self.watch)
                    .execute(SQLStatement("ROLLBACK"))
                throw error
            }
            await afterCommit(result)
            return result
        }
    }

    /// How long a request waits for a connection while the recovery probe runs.
    static let outageWait = Duration.seconds(1)

    /// Errors thrown by the caller's body travel in this box, so that whatever
    /// else `withConnection` throws is known to be the pool's.
    private struct BodyError: Error {
        let error: any Error
    }

    private final class Lease: Sendable {
        let acquired = Atomic<Bool>(false)
    }

    /// A connection within the acquire timeout, or `SQLError(.unavailable)`.
    private func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let (client, outage) = pool.withLock { ($0.client, $0.probing) }
        let lease = Lease()
        usageCounter.startWaiting()
        defer { usageCounter.ended(acquired: lease.acquired.load(ordering: .relaxed)) }
        // While PostgreSQL is known to be down (the probe runs), a request waits a second, not the whole
        // acquire timeout: a write and its read-back must fail fast, not add up to many seconds.
        let timeout = outage ? min(settings.acquireTimeout, Self.outageWait) : settings.acquireTimeout
        do {
            return try await withoutActuallyEscaping(body) { body in
                try await withThrowingTaskGroup(of: T?.self) { group in
                    group.addTask {
                        try await client.withConnection { connection in
                            lease.acquired.store(true, ordering: .relaxed)
                            self.usageCounter.acquired()
                            do { return try await body(connection) } catch { throw BodyError(error: error) }
                        }
                    }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        // Once a statement runs, only the server's statement_timeout ends it.
                        if lease.acquired.load(ordering: .relaxed) { return nil }
                        throw SQLError(.unavailable, "PostgreSQL gave no connection within \(timeout)")
                    }
                    while let result = try await group.next() {
                        if let result {
                            group.cancelAll()
                            return result
                        }
                    }
                    throw SQLError(.unavailable, "PostgreSQL is unavailable")
                }
            }
        } catch let boxed as BodyError {
            if let error = boxed.error as? PSQLError { throw noteFailure(PostgresExecutor.classify(error)) }
            throw boxed.error
        } catch let error as PSQLError {
            throw noteFailure(PostgresExecutor.classify(error))
        } catch let error as SQLError {
            throw noteFailure(error)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // The pool's own errors (circuit breaker, shutdown).
            throw noteFailure(SQLError(.unavailable, "PostgreSQL is unavailable: \(error)"))
        }
    }

    /// An unavailable database starts the recovery probe.
    private func noteFailure(_ error: SQLError) -> SQLError {
        guard error.kind == .unavailable else { return error }
        let start = pool.withLock { p -> Bool in
            guard !p.probing, !p.closed else { return false }
            p.probing = true
            return true
        }
        if start { Task { await self.recover() } }
        return error
    }

    /// Until the pool serves again: connect on our own every half second; when
    /// PostgreSQL answers that but the pool does not, swap in a fresh pool.
    private func recover() async {
        defer { pool.withLock { $0.probing = false } }
        for _ in 0..<7200 {  // at most an hour of probing; the next failure starts another
            if pool.withLock({ $0.closed }) { return }
            try? await Task.sleep(for: .milliseconds(500))
            guard let probe = try? await PostgresConnection.connect(configuration: probeConfiguration, id: 0, logger: logger)
            else { continue }
            try? await probe.close()
            // PostgreSQL is back. Does the pool serve within a moment?
            if (try? await quickPing(pool.withLock { $0.client })) == true { return }
            let (old, oldRunner) = pool.withLock { p -> (PostgresClient, Task<Void, Never>) in
                let old = (p.client, p.runner)
                let fresh = Self.makePool(configuration, logger)
                p.client = fresh.client
                p.runner = fresh.runner
                return old
            }
            _ = old
            oldRunner.cancel()
            logger.notice("PostgreSQL is back; replaced the connection pool instead of waiting out its backoff")
            return
        }
    }

    private func quickPing(_ client: PostgresClient) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await client.withConnection { c in _ = try await c.query("SELECT 1", logger: self.logger) }
                return true
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(500))
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    public func ping() async throws {
        _ = try await read { db in try await db.query("SELECT 1") }
    }

    /// Leased pool connections, and requests waiting for one.
    public var usage: DatabaseUsage { usageCounter.usage(capacity: max(1, settings.maxConnections)) }

    public func close() async {
        let runner = pool.withLock { p -> Task<Void, Never> in
            p.closed = true
            return p.runner
        }
        runner.cancel()
    }
}

/// Resumes a continuation at most once, whichever of several racers comes first.
final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Mutex(continuation) }

    func resume(returning value: T) { take()?.resume(returning: value) }

    func resume(throwing error: any Error) { take()?.resume(throwing: error) }

    private func take() -> CheckedContinuation<T, any Error>? {
        continuation.withLock { c in
            defer { c = nil }
            return c
        }
    }
}

/// Queries in flight per connection, failed together when their connection closes
/// (one close callback per connection, not one per query).
final class ConnectionWatch: Sendable {
    private struct Entry {
        var waiting: [UInt64: ResumeOnce<PostgresQueryResult>] = [:]
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var next: UInt64 = 0
    }

    private let state = Mutex(State())

    /// A ticket for a query on `connection`, or nil when it is already closed.
    func begin(_ connection: PostgresConnection, _ once: ResumeOnce<PostgresQueryResult>) -> UInt64? {
        guard !connection.isClosed else { return nil }
        let id = ObjectIdentifier(connection)
        let (ticket, first) = state.withLock { s -> (UInt64, Bool) in
            s.next += 1
            let first = s.entries[id] == nil
            s.entries[id, default: Entry()].waiting[s.next] = once
            return (s.next, first)
        }
        if first {
            connection.closeFuture.whenComplete { _ in
                let waiting = self.state.withLock { $0.entries.removeValue(forKey: id)?.waiting.values.map { $0 } ?? [] }
                for w in waiting { w.resume(throwing: SQLError(.unavailable, "PostgreSQL closed the connection")) }
            }
        }
        return ticket
    }

    func end(_ connection: PostgresConnection, _ ticket: UInt64) {
        let id = ObjectIdentifier(connection)
        state.withLock { s in _ = s.entries[id]?.waiting.removeValue(forKey: ticket) }
    }
}

/// One transaction on a connection: its `BEGIN`, sent without waiting (each statement's answer
/// waits for it), and whether a statement has committed it (`queryCommitting`).
final class PostgresTransaction: Sendable {
    let begin: EventLoopFuture<PostgresQueryResult>
    let committed = Atomic<Bool>(false)

    init(begin: EventLoopFuture<PostgresQueryResult>) { self.begin = begin }
}

struct PostgresExecutor: SQLExecutor {
    let connection: PostgresConnection
    let logger: Logger
    let watch: ConnectionWatch
    /// The transaction the statements run in, if any.
    var transaction: PostgresTransaction? = nil

    func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        Self.rows(try await run(statement))
    }

    private static func rows(_ result: PostgresQueryResult) -> [SQLRow] {
        var out: [SQLRow] = []
        out.reserveCapacity(result.rows.count)
        var columns: [String]?
        for row in result.rows {
            let cells = Array(row)
            let names = columns ?? cells.map(\.columnName)
            columns = names
            out.append(SQLRow(columns: names, values: cells.map(Self.value)))
        }
        return out
    }

    @discardableResult
    func execute(_ statement: SQLStatement) async throws -> Int {
        try await run(statement).rows.count
    }

    /// The statement, then `COMMIT` behind it without waiting in between. When the statement
    /// fails, PostgreSQL answers that `COMMIT` with a rollback of the aborted transaction.
    func queryCommitting(_ statement: SQLStatement) async throws -> [SQLRow] {
        guard let transaction else { return try await query(statement) }
        let answer = try send(statement)
        transaction.committed.store(true, ordering: .relaxed)
        let commit: EventLoopFuture<PostgresQueryResult> = connection.query(
            PostgresQuery(unsafeSQL: "COMMIT"), logger: logger)
        let rows = Self.rows(try await wait(answer))
        _ = try await wait(commit)
        return rows
    }

    /// Sends a statement and waits for all of its rows. The rows are collected on the
    /// connection's event loop (postgres-nio's future API), so a statement costs one hop there
    /// and one back, with no task of its own.
    ///
    /// postgres-nio (1.33) writes a query to its channel without a write promise, so a query
    /// sent on a connection that is closing at that moment (PostgreSQL stopped) never completes:
    /// the answer races the connection's close, and a close wins with `.unavailable`.
    private func run(_ statement: SQLStatement) async throws -> PostgresQueryResult {
        try await wait(try send(statement))
    }

    /// Writes the statement to the connection; its answer (in a transaction, after `BEGIN`'s).
    private func send(_ statement: SQLStatement) throws -> EventLoopFuture<PostgresQueryResult> {
        if let transaction, transaction.committed.load(ordering: .relaxed) {
            throw SQLError(.other, "a statement after its transaction's commit")
        }
        let sent: EventLoopFuture<PostgresQueryResult> = connection.query(Self.query(statement), logger: logger)
        return transaction.map { $0.begin.flatMap { _ in sent } } ?? sent
    }

    private func wait(_ answer: EventLoopFuture<PostgresQueryResult>) async throws -> PostgresQueryResult {
        let connection = self.connection
        let watch = self.watch
        do {
            return try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<PostgresQueryResult, any Error>) in
                let once = ResumeOnce(continuation)
                guard let ticket = watch.begin(connection, once) else {
                    return once.resume(throwing: SQLError(.unavailable, "PostgreSQL closed the connection"))
                }
                answer.whenComplete { result in
                    watch.end(connection, ticket)
                    switch result {
                    case .success(let rows): once.resume(returning: rows)
                    case .failure(let error): once.resume(throwing: error)
                    }
                }
            }
        } catch let error as PSQLError {
            throw Self.classify(error)
        }
    }

    static func query(_ statement: SQLStatement) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: statement.binds.count)
        for value in statement.binds {
            switch value {
            case .null: bindings.appendNull()
            case .int(let i): bindings.append(i)
            case .double(let d): bindings.append(d)
            case .text(let s): bindings.append(s)
            case .bool(let b): bindings.append(b)
            case .blob(let b): bindings.append(ByteBuffer(bytes: b))
            }
        }
        return PostgresQuery(unsafeSQL: SQLDialect.postgres.render(statement.text), binds: bindings)
    }

    static func value(_ cell: PostgresCell) -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2: return (try? cell.decode(Int16.self)).map { .int(Int64($0)) } ?? .null
        case .int4: return (try? cell.decode(Int32.self)).map { .int(Int64($0)) } ?? .null
        case .int8: return (try? cell.decode(Int64.self)).map { .int($0) } ?? .null
        case .float4: return (try? cell.decode(Float.self)).map { .double(Double($0)) } ?? .null
        case .float8: return (try? cell.decode(Double.self)).map { .double($0) } ?? .null
        case .bool: return (try? cell.decode(Bool.self)).map { .bool($0) } ?? .null
        case .numeric:
            // Through text: Decimal → Double directly loses the shortest representation (3.14 → 3.1399999999999997).
            guard let d = try? cell.decode(Decimal.self) else { return .null }
            let text = d.description
            return Double(text).map(SQLValue.double) ?? .text(text)
        case .bytea: return (try? cell.decode(ByteBuffer.self)).map { .blob(Array($0.readableBytesView)) } ?? .null
        default: return (try? cell.decode(String.self)).map { .text($0) } ?? .null
        }
    }

    /// PostgreSQL SQLSTATEs → the store's error kinds.
    static func classify(_ error: PSQLError) -> SQLError {
        let state = error.serverInfo?[.sqlState] ?? ""
        let message = error.serverInfo?[.message] ?? "\(error.code)"
        let column = error.serverInfo?[.columnName] ?? Self.column(fromDetail: error.serverInfo?[.detail])
        switch state {
        case "23505": return SQLError(.uniqueViolation(column: column), message)
        case "23502": return SQLError(.notNullViolation(column: column), message)
        case "23503": return SQLError(.foreignKeyViolation, message)
        case "23514": return SQLError(.checkViolation, message)
        case "57014": return SQLError(.timedOut, message)
        case "": return SQLError(.unavailable, "PostgreSQL is unavailable: \(error.code)")
        case _ where state.hasPrefix("22"): return SQLError(.invalidValue, message)
        case _ where state.hasPrefix("54"): return SQLError(.tooComplex, message)
        case _ where state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P"):
            return SQLError(.unavailable, message)
        default: return SQLError(.other, message)
        }
    }

    /// `Key (email)=(x) already exists.` → `email`
    private static func column(fromDetail detail: String?) -> String? {
        guard let detail, let open = detail.firstIndex(of: "("), let close = detail.firstIndex(of: ")"), open < close else {
            return nil
        }
        return String(detail[detail.index(after: open)..<close])
    }
}
