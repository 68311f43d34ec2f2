import Query
import SwitchboardCore
import Testing

@Suite struct FieldFunctionTests {
    @Test func parsesKeysAsDirectusWritesThem() {
        #expect(FieldFunction("year(date_created)") == FieldFunction(kind: .year, field: "date_created"))
        #expect(FieldFunction("count(comments)")?.kind == .count)
        #expect(FieldFunction("year(date_created)")?.key == "year(date_created)")
        for key in ["date_created", "decade(x)", "year()", "year(a.b)", "year(x", "(x)", "year(x))"] {
            #expect(FieldFunction(key) == nil, "\(key)")
        }
    }

    @Test func datePartsAreReadInUTC() {
        let t: JSONValue = "2024-12-30T23:59:58.250Z"
        func part(_ kind: FieldFunction.Kind, _ value: JSONValue) -> JSONValue {
            FieldFunction(kind: kind, field: "f").apply(to: value)
        }
        #expect(part(.year, t) == 2024)
        #expect(part(.month, t) == 12)
        #expect(part(.day, t) == 30)
        #expect(part(.hour, t) == 23)
        #expect(part(.minute, t) == 59)
        #expect(part(.second, t) == 58)
        #expect(part(.weekday, t) == 1)  // a Monday
        #expect(part(.week, t) == 1)  // of 2025, ISO-8601
        #expect(part(.week, "2021-01-03") == 53)
        #expect(part(.week, "2000-01-01") == 52)
        #expect(part(.weekday, "2021-01-03") == 0)
        #expect(part(.hour, "07:05") == 7)
        #expect(part(.second, "07:05") == 0)
        #expect(part(.year, "07:05:09") == nil)
        #expect(part(.year, nil) == nil)
        #expect(part(.year, "not a date") == nil)
        #expect(part(.year, 2024) == nil)
    }

    @Test func isoWeeksAgreeWithTheCalendarOverManyYears() {
        // Every day of 1999–2031: the ISO week is the week of the year of that week's Thursday.
        var day = ISOTimestamp(epochSeconds: 915_148_800)  // 1999-01-01
        for _ in 0..<(33 * 366) {
            let isoWeekday = day.weekday == 0 ? 7 : day.weekday
            let thursday = ISOTimestamp(epochSeconds: Double(day.epochMilliseconds / 1000) + Double(4 - isoWeekday) * 86_400)
            let dayOfYear =
                thursday.parts.day
                + (1..<thursday.parts.month).reduce(0) { sum, month in
                    sum + [31, thursday.parts.year % 4 == 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
                }
            #expect(day.isoWeek == (dayOfYear - 1) / 7 + 1, "\(day.dateString)")
            day = ISOTimestamp(epochSeconds: Double(day.epochMilliseconds / 1000) + 86_400)
        }
    }

    @Test func countCountsJSONArraysAndNothingElse() {
        let count = FieldFunction(kind: .count, field: "tags")
        #expect(count.apply(to: [1, 2, 3]) == 3)
        #expect(count.apply(to: []) == 0)
        #expect(count.apply(to: ["a": 1]) == 0)
        #expect(count.apply(to: "[1,2]") == 0)  // a JSON string, as json_array_length reads it
        #expect(count.apply(to: nil) == nil)
    }

    @Test func filtersTakeFunctionsWithOperatorsOnly() throws {
        #expect(
            try Filter.parse(["year(at)": ["_eq": 2024]]) == .condition(path: ["year(at)"], op: ._eq, value: 2024))
        #expect(
            try Filter.parse(["author": ["count(posts)": ["_gt": 1]]])
                == .condition(path: ["author", "count(posts)"], op: ._gt, value: 1))
        for bad: JSONValue in [
            ["decade(at)": ["_eq": 1]], ["year(at)": 2024], ["year(at)": ["sub": ["_eq": 1]]],
            ["year(at)": ["_and": [["_eq": 1]]]], ["year(a": ["_eq": 1]],
        ] {
            #expect(throws: SwitchboardError.self, "\(bad.jsonString)") { try Filter.parse(bad) }
        }
        #expect(try Filter.parse(["count(comments)": ["_eq": 0]]).referencedPaths == [["comments"]])
        // Not a field of the row: the fan-out's equality index must not look it up there.
        #expect(try Filter.parse(["year(at)": ["_eq": 2026]]).topLevelEqualities.isEmpty)
    }

    @Test func filtersEvaluateFunctionsInMemory() throws {
        let row: JSONObject = ["at": "2026-12-03T07:05:09", "tags": ["a"]]
        #expect(try Filter.parse(["year(at)": ["_eq": "2026"]]).matches(row))
        #expect(try Filter.parse(["weekday(at)": ["_eq": 4]]).matches(row))  // a Thursday
        #expect(try Filter.parse(["count(tags)": ["_eq": 1]]).matches(row))
        #expect(try !Filter.parse(["month(at)": ["_neq": 12]]).matches(row))
    }

    @Test func fieldsTakeAFunctionAtTheEndOfAPath() throws {
        let tree = try FieldTree.parse(["id,year(at)", "author.count(posts)"])
        #expect(tree.names == ["id", "year(at)"])
        #expect(tree.nested["author"]?.names == ["count(posts)"])
        #expect(FieldFunction("year(date_created)")?.outputName == "date_created_year")
        for bad in ["year(at).x", "decade(at)", "year(a b)"] {
            #expect(throws: SwitchboardError.self, "\(bad)") { try FieldTree.parse([bad]) }
        }
    }
}
