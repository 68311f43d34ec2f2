import Query
import Store
import SwitchboardCore
import Testing

/// NULL and type rules of filters as Directus compiles them to SQL, checked on both paths:
/// SQL through the store (REST, `init`) and `Filter.matches` on the rows (subscriptions).
@Suite struct FilterNullSemanticsTests {
    /// Runs `json` both ways on ShopFixture's products and expects `expected` from each.
    private func expectBoth(_ json: JSONValue, _ expected: [Int64], sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        try await withStore { store in
            try await ShopFixture.make(store)
            var q = ItemQuery()
            q.filter = try filter(json)
            #expect(try await store.ids("products", q) == expected, "SQL: \(json.jsonString)", sourceLocation: sourceLocation)
            let rows = try await store.allRows("products", fields: ["*", "category.*"])
            let inMemory = q.applyInMemory(rows).compactMap { $0["id"]?.intValue }
            #expect(inMemory == expected, "memory: \(json.jsonString)", sourceLocation: sourceLocation)
        }
    }

    @Test func notEqualExcludesNullRows() async throws {
        try await expectBoth(["notes": ["_neq": "Classic"]], [3, 4, 5])
    }

    @Test func notEqualNullMeansIsNotNull() async throws {
        try await expectBoth(["notes": ["_neq": nil]], [1, 3, 4, 5])
    }

    @Test func notInExcludesNullRows() async throws {
        try await expectBoth(["rating": ["_nin": [4.5]]], [2, 3, 5])
    }

    @Test func emptyNotInMatchesEveryRowNullIncluded() async throws {
        try await expectBoth(["rating": ["_nin": []]], [1, 2, 3, 4, 5])
    }

    @Test func notInWithNullInTheListMatchesNoRow() async throws {
        try await expectBoth(["rating": ["_nin": [4.5, nil]]], [])
    }

    @Test func inIgnoresNullInTheList() async throws {
        try await expectBoth(["rating": ["_in": [4.5, nil]]], [1])
    }

    @Test(
        arguments: [
            ("_ncontains", "x", [1, 3, 4, 5]), ("_nicontains", "CLASS", [3, 4, 5]), ("_nstarts_with", "C", [3, 4, 5]),
            ("_nistarts_with", "c", [3, 4, 5]), ("_nends_with", "y", [1, 3, 4]), ("_niends_with", "Y", [1, 3, 4]),
        ] as [(String, String, [Int64])])
    func negatedTextOperatorsExcludeNullRows(_ op: String, _ needle: String, _ expected: [Int64]) async throws {
        try await expectBoth(["notes": .object(JSONObject([(op, .string(needle))]))], expected)
    }

    @Test func notBetweenExcludesNullRows() async throws {
        try await expectBoth(["rating": ["_nbetween": [2, 4]]], [1, 3, 5])
    }

    /// `x NOT BETWEEN NULL AND 4` holds where `x <= 4` fails; `x BETWEEN NULL AND 4` never holds.
    @Test func aNullBoundOfBetweenIsUnknownAsInSQL() async throws {
        try await expectBoth(["rating": ["_nbetween": [nil, 4]]], [1, 3])
        try await expectBoth(["rating": ["_nbetween": [2, nil]]], [5])
        try await expectBoth(["rating": ["_between": [nil, 4]]], [])
    }

    @Test func textOperatorWithNullOperandMatchesNoRow() async throws {
        try await expectBoth(["notes": ["_contains": nil]], [])
        try await expectBoth(["notes": ["_nstarts_with": nil]], [])
    }

    /// Directus LEFT JOINs an m2o: a row without a related item reads NULL related fields.
    @Test func manyToOneConditionThatHoldsOnNullMatchesRowsWithoutRelatedItem() async throws {
        try await expectBoth(["category": ["title": ["_null": true]]], [4])
        try await expectBoth(["category": ["title": ["_nin": []]]], [1, 2, 3, 4, 5])
        try await expectBoth(["category": ["title": ["_neq": "Desserts"]]], [2, 5])
    }

    @Test func numericFieldRefusesNonNumericValue() async throws {
        try await withStore { store in
            try await ShopFixture.make(store)
            var q = ItemQuery()
            q.filter = try filter(["price": ["_lt": "abc"]])
            await #expect(throws: SwitchboardError.self) { try await store.ids("products", q) }
            do {
                _ = try await store.ids("products", q)
            } catch let error as SwitchboardError {
                #expect(error.code == .invalidQuery)
                #expect(error.message.hasPrefix("Invalid numeric value"))
            }
        }
    }

    @Test func numbersAsTextAndBooleansCompareAsNumbers() async throws {
        try await expectBoth(["price": ["_gte": "12"]], [3, 5])
        try await expectBoth(["price": ["_in": ["7", "true"]]], [2])
    }

    @Test func booleanFieldTakesOneAndZero() async throws {
        try await expectBoth(["active": ["_eq": 1]], [1, 3, 4])
        try await expectBoth(["active": ["_eq": "0"]], [2, 5])
    }

    @Test func booleanFieldReadsAsTrueOrFalseForTextOperators() async throws {
        try await expectBoth(["active": ["_starts_with": "t"]], [1, 3, 4])
        try await expectBoth(["active": ["_contains": "1"]], [])
    }

    @Test func dateFieldMeetsTimestampOperandByDay() async throws {
        try await expectBoth(["released": ["_eq": "2024-01-10T15:00:00Z"]], [1])
        try await expectBoth(["released": ["_lt": "2024-03-05T23:00:00Z"]], [1, 5])
    }

    @Test func caseInsensitiveOperatorsFoldASCIIOnly() async throws {
        try await expectBoth(["name": ["_icontains": "APPLE P"]], [1])
    }
}
