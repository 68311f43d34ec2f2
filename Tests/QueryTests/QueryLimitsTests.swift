import Query
import SwitchboardCore
import Testing

/// Every size limit refuses its query with INVALID_QUERY naming the setting,
/// and queries right at a limit still parse.
@Suite struct QueryLimitsTests {
    let limits = QueryLimits(
        maxFilterConditions: 10, maxFilterDepth: 3, maxFilterValues: 5, maxFields: 4, maxSort: 2, maxRelationalDepth: 3,
        maxDeep: 2, maxParameters: 6, maxParameterDepth: 4)

    func refusal(_ json: String) -> SwitchboardError? {
        parseError { () throws(SwitchboardError) in try ItemQuery.parse(json: object(json), limits: limits) }
    }

    func refusal(url pairs: [(String, String)]) -> SwitchboardError? {
        parseError { () throws(SwitchboardError) in
            try ItemQuery.parse(queryItems: pairs.map { (name: $0.0, value: $0.1) }, limits: limits)
        }
    }

    func andOf(_ n: Int) -> String {
        "{\"filter\":{\"_and\":[" + (0..<n).map { "{\"f\":{\"_eq\":\($0)}}" }.joined(separator: ",") + "]}}"
    }

    @Test func filterConditions() throws {
        _ = try ItemQuery.parse(json: object(andOf(10)), limits: limits)
        let error = refusal(andOf(11))
        #expect(error?.code == .invalidQuery)
        #expect(error?.message.contains("QUERY_MAX_FILTER_CONDITIONS") == true)
        #expect(error?.message.contains("limit 10") == true)
    }

    @Test func filterDepth() throws {
        _ = try ItemQuery.parse(json: object(#"{"filter":{"_and":[{"_or":[{"a":{"_eq":1}}]}]}}"#), limits: limits)
        let error = refusal(#"{"filter":{"_and":[{"_or":[{"_and":[{"_or":[{"a":{"_eq":1}}]}]}]}]}}"#)
        #expect(error?.message.contains("QUERY_MAX_FILTER_DEPTH") == true)
    }

    @Test func filterValues() throws {
        _ = try ItemQuery.parse(json: object(#"{"filter":{"a":{"_in":[1,2,3]},"b":{"_nin":[4,5]}}}"#), limits: limits)
        #expect(
            refusal(#"{"filter":{"a":{"_in":[1,2,3]},"b":{"_nin":[4,5,6]}}}"#)?.message.contains("QUERY_MAX_FILTER_VALUES")
                == true)
    }

    @Test func relationalDepthInFiltersFieldsSortAndDeep() {
        #expect(refusal(#"{"filter":{"a":{"b":{"c":{"d":{"_eq":1}}}}}}"#)?.message.contains("MAX_RELATIONAL_DEPTH") == true)
        #expect(refusal(#"{"fields":["a.b.c.d"]}"#)?.message.contains("MAX_RELATIONAL_DEPTH") == true)
        #expect(refusal(#"{"sort":["a.b.c.d"]}"#)?.message.contains("MAX_RELATIONAL_DEPTH") == true)
        var roomy = limits
        roomy.maxDeep = 10
        let deep = parseError { () throws(SwitchboardError) in
            try ItemQuery.parse(json: object(#"{"deep":{"a":{"b":{"c":{"d":{"_limit":1}}}}}}"#), limits: roomy)
        }
        #expect(deep?.message.contains("MAX_RELATIONAL_DEPTH") == true)
    }

    @Test func fieldsSortAggregateAndGroupByCounts() throws {
        _ = try ItemQuery.parse(json: object(#"{"fields":"a,b,c,d","sort":"a,-b"}"#), limits: limits)
        #expect(refusal(#"{"fields":"a,b,c,d,e"}"#)?.message.contains("QUERY_MAX_FIELDS") == true)
        #expect(refusal(#"{"fields":["a,b","c","d,e"]}"#)?.message.contains("QUERY_MAX_FIELDS") == true)
        #expect(refusal(#"{"groupBy":"a,b,c,d,e"}"#)?.message.contains("QUERY_MAX_FIELDS") == true)
        #expect(refusal(#"{"sort":"a,b,c"}"#)?.message.contains("QUERY_MAX_SORT") == true)
        #expect(
            refusal(#"{"aggregate":{"sum":["a","b","c"],"min":["a","b"]}}"#)?.message.contains("QUERY_MAX_FIELDS") == true)
    }

    @Test func deepCount() throws {
        _ = try ItemQuery.parse(json: object(#"{"deep":{"a":{"_limit":1},"b":{"_limit":1}}}"#), limits: limits)
        #expect(
            refusal(#"{"deep":{"a":{"_limit":1,"c":{"_limit":1}},"b":{"_limit":1}}}"#)?.message.contains("QUERY_MAX_DEEP") == true
        )
    }

    @Test func urlParametersAndBracketDepth() throws {
        _ = try ItemQuery.parse(queryItems: [(name: "filter[a][b][c][_eq]", value: "1")], limits: limits)
        #expect(refusal(url: [("filter[a][b][c][d][_eq]", "1")])?.message.contains("QUERY_MAX_PARAMETER_DEPTH") == true)
        #expect(refusal(url: (0..<7).map { ("x\($0)", "1") })?.message.contains("QUERY_MAX_PARAMETERS") == true)
    }

    /// The defaults take the issue's 1,000-term URL filter, and refuse 5,000 at once.
    @Test func defaultLimitsAcceptAThousandTermsAndRefuseMore() throws {
        func urlAnd(_ n: Int) -> [(name: String, value: String)] {
            (0..<n).map { (name: "filter[_and][\($0)][n][_eq]", value: String($0)) }
        }
        let big = QueryLimits(maxParameters: 10_000)
        let query = try ItemQuery.parse(queryItems: urlAnd(1000), limits: big)
        guard case .and(let parts)? = query.filter else { throw CancellationError() }
        #expect(parts.count == 1000)
        let error = parseError { () throws(SwitchboardError) in try ItemQuery.parse(queryItems: urlAnd(5000), limits: big) }
        #expect(error?.message.contains("QUERY_MAX_FILTER_CONDITIONS") == true)
        let tooMany = parseError { () throws(SwitchboardError) in try ItemQuery.parse(queryItems: urlAnd(5000)) }
        #expect(tooMany?.message.contains("QUERY_MAX_PARAMETERS") == true)
    }

    @Test func aQueryStringDecodesPairsInOrder() {
        let pairs = QueryParameterTree.pairs("a=1&b=x+y&c=%41%2&&d")
        #expect(pairs.map(\.name) == ["a", "b", "c", "d"])
        #expect(pairs.map(\.value) == ["1", "x y", "A%2", ""])
    }
}
