import Foundation
import Logging
import Query
import Store
import SwitchboardCore
import Testing

/// Runs `body` against a migrated store on a fresh SQLite file in its own
/// temporary directory, which is removed afterwards.
func withStore<T>(_ body: (Store) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("switchboard-store-tests-\(UUID().uuidString)", isDirectory: true)
    let database = try SQLiteDatabase(path: directory.appendingPathComponent("switchboard.db").path)
    let store = Store(database: database, environment: testEnvironment)
    do {
        try await store.migrate()
        let result = try await body(store)
        await database.close()
        try? FileManager.default.removeItem(at: directory)
        return result
    } catch {
        await database.close()
        try? FileManager.default.removeItem(at: directory)
        throw error
    }
}

/// Runs `body` on a SQLite store, then on a PostgreSQL one when the tests have one
/// (`SWITCHBOARD_TEST_PG`).
func onEachDatabase(_ body: (Store) async throws -> Void) async throws {
    try await withStore(body)
    if ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_PG"] != nil { try await withPostgresStore(body) }
}

/// Runs `body` against a migrated store on a new database of the PostgreSQL at
/// `SWITCHBOARD_TEST_PG` (`host:port`, user `postgres`, as scripts/test starts it), dropped afterwards.
/// The database collates with ICU `en-US`, as production databases often do (not byte order,
/// Unicode `lower()`), so that SQL relying on the server's collation shows.
func withPostgresStore<T>(_ body: (Store) async throws -> T) async throws -> T {
    guard let address = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_PG"],
        let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...])
    else { throw SwitchboardError.invalidQuery("SWITCHBOARD_TEST_PG must be host:port") }
    let host = String(address[..<colon])
    let name = "sb_store_\(UUID().uuidString.lowercased().prefix(12))"
    try runPostgresTool(
        "createdb", host: host, port: port, database: name,
        options: ["--template=template0", "--locale-provider=icu", "--icu-locale=en-US", "--locale=C.utf8"])
    let database = try PostgresDatabase(
        settings: .init(host: host, port: port, username: "postgres", password: nil, database: name, tls: false),
        logger: Logger(label: "store-tests"))
    let store = Store(database: database, environment: testEnvironment)
    do {
        try await store.migrate()
        let result = try await body(store)
        await database.close()
        try? runPostgresTool("dropdb", host: host, port: port, database: name)
        return result
    } catch {
        await database.close()
        try? runPostgresTool("dropdb", host: host, port: port, database: name)
        throw error
    }
}

private func runPostgresTool(_ tool: String, host: String, port: Int, database: String, options: [String] = [])
    throws
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool, "-h", host, "-p", String(port), "-U", "postgres"] + options + [database]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw SwitchboardError.invalidQuery("\(tool) \(database) failed with status \(process.terminationStatus)")
    }
}

/// Collects every committed event the store publishes.
actor EventRecorder: ChangeEventSink {
    private(set) var events: [ChangeEvent] = []

    func publish(_ events: [ChangeEvent]) async { self.events += events }

    func events(of collection: String) -> [ChangeEvent] { events.filter { $0.collection == collection } }
}

/// A user's id as Directus writes it.
func newUserID() -> String { UUID().uuidString.lowercased() }

/// A context for a signed-in user with the given permissions.
func userContext(_ userID: String, _ rules: [String: [PermissionAction: CollectionPermission]]) -> ItemsContext {
    ItemsContext(accountability: Accountability(userID: userID), permissions: PermissionSet(admin: false, rules: rules))
}

/// An admin context acting as a given user (so user-created fields and activity name them).
func adminContext(_ userID: String) -> ItemsContext {
    ItemsContext(accountability: Accountability(userID: userID, admin: true), permissions: .administrator)
}

func query(_ json: JSONObject) throws -> ItemQuery { try ItemQuery.parse(json: json) }

func filter(_ json: JSONValue) throws -> Filter { try Filter.parse(json) }

extension Store {
    /// All rows of `collection` as the system sees them, by primary key.
    func allRows(_ collection: String, fields: [String] = ["*"]) async throws -> [JSONObject] {
        var q = ItemQuery()
        q.fields = fields
        q.limit = -1
        q.sort = [SortField(path: ["id"])]
        return try await readItems(collection, query: q, context: .system).data
    }

    /// The primary keys `query` returns, in order.
    func ids(_ collection: String, _ query: ItemQuery, context: ItemsContext = .system) async throws -> [Int64] {
        var q = query
        q.fields = ["id"]
        return try await readItems(collection, query: q, context: context).data.compactMap { $0["id"]?.intValue }
    }

    /// Row count straight from SQL, bypassing permissions and the item reader.
    func sqlCount(_ table: String) async throws -> Int64 {
        try await database.read { executor in
            try await executor.query("SELECT COUNT(*) FROM \"\(table)\"").first?[0].int ?? -1
        }
    }
}

/// The store environment both databases' test stores use.
let testEnvironment = StoreEnvironment(
    replicaID: "test-replica", limits: QueryLimits(defaultLimit: 100), hashPassword: { "hashed:" + $0 },
    newUUID: { UUID().uuidString.lowercased() })
