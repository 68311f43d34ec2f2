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

    @Test func deletingTheOneSideSendsAnUpdateForEachNulledRow() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let recorder = EventRecorder()
            store.addSink(recorder)
            _ = try await store.deleteItems("authors", keys: [1], context: .system)
            let updates = await recorder.events(of: "messages")
            #expect(updates.count == 1)
            let event = try #require(updates.first)
            #expect(event.action == .update && event.keys == [1, 2])
            #expect(event.rows.map { $0["author"] } == [.null, .null])
            #expect(event.previous.map { $0["author"] } == [1, 1])
            #expect(await recorder.events(of: "authors").map(\.action) == [.delete])
        }
    }

    /// `threads` ← `posts` (CASCADE) ← `replies` (CASCADE, and `replies.parent` → `replies`, CASCADE)
    /// ← `likes` (SET NULL).
    static func makeThreads(_ store: Store) async throws {
        let id: JSONValue = ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]]
        _ = try await store.changeSchema { editor in
            for (name, fields) in [
                ("threads", [id]), ("posts", [id, ["field": "thread", "type": "integer"]]),
                ("replies", [id, ["field": "post", "type": "integer"], ["field": "parent", "type": "integer"]]),
                ("likes", [id, ["field": "reply", "type": "integer"]]),
            ] as [(String, [JSONValue])] {
                _ = try await editor.createCollection(["collection": .string(name), "fields": .array(fields)])
            }
            return ()
        }
        for (many, field, one, onDelete) in [
            ("posts", "thread", "threads", "CASCADE"), ("replies", "post", "posts", "CASCADE"),
            ("replies", "parent", "replies", "CASCADE"), ("likes", "reply", "replies", "SET NULL"),
        ] {
            try await store.changeSchema { editor in
                try await editor.createRelation([
                    "collection": .string(many), "field": .string(field), "related_collection": .string(one),
                    "schema": ["on_delete": .string(onDelete)],
                ])
            }
        }
        _ = try await store.createItems("threads", [[:], [:]], context: .system)
        _ = try await store.createItems("posts", [["thread": 1], ["thread": 1], ["thread": 2]], context: .system)
        // Reply 1 on post 1; 2 answers 1; 3 answers 2 (a thread of replies); 4 on post 3.
        _ = try await store.createItems(
            "replies", [["post": 1], ["post": 1, "parent": 1], ["post": 2, "parent": 2], ["post": 3]], context: .system)
        _ = try await store.createItems("likes", [["reply": 3], ["reply": 4]], context: .system)
    }

    @Test func cascadingDeletesSendADeleteForEveryRowTheyRemove() async throws {
        try await withStore { store in
            try await Self.makeThreads(store)
            let recorder = EventRecorder()
            store.addSink(recorder)
            _ = try await store.deleteItems("threads", keys: [1], context: .system)
            #expect(try await store.allRows("posts", fields: ["id"]) == [["id": 3]])
            #expect(try await store.allRows("replies", fields: ["id"]) == [["id": 4]])
            #expect(
                try await store.allRows("likes", fields: ["id", "reply"]) == [["id": 1, "reply": nil], ["id": 2, "reply": 4]])
            func deleted(_ collection: String) async -> [JSONValue] {
                await recorder.events(of: collection).filter { $0.action == .delete }.flatMap(\.keys)
            }
            #expect(await deleted("threads") == [1])
            #expect(await deleted("posts").sorted { $0.intValue ?? 0 < $1.intValue ?? 0 } == [1, 2])
            // Each reply once, though 2 and 3 are reached both through their post and their parent.
            #expect(await deleted("replies").sorted { $0.intValue ?? 0 < $1.intValue ?? 0 } == [1, 2, 3])
            let likes = await recorder.events(of: "likes")
            #expect(likes.map(\.action) == [.update] && likes.first?.keys == [1])
            #expect(likes.first?.rows.first?["reply"] == .null && likes.first?.previous.first?["reply"] == 3)
            // A delete event carries the rows as they were (for subscribers' permission filters).
            let posts = await recorder.events(of: "posts").flatMap(\.rows)
            #expect(posts.allSatisfy { $0["thread"] == 1 })
        }
    }

    @Test func aSelfReferenceThatCyclesStillDeletesEachRowOnce() async throws {
        try await withStore { store in
            try await Self.makeThreads(store)
            // 1 → 2 → 3 → 1: a cycle through `parent`.
            _ = try await store.updateItems("replies", keys: [1], data: ["parent": 3], context: .system)
            let recorder = EventRecorder()
            store.addSink(recorder)
            _ = try await store.deleteItems("replies", keys: [2], context: .system)
            #expect(try await store.allRows("replies", fields: ["id"]) == [["id": 4]])
            let keys = await recorder.events(of: "replies").flatMap(\.keys).compactMap(\.intValue).sorted()
            #expect(keys == [1, 2, 3])
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
