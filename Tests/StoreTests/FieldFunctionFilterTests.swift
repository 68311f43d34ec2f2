import Foundation
import Query
import Store
import SwitchboardCore
import Testing

/// Directus field functions in filters and `fields` (`year(when)`, `count(tags)`,
/// `count(messages)`), on both paths: SQL through the store and `Filter.matches` on the rows. Runs on SQLite, and on
/// PostgreSQL too with SWITCHBOARD_TEST_PG (scripts/test's PostgreSQL stage).
@Suite struct FieldFunctionFilterTests {
    /// `events`: one row per edge case of the calendar, and JSON `tags`.
    static func makeEvents(_ store: Store) async throws {
        _ = try await store.changeSchema { editor in
            try await editor.createCollection([
                "collection": "events",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "on_day", "type": "date"],
                    ["field": "at", "type": "dateTime"],
                    ["field": "stamp", "type": "timestamp"],
                    ["field": "starts", "type": "time"],
                    ["field": "tags", "type": "json"],
                    ["field": "title", "type": "string"],
                ],
            ])
        }
        _ = try await store.createItems(
            "events",
            [
                // 1: Monday 30 Dec 2024 is in ISO week 1 of 2025.
                [
                    "on_day": "2024-12-30", "at": "2024-12-30T23:59:58", "stamp": "2024-12-30T23:59:58.250Z",
                    "starts": "23:59:58", "tags": ["a", "b"], "title": "new year",
                ],
                // 2: Sunday 3 Jan 2021 is in ISO week 53 of 2020.
                [
                    "on_day": "2021-01-03", "at": "2021-01-03T00:00:00", "stamp": "2021-01-03T00:00:00.000Z",
                    "starts": "00:00", "tags": [], "title": "sunday",
                ],
                // 3: Saturday 1 Jan 2000 is in ISO week 52 of 1999.
                [
                    "on_day": "2000-01-01", "at": "2000-01-01T12:30:05", "stamp": "2000-01-01T12:30:05.000Z",
                    "starts": "12:30:05", "tags": ["x": 1], "title": "millennium",
                ],
                // 4: nothing set.
                ["title": "empty"],
                // 5: a JSON string that looks like an array counts 0, as json_array_length.
                ["on_day": "2026-06-15", "tags": "[1,2,3]", "title": "string tags"],
            ], context: .system)
    }

    /// The ids `json` selects on `collection`, by SQL and in memory; both must be `expected`.
    private func expectBoth(
        _ store: Store, _ collection: String, _ json: JSONValue, _ expected: [Int64], context: ItemsContext = .system,
        inMemory: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        var q = ItemQuery()
        q.filter = try filter(json)
        q.sort = [SortField(path: ["id"])]
        #expect(
            try await store.ids(collection, q, context: context) == expected, "SQL: \(json.jsonString)",
            sourceLocation: sourceLocation)
        guard inMemory else { return }
        let rows = try await store.allRows(collection)
        let matched = q.applyInMemory(rows).compactMap { $0["id"]?.intValue }
        #expect(matched == expected, "memory: \(json.jsonString)", sourceLocation: sourceLocation)
    }

    @Test func datePartsReadTheStoredValueInUTC() async throws {
        try await onEachDatabase { store in
            try await Self.makeEvents(store)
            for field in ["on_day", "at", "stamp"] {
                try await expectBoth(store, "events", ["year(\(field))": ["_eq": 2024]], [1])
                try await expectBoth(store, "events", ["year(\(field))": ["_lt": "2021"]], [3])
                try await expectBoth(store, "events", ["month(\(field))": ["_eq": 1]], [2, 3])
                try await expectBoth(store, "events", ["day(\(field))": ["_in": [1, 3]]], [2, 3])
                try await expectBoth(store, "events", ["weekday(\(field))": ["_eq": 0]], [2])
                try await expectBoth(store, "events", ["weekday(\(field))": ["_eq": 6]], [3])
                try await expectBoth(store, "events", ["week(\(field))": ["_eq": 1]], [1])
                try await expectBoth(store, "events", ["week(\(field))": ["_eq": 53]], [2])
                try await expectBoth(store, "events", ["week(\(field))": ["_eq": 52]], [3])
                try await expectBoth(store, "events", ["year(\(field))": ["_null": true]], field == "on_day" ? [4] : [4, 5])
            }
            for field in ["at", "stamp", "starts"] {
                try await expectBoth(store, "events", ["hour(\(field))": ["_eq": 23]], [1])
                try await expectBoth(store, "events", ["minute(\(field))": ["_between": [1, 59]]], [1, 3])
                try await expectBoth(store, "events", ["second(\(field))": ["_gte": 5]], [1, 3])
            }
        }
    }

    @Test func countOfAJSONFieldCountsArrayItems() async throws {
        try await onEachDatabase { store in
            try await Self.makeEvents(store)
            try await expectBoth(store, "events", ["count(tags)": ["_eq": 2]], [1])
            try await expectBoth(store, "events", ["count(tags)": ["_eq": 0]], [2, 3, 5])
            try await expectBoth(store, "events", ["count(tags)": ["_null": true]], [4])
            try await expectBoth(store, "events", ["_or": [["count(tags)": ["_gt": 1]], ["title": ["_eq": "empty"]]]], [1, 4])
        }
    }

    @Test func countOfAnOneToManyCountsTheRelatedRowsTheCallerMayRead() async throws {
        try await onEachDatabase { store in
            try await ChatFixture.make(store)
            // Ada wrote 2 messages, Grace 1, Linus none.
            try await expectBoth(store, "authors", ["count(messages)": ["_eq": 2]], [1], inMemory: false)
            try await expectBoth(store, "authors", ["count(messages)": ["_eq": 0]], [3], inMemory: false)
            try await expectBoth(store, "authors", ["count(messages)": ["_gte": "1"]], [1, 2], inMemory: false)
            // A comparison that names no count (`_nin: []` holds for any) still holds without messages.
            try await expectBoth(store, "authors", ["count(messages)": ["_nin": []]], [1, 2, 3], inMemory: false)
            // Through a relation: messages whose author wrote more than one.
            try await expectBoth(store, "messages", ["author": ["count(messages)": ["_gt": 1]]], [1, 2], inMemory: false)
            // A reader who sees only messages containing "hi" counts only those.
            let reader = userContext(
                newUserID(),
                [
                    "authors": [.read: CollectionPermission(fields: nil)],
                    "messages": [.read: CollectionPermission(fields: nil, filter: try filter(["text": ["_contains": "hi"]]))],
                ])
            try await expectBoth(store, "authors", ["count(messages)": ["_eq": 1]], [1], context: reader, inMemory: false)
            try await expectBoth(store, "authors", ["count(messages)": ["_eq": 0]], [2, 3], context: reader, inMemory: false)
            // Without read access to the related collection the count is refused, as a relational filter is.
            let noMessages = userContext(newUserID(), ["authors": [.read: CollectionPermission(fields: nil)]])
            var q = ItemQuery()
            q.filter = try filter(["count(messages)": ["_eq": 0]])
            await #expect(throws: SwitchboardError.self) { try await store.ids("authors", q, context: noMessages) }
        }
    }

    @Test func functionsOnFieldsOfTheWrongTypeAreRefusedAsDirectusRefusesThem() async throws {
        try await withStore { store in
            try await Self.makeEvents(store)
            try await ChatFixture.make(store)
            let cases: [(String, JSONValue)] = [
                ("events", ["year(title)": ["_eq": 1]]),  // a string has no date parts
                ("events", ["hour(on_day)": ["_eq": 1]]),  // a date has no hours
                ("events", ["year(starts)": ["_eq": 1]]),  // a time has no year
                ("events", ["count(title)": ["_eq": 1]]),  // count needs JSON or an o2m
                ("events", ["count(id)": ["_eq": 1]]),
            ]
            for (collection, json) in cases {
                var q = ItemQuery()
                q.filter = try filter(json)
                do {
                    _ = try await store.ids(collection, q)
                    Issue.record("accepted \(json.jsonString)")
                } catch let error as SwitchboardError {
                    #expect(error.code == .invalidQuery, "\(json.jsonString)")
                    #expect(error.message.contains("Invalid function specified"), "\(error.message)")
                }
            }
            // A value that is not a number, for an integer function, is refused like one for an integer field.
            var q = ItemQuery()
            q.filter = try filter(["year(at)": ["_eq": "last year"]])
            await #expect(throws: SwitchboardError.self) { try await store.ids("events", q) }
            // An unknown field inside a function answers as an unknown field does.
            q.filter = try filter(["year(nope)": ["_eq": 2024]])
            await #expect(throws: SwitchboardError.self) { try await store.ids("events", q) }
        }
    }

    @Test func functionsInFieldsAreNamedAsDirectusNamesThem() async throws {
        try await onEachDatabase { store in
            try await Self.makeEvents(store)
            var q = try query(["fields": "id,year(at),week(on_day),hour(starts),count(tags)", "sort": "id", "limit": 3])
            #expect(
                try await store.readItems("events", query: q, context: .system).data == [
                    ["id": 1, "at_year": 2024, "on_day_week": 1, "starts_hour": 23, "tags_count": 2],
                    ["id": 2, "at_year": 2021, "on_day_week": 53, "starts_hour": 0, "tags_count": 0],
                    ["id": 3, "at_year": 2000, "on_day_week": 52, "starts_hour": 12, "tags_count": 0],
                ])
            q = try query(["fields": "year(title)"])
            await #expect(throws: SwitchboardError.self) { try await store.readItems("events", query: q, context: .system) }
        }
    }

    @Test func countOfAnOneToManyInFieldsCountsWhatTheCallerMayRead() async throws {
        try await onEachDatabase { store in
            try await ChatFixture.make(store)
            let q = try query(["fields": "name,count(messages)", "sort": "id"])
            #expect(
                try await store.readItems("authors", query: q, context: .system).data == [
                    ["name": "Ada", "messages_count": 2], ["name": "Grace", "messages_count": 1],
                    ["name": "Linus", "messages_count": 0],
                ])
            let reader = userContext(
                newUserID(),
                [
                    "authors": [.read: CollectionPermission(fields: nil)],
                    "messages": [.read: CollectionPermission(fields: nil, filter: try filter(["text": ["_contains": "hi"]]))],
                ])
            #expect(
                try await store.readItems("authors", query: q, context: reader).data.map { $0["messages_count"] } == [1, 0, 0])
            // Through an m2o: each message's author's count.
            let nested = try query(["fields": "id,author.count(messages)", "sort": "id", "limit": 1])
            #expect(
                try await store.readItems("messages", query: nested, context: .system).data == [
                    ["id": 1, "author": ["messages_count": 2]]
                ])
        }
    }

    @Test func countOfAnOneToManySortsAndGroupsByWhatTheCallerMayRead() async throws {
        try await onEachDatabase { store in
            try await ChatFixture.make(store)
            // Ada wrote 2 messages, Grace 1, Linus none.
            #expect(try await store.ids("authors", try query(["sort": "-count(messages)"])) == [1, 2, 3])
            #expect(try await store.ids("authors", try query(["sort": "count(messages),name"])) == [3, 2, 1])
            // Through an m2o: messages by how many their author wrote, then newest first.
            let byAuthor = try query(["sort": "-author.count(messages),-id", "filter": ["author": ["_nnull": true]]])
            #expect(try await store.ids("messages", byAuthor) == [2, 1, 3])
            let groups = try query(["aggregate": ["count": "*"], "groupBy": "count(messages)"])
            #expect(
                try await store.readItems("authors", query: groups, context: .system).data == [
                    ["messages_count": 0, "count": 1], ["messages_count": 1, "count": 1], ["messages_count": 2, "count": 1],
                ])
            // A reader who sees only messages containing "hi" sorts and groups by those: Ada 1, the others 0.
            let reader = userContext(
                newUserID(),
                [
                    "authors": [.read: CollectionPermission(fields: nil)],
                    "messages": [.read: CollectionPermission(fields: nil, filter: try filter(["text": ["_contains": "hi"]]))],
                ])
            #expect(try await store.ids("authors", try query(["sort": "-count(messages),-id"]), context: reader) == [1, 3, 2])
            #expect(
                try await store.readItems("authors", query: groups, context: reader).data == [
                    ["messages_count": 0, "count": 2], ["messages_count": 1, "count": 1],
                ])
            // Without read access to the related collection, sorting or grouping by its count is refused.
            let noMessages = userContext(newUserID(), ["authors": [.read: CollectionPermission(fields: nil)]])
            for refused in [try query(["sort": "count(messages)"]), groups] {
                do {
                    _ = try await store.readItems("authors", query: refused, context: noMessages)
                    Issue.record("accepted without access to messages")
                } catch let error as SwitchboardError {
                    #expect(error.code == .forbidden)
                }
            }
        }
    }
}
