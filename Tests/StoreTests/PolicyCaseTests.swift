import Foundation
import Query
import Store
import SwitchboardCore
import Testing

/// Several policies on one collection, combined as Directus 11 combines them: each
/// policy's fields apply on the rows its own filter admits ("cases").
@Suite struct PolicyCaseTests {
    static let mine: Filter = .condition(path: ["owner"], op: ._eq, value: "$CURRENT_USER")
    static let drafts: Filter = .condition(path: ["status"], op: ._eq, value: "draft")

    static func row(_ fields: Set<String>?, _ filter: Filter?, validation: Filter? = nil, presets: JSONObject = [:])
        -> PermissionGrantRow
    {
        PermissionGrantRow(fields: fields, filter: filter, validation: validation, presets: presets)
    }

    // MARK: Combining (pure)

    @Test func onePolicyOrIdenticalFiltersKeepTheMergedShortcut() throws {
        let one = try #require(CollectionPermission.combining([Self.row(["id", "title"], Self.mine)]))
        #expect(one.cases.isEmpty && one.filter == Self.mine && one.fields == ["id", "title"])
        let same = try #require(
            CollectionPermission.combining([Self.row(["id"], Self.mine), Self.row(["title"], Self.mine)]))
        #expect(same.cases.isEmpty && same.fields == ["id", "title"] && same.filter == Self.mine)
        // Every field granted everywhere a row is visible: an unfiltered policy covers them all.
        let covered = try #require(
            CollectionPermission.combining([Self.row(["id", "title"], nil), Self.row(["title"], Self.mine)]))
        #expect(covered.cases.isEmpty && covered.filter == nil)
        // Same fields under different filters: any visible row shows them all.
        let sameFields = try #require(
            CollectionPermission.combining([Self.row(nil, Self.mine), Self.row(nil, Self.drafts)]))
        #expect(sameFields.cases.isEmpty && sameFields.filter == .or([Self.mine, Self.drafts]))
    }

    @Test func fieldsOfARestrictedPolicyBecomeConditional() throws {
        let p = try #require(
            CollectionPermission.combining([
                Self.row(["id", "title"], nil), Self.row(["id", "title", "secret"], Self.mine),
            ]))
        #expect(p.cases.count == 2)
        #expect(p.fields == ["id", "title", "secret"])
        #expect(p.filter == nil)
        #expect(p.condition(for: "title") == nil)
        #expect(p.condition(for: "secret") == Self.mine)
        #expect(p.rowFilter(requesting: ["title"]) == nil)
    }

    @Test func aRowFilterCountsOnlyCasesWithRequestedFields() throws {
        let p = try #require(
            CollectionPermission.combining([Self.row(["id", "title"], Self.drafts), Self.row(["secret"], Self.mine)]))
        #expect(p.filter == .or([Self.drafts, Self.mine]))
        #expect(p.rowFilter(requesting: ["title"]) == Self.drafts)
        #expect(p.rowFilter(requesting: ["secret"]) == Self.mine)
        #expect(p.rowFilter(requesting: ["id", "secret"]) == .or([Self.drafts, Self.mine]))
        #expect(p.condition(for: "secret") == Self.mine)
        // A `*` policy grants every field under its filter.
        let star = try #require(
            CollectionPermission.combining([Self.row(["id"], nil), Self.row(nil, Self.mine)]))
        #expect(star.fields == nil && star.condition(for: "anything") == Self.mine && star.condition(for: "id") == nil)
    }

    @Test func validationsAllHoldAndPresetsApplyInOrder() throws {
        let p = try #require(
            CollectionPermission.combining([
                Self.row(["title"], nil, validation: Self.drafts, presets: ["status": "draft", "a": 1]),
                Self.row(["title"], nil, validation: Self.mine, presets: ["status": "review"]),
            ]))
        #expect(p.validation == .and([Self.drafts, Self.mine]))
        #expect(p.presets == ["status": "review", "a": 1])
        let one = try #require(
            CollectionPermission.combining([Self.row(["title"], nil), Self.row(["title"], nil, validation: Self.mine)]))
        #expect(one.validation == Self.mine)
    }

    // MARK: Reads and writes on both databases

    /// Policy A reads `id, title, status` of every doc; policy B also `secret` of the caller's own.
    static func twoPolicyContext() throws -> ItemsContext {
        let read = try #require(
            CollectionPermission.combining([
                Self.row(["id", "title", "status"], nil), Self.row(["id", "title", "secret", "status"], Self.mine),
            ]))
        let update = try #require(
            CollectionPermission.combining([Self.row(["title"], Self.drafts), Self.row(["secret"], Self.mine)]))
        return userContext(DocsFixture.owner, ["docs": [.read: read, .update: update]])
    }

    @Test func aRestrictedFieldIsNullOnRowsItsPolicyDoesNotAdmit() async throws {
        try await onEachDatabase { store in
            try await DocsFixture.make(store)
            let context = try Self.twoPolicyContext()
            let rows = try await store.readItems("docs", query: try query(["sort": "id"]), context: context)
            #expect(rows.data.map { $0["secret"] } == ["s1", .null, "s3"])
            #expect(rows.data.map { $0["title"] } == ["mine, draft", "theirs", "mine, published"])
            // With `id`, policy A's rows stay; asking for `secret` alone, only policy B's rows are read.
            let withID = try await store.readItems(
                "docs", query: try query(["fields": ["id", "secret"], "sort": "id"]), context: context)
            #expect(withID.data == [["id": 1, "secret": "s1"], ["id": 2, "secret": .null], ["id": 3, "secret": "s3"]])
            let only = try await store.readItems(
                "docs", query: try query(["fields": ["secret"], "sort": "id"]), context: context)
            #expect(only.data == [["secret": "s1"], ["secret": "s3"]])
        }
    }

    @Test func relatedRowsKeepTheirPlaceWhenACaseHidesTheirKey() async throws {
        try await onEachDatabase { store in
            try await ChatFixture.make(store)
            let ada: Filter = .condition(path: ["name"], op: ._eq, value: "Ada")
            let grace: Filter = .condition(path: ["name"], op: ._eq, value: "Grace")
            // Grace's row shows `id` and `name`, Ada's `name` only: Ada's key is null in a read of
            // authors, yet her messages still lead to her.
            let authors = try #require(
                CollectionPermission.combining([Self.row(["id", "name"], grace), Self.row(["name"], ada)]))
            let context = userContext(newUserID(), ["messages": [.read: .unrestricted], "authors": [.read: authors]])
            let names = try await store.readItems(
                "messages", query: try query(["fields": ["text", "author.name"], "sort": "id"]), context: context)
            #expect(names.data.map { $0["author"] } == [["name": "Ada"], ["name": "Ada"], ["name": "Grace"], .null])
            // The key read to match them up is no requested field: a case granting only `id` shows no row.
            let onlyIDs = try #require(
                CollectionPermission.combining([Self.row(["id"], grace), Self.row(["name"], ada)]))
            let narrow = userContext(newUserID(), ["messages": [.read: .unrestricted], "authors": [.read: onlyIDs]])
            let shown = try await store.readItems(
                "messages", query: try query(["fields": ["id", "author.name"], "sort": "id"]), context: narrow)
            #expect(shown.data.map { $0["author"] } == [["name": "Ada"], ["name": "Ada"], .null, .null])
        }
    }

    @Test func filtersAndSortsReadTheColumnSearchesOnlyWhereReadable() async throws {
        try await onEachDatabase { store in
            try await DocsFixture.make(store)
            let context = try Self.twoPolicyContext()
            // As Directus: a filter compares the stored value (the row stays, its field reads null).
            let filtered = try await store.readItems(
                "docs", query: try query(["filter": ["secret": ["_eq": "s2"]], "fields": ["id", "secret"]]),
                context: context)
            #expect(filtered.data == [["id": 2, "secret": .null]])
            let sorted = try await store.ids("docs", try query(["sort": "-secret"]), context: context)
            #expect(sorted == [3, 2, 1])
            // A search only matches the field where it is readable.
            #expect(try await store.ids("docs", try query(["search": "s2"]), context: context) == [])
            #expect(try await store.ids("docs", try query(["search": "s3"]), context: context) == [3])
        }
    }

    @Test func groupingByARestrictedFieldGroupsUnreadableRowsAsNull() async throws {
        try await onEachDatabase { store in
            try await DocsFixture.make(store)
            let result = try await store.readItems(
                "docs", query: try query(["aggregate": ["count": "*"], "groupBy": ["secret"]]),
                context: try Self.twoPolicyContext())
            let counts = Dictionary(
                uniqueKeysWithValues: result.data.map { (($0["secret"] ?? .null).textValue ?? "null", $0["count"]) })
            #expect(counts == ["null": 1, "s1": 1, "s3": 1])
        }
    }

    @Test func anUpdateNeedsEachFieldGrantedOnEachRow() async throws {
        try await onEachDatabase { store in
            try await DocsFixture.make(store)
            let context = try Self.twoPolicyContext()
            // title: drafts only; secret: own docs only.
            _ = try await store.updateItems("docs", keys: [2], data: ["title": "t"], context: context)
            _ = try await store.updateItems("docs", keys: [3], data: ["secret": "x"], context: context)
            _ = try await store.updateItems("docs", keys: [1], data: ["title": "u", "secret": "y"], context: context)
            for (key, data) in [(2, ["secret": "z"]), (3, ["title": "v"]), (2, ["title": "w", "secret": "z"])]
                as [(Int64, JSONObject)]
            {
                let error = await #expect(throws: SwitchboardError.self) {
                    try await store.updateItems("docs", keys: [.int(key)], data: data, context: context)
                }
                #expect(error?.code == .forbidden)
            }
            let rows = try await store.allRows("docs", fields: ["id", "title", "secret"])
            #expect(rows.map { $0["title"] } == ["u", "t", "mine, published"])
            #expect(rows.map { $0["secret"] } == ["y", "s2", "x"])
        }
    }
}
