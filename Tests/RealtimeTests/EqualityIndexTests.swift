import Query
import Store
import SwitchboardCore
import Testing

@testable import Realtime

/// The fan-out's index of classes that pin a field (`room _eq 42`): a row whose value the
/// filter calls equal finds the class, whatever form the value takes.
@Suite struct EqualityIndexTests {
    static func key(_ filter: String) throws -> QueryClassKey {
        var query = ItemQuery()
        query.filter = try Filter.parse(try JSONValue(parsing: filter))
        return QueryClassKey(request: SubscriptionRequest(collection: "rooms", query: query), context: .system)
    }

    @Test(arguments: [
        (#"{"room":{"_eq":42}}"#, JSONValue.string("42.00")),  // a decimal travels as text
        (#"{"room":{"_eq":"05"}}"#, JSONValue.int(5)),
        (#"{"room":{"_eq":true}}"#, JSONValue.int(1)),
        (#"{"room":{"_eq":"AAAAAAAA-0000-4000-8000-000000000001"}}"#, JSONValue.string("aaaaaaaa-0000-4000-8000-000000000001")),
        (#"{"room":{"_eq":"2024-01-01T10:30:00.000Z"}}"#, JSONValue.string("2024-01-01T10:30:00Z")),
        (#"{"room":{"_eq":"2024-01-01T10:30:00Z"}}"#, JSONValue.string("2024-01-01")),  // a date field, by day
    ])
    func aRowTheFilterMatchesFindsItsClass(filter: String, stored: JSONValue) throws {
        let key = try Self.key(filter)
        let row: JSONObject = ["id": 1, "room": stored]
        #expect(key.request.query.filter?.matches(row) == true)
        var index = EqualityIndex()
        index.insert(7, key)
        #expect(index.unindexed.isEmpty)
        #expect(index.candidates([row]) == [7])
        #expect(index.candidates([["id": 2, "room": 43]]).isEmpty)
        index.remove(7, key)
        #expect(index.isEmpty)
    }

    @Test func aNowWindowIsNotPinned() throws {
        var index = EqualityIndex()
        index.insert(3, try Self.key(#"{"day":{"_eq":"$NOW"}}"#))
        #expect(index.unindexed == [3])
        #expect(index.candidates([["id": 1, "day": "2024-01-01"]]) == [3])
    }
}
