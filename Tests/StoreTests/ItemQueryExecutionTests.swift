import Query
import Store
import SwitchboardCore
import Testing

/// `products.category` → `categories` (with the `categories.products` alias), five
/// products with a spread of values, nulls and empties.
enum ShopFixture {
    static let ada = "aaaaaaaa-1111-4111-8111-11111111abcd"
    static let bob = "22222222-2222-4222-8222-222222222222"

    static func make(_ store: Store) async throws {
        _ = try await store.changeSchema { editor in
            _ = try await editor.createCollection([
                "collection": "categories",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "title", "type": "string"],
                ],
            ])
            return try await editor.createCollection([
                "collection": "products",
                "fields": [
                    ["field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true]],
                    ["field": "name", "type": "string"], ["field": "price", "type": "integer"],
                    ["field": "rating", "type": "float"], ["field": "active", "type": "boolean"],
                    ["field": "released", "type": "date"], ["field": "tags", "type": "csv"],
                    ["field": "owner", "type": "uuid"], ["field": "notes", "type": "text"],
                    ["field": "category", "type": "integer"],
                ],
            ])
        }
        _ = try await store.changeSchema { editor in
            try await editor.createField("categories", ["field": "products", "type": "alias", "meta": ["special": ["o2m"]]])
        }
        try await store.changeSchema { editor in
            try await editor.createRelation([
                "collection": "products", "field": "category", "related_collection": "categories",
                "meta": ["one_field": "products"],
            ])
        }
        _ = try await store.createItems(
            "categories", [["title": "Desserts"], ["title": "Bakery"], ["title": "Exotic"], ["title": "Empty"]],
            context: .system)
        _ = try await store.createItems(
            "products",
            [
                [
                    "name": "Apple Pie", "price": 5, "rating": 4.5, "active": true, "released": "2024-01-10",
                    "tags": ["sweet", "baked"], "owner": .string(ada), "notes": "Classic", "category": 1,
                ],
                [
                    "name": "Banana Bread", "price": 7, "rating": 3.0, "active": false, "released": "2024-03-05",
                    "tags": ["baked"], "owner": .string(bob), "notes": nil, "category": 2,
                ],
                [
                    "name": "Cherry Tart", "price": 12, "rating": 4.9, "active": true, "released": "2025-06-01",
                    "tags": ["sweet"], "owner": .string(ada), "notes": "", "category": 1,
                ],
                [
                    "name": "apple juice", "price": 3, "rating": nil, "active": true, "released": nil, "tags": [],
                    "owner": nil, "notes": "Fresh", "category": nil,
                ],
                [
                    "name": "Durian", "price": 20, "rating": 1.5, "active": false, "released": "2023-12-31",
                    "tags": ["exotic"], "owner": .string(bob), "notes": "Smelly", "category": 3,
                ],
            ], context: .system)
    }
}

@Suite struct ItemQueryExecutionTests {
    static let scalarFilters: [(JSONValue, [Int64])] = [
        (["price": ["_eq": 7]], [2]),
        (["price": ["_eq": "7"]], [2]),
        (["notes": ["_eq": nil]], [2]),
        (["notes": ["_neq": "Classic"]], [3, 4, 5]),  // NULL notes (2) are not "not Classic", as in Directus
        (["price": ["_lt": 7]], [1, 4]),
        (["price": ["_lte": 7]], [1, 2, 4]),
        (["price": ["_gt": 12]], [5]),
        (["price": ["_gte": 12]], [3, 5]),
        (["rating": ["_gt": 4]], [1, 3]),
        (["id": ["_in": [1, 3, 99]]], [1, 3]),
        (["id": ["_in": "2,4"]], [2, 4]),
        (["id": ["_nin": [1, 3]]], [2, 4, 5]),
        (["notes": ["_null": true]], [2]),
        (["notes": ["_nnull": true]], [1, 3, 4, 5]),
        (["notes": ["_empty": true]], [2, 3]),
        (["notes": ["_nempty": true]], [1, 4, 5]),
        (["name": ["_contains": "ana"]], [2]),
        (["name": ["_ncontains": "a"]], [1]),
        (["name": ["_icontains": "APPLE"]], [1, 4]),
        (["name": ["_nicontains": "APPLE"]], [2, 3, 5]),
        (["name": ["_starts_with": "Apple"]], [1]),
        (["name": ["_nstarts_with": "Apple"]], [2, 3, 4, 5]),
        (["name": ["_istarts_with": "apple"]], [1, 4]),
        (["name": ["_nistarts_with": "apple"]], [2, 3, 5]),
        (["name": ["_ends_with": "Tart"]], [3]),
        (["name": ["_nends_with": "e"]], [2, 3, 5]),
        (["name": ["_iends_with": "JUICE"]], [4]),
        (["name": ["_niends_with": "E"]], [2, 3, 5]),
        (["price": ["_between": [5, 12]]], [1, 2, 3]),
        (["price": ["_nbetween": [5, 12]]], [4, 5]),
        (["released": ["_gt": "2024-02-01"]], [2, 3]),
        (["released": ["_between": ["2024-01-01", "2024-12-31T23:59:59Z"]]], [1, 2]),
        (["active": ["_eq": true]], [1, 3, 4]),
        (["active": ["_eq": false]], [2, 5]),
        (["active": ["_eq": "false"]], [2, 5]),
        (["tags": ["_contains": "sweet"]], [1, 3]),
        (["tags": ["_empty": true]], [4]),
        (["owner": ["_eq": .string(ShopFixture.ada.uppercased())]], [1, 3]),
        (["_or": [["price": ["_lt": 4]], ["price": ["_gt": 15]]]], [4, 5]),
        (["_and": [["active": ["_eq": true]], ["rating": ["_gte": 4.5]]]], [1, 3]),
        (["active": ["_eq": true], "price": ["_gt": 4]], [1, 3]),
        (["_or": []], [1, 2, 3, 4, 5]),
        ([:], [1, 2, 3, 4, 5]),
    ]

    @Test(arguments: scalarFilters)
    func filtersRunInSQL(_ json: JSONValue, _ expected: [Int64]) async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            var q = ItemQuery()
            q.filter = try filter(json)
            #expect(try await store.ids("products", q) == expected, "\(json.jsonString)")
        }
    }

    /// Realtime evaluates subscriptions in memory; it must pick the same rows as SQL.
    @Test func inMemoryEvaluationAgreesWithSQL() async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            let rows = try await store.allRows("products")
            for (json, expected) in Self.scalarFilters {
                var q = ItemQuery()
                q.filter = try filter(json)
                let inMemory = q.applyInMemory(rows).compactMap { $0["id"]?.intValue }
                if json["owner"] != nil {
                    #expect(inMemory == expected, "\(json.jsonString)")
                } else {
                    #expect(inMemory == expected, "\(json.jsonString)")
                }
            }
        }
    }

    static let manyToOneFilters: [(JSONValue, [Int64])] = [
        (["category": ["title": ["_eq": "Desserts"]]], [1, 3]),
        (["category": ["title": ["_neq": "Desserts"]]], [2, 5]),
        (["category": ["id": ["_in": [2, 3]]]], [2, 5]),
        (["category": ["products": ["price": ["_gt": 15]]]], [5]),
    ]

    @Test(arguments: manyToOneFilters)
    func manyToOnePathsFilterOnTheRelatedItem(_ json: JSONValue, _ expected: [Int64]) async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            var q = ItemQuery()
            q.filter = try filter(json)
            #expect(try await store.ids("products", q) == expected, "\(json.jsonString)")
        }
    }

    static let oneToManyFilters: [(JSONValue, [Int64])] = [
        (["products": ["_some": ["price": ["_gt": 10]]]], [1, 3]),
        (["products": ["_none": ["price": ["_gt": 10]]]], [2, 4]),
        (["products": ["name": ["_contains": "Bread"]]], [2]),
        (["products": ["_some": ["category": ["title": ["_eq": "Bakery"]]]]], [2]),
        (["products": ["_none": [:]]], [4]),
    ]

    @Test(arguments: oneToManyFilters)
    func oneToManyPathsFilterOnTheChildren(_ json: JSONValue, _ expected: [Int64]) async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            var q = ItemQuery()
            q.filter = try filter(json)
            #expect(try await store.ids("categories", q) == expected, "\(json.jsonString)")
        }
    }

    /// One user-perceived character can be several code points (emoji with a skin tone,
    /// a letter with a combining accent); prefixes and suffixes must compare whole text.
    @Test func prefixAndSuffixFiltersCompareWholeCharacters() async throws {
        try await withStore { store in
            _ = try await store.changeSchema {
                try await $0.createCollection(["collection": "posts", "fields": [["field": "name", "type": "string"]]])
            }
            _ = try await store.createItems(
                "posts", [["name": "👍🏽 great"], ["name": "👍 fine"], ["name": "cafe\u{301}"]], context: .system)
            #expect(try await store.ids("posts", try query(["filter": ["name": ["_starts_with": "👍"]]])) == [1, 2])
            let skinTone = try await store.ids("posts", try query(["filter": ["name": ["_starts_with": "👍🏽"]]]))
            let accent = try await store.ids("posts", try query(["filter": ["name": ["_ends_with": "e\u{301}"]]]))
            #expect(skinTone == [1])
            #expect(accent == [3])
        }
    }

    @Test func currentUserResolvesToTheCaller() async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            let q = try query(["filter": ["owner": ["_eq": "$CURRENT_USER"]]])
            #expect(try await store.ids("products", q, context: adminContext(ShopFixture.ada)) == [1, 3])
            #expect(try await store.ids("products", q, context: adminContext(ShopFixture.bob)) == [2, 5])
            // Without a user the variable is null, and `_eq: null` means "is null" (as knex does for Directus).
            #expect(try await store.ids("products", q, context: .system) == [4])
        }
    }

    @Test func filteringOnAnUnknownFieldIsForbidden() async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.readItems("products", query: try query(["filter": ["nope": ["_eq": 1]]]), context: .system)
            }
            #expect(error?.code == .forbidden)
        }
    }

    static let sorts: [(String, [Int64])] = [
        ("price", [4, 1, 2, 3, 5]),
        ("-price", [5, 3, 2, 1, 4]),
        ("-active,price", [4, 1, 3, 2, 5]),
        ("active,-rating", [2, 5, 3, 1, 4]),
        ("-rating", [3, 1, 2, 5, 4]),
        ("category.title", [4, 2, 1, 3, 5]),
        ("-category.title,-id", [5, 3, 1, 2, 4]),
        ("name", [1, 2, 3, 5, 4]),
    ]

    @Test(arguments: sorts)
    func sortsBySeveralKeys(_ sort: String, _ expected: [Int64]) async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            #expect(try await store.ids("products", try query(["sort": .string(sort)])) == expected)
        }
    }

    @Test func limitOffsetAndPagePickTheRightWindow() async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            #expect(try await store.ids("products", try query(["sort": "id", "limit": 2])) == [1, 2])
            #expect(try await store.ids("products", try query(["sort": "id", "limit": 2, "offset": 2])) == [3, 4])
            #expect(try await store.ids("products", try query(["sort": "id", "limit": 2, "page": 3])) == [5])
            #expect(try await store.ids("products", try query(["sort": "id", "limit": 2, "page": 4])) == [])
            #expect(try await store.ids("products", try query(["sort": "id", "offset": 3])) == [4, 5])
            #expect(try await store.ids("products", try query(["sort": "id", "limit": -1])) == [1, 2, 3, 4, 5])
            #expect(try await store.ids("products", try query(["sort": "-price", "limit": 1])) == [5])
            #expect(try await store.ids("products", try query(["limit": 0])) == [])
        }
    }

    @Test func metaCountsIgnoreLimitAndOnlyFilterCountFollowsTheFilter() async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            let result = try await store.readItems(
                "products", query: try query(["filter": ["price": ["_gt": 5]], "limit": 1, "meta": "*"]), context: .system)
            #expect(result.data.count == 1)
            #expect(result.meta == ["total_count": 5, "filter_count": 3])
            let totalOnly = try await store.readItems("products", query: try query(["meta": "total_count"]), context: .system)
            #expect(totalOnly.meta == ["total_count": 5])
            let none = try await store.readItems("products", query: ItemQuery(), context: .system)
            #expect(none.meta == nil)
        }
    }

    @Test func aggregatesCountSumAndGroup() async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            let count = try await store.readItems("products", query: try query(["aggregate": ["count": "*"]]), context: .system)
            #expect(count.data == [["count": 5]])
            let sums = try await store.readItems(
                "products", query: try query(["aggregate": ["sum": "price", "count": "rating", "max": "price"]]),
                context: .system)
            #expect(sums.data == [["sum": ["price": 47], "count": ["rating": 4], "max": ["price": 20]]])
            let grouped = try await store.readItems(
                "products", query: try query(["aggregate": ["count": "*", "sum": "price"], "groupBy": "active"]),
                context: .system)
            #expect(
                grouped.data == [
                    ["active": false, "count": 2, "sum": ["price": 27]],
                    ["active": true, "count": 3, "sum": ["price": 20]],
                ])
            let filtered = try await store.readItems(
                "products",
                query: try query(["aggregate": ["count": "*"], "filter": ["category": ["title": ["_eq": "Desserts"]]]]),
                context: .system)
            #expect(filtered.data == [["count": 2]])
            let average = try await store.readItems(
                "products", query: try query(["aggregate": ["avg": "price"]]), context: .system)
            #expect(average.data.first?["avg"]?["price"]?.doubleValue == 9.4)
        }
    }

    @Test func aggregateOfAnUnknownFieldIsAnInvalidQuery() async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            let error = await #expect(throws: SwitchboardError.self) {
                try await store.readItems("products", query: try query(["aggregate": ["sum": "weight"]]), context: .system)
            }
            #expect(error?.code == .invalidQuery)
        }
    }

    static let searches: [(String, [Int64])] = [
        ("apple", [1, 4]),
        ("APPLE", [1, 4]),
        ("fresh", [4]),
        ("sweet", [1, 3]),
        ("12", [3]),
        ("zzz", []),
        (ShopFixture.bob, [2, 5]),
    ]

    @Test(arguments: searches)
    func searchLooksThroughTextNumbersAndUUIDs(_ term: String, _ expected: [Int64]) async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            #expect(try await store.ids("products", try query(["search": .string(term)])) == expected)
            let counted = try await store.readItems(
                "products", query: try query(["search": .string(term), "meta": "filter_count"]), context: .system)
            #expect(counted.meta?["filter_count"]?.intValue == Int64(expected.count))
        }
    }
}
