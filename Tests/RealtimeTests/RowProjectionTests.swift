import Query
import Realtime
import Store
import SwitchboardCore
import Testing

/// The in-memory projection of change rows with per-policy field cases: the same
/// answer as the SQL read (PolicyCaseTests in StoreTests).
@Suite struct RowProjectionTests {
    static let collection = CollectionSchema(
        name: "docs", primaryKey: "id",
        fields: [
            FieldSchema(collection: "docs", field: "id", type: .integer, isPrimaryKey: true),
            FieldSchema(collection: "docs", field: "title", type: .string),
            FieldSchema(collection: "docs", field: "secret", type: .string),
            FieldSchema(collection: "docs", field: "owner", type: .uuid),
            FieldSchema(collection: "docs", field: "at", type: .timestamp),
        ])
    static let schema = Schema(collections: [collection], relations: [])
    static let me = "aaaaaaaa-0000-4000-8000-000000000001"
    static let mine: Filter = .condition(path: ["owner"], op: ._eq, value: "$CURRENT_USER")

    static func permission() throws -> CollectionPermission {
        try #require(
            CollectionPermission.combining([
                PermissionGrantRow(fields: ["id", "title"], filter: nil, validation: nil, presets: [:]),
                PermissionGrantRow(fields: ["id", "secret", "at"], filter: mine, validation: nil, presets: [:]),
            ]))
    }

    static var variables: DynamicVariables {
        DynamicVariables(userID: .string(me), roleID: .null, roles: [], policies: [], now: 0)
    }

    @Test func restrictedFieldsAreNullOnRowsTheirPolicyDoesNotAdmit() throws {
        let projection = RowProjection(
            tree: try FieldTree.parse(["*", "year(at)"]), permission: try Self.permission(),
            collection: Self.collection, schema: Self.schema, variables: Self.variables)
        let own: JSONObject = ["id": 1, "title": "a", "secret": "s", "owner": .string(Self.me), "at": "2020-05-01T00:00:00"]
        let other: JSONObject = ["id": 2, "title": "b", "secret": "t", "owner": "someone", "at": "2021-05-01T00:00:00"]
        #expect(projection.apply(own) == ["id": 1, "title": "a", "secret": "s", "at": "2020-05-01T00:00:00", "at_year": 2020])
        #expect(projection.apply(other) == ["id": 2, "title": "b", "secret": .null, "at": .null, "at_year": .null])
        #expect(projection.requestedFields == ["id", "title", "secret", "at"])
    }

    @Test func withoutCasesTheProjectionIsUnconditional() throws {
        let merged = CollectionPermission(fields: ["id", "secret"], filter: Self.mine)
        let projection = RowProjection(
            tree: try FieldTree.parse(["*"]), permission: merged, collection: Self.collection, schema: Self.schema,
            variables: Self.variables)
        #expect(projection.apply(["id": 2, "secret": "t", "owner": "someone"]) == ["id": 2, "secret": "t"])
    }
}
