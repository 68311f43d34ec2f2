import Query
import Store
import SwitchboardCore
import Testing

/// `messages.author` → `authors`, with the `authors.messages` one-to-many alias.
enum ChatFixture {
    static func make(_ store: Store) async throws {
        _ = try await store.changeSchema { editor in
            _ = try await editor.createCollection([
                "collection": "authors",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "name", "type": "string"],
                ],
            ])
            return try await editor.createCollection([
                "collection": "messages",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "text", "type": "text"],
                    ["field": "author", "type": "integer"],
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
        _ = try await store.createItems("authors", [["name": "Ada"], ["name": "Grace"], ["name": "Linus"]], context: .system)
        _ = try await store.createItems(
            "messages",
            [
                ["text": "hello world", "author": 1], ["text": "hi there", "author": 1],
                ["text": "compiling", "author": 2], ["text": "anonymous", "author": nil],
            ], context: .system)
    }
}

@Suite struct RelationTests {
    @Test func manyToOneFieldsExpandIntoTheRelatedItem() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let result = try await store.readItems(
                "messages", query: try query(["fields": ["*", "author.name"], "sort": "id"]), context: .system)
            #expect(
                result.data == [
                    ["id": 1, "text": "hello world", "author": ["name": "Ada"]],
                    ["id": 2, "text": "hi there", "author": ["name": "Ada"]],
                    ["id": 3, "text": "compiling", "author": ["name": "Grace"]],
                    ["id": 4, "text": "anonymous", "author": nil],
                ])
            #expect(result.data.first?.keys == ["id", "text", "author"])
        }
    }

    @Test func manyToOneWithoutSubfieldsIsTheKey() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let rows = try await store.readItems(
                "messages", query: try query(["fields": ["id", "author"], "limit": 2]), context: .system)
            #expect(rows.data == [["id": 1, "author": 1], ["id": 2, "author": 1]])
            let all = try await store.readItems(
                "messages", query: try query(["fields": ["text", "author.*"], "filter": ["id": ["_eq": 3]]]), context: .system)
            #expect(all.data == [["text": "compiling", "author": ["id": 2, "name": "Grace", "messages": [3]]]])
        }
    }

    @Test func oneToManyAliasReadsAsKeysUnderStar() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let rows = try await store.allRows("authors")
            #expect(
                rows == [
                    ["id": 1, "name": "Ada", "messages": [1, 2]],
                    ["id": 2, "name": "Grace", "messages": [3]],
                    ["id": 3, "name": "Linus", "messages": []],
                ])
        }
    }

    @Test func oneToManyAliasExpandsIntoObjects() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let rows = try await store.allRows("authors", fields: ["name", "messages.text"])
            #expect(
                rows == [
                    ["name": "Ada", "messages": [["text": "hello world"], ["text": "hi there"]]],
                    ["name": "Grace", "messages": [["text": "compiling"]]],
                    ["name": "Linus", "messages": []],
                ])
        }
    }

    @Test func nestedRelationsExpandBothWays() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let rows = try await store.readItems(
                "messages", query: try query(["fields": ["id", "author.messages.text"], "filter": ["id": ["_eq": 3]]]),
                context: .system)
            #expect(rows.data == [["id": 3, "author": ["messages": [["text": "compiling"]]]]])
        }
    }

    @Test func deepLimitsAndFiltersTheRelatedItems() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let rows = try await store.readItems(
                "authors",
                query: try query([
                    "fields": ["name", "messages.text"], "filter": ["id": ["_eq": 1]],
                    "deep": ["messages": ["_filter": ["text": ["_starts_with": "hi"]]]],
                ]), context: .system)
            #expect(rows.data == [["name": "Ada", "messages": [["text": "hi there"]]]])
        }
    }

    @Test func theRelationAppearsInTheSchema() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let relation = try #require(store.relationsJSON("messages").first)
            #expect(relation["related_collection"] == "authors")
            #expect(relation["meta"]?["one_field"] == "messages")
            let author = try #require(store.fieldsJSON("messages").first { $0["field"] == "author" })
            #expect(author["meta"]?["special"] == ["m2o"])
        }
    }

    @Test func aForeignKeyMustPointAtAnExistingItem() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.createItems("messages", [["text": "ghost", "author": 99]], context: .system)
            }
            #expect(error?.code == .invalidForeignKey)
            #expect(try await store.sqlCount("messages") == 4)
        }
    }

    @Test func theRelatedObjectStandsForItsKeyOnWrite() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let keys = try await store.createItems("messages", [["text": "by object", "author": ["id": 2]]], context: .system)
            let row = try await store.readItem("messages", key: keys[0], query: ItemQuery(), context: .system)
            #expect(row["author"] == 2)
        }
    }

    @Test func deletingTheOneSideNullsTheForeignKeys() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            _ = try await store.deleteItems("authors", keys: [1], context: .system)
            let rows = try await store.allRows("messages", fields: ["id", "author"])
            #expect(
                rows == [
                    ["id": 1, "author": nil], ["id": 2, "author": nil], ["id": 3, "author": 2], ["id": 4, "author": nil],
                ])
        }
    }

    @Test func aSecondRelationOnTheSameFieldIsRefused() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.changeSchema { editor in
                    try await editor.createRelation([
                        "collection": "messages", "field": "author", "related_collection": "authors",
                    ])
                }
            }
            #expect(error?.code == .invalidPayload)
        }
    }
}
