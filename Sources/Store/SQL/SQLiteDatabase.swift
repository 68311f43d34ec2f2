import CSQLite
import Foundation
import Synchronization

/// The embedded default database: one SQLite file in WAL mode, one writer
/// connection (SQLite allows one writer at a time anyway) serialized by an
/// async lock, and a few reader connections that see committed data.
public final class SQLiteDatabase: SQLDatabase {
    public var dialect: SQLDialect { .sqlite }

    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncLock()
    private let nextReader = Atomic<Int>(0)
    private let counter = UsageCounter()

    /// Opens (creating if needed) the database at `path`; `":memory:"` is refused
    /// because readers and the writer must share one file.
    public init(path: String, readers readerCount: Int = 2) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        writer = try SQLiteConnection(path: path, readOnly: false)
        try writer.run("PRAGMA journal_mode=WAL")
        try writer.run("PRAGMA synchronous=NORMAL")
        try writer.run("PRAGMA foreign_keys=ON")
        var readers: [SQLiteConnection] = []
        for _ in 0..<max(1, readerCount) {
            let reader = try SQLiteConnection(path: path, readOnly: true)
            try reader.run("PRAGMA foreign_keys=ON")
            readers.append(reader)
        }
        self.readers = readers
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLExecutor) async throws -> T) async throws -> T {
        let i = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        let reader = readers[abs(i) % readers.count]
        counter.startWaiting()
        counter.acquired()
        defer { counter.ended(acquired: true) }
        return try await body(SQLiteExecutor(connection: reader))
    }

    /// The writer and the readers; waiting: transactions queued for the writer.
    public var usage: DatabaseUsage { counter.usage(capacity: readers.count + 1) }

    public func transaction<T: Sendable>(
        _ body: @Sendable (any SQLExecutor) async throws -> T, afterCommit: @Sendable (T) async -> Void
    ) async throws -> T {
        counter.startWaiting()
        await writeLock.lock()
        counter.acquired()
        defer {
            writeLock.unlock()
            counter.ended(acquired: true)
        }
        try writer.run("BEGIN IMMEDIATE")
        do {
            let result = try await body(SQLiteExecutor(connection: writer))
            try writer.run("COMMIT")
            await afterCommit(result)
            return result
        } catch {
            try? writer.run("ROLLBACK")
            throw error
        }
    }

    public func ping() async throws {
        _ = try readers[0].query(SQLStatement("SELECT 1"))
    }

    public func close() async {
        // Fold the WAL back into the main file so the database is one file again.
        try? writer.run("PRAGMA wal_checkpoint(TRUNCATE)")
        writer.close()
        for r in readers { r.close() }
    }
}

struct SQLiteExecutor: SQLExecutor {
    let connection: SQLiteConnection

    func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        try connection.query(statement)
    }

    @discardableResult
    func execute(_ statement: SQLStatement) async throws -> Int {
        try connection.execute(statement)
    }
}

/// One sqlite3 handle. Every use holds the mutex, so a handle is never used
/// from two threads at once (the library is built in multi-thread mode).
final class SQLiteConnection: Sendable {
    private struct State {
        var db: OpaquePointer?
        var statements: [String: OpaquePointer] = [:]
    }

    private let state: Mutex<State>

    init(path: String, readOnly: Bool) throws {
        var db: OpaquePointer?
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw SQLError(.unavailable, "cannot open SQLite database at \(path): \(message)")
        }
        sqlite3_busy_timeout(db, 5000)
        state = Mutex(State(db: db))
    }

    func close() {
        state.withLock { state in
            for (_, stmt) in state.statements { sqlite3_finalize(stmt) }
            state.statements = [:]
            if let db = state.db { sqlite3_close(db) }
            state.db = nil
        }
    }

    func run(_ sql: String) throws {
        try state.withLock { state in
            guard let db = state.db else { throw SQLError(.unavailable, "database is closed") }
            var errmsg: UnsafeMutablePointer<CChar>?
            if sqlite3_exec(db, sql, nil, nil, &errmsg) != SQLITE_OK {
                let message = errmsg.map { String(cString: $0) } ?? "unknown error"
                sqlite3_free(errmsg)
                throw Self.classify(db: db, message: message)
            }
        }
    }

    func query(_ statement: SQLStatement) throws -> [SQLRow] {
        try state.withLock { state in
            let stmt = try Self.prepare(&state, statement)
            defer { sqlite3_reset(stmt) }
            let count = Int(sqlite3_column_count(stmt))
            var columns: [String] = []
            columns.reserveCapacity(count)
            for i in 0..<count { columns.append(String(cString: sqlite3_column_name(stmt, Int32(i)))) }
            var rows: [SQLRow] = []
            while true {
                let rc = sqlite3_step(stmt)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else {
                    throw Self.classify(db: state.db, message: state.db.map { String(cString: sqlite3_errmsg($0)) } ?? "")
                }
                var values: [SQLValue] = []
                values.reserveCapacity(count)
                for i in 0..<Int32(count) { values.append(Self.column(stmt, i)) }
                rows.append(SQLRow(columns: columns, values: values))
            }
            return rows
        }
    }

    func execute(_ statement: SQLStatement) throws -> Int {
        try state.withLock { state in
            let stmt = try Self.prepare(&state, statement)
            defer { sqlite3_reset(stmt) }
            while true {
                let rc = sqlite3_step(stmt)
                if rc == SQLITE_DONE { break }
                if rc == SQLITE_ROW { continue }
                throw Self.classify(db: state.db, message: state.db.map { String(cString: sqlite3_errmsg($0)) } ?? "")
            }
            return Int(sqlite3_changes(state.db))
        }
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func prepare(_ state: inout State, _ statement: SQLStatement) throws -> OpaquePointer {
        guard let db = state.db else { throw SQLError(.unavailable, "database is closed") }
        let stmt: OpaquePointer
        if let cached = state.statements[statement.text] {
            stmt = cached
            sqlite3_clear_bindings(stmt)
        } else {
            var prepared: OpaquePointer?
            guard sqlite3_prepare_v2(db, statement.text, -1, &prepared, nil) == SQLITE_OK, let prepared else {
                throw classify(db: db, message: String(cString: sqlite3_errmsg(db)))
            }
            stmt = prepared
            // Schema changes invalidate nothing here: sqlite3_prepare_v2 statements re-prepare themselves.
            if state.statements.count > 256 {
                for (_, s) in state.statements { sqlite3_finalize(s) }
                state.statements = [:]
            }
            state.statements[statement.text] = stmt
        }
        for (i, value) in statement.binds.enumerated() {
            let index = Int32(i + 1)
            switch value {
            case .null: sqlite3_bind_null(stmt, index)
            case .int(let v): sqlite3_bind_int64(stmt, index, v)
            case .double(let v): sqlite3_bind_double(stmt, index, v)
            case .bool(let v): sqlite3_bind_int64(stmt, index, v ? 1 : 0)
            case .text(let v): sqlite3_bind_text(stmt, index, v, -1, transient)
            case .blob(let v):
                v.withUnsafeBytes { buf in
                    _ = sqlite3_bind_blob(stmt, index, buf.baseAddress, Int32(buf.count), transient)
                }
            }
        }
        return stmt
    }

    private static func column(_ stmt: OpaquePointer, _ i: Int32) -> SQLValue {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(stmt, i))
        case SQLITE_TEXT:
            guard let p = sqlite3_column_text(stmt, i) else { return .text("") }
            return .text(String(cString: p))
        case SQLITE_BLOB:
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard n > 0, let p = sqlite3_column_blob(stmt, i) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
        default: return .null
        }
    }

    private static func classify(db: OpaquePointer?, message: String) -> SQLError {
        let code = db.map { sqlite3_extended_errcode($0) } ?? SQLITE_ERROR
        // "UNIQUE constraint failed: messages.slug" → "slug"
        let column = message.split(separator: ":").last.flatMap { part in
            part.split(separator: ",").first?.split(separator: ".").last.map {
                String($0).trimmingCharacters(in: .whitespaces)
            }
        }
        switch code {
        case 2067, 1555: return SQLError(.uniqueViolation(column: column), message)
        case 1299: return SQLError(.notNullViolation(column: column), message)
        case 787: return SQLError(.foreignKeyViolation, message)
        case 275: return SQLError(.checkViolation, message)
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN, SQLITE_IOERR: return SQLError(.unavailable, message)
        case SQLITE_TOOBIG: return SQLError(.tooComplex, message)
        case SQLITE_MISMATCH: return SQLError(.invalidValue, message)
        case SQLITE_ERROR
        where ["too large", "too many", "stack overflow", "too deep", "too complex"].contains(where: message.contains):
            // Expression tree too large, too many SQL variables / terms, parser stack overflow.
            return SQLError(.tooComplex, message)
        default: return SQLError(.other, message)
        }
    }
}

/// A FIFO async mutual-exclusion lock (no task blocks a thread while it waits).
final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if state.locked {
                    state.waiters.append(continuation)
                    return false
                }
                state.locked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
