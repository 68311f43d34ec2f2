import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// PostgreSQL for clusters: a postgres-nio connection pool shared by every
/// request of this replica.
public final class PostgresDatabase: SQLDatabase {
    public var dialect: SQLDialect { .postgres }

    public let client: PostgresClient
    private let logger: Logger
    private let runner: Task<Void, Never>

    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String?
        public var tls: Bool
        public var maxConnections: Int

        public init(
            host: String, port: Int = 5432, username: String, password: String?, database: String?, tls: Bool,
            maxConnections: Int = 20
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.tls = tls
            self.maxConnections = maxConnections
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

    public init(settings: Settings, logger: Logger) {
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database, tls: settings.tls ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = settings.maxConnections
        configuration.options.connectTimeout = .seconds(5)
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
        let client = self.client
        runner = Task { await client.run() }
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLExecutor) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await body(PostgresExecutor(connection: connection, logger: logger))
            }
        } catch let error as PSQLError {
            throw PostgresExecutor.classify(error)
        }
    }

    public func transaction<T: Sendable>(
        _ body: @Sendable (any SQLExecutor) async throws -> T, afterCommit: @Sendable (T) async -> Void
    ) async throws -> T {
        do {
            return try await client.withConnection { connection in
                let executor = PostgresExecutor(connection: connection, logger: logger)
                try await executor.execute(SQLStatement("BEGIN"))
                let result: T
                do {
                    result = try await body(executor)
                    try await executor.execute(SQLStatement("COMMIT"))
                } catch {
                    _ = try? await executor.execute(SQLStatement("ROLLBACK"))
                    throw error
                }
                await afterCommit(result)
                return result
            }
        } catch let error as PSQLError {
            throw PostgresExecutor.classify(error)
        }
    }

    public func ping() async throws {
        _ = try await read { db in try await db.query("SELECT 1") }
    }

    public func close() async {
        runner.cancel()
    }
}

struct PostgresExecutor: SQLExecutor {
    let connection: PostgresConnection
    let logger: Logger

    func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        do {
            let rows = try await connection.query(Self.query(statement), logger: logger)
            var out: [SQLRow] = []
            var columns: [String]?
            for try await row in rows {
                let cells = Array(row)
                let names = columns ?? cells.map(\.columnName)
                columns = names
                out.append(SQLRow(columns: names, values: cells.map(Self.value)))
            }
            return out
        } catch let error as PSQLError {
            throw Self.classify(error)
        }
    }

    @discardableResult
    func execute(_ statement: SQLStatement) async throws -> Int {
        do {
            let result = try await connection.query(Self.query(statement), logger: logger)
            var count = 0
            for try await _ in result { count += 1 }
            return count
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
        case "": return SQLError(.unavailable, "PostgreSQL is unavailable: \(error.code)")
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
