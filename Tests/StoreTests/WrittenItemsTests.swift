import Foundation
import Query
import SwitchboardCore
import Testing

@testable import Store

/// A write's answer (`Store.read(_:query:)`) from the rows it committed must be what reading
/// them back answers, and must be given without a read only where that holds by construction.
@Suite struct WrittenItemsTests {
    /// The answer from the committed rows and the read of the same keys, which must agree;
    /// `fromRows`: whether the answer must be (true) or must not be (false) given without a read.
    func expectAgreement(
        _ store: Store, _ written: WrittenItems, _ q: ItemQuery, fromRows: Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let answer = store.answerFromRows(written, query: q)
        #expect((answer != nil) == fromRows, sourceLocation: sourceLocation)
        let read = try await store.readItems(written.collection, keys: written.keys, query: q, context: written.context)
        #expect(try await store.read(written, query: q) == read, sourceLocation: sourceLocation)
        if let answer { #expect(answer == read, sourceLocation: sourceLocation) }
    }

    @Test func valuesOfEveryTypeAreAnsweredAsTheReadGivesThem() async throws {
        try await onEachDatabase { store in
            try await FieldTypeStorageTests.makeSpecimens(store)
            let written = try await store.write(
                .create([
                    [
                        "count": 42, "big": .int(9_007_199_254_740_993), "ratio": 0.25, "price": "12.50",
                        "title": "Hello \"world\"", "body": "ünïcode 😀", "flag": true,
                        "ref": "6F9619FF-8B86-D011-B42D-00CF4FC964FF", "data": ["a": [1, 2], "b": ["c": nil]],
                        "tags": ["red", "green"], "day": "2026-11-24", "clock": "09:30",
                        "local": "2026-11-24 23:05:41.5", "stamp": "2026-11-25T01:05:41+02:00",
                    ],
                    ["flag": false, "data": [], "tags": []],
                    [:],
                ]), to: "specimens", context: .system)
            #expect(written.keys == [1, 2, 3])
            try await expectAgreement(store, written, ItemQuery(), fromRows: true)
            try await expectAgreement(store, written, try query(["fields": "id,title,year(day),stamp"]), fromRows: true)
            try await expectAgreement(store, written, try query(["fields": "*,month(stamp)"]), fromRows: true)
            // Anything the rows alone can't answer is read.
            try await expectAgreement(store, written, try query(["fields": "*", "sort": "-id"]), fromRows: false)
            try await expectAgreement(store, written, try query(["filter": ["flag": ["_eq": true]]]), fromRows: false)
            try await expectAgreement(store, written, try query(["search": "world"]), fromRows: false)
            // A function its field has not is refused by the read, as a GET refuses it.
            #expect(store.answerFromRows(written, query: try query(["fields": "id,year(title)"])) == nil)
            await #expect(throws: SwitchboardError.self) {
                try await store.read(written, query: try query(["fields": "id,year(title)"]))
            }
            let updated = try await store.write(
                .update(keys: [3, 1], data: ["title": "changed", "count": 7]), to: "specimens", context: .system)
            try await expectAgreement(store, updated, ItemQuery(), fromRows: true)
        }
    }

    @Test func aRoleSeesTheWrittenRowsItsPermissionAdmits() async throws {
        try await onEachDatabase { store in
            try await DocsFixture.make(store)
            let context = try DocsFixture.context()
            // The create preset makes every row the caller's, readable under `owner _eq $CURRENT_USER`.
            let created = try await store.write(.create([["title": "a"], ["title": "b"]]), to: "docs", context: context)
            try await expectAgreement(store, created, ItemQuery(), fromRows: true)
            try await expectAgreement(store, created, try query(["fields": "title,status"]), fromRows: true)
            // `secret` is not readable: the read refuses it, and the answer is left to the read.
            #expect(store.answerFromRows(created, query: try query(["fields": "title,secret"])) == nil)
            await #expect(throws: SwitchboardError.self) { try await store.read(created, query: try query(["fields": "secret"])) }

            // An admin moving rows to another owner: a role's answer leaves out what it no longer sees.
            let moved = try await store.write(
                .update(keys: [1, 2, 3], data: ["owner": .string(DocsFixture.other)]), to: "docs", context: .system)
            let asRole = WrittenItems(
                collection: "docs", primaryKey: "id", keys: moved.keys,
                events: [
                    ChangeEvent(
                        collection: "docs", seq: 1, action: .update, keys: moved.keys,
                        rows: try await store.allRows("docs").filter { row in
                            moved.keys.contains { $0.textValue == row["id"]?.textValue }
                        }, origin: "test", userID: nil, timestamp: ISOTimestamp.now())
                ], context: try await store.withVariableRows(context))
            try await expectAgreement(store, asRole, ItemQuery(), fromRows: true)
            #expect(try await store.read(asRole, query: ItemQuery()).isEmpty)
        }
    }

    @Test func fieldsOfOnePolicyShowOnlyOnItsRows() async throws {
        try await onEachDatabase { store in
            try await DocsFixture.make(store)
            let read = try #require(
                CollectionPermission.combining([
                    PermissionGrantRow(fields: ["id", "title", "status"], filter: nil, validation: nil, presets: [:]),
                    PermissionGrantRow(
                        fields: ["id", "secret"], filter: try filter(["status": ["_eq": "published"]]), validation: nil,
                        presets: [:]),
                ]))
            let context = userContext(DocsFixture.owner, ["docs": [.read: read, .create: CollectionPermission()]])
            let written = try await store.write(
                .create([
                    ["title": "x", "secret": "s", "status": "draft"], ["title": "y", "secret": "t", "status": "published"],
                ]),
                to: "docs", context: context)
            try await expectAgreement(store, written, ItemQuery(), fromRows: true)
            try await expectAgreement(store, written, try query(["fields": "title,secret"]), fromRows: true)
        }
    }

    @Test func relationalFieldsAndSystemCollectionsAreRead() async throws {
        try await onEachDatabase { store in
            try await ChatFixture.make(store)
            let written = try await store.write(
                .create([["text": "hello", "author": 1]]), to: "messages", context: .system)
            try await expectAgreement(store, written, ItemQuery(), fromRows: true)
            try await expectAgreement(store, written, try query(["fields": "id,author.name"]), fromRows: false)
            let author = try await store.write(.create([["name": "new"]]), to: "authors", context: .system)
            // `authors` has an o2m alias (`messages`): `*` lists its child keys, which the rows don't carry.
            try await expectAgreement(store, author, ItemQuery(), fromRows: false)
            let user = try await store.write(
                .create([["email": "w@example.com", "password": "secret-secret"]]), to: "directus_users", context: .system)
            try await expectAgreement(store, user, try query(["fields": "id,email,password"]), fromRows: false)
        }
    }

    @Test func everyKindOfUpdateIsAnsweredLikeItsRead() async throws {
        try await onEachDatabase { store in
            try await SlugFixture.make(store)
            _ = try await store.createItems("pages", [["slug": "a"], ["slug": "b"], ["slug": "c"]], context: .system)
            let matching = try await store.write(
                .updateMatching(try query(["filter": ["slug": ["_in": ["a", "c"]]]]), data: ["title": "t"]), to: "pages",
                context: .system)
            #expect(matching.keys == [1, 3])
            try await expectAgreement(store, matching, ItemQuery(), fromRows: true)
            let each = try await store.write(
                .updateEach([["id": 3, "title": "three"], ["id": 2, "title": "two"]]), to: "pages", context: .system)
            #expect(each.keys == [3, 2])
            try await expectAgreement(store, each, ItemQuery(), fromRows: true)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.write(.updateEach([["title": "no key"]]), to: "pages", context: .system)
            }
            #expect(error?.code == .invalidPayload)
        }
    }
}
