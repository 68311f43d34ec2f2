import Query
import Store
import SwitchboardCore
import Testing

/// `docs` readable by their owner only, without the `secret` field; drafts are
/// editable, owners may delete, new docs are drafts unless they say otherwise.
enum DocsFixture {
    static let owner = "aaaaaaaa-0000-4000-8000-000000000001"
    static let other = "bbbbbbbb-0000-4000-8000-000000000002"

    static func make(_ store: Store) async throws {
        _ = try await store.changeSchema { editor in
            try await editor.createCollection([
                "collection": "docs",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "title", "type": "string"], ["field": "secret", "type": "string"],
                    ["field": "owner", "type": "uuid"], ["field": "status", "type": "string"],
                ],
            ])
        }
        _ = try await store.createItems(
            "docs",
            [
                ["title": "mine, draft", "secret": "s1", "owner": .string(owner), "status": "draft"],
                ["title": "theirs", "secret": "s2", "owner": .string(other), "status": "draft"],
                ["title": "mine, published", "secret": "s3", "owner": .string(owner), "status": "published"],
            ], context: .system)
    }

    static func permissions() throws -> [String: [PermissionAction: CollectionPermission]] {
        [
            "docs": [
                .read: CollectionPermission(
                    fields: ["id", "title", "owner", "status"], filter: try filter(["owner": ["_eq": "$CURRENT_USER"]])),
                .create: CollectionPermission(
                    fields: ["title", "status", "owner"], validation: try filter(["status": ["_in": ["draft", "review"]]]),
                    presets: ["status": "draft", "owner": "$CURRENT_USER"]),
                .update: CollectionPermission(fields: ["title", "status"], filter: try filter(["status": ["_eq": "draft"]])),
                .delete: CollectionPermission(filter: try filter(["owner": ["_eq": "$CURRENT_USER"]])),
            ]
        ]
    }

    static func context() throws -> ItemsContext { userContext(owner, try permissions()) }
}

@Suite struct PermissionTests {
    @Test func starReturnsOnlyAllowedFieldsOfAllowedRows() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let rows = try await store.readItems("docs", query: try query(["sort": "id"]), context: try DocsFixture.context())
            #expect(
                rows.data == [
                    ["id": 1, "title": "mine, draft", "owner": .string(DocsFixture.owner), "status": "draft"],
                    ["id": 3, "title": "mine, published", "owner": .string(DocsFixture.owner), "status": "published"],
                ])
            let meta = try await store.readItems("docs", query: try query(["meta": "*"]), context: try DocsFixture.context())
            #expect(meta.meta == ["total_count": 2, "filter_count": 2])
        }
    }

    @Test func askingForAForbiddenFieldIsForbidden() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.readItems(
                    "docs", query: try query(["fields": ["title", "secret"]]), context: try DocsFixture.context())
            }
            #expect(error?.code == .forbidden)
            #expect(error?.message.contains("\"secret\"") == true)
        }
    }

    @Test func filteringSortingOrSearchingByAForbiddenFieldRevealsNothing() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let context = try DocsFixture.context()
            let byFilter = await #expect(throws: SwitchboardError.self) {
                try await store.readItems("docs", query: try query(["filter": ["secret": ["_eq": "s1"]]]), context: context)
            }
            #expect(byFilter?.code == .forbidden)
            let bySort = await #expect(throws: SwitchboardError.self) {
                try await store.readItems("docs", query: try query(["sort": "secret"]), context: context)
            }
            #expect(bySort?.code == .forbidden)
            // Search skips fields the caller can't read.
            #expect(try await store.ids("docs", try query(["search": "s1"]), context: context) == [])
        }
    }

    @Test func readingAnItemOutsideTheRowFilterIsForbidden() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let context = try DocsFixture.context()
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.readItem("docs", key: 2, query: ItemQuery(), context: context)
            }
            #expect(error?.code == .forbidden)
            // A key that doesn't exist looks the same.
            let missing = await #expect(throws: SwitchboardError.self) {
                try await store.readItem("docs", key: 99, query: ItemQuery(), context: context)
            }
            #expect(missing?.code == .forbidden)
            let own = try await store.readItem("docs", key: 1, query: ItemQuery(), context: context)
            #expect(own["title"] == "mine, draft")
            #expect(own["secret"] == nil)
        }
    }

    @Test func aCollectionWithoutReadPermissionIsForbidden() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.readItems("docs", query: ItemQuery(), context: userContext(DocsFixture.owner, [:]))
            }
            #expect(error?.code == .forbidden)
        }
    }

    @Test func createFailingValidationIsRejectedAndWritesNothing() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.createItems("docs", [["title": "ok", "status": "published"]], context: try DocsFixture.context())
            }
            #expect(error?.code == .failedValidation)
            #expect(error?.extensions["field"] == "status")
            #expect(try await store.sqlCount("docs") == 3)
        }
    }

    @Test func createAppliesPresetsUnderThePayload() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let context = try DocsFixture.context()
            let keys = try await store.createItems(
                "docs", [["title": "preset"], ["title": "given", "status": "review"]], context: context)
            let rows = try await store.readItems(
                "docs", keys: keys, query: try query(["fields": ["title", "status", "owner"]]), context: .system)
            let byTitle = Dictionary(uniqueKeysWithValues: rows.map { ($0["title"]?.stringValue ?? "", $0) })
            #expect(byTitle["preset"] == ["title": "preset", "status": "draft", "owner": .string(DocsFixture.owner)])
            #expect(byTitle["given"] == ["title": "given", "status": "review", "owner": .string(DocsFixture.owner)])
        }
    }

    @Test func createWithAFieldOutsideTheAllowedSetIsForbidden() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.createItems("docs", [["title": "x", "secret": "leak"]], context: try DocsFixture.context())
            }
            #expect(error?.code == .forbidden)
            #expect(try await store.sqlCount("docs") == 3)
        }
    }

    @Test func updateOutsideTheUpdateFilterIsForbiddenAndChangesNothing() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let context = try DocsFixture.context()
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.updateItems("docs", keys: [1, 3], data: ["title": "hijacked"], context: context)
            }
            #expect(error?.code == .forbidden)
            #expect(
                try await store.allRows("docs", fields: ["title"]) == [
                    ["title": "mine, draft"], ["title": "theirs"], ["title": "mine, published"],
                ])

            _ = try await store.updateItems("docs", keys: [1], data: ["title": "renamed"], context: context)
            #expect(try await store.allRows("docs", fields: ["title"]).first == ["title": "renamed"])
        }
    }

    @Test func updateByQueryTouchesOnlyRowsTheCallerMayReadAndUpdate() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let keys = try await store.updateItems(
                "docs", query: try query(["filter": ["title": ["_contains": "i"]]]), data: ["status": "review"],
                context: try DocsFixture.context())
            let statuses = try await store.allRows("docs", fields: ["status"])
            #expect(keys == [1])
            #expect(statuses == [["status": "review"], ["status": "draft"], ["status": "published"]])
        }
    }

    @Test func updateFailingValidationChangesNothing() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            var rules = try DocsFixture.permissions()
            rules["docs"]?[.update]?.validation = try filter(["title": ["_nempty": true]])
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.updateItems(
                    "docs", keys: [1], data: ["title": ""], context: userContext(DocsFixture.owner, rules))
            }
            #expect(error?.code == .failedValidation)
            #expect(try await store.allRows("docs", fields: ["title"]).first == ["title": "mine, draft"])
        }
    }

    /// Validation is Directus's Joi check, not SQL: `_neq` refuses only the named value, so a
    /// payload whose field is null passes, while a read filter `_neq` would not select that row.
    @Test func validationNotEqualLetsANullFieldPass() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            var rules = try DocsFixture.permissions()
            rules["docs"]?[.update]?.validation = try filter(["title": ["_neq": "forbidden"]])
            let context = userContext(DocsFixture.owner, rules)
            #expect(try await store.updateItems("docs", keys: [1], data: ["title": nil], context: context) == [1])
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.updateItems("docs", keys: [1], data: ["title": "forbidden"], context: context)
            }
            #expect(error?.code == .failedValidation)
        }
    }

    @Test func deleteOutsideTheDeleteFilterIsForbiddenAndDeletesNothing() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let context = try DocsFixture.context()
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.deleteItems("docs", keys: [1, 2], context: context)
            }
            #expect(error?.code == .forbidden)
            #expect(try await store.sqlCount("docs") == 3)

            #expect(try await store.deleteItems("docs", keys: [3], context: context) == [3])
            #expect(try await store.allRows("docs", fields: ["id"]) == [["id": 1], ["id": 2]])
        }
    }

    @Test func writesWithoutThePermissionAreForbidden() async throws {
        try await withStore { store in
            try await DocsFixture.make(store)
            let readOnly = userContext(DocsFixture.owner, ["docs": [.read: .unrestricted]])
            let create = await #expect(throws: SwitchboardError.self) {
                try await store.createItems("docs", [["title": "x"]], context: readOnly)
            }
            #expect(create?.code == .forbidden)
            let update = await #expect(throws: SwitchboardError.self) {
                try await store.updateItems("docs", keys: [1], data: ["title": "x"], context: readOnly)
            }
            #expect(update?.code == .forbidden)
            let delete = await #expect(throws: SwitchboardError.self) {
                try await store.deleteItems("docs", keys: [1], context: readOnly)
            }
            #expect(delete?.code == .forbidden)
            #expect(try await store.sqlCount("docs") == 3)
        }
    }

    @Test func relatedItemsTheCallerCannotReadAreLeftOut() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let rules: [String: [PermissionAction: CollectionPermission]] = [
                "authors": [.read: CollectionPermission(filter: try filter(["name": ["_neq": "Grace"]]))],
                "messages": [.read: CollectionPermission(filter: try filter(["text": ["_nstarts_with": "hi"]]))],
            ]
            let context = userContext(newUserID(), rules)
            let authors = try await store.readItems(
                "authors", query: try query(["fields": ["name", "messages.text"], "sort": "id"]), context: context)
            #expect(
                authors.data == [["name": "Ada", "messages": [["text": "hello world"]]], ["name": "Linus", "messages": []]])
            // Message 3 is readable, but its author is not: a filter through the relation can't see Grace.
            let viaGrace = try await store.ids(
                "messages", try query(["filter": ["author": ["name": ["_eq": "Grace"]]]]), context: context)
            #expect(viaGrace == [])
        }
    }

    /// A related collection's row filter is the server's: it may name fields the caller cannot
    /// read, and a filter through the relation is not refused for them (it was FORBIDDEN).
    @Test func aFilterThroughARelationIsNotRefusedForFieldsOfTheRelatedRowFilter() async throws {
        try await withStore { store in
            try await ChatFixture.make(store)
            let rules: [String: [PermissionAction: CollectionPermission]] = [
                "authors": [
                    .read: CollectionPermission(fields: ["id", "messages"], filter: try filter(["name": ["_neq": "Grace"]]))
                ],
                "messages": [
                    .read: CollectionPermission(fields: ["id", "author"], filter: try filter(["text": ["_nstarts_with": "hi"]]))
                ],
            ]
            let context = userContext(newUserID(), rules)
            // m2o: Grace is not readable, so message 3 is not found through her.
            #expect(
                try await store.ids("messages", try query(["filter": ["author": ["id": ["_in": [1, 2]]]]]), context: context)
                    == [1])
            // o2m: message 2 ("hi there") is not readable; Grace is not readable herself.
            #expect(
                try await store.ids("authors", try query(["filter": ["messages": ["id": ["_in": [2, 3]]]]]), context: context)
                    == [])
            #expect(
                try await store.ids(
                    "authors", try query(["filter": ["messages": ["_some": ["id": ["_in": [1, 2]]]]]]), context: context) == [1])
            #expect(
                try await store.ids("authors", try query(["filter": ["count(messages)": ["_gte": 1]]]), context: context) == [1])
            // The caller's own filter still may not name them.
            await #expect(throws: SwitchboardError.self) {
                _ = try await store.ids("messages", try query(["filter": ["text": ["_eq": "hi there"]]]), context: context)
            }
        }
    }
}
