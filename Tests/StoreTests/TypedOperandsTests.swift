import Query
import Store
import SwitchboardCore
import Testing

/// `Filter.typedOperands`: values compared with a text field are its text in memory, as SQL
/// binds them, so `"10" _gt 9` is false in both (text order) while decimals stay numbers.
@Suite struct TypedOperandsTests {
    static let schema = Schema(
        collections: [
            CollectionSchema(
                name: "docs", primaryKey: "id",
                fields: [
                    FieldSchema(collection: "docs", field: "id", type: .integer, isPrimaryKey: true),
                    FieldSchema(collection: "docs", field: "code", type: .string),
                    FieldSchema(collection: "docs", field: "price", type: .decimal),
                    FieldSchema(collection: "docs", field: "author", type: .integer),
                ]),
            CollectionSchema(
                name: "people", primaryKey: "id",
                fields: [
                    FieldSchema(collection: "people", field: "id", type: .integer, isPrimaryKey: true),
                    FieldSchema(collection: "people", field: "badge", type: .text),
                    FieldSchema(collection: "people", field: "docs", type: .alias),
                ]),
        ],
        relations: [RelationSchema(manyCollection: "docs", manyField: "author", oneCollection: "people", oneField: "docs")])

    static func matches(_ filter: String, on collection: String, _ row: JSONObject) throws -> Bool {
        try Filter.parse(try JSONValue(parsing: filter)).typedOperands(on: collection, in: schema).matches(row)
    }

    /// (filter on `docs`, row, expected)
    @Test(arguments: [
        (#"{"code":{"_gt":9}}"#, #"{"code":"10"}"#, false),  // text: "10" < "9"
        (#"{"code":{"_eq":10}}"#, #"{"code":"010"}"#, false),
        (#"{"code":{"_eq":10}}"#, #"{"code":"10"}"#, true),
        (#"{"code":{"_eq":1.5}}"#, #"{"code":"1.5"}"#, true),
        (#"{"code":{"_eq":true}}"#, #"{"code":"1"}"#, false),
        (#"{"code":{"_in":[1,2]}}"#, #"{"code":"01"}"#, false),
        (#"{"code":{"_between":[1,5]}}"#, #"{"code":"10"}"#, true),  // "1" <= "10" <= "5" as text
        (#"{"price":{"_gt":9}}"#, #"{"price":"10.00"}"#, true),  // a decimal: numbers
        (#"{"price":{"_eq":10}}"#, #"{"price":"10.00"}"#, true),
        (#"{"author":{"badge":{"_gt":9}}}"#, #"{"author":{"id":1,"badge":"10"}}"#, false),
        (#"{"author":{"badge":{"_gt":"09"}}}"#, #"{"author":{"id":1,"badge":"10"}}"#, true),
    ])
    func textFieldsCompareAsText(filter: String, row: String, expected: Bool) throws {
        let object = try #require(try JSONValue(parsing: row).objectValue)
        #expect(try Self.matches(filter, on: "docs", object) == expected)
    }

    @Test func throughAnOneToManyTheRelatedFieldDecides() throws {
        let row = try #require(
            try JSONValue(parsing: #"{"id":1,"docs":[{"id":1,"code":"10","price":"10"}]}"#).objectValue)
        #expect(try Self.matches(#"{"docs":{"_some":{"code":{"_gt":9}}}}"#, on: "people", row) == false)
        #expect(try Self.matches(#"{"docs":{"_some":{"price":{"_gt":9}}}}"#, on: "people", row) == true)
        #expect(try Self.matches(#"{"docs":{"code":{"_lt":9}}}"#, on: "people", row) == true)
    }

    @Test func unknownPathsAndOtherOperatorsAreLeftAsTheyAre() throws {
        let filter = try Filter.parse(
            try JSONValue(parsing: #"{"nope":{"_gt":9},"code":{"_null":true},"year(code)":{"_eq":2024}}"#))
        #expect(filter.typedOperands(on: "docs", in: Self.schema) == filter)
    }
}
