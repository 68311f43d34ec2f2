import Query
import Realtime
import Store
import SwitchboardCore

/// A 12-column `messages` row as a change event carries it, the filters fan-out evaluates
/// on it, and the projections it shapes it with.
enum EventRows {
    static let collection = CollectionSchema(
        name: "messages", primaryKey: "id",
        fields: [
            FieldSchema(collection: "messages", field: "id", type: .integer, isPrimaryKey: true),
            FieldSchema(collection: "messages", field: "room", type: .integer),
            FieldSchema(collection: "messages", field: "text", type: .text),
            FieldSchema(collection: "messages", field: "author", type: .uuid),
            FieldSchema(collection: "messages", field: "status", type: .string),
            FieldSchema(collection: "messages", field: "hidden", type: .boolean),
            FieldSchema(collection: "messages", field: "score", type: .float),
            FieldSchema(collection: "messages", field: "tags", type: .json),
            FieldSchema(collection: "messages", field: "date_created", type: .timestamp),
            FieldSchema(collection: "messages", field: "date_updated", type: .timestamp),
            FieldSchema(collection: "messages", field: "user_created", type: .uuid),
            FieldSchema(collection: "messages", field: "lang", type: .string),
        ])

    static let row: JSONObject = [
        "id": 4242, "room": 3, "text": "Hello from the benchmark, how is everyone today?",
        "author": "9f3c1b2e-5d4a-4c1e-9b7a-2f6e8d0c4a11", "status": "published", "hidden": false, "score": 4.5,
        "tags": ["news", "chat"], "date_created": "2026-12-03T08:00:00.000Z", "date_updated": nil,
        "user_created": "9f3c1b2e-5d4a-4c1e-9b7a-2f6e8d0c4a11", "lang": "en",
    ]

    static func filter(_ json: JSONValue) -> Filter {
        // The benchmarks' own literals: a parse failure is a bug in them.
        guard let filter = try? Filter.parse(json) else { fatalError("bad benchmark filter \(json.jsonString)") }
        return filter
    }

    /// Filters as subscriptions write them, each matching `row`.
    static let filters: [(name: String, filter: Filter)] = [
        ("room _eq", filter(["room": ["_eq": 3]])),
        (
            "5 conditions, _and + _or",
            filter([
                "_and": [
                    ["room": ["_in": [1, 2, 3]]], ["hidden": ["_eq": false]], ["score": ["_gte": 2]],
                    ["_or": [["status": ["_eq": "published"]], ["lang": ["_neq": "de"]]]],
                ]
            ])
        ),
        ("text _icontains", filter(["text": ["_icontains": "EVERYONE"]])),
        ("year() + count()", filter(["year(date_created)": ["_eq": 2026], "count(tags)": ["_gte": 1]])),
        ("date_created _gte $NOW(-1 day)", filter(["date_created": ["_gte": "$NOW(-1 day)"]])),
    ]

    static func tree(_ fields: [String]) -> FieldTree {
        guard let tree = try? FieldTree.parse(fields) else { fatalError("bad benchmark fields \(fields)") }
        return tree
    }

    static let projections: [(name: String, projection: RowProjection)] = [
        ("* of 12 columns", RowProjection(tree: tree(["*"]), permission: .unrestricted, collection: collection)),
        (
            "5 named fields",
            RowProjection(
                tree: tree(["id", "room", "text", "author", "date_created"]), permission: .unrestricted, collection: collection)
        ),
        (
            "* under a 6-field permission",
            RowProjection(
                tree: tree(["*"]),
                permission: CollectionPermission(fields: ["id", "room", "text", "author", "status", "date_created"]),
                collection: collection)
        ),
    ]
}
