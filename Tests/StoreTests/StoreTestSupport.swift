import Foundation
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
    let environment = StoreEnvironment(
        replicaID: "test-replica", limits: QueryLimits(defaultLimit: 100), hashPassword: { "hashed:" + $0 },
        newUUID: { UUID().uuidString.lowercased() })
    let store = Store(database: database, environment: environment)
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
