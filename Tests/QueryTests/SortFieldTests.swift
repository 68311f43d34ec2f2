import Query
import SwitchboardCore
import Testing

@Suite struct SortFieldTests {
    @Test func parsesDirectionAndPath() throws {
        #expect(try SortField.parse("-date_created") == SortField(path: ["date_created"], descending: true))
        #expect(try SortField.parse("author.name") == SortField(path: ["author", "name"], descending: false))
        #expect(
            try SortField.parse(list: ["-a, b", "c"])
                == [SortField(path: ["a"], descending: true), SortField(path: ["b"]), SortField(path: ["c"])])
    }

    @Test(arguments: ["", "-", "a..b", "a b", "a,", "-x;drop"])
    func rejectsInvalidEntries(entry: String) {
        let error = parseError { () throws(SwitchboardError) in try SortField.parse(list: [entry]) }
        #expect(error?.code == .invalidQuery)
    }

    private func sorted(_ rows: [String], by spec: [String]) throws -> [JSONValue] {
        let fields = try SortField.parse(list: spec)
        return rows.map(object).sorted { SortField.areInIncreasingOrder($0, $1, by: fields) }.map { $0["id"] ?? .null }
    }

    @Test func numbersSortNumericallyWithNullsFirst() throws {
        let rows = [
            #"{"id":1,"n":10}"#, #"{"id":2,"n":9.5}"#, #"{"id":3,"n":null}"#, #"{"id":4,"n":-1}"#, #"{"id":5}"#,
        ]
        #expect(try sorted(rows, by: ["n"]) == [3, 5, 4, 2, 1])
        #expect(try sorted(rows, by: ["-n"]) == [1, 2, 4, 3, 5])
    }

    @Test func stringsSortBytewise() throws {
        let rows = [#"{"id":1,"s":"b"}"#, #"{"id":2,"s":"B"}"#, #"{"id":3,"s":"a"}"#, #"{"id":4,"s":"ab"}"#]
        #expect(try sorted(rows, by: ["s"]) == [2, 3, 4, 1])
    }

    @Test func numbersBeforeText() throws {
        let rows = [#"{"id":1,"v":"10"}"#, #"{"id":2,"v":99}"#, #"{"id":3,"v":true}"#]
        #expect(try sorted(rows, by: ["v"]) == [3, 2, 1])
    }

    @Test func multipleKeysAndRelationalPath() throws {
        let rows = [
            #"{"id":1,"g":"x","author":{"name":"zed"}}"#,
            #"{"id":2,"g":"y","author":{"name":"amy"}}"#,
            #"{"id":3,"g":"x","author":{"name":"bob"}}"#,
            #"{"id":4,"g":"y","author":null}"#,
        ]
        #expect(try sorted(rows, by: ["-g", "author.name"]) == [4, 2, 3, 1])
    }
}

@Suite struct SortFieldFunctionTests {
    @Test func theLastSegmentMayBeAFieldFunction() throws {
        #expect(try SortField.parse("-year(date_created)") == SortField(path: ["year(date_created)"], descending: true))
        #expect(try SortField.parse("author.month(born)") == SortField(path: ["author", "month(born)"]))
        for bad in ["decade(at)", "year(a.b)", "year(", "a.(b)", "year(at).x"] {
            #expect(throws: SwitchboardError.self, "\(bad)") { try SortField.parse(bad) }
        }
    }

    @Test func rowsSortInMemoryByTheFunctionsValue() {
        let rows: [JSONObject] = [
            ["id": 1, "at": "2024-03-05T10:00:00"], ["id": 2, "at": "2026-01-20T08:30:00"],
            ["id": 3, "at": "2025-11-02T23:59:00"],
        ]
        let sorted = rows.sorted { SortField.areInIncreasingOrder($0, $1, by: [SortField(path: ["year(at)"], descending: true)]) }
        #expect(sorted.map { $0["id"] } == [2, 3, 1])
    }
}
