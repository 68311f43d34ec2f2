import Query
import SwitchboardCore
import Testing

@Suite struct AggregateTests {
    let rows: [JSONObject] = [
        object(#"{"id":1,"cat":"a","price":2.5,"qty":1,"name":"pen"}"#),
        object(#"{"id":2,"cat":"b","price":10,"qty":null,"name":"book"}"#),
        object(#"{"id":3,"cat":"a","price":null,"qty":3,"name":"ink"}"#),
        object(#"{"id":4,"cat":"a","price":2.5,"qty":2,"name":"cap"}"#),
    ]

    @Test func parsesAllForms() throws {
        #expect(
            try AggregateRequest.parse(json(#"{"count":"*","sum":"price, qty","avg":["price"],"max":["a,b"]}"#)) == [
                AggregateRequest(function: .count, fields: ["*"]),
                AggregateRequest(function: .sum, fields: ["price", "qty"]),
                AggregateRequest(function: .avg, fields: ["price"]),
                AggregateRequest(function: .max, fields: ["a", "b"]),
            ])
        #expect(
            try AggregateRequest.parse(json(#"{"countAll":true}"#)) == [
                AggregateRequest(function: .countAll, fields: ["*"])
            ])
    }

    @Test(arguments: [
        #"{"median":"x"}"#, #"{"sum":"*"}"#, #"{"sum":5}"#, #"{"sum":[1]}"#, #"["count"]"#, #"{"count":"a b"}"#,
    ])
    func rejectsBadAggregates(input: String) {
        let error = parseError { () throws(SwitchboardError) in try AggregateRequest.parse(json(input)) }
        #expect(error?.code == .invalidQuery)
    }

    @Test func countStar() {
        let result = AggregateRequest.compute(
            [AggregateRequest(function: .count, fields: ["*"])], groupBy: [], rows: rows)
        #expect(result == [["count": 4]])
    }

    @Test func fieldAggregatesWithoutGrouping() {
        let requests = [
            AggregateRequest(function: .count, fields: ["price"]),
            AggregateRequest(function: .countDistinct, fields: ["price"]),
            AggregateRequest(function: .countAll, fields: ["*"]),
            AggregateRequest(function: .sum, fields: ["price", "qty"]),
            AggregateRequest(function: .sumDistinct, fields: ["price"]),
            AggregateRequest(function: .avg, fields: ["qty"]),
            AggregateRequest(function: .avgDistinct, fields: ["price"]),
            AggregateRequest(function: .min, fields: ["price", "name"]),
            AggregateRequest(function: .max, fields: ["price", "name"]),
        ]
        let result = AggregateRequest.compute(requests, groupBy: [], rows: rows)
        #expect(
            result == [
                [
                    "count": ["price": 3], "countDistinct": ["price": 2], "countAll": 4,
                    "sum": ["price": 15.0, "qty": 6], "sumDistinct": ["price": 12.5], "avg": ["qty": 2.0],
                    "avgDistinct": ["price": 6.25], "min": ["price": 2.5, "name": "book"],
                    "max": ["price": 10, "name": "pen"],
                ]
            ])
    }

    @Test func sameFunctionTwiceMerges() {
        let requests = [
            AggregateRequest(function: .sum, fields: ["price"]), AggregateRequest(function: .sum, fields: ["qty"]),
        ]
        #expect(AggregateRequest.compute(requests, groupBy: [], rows: rows) == [["sum": ["price": 15.0, "qty": 6]]])
    }

    @Test func emptyInput() {
        let requests = [
            AggregateRequest(function: .count, fields: ["*"]), AggregateRequest(function: .sum, fields: ["price"]),
            AggregateRequest(function: .avg, fields: ["price"]), AggregateRequest(function: .max, fields: ["price"]),
        ]
        #expect(
            AggregateRequest.compute(requests, groupBy: [], rows: [])
                == [["count": 0, "sum": ["price": nil], "avg": ["price": nil], "max": ["price": nil]]])
        #expect(AggregateRequest.compute(requests, groupBy: ["cat"], rows: []).isEmpty)
    }

    @Test func groupByKeepsFirstAppearanceOrder() {
        let requests = [
            AggregateRequest(function: .count, fields: ["*"]), AggregateRequest(function: .sum, fields: ["qty"]),
        ]
        let result = AggregateRequest.compute(requests, groupBy: ["cat"], rows: rows)
        #expect(
            result == [["cat": "a", "count": 3, "sum": ["qty": 6]], ["cat": "b", "count": 1, "sum": ["qty": nil]]])
        #expect(result.first?.keys == ["cat", "count", "sum"])
    }

    @Test func groupByMultipleFieldsWithNulls() {
        let data = [object(#"{"a":1,"b":null}"#), object(#"{"a":1}"#), object(#"{"a":1,"b":2}"#)]
        let result = AggregateRequest.compute(
            [AggregateRequest(function: .countAll, fields: ["*"])], groupBy: ["a", "b"], rows: data)
        #expect(result == [["a": 1, "b": nil, "countAll": 2], ["a": 1, "b": 2, "countAll": 1]])
    }
}
