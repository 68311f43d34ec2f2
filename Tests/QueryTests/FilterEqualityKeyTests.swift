import Query
import SwitchboardCore
import Testing

/// `filterEqualityKey` is what the fan-out's equality index hashes pinned `_eq` values and row
/// values by: whenever `_eq` holds, the keys must be the same, or an event skips a class whose
/// filter matches it.
@Suite struct FilterEqualityKeyTests {
    static let values: [JSONValue] = [
        0, 1, -1, 5, 10, 42, 9_007_199_254_740_993, 0.0, -0.0, 1.5, 42.0, 1e10, true, false,
        "0", "1", "5", "05", "5.0", "42", "42.00", "1.5", "1.50", "-0", "1e10", "true", "false", "abc", "ABC", "Abc",
        "", " ", "héllo", "HÉLLO", "2024-01-01", "2024-01-01T00:00:00Z", "2024-01-01T10:30:00.000Z",
        "2024-01-01T10:30:00+00:00", "2024-01-02T01:30:00+02:00", "2023-12-31T23:59:59Z",
        "aaaaaaaa-0000-4000-8000-000000000001", "AAAAAAAA-0000-4000-8000-000000000001",
    ]

    @Test func valuesTheFilterCallsEqualShareAKey() {
        var equalPairs = 0
        for operand in Self.values {
            let filter = Filter.condition(path: ["f"], op: ._eq, value: operand)
            for stored in Self.values where filter.matches(["f": stored]) {
                equalPairs += 1
                #expect(
                    stored.filterEqualityKey == operand.filterEqualityKey,
                    "\(stored.jsonString) _eq \(operand.jsonString) holds, keys \(stored.filterEqualityKey ?? "nil") and \(operand.filterEqualityKey ?? "nil")"
                )
            }
        }
        // Not only each value with itself: numbers across forms, dates by day, UUIDs across case.
        #expect(equalPairs > Self.values.count + 20)
    }

    @Test func nullAndContainersHaveNoKey() {
        #expect(JSONValue.null.filterEqualityKey == nil)
        #expect(JSONValue.array([1]).filterEqualityKey == nil)
        #expect(JSONValue.object(["a": 1]).filterEqualityKey == nil)
    }
}
