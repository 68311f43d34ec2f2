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
                        field("authors", "company", .integer), field("authors", "bio"),
                    ]),
                CollectionSchema(
                    name: "companies", primaryKey: "id",
                    fields: [field("companies", "id", .integer, pk: true), field("companies", "name")]),
                CollectionSchema(
                    name: "comments", primaryKey: "id",
                    fields: [
                        field("comments", "id", .integer, pk: true), field("comments", "text"),
                        field("comments", "post", .integer), field("comments", "likes", .integer),
                    ]),
            ],
            relations: [
                RelationSchema(manyCollection: "posts", manyField: "author", oneCollection: "authors"),
                RelationSchema(manyCollection: "authors", manyField: "company", oneCollection: "companies"),
                RelationSchema(manyCollection: "comments", manyField: "post", oneCollection: "posts", oneField: "comments"),
            ])
    }()

    static func reach(
        fields: [String]? = nil, filter: String? = nil, permission: String? = nil, sort: [String] = [],
        deep: [String: ItemQuery] = [:], related: [String: CollectionPermission] = [:]
    ) throws -> RelatedReach {
        var query = ItemQuery()
        query.fields = fields
        query.filter = try filter.map { try Filter.parse(JSONReader.parse($0)) }
        query.sort = try SortField.parse(list: sort)
        query.deep = deep
        let permissionFilter = try permission.map { try Filter.parse(JSONReader.parse($0)) }
        var permissions = PermissionSet.administrator
        if permission != nil || !related.isEmpty {
            permissions = PermissionSet(admin: false, rules: ["posts": [.read: CollectionPermission(filter: permissionFilter)]])
            for (collection, read) in related { permissions.rules[collection] = [.read: read] }
        }
        return RelatedReach(collection: "posts", query: query, permissions: permissions, schema: schema)
    }

    static func event(_ collection: String, _ action: ChangeEvent.Action, keys: [JSONValue], rows: [JSONObject] = [])
        -> ChangeEvent
    {
        ChangeEvent(
            collection: collection, seq: 7, action: action, keys: keys, rows: rows, origin: "r", userID: nil,
            timestamp: ISOTimestamp.now())
    }

    /// An update of row `id` of `collection` from `before` to `after` (the other fields alike).
    static func update(_ collection: String, id: Int, before: JSONObject, after: JSONObject) -> ChangeEvent {
        var old = JSONObject([("id", .int(Int64(id)))])
        var new = old
        for (k, v) in before { old[k] = v }
        for (k, v) in after { new[k] = v }
        var e = event(collection, .update, keys: [.int(Int64(id))], rows: [new])
        e.previous = [old]
        return e
    }

    static func filter(_ text: String) throws -> Filter { try Filter.parse(JSONReader.parse(text)) }

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
        let r = RelatedReach(collection: "posts", query: query, permissions: .administrator, schema: Self.schema)
        #expect(r.collections == ["comments"])
        query.groupBy = ["title"]
        #expect(RelatedReach(collection: "posts", query: query, permissions: .administrator, schema: Self.schema).isEmpty)
    }

    @Test func aSortByCountOfAnOneToManyIsTheDatabases() throws {
        func sorts(_ keys: [String]) throws -> Bool {
            InMemoryRead.sortsByRelatedCount(try SortField.parse(list: keys), of: "posts", in: Self.schema)
        }
        #expect(try sorts(["-count(comments)"]))
        #expect(try sorts(["title", "author.company.count(posts)"]) == false)  // companies have no o2m here
        #expect(try sorts(["title", "-year(title)", "author.email"]) == false)
    }

    // MARK: Which changes matter

    @Test func onlyTheRenderedFieldsOfAnAuthorMatter() throws {
        let r = try Self.reach(fields: ["title", "author.email"])
        #expect(r.watched["authors"] == RelatedReach.WatchedFields(names: ["email", "id"]))
        let bio = Self.update("authors", id: 3, before: ["bio": "a", "email": "x@a"], after: ["bio": "b", "email": "x@a"])
        #expect(!r.matters(bio, schema: Self.schema))
        let email = Self.update("authors", id: 3, before: ["bio": "a", "email": "x@a"], after: ["bio": "a", "email": "y@a"])
        #expect(r.matters(email, schema: Self.schema))
        // A collection the class does not reach: nothing to re-read.
        #expect(!r.matters(Self.update("companies", id: 1, before: ["name": "a"], after: ["name": "b"]), schema: Self.schema))
    }

    @Test func createsDeletesAndUpdatesWithoutBeforeImagesAlwaysMatter() throws {
        let r = try Self.reach(fields: ["author.email"])
        let row = JSONObject([("id", 3), ("bio", "b")])
        #expect(r.matters(Self.event("authors", .create, keys: [3], rows: [row]), schema: Self.schema))
        #expect(r.matters(Self.event("authors", .delete, keys: [3], rows: [row]), schema: Self.schema))
        #expect(r.matters(Self.event("authors", .update, keys: [3], rows: [row]), schema: Self.schema))
        // A before-image for another row (a changed primary key) cannot be compared.
        var moved = Self.event("authors", .update, keys: [4], rows: [JSONObject([("id", 4), ("bio", "b")])])
        moved.previous = [row]
        #expect(r.matters(moved, schema: Self.schema))
    }

    @Test func aWildcardMakesEveryFieldMatter() throws {
        let r = try Self.reach(fields: ["author.*"])
        #expect(r.watched["authors"]?.all == true)
        #expect(r.matters(Self.update("authors", id: 3, before: ["bio": "a"], after: ["bio": "b"]), schema: Self.schema))
        let star = try Self.reach(fields: ["*.*"])
        #expect(star.matters(Self.update("comments", id: 5, before: ["likes": 1], after: ["likes": 2]), schema: Self.schema))
    }

    @Test func theKeysOfDeeperStepsMatter() throws {
        let r = try Self.reach(fields: ["author.company.name"])
        #expect(r.watched["authors"] == RelatedReach.WatchedFields(names: ["company", "id"]))
        #expect(r.watched["companies"] == RelatedReach.WatchedFields(names: ["name", "id"]))
        #expect(r.matters(Self.update("authors", id: 3, before: ["company": 1], after: ["company": 2]), schema: Self.schema))
        #expect(!r.matters(Self.update("authors", id: 3, before: ["email": "a"], after: ["email": "b"]), schema: Self.schema))
    }

    @Test func aChildMovingParentsMattersToAnOneToManyAndItsCount() throws {
        for fields in [["comments.text"], ["id", "count(comments)"]] {
            let r = try Self.reach(fields: fields)
            #expect(r.matters(Self.update("comments", id: 5, before: ["post": 1], after: ["post": 2]), schema: Self.schema))
            #expect(!r.matters(Self.update("comments", id: 5, before: ["likes": 1], after: ["likes": 2]), schema: Self.schema))
        }
        let counted = try Self.reach(fields: ["id", "count(comments)"])
        #expect(
            !counted.matters(Self.update("comments", id: 5, before: ["text": "a"], after: ["text": "b"]), schema: Self.schema))
        let c = JSONObject([("id", 5), ("post", 1)])
        #expect(counted.matters(Self.event("comments", .create, keys: [5], rows: [c]), schema: Self.schema))
        #expect(counted.matters(Self.event("comments", .delete, keys: [5], rows: [c]), schema: Self.schema))
    }

    @Test func fieldsAFilterReadsThroughAPathMatter() throws {
        let r = try Self.reach(fields: ["id"], filter: #"{"author":{"company":{"name":{"_eq":"x"}}}}"#)
        #expect(r.matters(Self.update("authors", id: 3, before: ["company": 1], after: ["company": 2]), schema: Self.schema))
        #expect(!r.matters(Self.update("authors", id: 3, before: ["bio": "a"], after: ["bio": "b"]), schema: Self.schema))
        #expect(r.matters(Self.update("companies", id: 1, before: ["name": "a"], after: ["name": "b"]), schema: Self.schema))
        let permitted = try Self.reach(fields: ["id"], permission: #"{"comments":{"_some":{"likes":{"_gt":3}}}}"#)
        #expect(permitted.matters(Self.update("comments", id: 5, before: ["likes": 1], after: ["likes": 5]), schema: Self.schema))
        #expect(
            !permitted.matters(Self.update("comments", id: 5, before: ["text": "a"], after: ["text": "b"]), schema: Self.schema))
    }

    @Test func fieldsTheReachedCollectionsReadPermissionReadsMatter() throws {
        // Authors readable by company; `email` only on authors with a bio (per-policy cases).
        let authors = CollectionPermission(
            fields: ["id", "email", "company"], filter: try Self.filter(#"{"company":{"_nnull":true}}"#),
            cases: [
                PermissionCase(filter: try Self.filter(#"{"company":{"_nnull":true}}"#), fields: ["id", "company"]),
                PermissionCase(filter: try Self.filter(#"{"bio":{"_nnull":true}}"#), fields: ["email"]),
            ])
        let r = try Self.reach(fields: ["author.email"], related: ["authors": authors])
        #expect(r.watched["authors"] == RelatedReach.WatchedFields(names: ["email", "id", "company", "bio"]))
        #expect(r.matters(Self.update("authors", id: 3, before: ["bio": .null], after: ["bio": "b"]), schema: Self.schema))
        #expect(r.matters(Self.update("authors", id: 3, before: ["company": 1], after: ["company": .null]), schema: Self.schema))
        let plain = try Self.reach(fields: ["author.email"], related: ["authors": CollectionPermission()])
        #expect(!plain.matters(Self.update("authors", id: 3, before: ["bio": "a"], after: ["bio": "b"]), schema: Self.schema))
    }

    @Test func sortsAndDeepQueriesReadFieldsThatMatter() throws {
        let sorted = try Self.reach(fields: ["author.email"], sort: ["author.bio"])
        #expect(sorted.matters(Self.update("authors", id: 3, before: ["bio": "a"], after: ["bio": "b"]), schema: Self.schema))
        // A sort alone reaches nothing.
        #expect(try Self.reach(fields: ["id"], sort: ["author.bio"]).isEmpty)
        var nested = ItemQuery()
        nested.filter = try Self.filter(#"{"likes":{"_gt":1}}"#)
        nested.sort = try SortField.parse(list: ["-post"])
        let deep = try Self.reach(fields: ["comments.text"], deep: ["comments": nested])
        #expect(deep.watched["comments"] == RelatedReach.WatchedFields(names: ["text", "post", "likes"]))
        #expect(deep.matters(Self.update("comments", id: 5, before: ["likes": 1], after: ["likes": 2]), schema: Self.schema))
    }

    @Test func aReachedCollectionsReadPermissionReachesWhatItReads() throws {
        let authors = CollectionPermission(filter: try Self.filter(#"{"company":{"name":{"_eq":"acme"}}}"#))
        let r = try Self.reach(fields: ["author.email"], related: ["authors": authors])
        #expect(r.collections == ["authors", "companies"])
        #expect(r.filtered.isEmpty)
        #expect(
            r.matters(Self.update("companies", id: 1, before: ["name": "acme"], after: ["name": "other"]), schema: Self.schema))
        let f = r.parentFilter(for: Self.event("companies", .update, keys: [1]), schema: Self.schema)
        #expect(f == .condition(path: ["author", "company"], op: ._in, value: [1]))
        // An administrator sees every author: companies are not followed.
        #expect(try Self.reach(fields: ["author.email"]).collections == ["authors"])
    }
}
