import Query
import Store
import SwitchboardCore
import Testing

@testable import Realtime

@Suite struct RelatedReachTests {
    /// posts.author → authors, authors.company → companies, comments.post → posts (o2m `posts.comments`).
    static let schema: Schema = {
        func field(_ c: String, _ f: String, _ type: FieldType = .string, pk: Bool = false) -> FieldSchema {
            FieldSchema(collection: c, field: f, type: type, isPrimaryKey: pk)
        }
        return Schema(
            collections: [
                CollectionSchema(
                    name: "posts", primaryKey: "id",
                    fields: [
                        field("posts", "id", .integer, pk: true), field("posts", "title"), field("posts", "author", .integer),
                        field("posts", "comments", .alias),
                    ]),
                CollectionSchema(
                    name: "authors", primaryKey: "id",
                    fields: [
                        field("authors", "id", .integer, pk: true), field("authors", "email"),
                        field("authors", "company", .integer),
                    ]),
                CollectionSchema(
                    name: "companies", primaryKey: "id",
                    fields: [field("companies", "id", .integer, pk: true), field("companies", "name")]),
                CollectionSchema(
                    name: "comments", primaryKey: "id",
                    fields: [
                        field("comments", "id", .integer, pk: true), field("comments", "text"),
                        field("comments", "post", .integer),
                    ]),
            ],
            relations: [
                RelationSchema(manyCollection: "posts", manyField: "author", oneCollection: "authors"),
                RelationSchema(manyCollection: "authors", manyField: "company", oneCollection: "companies"),
                RelationSchema(manyCollection: "comments", manyField: "post", oneCollection: "posts", oneField: "comments"),
            ])
    }()

    static func reach(fields: [String]? = nil, filter: String? = nil, permission: String? = nil) throws -> RelatedReach {
        var query = ItemQuery()
        query.fields = fields
        query.filter = try filter.map { try Filter.parse(JSONReader.parse($0)) }
        let permissionFilter = try permission.map { try Filter.parse(JSONReader.parse($0)) }
        return RelatedReach(collection: "posts", query: query, permissionFilter: permissionFilter, schema: schema)
    }

    static func event(_ collection: String, _ action: ChangeEvent.Action, keys: [JSONValue], rows: [JSONObject] = [])
        -> ChangeEvent
    {
        ChangeEvent(
            collection: collection, seq: 7, action: action, keys: keys, rows: rows, origin: "r", userID: nil,
            timestamp: ISOTimestamp.now())
    }

    @Test func plainFieldsReachNothing() throws {
        #expect(try Self.reach(fields: ["id", "title", "author"]).isEmpty)
        #expect(try Self.reach().isEmpty)
        // A bare o2m renders child keys only: not followed.
        #expect(try Self.reach(fields: ["*", "comments"]).isEmpty)
    }

    @Test func nestedFieldsReachEveryCollectionOnTheirPath() throws {
        let r = try Self.reach(fields: ["title", "author.company.name"])
        #expect(r.collections == ["authors", "companies"])
        #expect(r.filtered.isEmpty)
    }

    @Test func wildcardNestingReachesEveryRelationAtItsLevel() throws {
        #expect(try Self.reach(fields: ["*.*"]).collections == ["authors", "comments"])
    }

    @Test func countOfAnOneToManyReachesItsCollection() throws {
        #expect(try Self.reach(fields: ["id", "count(comments)"]).collections == ["comments"])
    }

    @Test func queryAndPermissionFiltersReach() throws {
        let r = try Self.reach(
            fields: ["id"], filter: #"{"author":{"email":{"_contains":"@x"}}}"#,
            permission: #"{"comments":{"text":{"_nnull":true}}}"#)
        #expect(r.collections == ["authors", "comments"])
        #expect(r.filtered == ["authors"])
    }

    @Test func aManyToOneChangeLeadsToThePostsPointingAtIt() throws {
        let r = try Self.reach(fields: ["author.email"])
        let f = r.parentFilter(for: Self.event("authors", .update, keys: [3, 4]), schema: Self.schema)
        #expect(f == .condition(path: ["author"], op: ._in, value: [3, 4]))
        #expect(r.parentFilter(for: Self.event("companies", .update, keys: [1]), schema: Self.schema) == nil)
    }

    @Test func aDeeperChangeLeadsThroughThePath() throws {
        let r = try Self.reach(fields: ["author.company.name"])
        let f = r.parentFilter(for: Self.event("companies", .update, keys: [9]), schema: Self.schema)
        #expect(f == .condition(path: ["author", "company"], op: ._in, value: [9]))
    }

    @Test func aChildChangeLeadsToItsParentsBeforeAndAfter() throws {
        let r = try Self.reach(fields: ["comments.text"])
        var e = Self.event("comments", .update, keys: [5], rows: [JSONObject([("id", 5), ("post", 2)])])
        e.previous = [JSONObject([("id", 5), ("post", 1)])]
        #expect(r.parentFilter(for: e, schema: Self.schema) == .condition(path: ["id"], op: ._in, value: [2, 1]))
        let orphan = Self.event("comments", .create, keys: [6], rows: [JSONObject([("id", 6), ("post", .null)])])
        #expect(r.parentFilter(for: orphan, schema: Self.schema) == nil)
    }

    @Test func aChildOfARelatedRowLeadsThroughItsParent() throws {
        let r = try Self.reach(fields: ["author.company.name", "comments.text"])
        let e = Self.event("comments", .delete, keys: [5], rows: [JSONObject([("id", 5), ("post", 8)])])
        #expect(r.parentFilter(for: e, schema: Self.schema) == .condition(path: ["id"], op: ._in, value: [8]))
    }

    @Test func aGroupByCountOfAnOneToManyReachesItsCollection() throws {
        var query = ItemQuery()
        query.aggregate = try AggregateRequest.parse(["count": "*"])
        query.groupBy = ["count(comments)"]
        let r = RelatedReach(collection: "posts", query: query, permissionFilter: nil, schema: Self.schema)
        #expect(r.collections == ["comments"])
        query.groupBy = ["title"]
        #expect(RelatedReach(collection: "posts", query: query, permissionFilter: nil, schema: Self.schema).isEmpty)
    }

    @Test func aSortByCountOfAnOneToManyIsTheDatabases() throws {
        func sorts(_ keys: [String]) throws -> Bool {
            EventRenderer.sortsByRelatedCount(try SortField.parse(list: keys), of: "posts", in: Self.schema)
        }
        #expect(try sorts(["-count(comments)"]))
        #expect(try sorts(["title", "author.company.count(posts)"]) == false)  // companies have no o2m here
        #expect(try sorts(["title", "-year(title)", "author.email"]) == false)
    }
}
