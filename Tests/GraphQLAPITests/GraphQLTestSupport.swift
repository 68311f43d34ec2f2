import Foundation
import GraphQLAPI
import Query
import Store
import SwitchboardCore
import Testing

/// Runs `body` against a migrated store on a fresh SQLite file holding the chat
/// fixture, with a GraphQL service over it; the directory is removed afterwards.
func withGraph<T>(
    settings: GraphQLSettings = GraphQLSettings(), _ body: (Store, GraphQLService) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("switchboard-graphql-tests-\(UUID().uuidString)", isDirectory: true)
    let database = try SQLiteDatabase(path: directory.appendingPathComponent("switchboard.db").path)
    let environment = StoreEnvironment(
        replicaID: "test-replica", limits: QueryLimits(defaultLimit: 100), hashPassword: { "hashed:" + $0 },
        newUUID: { UUID().uuidString.lowercased() })
    let store = Store(database: database, environment: environment)
    defer { try? FileManager.default.removeItem(at: directory) }
    do {
        try await store.migrate()
        try await ChatFixture.make(store)
        let result = try await body(store, GraphQLService(store: store, settings: settings))
        await database.close()
        return result
    } catch {
        await database.close()
        throw error
    }
}

/// `authors` (id, name, rank: bigInteger, score: float, active: boolean, profile: json,
/// born: date, tags: csv, messages: o2m) and `messages` (id, text, author → authors),
/// plus `secrets`, which the test users never get to read.
enum ChatFixture {
    static func make(_ store: Store) async throws {
        _ = try await store.changeSchema { editor in
            _ = try await editor.createCollection([
                "collection": "authors",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "name", "type": "string", "schema": ["is_nullable": false]],
                    ["field": "rank", "type": "bigInteger"], ["field": "score", "type": "float"],
                    ["field": "active", "type": "boolean"], ["field": "profile", "type": "json"],
                    ["field": "born", "type": "date"], ["field": "tags", "type": "csv"],
                ],
            ])
            _ = try await editor.createCollection([
                "collection": "messages",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "text", "type": "text"],
                    ["field": "author", "type": "integer"],
                ],
            ])
            return try await editor.createCollection([
                "collection": "secrets",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "code", "type": "string"],
                ],
            ])
        }
        _ = try await store.changeSchema { editor in
            try await editor.createField("authors", ["field": "messages", "type": "alias", "meta": ["special": ["o2m"]]])
        }
        try await store.changeSchema { editor in
            try await editor.createRelation([
                "collection": "messages", "field": "author", "related_collection": "authors",
                "meta": ["one_field": "messages"],
            ])
        }
        _ = try await store.createItems(
            "authors",
            [
                ["name": "Ada", "rank": 9_007_199_254_740_993, "score": 1.5, "active": true, "profile": ["lang": "en"]],
                ["name": "Grace", "tags": "navy,cobol"], ["name": "Linus"],
            ], context: .system)
        _ = try await store.createItems(
            "messages",
            [
                ["text": "hello world", "author": 1], ["text": "hi there", "author": 1],
                ["text": "compiling", "author": 2], ["text": "anonymous", "author": nil],
            ], context: .system)
        _ = try await store.createItems("secrets", [["code": "42"]], context: .system)
    }
}

/// A signed-in user with the given read rules only.
func reader(_ rules: [String: CollectionPermission]) -> ItemsContext {
    ItemsContext(
        accountability: Accountability(userID: UUID().uuidString.lowercased()),
        permissions: PermissionSet(admin: false, rules: rules.mapValues { [.read: $0] }))
}

/// Reads messages (id, text, author) and authors (id, name); not secrets.
let chatReader = reader([
    "messages": CollectionPermission(fields: ["id", "text", "author"]),
    "authors": CollectionPermission(fields: ["id", "name"]),
])

let admin = ItemsContext.system

extension GraphQLService {
    func post(_ query: String, variables: JSONObject? = nil, context: ItemsContext = .system) async -> GraphQLResponse {
        await execute(GraphQLRequest(query: query, variables: variables), method: .post, context: context)
    }
}

extension GraphQLResponse {
    var data: JSONValue? { body.objectValue?["data"] }
    var errors: [JSONValue] { body.objectValue?["errors"]?.arrayValue ?? [] }
    var codes: [String] { errors.compactMap { $0.objectValue?["extensions"]?.objectValue?["code"]?.stringValue } }
}

extension GraphQLFailure {
    var codes: [String] {
        (errors.arrayValue ?? []).compactMap { $0.objectValue?["extensions"]?.objectValue?["code"]?.stringValue }
    }
    var messages: [String] { (errors.arrayValue ?? []).compactMap { $0.objectValue?["message"]?.stringValue } }
}
