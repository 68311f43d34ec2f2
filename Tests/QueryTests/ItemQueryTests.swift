import Query
import SwitchboardCore
import Testing

@Suite struct ItemQueryJSONTests {
    @Test func parsesSDKStyleQuery() throws {
        let query = try ItemQuery.parse(
            json: object(
                #"""
                {"fields":"id,title,author.name","filter":{"status":{"_eq":"published"}},"sort":["-date_created","id"],
                 "limit":10,"offset":"5","page":2,"search":"hello","groupBy":"cat","meta":"*",
                 "aggregate":{"count":"*"},"alias":{"x":"y"},"backlink":true,"version":"main"}
                """#))
        #expect(query.fields == ["id", "title", "author.name"])
        #expect(query.filter == .condition(path: ["status"], op: ._eq, value: "published"))
        #expect(query.sort == [SortField(path: ["date_created"], descending: true), SortField(path: ["id"])])
        #expect(query.limit == 10 && query.offset == 5 && query.page == 2)
        #expect(query.search == "hello")
        #expect(query.groupBy == ["cat"])
        #expect(query.meta == [.totalCount, .filterCount])
        #expect(query.aggregate == [AggregateRequest(function: .count, fields: ["*"])])
    }

    @Test func acceptsArraysAndJSONText() throws {
        let query = try ItemQuery.parse(
            json: object(
                #"{"fields":["id","author.*"],"filter":"{\"id\":{\"_in\":[1,2]}}","sort":"-a,b","groupBy":["x","y"],"meta":["total_count"],"deep":"{\"comments\":{\"_limit\":2}}"}"#
            ))
        #expect(query.fields == ["id", "author.*"])
        #expect(query.filter == .condition(path: ["id"], op: ._in, value: [1, 2]))
        #expect(query.sort.count == 2)
        #expect(query.groupBy == ["x", "y"])
        #expect(query.meta == [.totalCount])
        #expect(query.deep["comments"]?.limit == 2)
    }

    @Test func nullValuesAreAbsent() throws {
        let query = try ItemQuery.parse(json: object(#"{"filter":null,"limit":null,"fields":null}"#))
        #expect(query == ItemQuery())
    }

    @Test func parsesDeep() throws {
        let query = try ItemQuery.parse(
            json: object(
                #"{"deep":{"comments":{"_filter":{"approved":{"_eq":true}},"_sort":["-id"],"_limit":5,"_offset":1,"_fields":["id"],"user":{"_filter":{"active":{"_eq":true}},"_limit":"1"}}}}"#
            ))
        let comments = try #require(query.deep["comments"])
        #expect(comments.filter == .condition(path: ["approved"], op: ._eq, value: true))
        #expect(comments.sort == [SortField(path: ["id"], descending: true)])
        #expect(comments.limit == 5 && comments.offset == 1)
        #expect(comments.fields == ["id"])
        let user = try #require(comments.deep["user"])
        #expect(user.filter == .condition(path: ["active"], op: ._eq, value: true))
        #expect(user.limit == 1)
    }

    @Test(arguments: [
        (#"{"bogus":1}"#, "Unknown query parameter \"bogus\""),
        (#"{"limit":-2}"#, "\"limit\""),
        (#"{"limit":"ten"}"#, "\"limit\""),
        (#"{"limit":1.5}"#, "\"limit\""),
        (#"{"offset":-1}"#, "\"offset\""),
        (#"{"page":0}"#, "\"page\""),
        (#"{"filter":"{nope"}"#, "Invalid JSON in filter"),
        (#"{"filter":[1]}"#, "Invalid filter"),
        (#"{"fields":"a..b"}"#, "Invalid fields"),
        (#"{"fields":5}"#, "\"fields\""),
        (#"{"sort":[1]}"#, "\"sort\""),
        (#"{"meta":"everything"}"#, "\"meta\""),
        (#"{"search":5}"#, "\"search\""),
        (#"{"deep":{"comments":{"_bogus":1}}}"#, "unknown parameter \"_bogus\""),
        (#"{"deep":{"comments":5}}"#, "deep.comments"),
        (#"{"deep":"[1"}"#, "Invalid JSON in deep"),
        (#"{"aggregate":{"nope":"*"}}"#, "unknown function"),
        (#"{"groupBy":"a b"}"#, "\"groupBy\""),
    ])
    func rejectsInvalidParameters(input: String, message: String) {
        let error = parseError { () throws(SwitchboardError) in try ItemQuery.parse(json: object(input)) }
        #expect(error?.code == .invalidQuery)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
    }

    @Test func limitMinusOneMeansAll() throws {
        #expect(try ItemQuery.parse(json: object(#"{"limit":-1}"#)).limit == -1)
        #expect(try ItemQuery.parse(json: object(#"{"limit":"-1"}"#)).limit == -1)
    }
}

@Suite struct ItemQueryURLTests {
    private func parse(_ pairs: [(String, String)]) throws -> ItemQuery {
        try ItemQuery.parse(queryItems: pairs.map { (name: $0.0, value: $0.1) })
    }

    @Test func plainParameters() throws {
        let query = try parse([
            ("fields", "id,title,author.name"), ("sort", "-date_created,id"), ("limit", "10"), ("offset", "20"),
            ("page", "3"), ("search", "hi"), ("meta", "total_count"), ("groupBy", "a,b"), ("access_token", "x"),
            ("unknown", "y"),
        ])
        #expect(query.fields == ["id", "title", "author.name"])
        #expect(query.sort == [SortField(path: ["date_created"], descending: true), SortField(path: ["id"])])
        #expect(query.limit == 10 && query.offset == 20 && query.page == 3)
        #expect(query.search == "hi")
        #expect(query.meta == [.totalCount])
        #expect(query.groupBy == ["a", "b"])
    }

    @Test func arrayParameters() throws {
        let query = try parse([("fields[]", "id"), ("fields[]", "title"), ("sort[]", "-id"), ("groupBy[]", "cat")])
        #expect(query.fields == ["id", "title"])
        #expect(query.sort == [SortField(path: ["id"], descending: true)])
        #expect(query.groupBy == ["cat"])
    }

    @Test func jsonFilter() throws {
        let query = try parse([("filter", #"{"author":{"name":{"_eq":"ann"}}}"#)])
        #expect(query.filter == .condition(path: ["author", "name"], op: ._eq, value: "ann"))
        let error = parseError { () throws(SwitchboardError) in
            try ItemQuery.parse(queryItems: [(name: "filter", value: "{bad")])
        }
        #expect(error?.message.hasPrefix("Invalid JSON in filter") == true)
    }

    @Test func bracketFilter() throws {
        let query = try parse([("filter[status][_eq]", "published"), ("filter[author][id][_in]", "1,2,3")])
        #expect(
            query.filter
                == .and([
                    .condition(path: ["status"], op: ._eq, value: "published"),
                    .condition(path: ["author", "id"], op: ._in, value: ["1", "2", "3"]),
                ]))
        #expect(query.filter?.matches(object(#"{"status":"published","author":{"id":2}}"#)) == true)
    }

    @Test func bracketFilterWithIndexedGroups() throws {
        let query = try parse([
            ("filter[_or][1][b][_null]", "true"), ("filter[_or][0][a][_eq]", "1"), ("filter[n][_between]", "1,5"),
        ])
        #expect(
            query.filter
                == .and([
                    .or([
                        .condition(path: ["a"], op: ._eq, value: "1"), .condition(path: ["b"], op: ._null, value: true),
                    ]),
                    .condition(path: ["n"], op: ._between, value: ["1", "5"]),
                ]))
        #expect(query.filter?.matches(object(#"{"a":1,"n":5}"#)) == true)
        #expect(query.filter?.matches(object(#"{"a":2,"b":3,"n":5}"#)) == false)
    }

    @Test func bracketAggregateAndDeep() throws {
        let query = try parse([
            ("aggregate[count]", "*"), ("aggregate[sum]", "price"), ("deep[comments][_limit]", "3"),
            ("deep[comments][_sort]", "-id"), ("deep[comments][_filter][approved][_eq]", "true"),
            ("deep[comments][user][_fields]", "id,name"),
        ])
        #expect(
            query.aggregate == [
                AggregateRequest(function: .count, fields: ["*"]), AggregateRequest(function: .sum, fields: ["price"]),
            ])
        let comments = try #require(query.deep["comments"])
        #expect(comments.limit == 3)
        #expect(comments.sort == [SortField(path: ["id"], descending: true)])
        #expect(comments.filter == .condition(path: ["approved"], op: ._eq, value: "true"))
        #expect(comments.deep["user"]?.fields == ["id", "name"])
    }

    @Test func jsonAggregateAndDeep() throws {
        let query = try parse([
            ("aggregate", #"{"avg":["price"]}"#), ("deep", #"{"tags":{"_limit":1}}"#), ("meta", "*"),
        ])
        #expect(query.aggregate == [AggregateRequest(function: .avg, fields: ["price"])])
        #expect(query.deep["tags"]?.limit == 1)
        #expect(query.meta == Set(MetaField.allCases))
    }

    @Test func invalidValuesThrow() {
        for pair in [
            ("limit", "-5"), ("limit", "abc"), ("offset", "-1"), ("page", "0"), ("meta", "nope"), ("sort", "a b"),
        ] {
            let error = parseError { () throws(SwitchboardError) in
                try ItemQuery.parse(queryItems: [(name: pair.0, value: pair.1)])
            }
            #expect(error?.code == .invalidQuery, "\(pair)")
        }
    }
}

@Suite struct ItemQueryInMemoryTests {
    let rows = (1...6).map { i in object(#"{"id":\#(i),"even":\#(i % 2 == 0),"score":\#(10 - i)}"#) }

    private func ids(_ rows: [JSONObject]) -> [JSONValue] { rows.map { $0["id"] ?? .null } }

    @Test func filterSortOffsetLimit() throws {
        var query = ItemQuery()
        query.filter = try filter(#"{"even":{"_eq":true}}"#)
        query.sort = [SortField(path: ["score"])]
        #expect(ids(query.applyInMemory(rows)) == [6, 4, 2])
        query.limit = 2
        #expect(ids(query.applyInMemory(rows)) == [6, 4])
        query.offset = 1
        #expect(ids(query.applyInMemory(rows)) == [4, 2])
        query.offset = 5
        #expect(query.applyInMemory(rows).isEmpty)
    }

    @Test func pageUsesLimit() {
        var query = ItemQuery()
        query.limit = 2
        query.page = 2
        query.offset = 99  // page wins
        #expect(ids(query.applyInMemory(rows)) == [3, 4])
        query.page = 4
        #expect(query.applyInMemory(rows).isEmpty)
    }

    @Test func limitMinusOneAndNoQueryReturnAll() {
        var query = ItemQuery()
        #expect(query.applyInMemory(rows) == rows)
        query.limit = -1
        query.offset = 4
        #expect(ids(query.applyInMemory(rows)) == [5, 6])
    }

    @Test func sortIsStableForTies() {
        var query = ItemQuery()
        query.sort = [SortField(path: ["even"], descending: true)]
        #expect(ids(query.applyInMemory(rows)) == [2, 4, 6, 1, 3, 5])
    }
}
