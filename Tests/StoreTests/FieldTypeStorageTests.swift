import Foundation
import Query
import Store
import SwitchboardCore
import Testing

@Suite struct FieldTypeStorageTests {
    static let everyType: JSONObject = [
        "collection": "specimens",
        "fields": [
            ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
            ["field": "count", "type": "integer"],
            ["field": "big", "type": "bigInteger"],
            ["field": "ratio", "type": "float"],
            ["field": "price", "type": "decimal"],
            ["field": "title", "type": "string"],
            ["field": "body", "type": "text"],
            ["field": "flag", "type": "boolean"],
            ["field": "ref", "type": "uuid"],
            ["field": "data", "type": "json"],
            ["field": "tags", "type": "csv"],
            ["field": "day", "type": "date"],
            ["field": "clock", "type": "time"],
            ["field": "local", "type": "dateTime"],
            ["field": "stamp", "type": "timestamp"],
        ],
    ]

    static func makeSpecimens(_ store: Store) async throws {
        let name = try await store.changeSchema { try await $0.createCollection(Self.everyType) }
        #expect(name == "specimens")
    }

    @Test func valuesOfEveryTypeReadBackAsTheirJSONTypes() async throws {
        try await withStore { store in
            try await Self.makeSpecimens(store)
            let keys = try await store.createItems(
                "specimens",
                [
                    [
                        "count": 42, "big": .int(9_007_199_254_740_993), "ratio": 0.25, "price": "12.50",
                        "title": "Hello \"world\"", "body": "line 1\nline 2 — ünïcode 😀", "flag": true,
                        "ref": "6F9619FF-8B86-D011-B42D-00CF4FC964FF", "data": ["a": [1, 2], "b": ["c": nil], "d": "text"],
                        "tags": ["red", "green", "blue"], "day": "2026-11-24", "clock": "09:30",
                        "local": "2026-11-24 23:05:41.5", "stamp": "2026-11-25T01:05:41+02:00",
                    ]
                ], context: .system)
            #expect(keys == [1])
            let rows = try await store.allRows("specimens")
            let expected: JSONObject = [
                "id": 1, "count": 42, "big": .int(9_007_199_254_740_993), "ratio": 0.25, "price": "12.5",
                "title": "Hello \"world\"", "body": "line 1\nline 2 — ünïcode 😀", "flag": true,
                "ref": "6f9619ff-8b86-d011-b42d-00cf4fc964ff", "data": ["a": [1, 2], "b": ["c": nil], "d": "text"],
                "tags": ["red", "green", "blue"], "day": "2026-11-24", "clock": "09:30:00",
                "local": "2026-11-24T23:05:41", "stamp": "2026-11-24T23:05:41.000Z",
            ]
            #expect(rows == [expected])
            // Fields come back in the order the collection defines them.
            #expect(rows.first?.keys == expected.keys)
        }
    }

    @Test func falseEmptyAndNullValuesKeepTheirTypes() async throws {
        try await withStore { store in
            try await Self.makeSpecimens(store)
            _ = try await store.createItems(
                "specimens",
                [
                    ["flag": false, "tags": [], "data": [], "title": "", "count": 0, "price": 0],
                    ["flag": "true", "data": "just a string", "tags": "a,b", "count": "7", "ratio": "1.5"],
                    [:],
                ], context: .system)
            let rows = try await store.allRows(
                "specimens", fields: ["id", "flag", "tags", "data", "title", "count", "price", "ratio"])
            let falsy: JSONObject = [
                "id": 1, "flag": false, "tags": [], "data": [], "title": "", "count": 0, "price": "0", "ratio": nil,
            ]
            let fromText: JSONObject = [
                "id": 2, "flag": true, "tags": ["a", "b"], "data": "just a string", "title": nil, "count": 7, "price": nil,
                "ratio": 1.5,
            ]
            let empty: JSONObject = [
                "id": 3, "flag": nil, "tags": nil, "data": nil, "title": nil, "count": nil, "price": nil, "ratio": nil,
            ]
            #expect(rows == [falsy, fromText, empty])
        }
    }

    @Test func booleansAreStoredAsIntegersInSQLite() async throws {
        try await withStore { store in
            try await Self.makeSpecimens(store)
            _ = try await store.createItems("specimens", [["flag": true], ["flag": false]], context: .system)
            let stored = try await store.database.read { executor in
                try await executor.query("SELECT flag FROM specimens ORDER BY id").map { $0[0] }
            }
            #expect(stored == [.int(1), .int(0)])
        }
    }

    static let misfits: [(String, JSONValue, ErrorCode)] = [
        ("count", .string("seven"), .invalidPayload),
        ("count", ["nested": 1], .invalidPayload),
        ("flag", "yes", .invalidPayload),
        ("flag", 2, .invalidPayload),
        ("ref", "not-a-uuid", .invalidPayload),
        ("day", "24/11/2026", .invalidPayload),
        ("clock", "9h30", .invalidPayload),
        ("clock", "1:30:00", .invalidPayload),
        ("clock", "24:00", .invalidPayload),
        ("stamp", "yesterday", .invalidPayload),
        ("ratio", "NaN", .invalidPayload),
        ("title", .string(String(repeating: "x", count: 256)), .valueTooLong),
        ("nope", 1, .invalidPayload),
    ]

    @Test(arguments: misfits)
    func rejectsValuesThatDoNotFitTheField(_ field: String, _ value: JSONValue, _ code: ErrorCode) async throws {
        try await withStore { store in
            try await Self.makeSpecimens(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.createItems("specimens", [[field: value]], context: .system)
            }
            #expect(error?.code == code)
            #expect(try await store.sqlCount("specimens") == 0)
        }
    }

    @Test(arguments: ["09:30", "09:30:15", "23:59:59"])
    func timesAreStoredAsHoursMinutesSeconds(_ text: String) async throws {
        try await withStore { store in
            try await Self.makeSpecimens(store)
            _ = try await store.createItems("specimens", [["clock": .string(text)]], context: .system)
            let stored = try await store.allRows("specimens", fields: ["clock"]).first?["clock"]?.stringValue
            #expect(stored == (text.count == 5 ? text + ":00" : text))
        }
    }

    @Test(arguments: ["0930:00", "12:345", "09:30:00junk"])
    func malformedTimesAreRejected(_ text: String) async throws {
        try await withStore { store in
            try await Self.makeSpecimens(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.createItems("specimens", [["clock": .string(text)]], context: .system)
            }
            #expect(error?.code == .invalidPayload)
        }
    }

    @Test func uuidPrimaryKeyIsGeneratedAndSpecialFieldsAreFilled() async throws {
        try await withStore { store in
            _ = try await store.changeSchema { editor in
                try await editor.createCollection([
                    "collection": "notes",
                    "fields": [
                        ["field": "id", "type": "uuid", "schema": ["is_primary_key": true], "meta": ["special": ["uuid"]]],
                        ["field": "text", "type": "string"],
                        ["field": "date_created", "type": "timestamp", "meta": ["special": ["date-created"]]],
                        ["field": "user_created", "type": "uuid", "meta": ["special": ["user-created"]]],
                        ["field": "day_created", "type": "date", "meta": ["special": ["date-created"]]],
                        ["field": "date_updated", "type": "dateTime", "meta": ["special": ["date-updated"]]],
                        ["field": "user_updated", "type": "uuid", "meta": ["special": ["user-updated"]]],
                    ],
                ])
            }
            let author = newUserID()
            let before = ISOTimestamp.now()
            let keys = try await store.createItems(
                "notes", [["text": "first", "user_created": "00000000-0000-0000-0000-000000000000"], ["text": "second"]],
                context: adminContext(author))
            let after = ISOTimestamp.now()
            #expect(keys.count == 2)
            #expect(Set(keys).count == 2)
            for key in keys {
                let id = try #require(key.stringValue)
                #expect(UUID(uuidString: id) != nil)
                #expect(id == id.lowercased())
            }
            let rows = try await store.readItems("notes", keys: keys, query: ItemQuery(), context: .system)
            #expect(rows.count == 2)
            for row in rows {
                // A client can't claim someone else wrote the item.
                #expect(row["user_created"] == .string(author))
                let created = try #require(row["date_created"]?.stringValue.flatMap(ISOTimestamp.init(parsing:)))
                #expect(created >= ISOTimestamp(epochMilliseconds: before.epochMilliseconds - 1))
                #expect(created.epochMilliseconds <= after.epochMilliseconds + 1)
                #expect(row["date_created"]?.stringValue?.hasSuffix("Z") == true)
                #expect(row["day_created"] == .string(created.dateString))
                #expect(row["date_updated"] == .null)
                #expect(row["user_updated"] == .null)
            }

            let editor = newUserID()
            _ = try await store.updateItems("notes", keys: [keys[0]], data: ["text": "edited"], context: adminContext(editor))
            let edited = try await store.readItem("notes", key: keys[0], query: ItemQuery(), context: .system)
            #expect(edited["text"] == "edited")
            #expect(edited["user_updated"] == .string(editor))
            #expect(edited["user_created"] == .string(author))
            let updated = try #require(edited["date_updated"]?.stringValue)
            #expect(updated.count == 19)  // YYYY-MM-DDTHH:MM:SS
            #expect(ISOTimestamp(parsing: updated) != nil)
        }
    }

    @Test func aGivenUUIDPrimaryKeyIsKept() async throws {
        try await withStore { store in
            _ = try await store.changeSchema { editor in
                try await editor.createCollection([
                    "collection": "tokens",
                    "fields": [
                        ["field": "id", "type": "uuid", "schema": ["is_primary_key": true]],
                        ["field": "label", "type": "string"],
                    ],
                ])
            }
            let keys = try await store.createItems(
                "tokens", [["id": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "label": "mine"]], context: .system)
            #expect(keys == ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"])
            #expect(try await store.allRows("tokens").first?["id"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        }
    }

    @Test func aCollectionWithoutAPrimaryKeyGetsAnAutoIncrementID() async throws {
        try await withStore { store in
            _ = try await store.changeSchema {
                try await $0.createCollection(["collection": "plain", "fields": [["field": "name", "type": "string"]]])
            }
            let keys = try await store.createItems("plain", [["name": "a"], ["name": "b"]], context: .system)
            #expect(keys == [1, 2])
            #expect(try await store.allRows("plain") == [["id": 1, "name": "a"], ["id": 2, "name": "b"]])
        }
    }

    static let invalidCollections: [JSONObject] = [
        ["collection": "directus_things", "fields": []],
        ["collection": "1abc"],
        ["collection": "has space"],
        ["collection": "x", "fields": [["field": "id", "type": "float", "schema": ["is_primary_key": true]]]],
        ["collection": "x", "fields": [["field": "when", "type": "sometime"]]],
        ["collection": "x", "fields": [["field": "n", "type": "string", "schema": ["has_auto_increment": true]]]],
    ]

    @Test(arguments: invalidCollections)
    func refusesInvalidCollectionPayloads(_ payload: JSONObject) async throws {
        try await withStore { store in
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.changeSchema { try await $0.createCollection(payload) }
            }
            #expect(error?.code == .invalidPayload)
            #expect(store.collectionJSON(payload["collection"]?.stringValue ?? "") == nil)
        }
    }

    @Test func creatingAnExistingCollectionFailsAndLeavesItIntact() async throws {
        try await withStore { store in
            try await Self.makeSpecimens(store)
            _ = try await store.createItems("specimens", [["title": "kept"]], context: .system)
            let error = await #expect(throws: SwitchboardError.self) { try await Self.makeSpecimens(store) }
            #expect(error?.code == .invalidPayload)
            #expect(try await store.allRows("specimens", fields: ["title"]) == [["title": "kept"]])
        }
    }

    @Test func schemaSurvivesReopeningTheStore() async throws {
        try await withStore { store in
            try await Self.makeSpecimens(store)
            let reloaded = Store(database: store.database, environment: store.environment)
            try await reloaded.migrate()
            #expect(
                reloaded.schema.collection("specimens")?.fields.map(\.field)
                    == store.schema.collection("specimens")?.fields.map(\.field))
            #expect(reloaded.schema.collection("specimens")?.field("price")?.type == .decimal)
        }
    }
}
