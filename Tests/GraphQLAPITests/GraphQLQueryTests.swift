import GraphQLAPI
import Query
import Store
import SwitchboardCore
import Testing

@Suite struct GraphQLQueryTests {
    @Test func listsTakeTheRESTQueryArguments() async throws {
        try await withGraph { _, graphql in
            let response = await graphql.post(
                #"{ messages(filter: {text: {_contains: "h"}}, sort: ["-id"], limit: 2) { id text } }"#)
            #expect(response.status == 200)
            #expect(response.data == ["messages": [["id": "2", "text": "hi there"], ["id": "1", "text": "hello world"]]])
        }
    }

    @Test func relationsNestAndTakeArguments() async throws {
        try await withGraph { _, graphql in
            let response = await graphql.post(
                """
                { messages(sort: "id", limit: 1) { text author { name __typename } }
                  authors(filter: {name: {_eq: "Ada"}}) { name messages(sort: ["-id"]) { text } } }
                """)
            #expect(response.errors == [])
            #expect(
                response.data == [
                    "messages": [["text": "hello world", "author": ["name": "Ada", "__typename": "authors"]]],
                    "authors": [["name": "Ada", "messages": [["text": "hi there"], ["text": "hello world"]]]],
                ])
        }
    }

    @Test func scalarsRenderAsGraphQLTypesThem() async throws {
        try await withGraph { _, graphql in
            let response = await graphql.post("{ authors_by_id(id: 1) { id rank score active profile tags } }")
            #expect(
                response.data == [
                    "authors_by_id": [
                        "id": "1", "rank": "9007199254740993", "score": 1.5, "active": true, "profile": ["lang": "en"],
                        "tags": nil,
                    ]
                ])
            let grace = await graphql.post("{ authors_by_id(id: \"2\") { tags } }")
            #expect(grace.data == ["authors_by_id": ["tags": ["navy", "cobol"]]])
        }
    }

    @Test func readsApplyTheCallersRowFilter() async throws {
        try await withGraph { _, graphql in
            var own = chatReader
            own.permissions.rules["messages"]?[.read]?.filter = try Filter.parse(["author": ["_eq": 2]])
            let response = await graphql.post("{ messages { text } }", context: own)
            #expect(response.data == ["messages": [["text": "compiling"]]])
            let hidden = await graphql.post("{ messages_by_id(id: 1) { text } }", context: own)
            #expect(hidden.status == 200)
            #expect(hidden.data == ["messages_by_id": nil])
            #expect(hidden.codes == ["FORBIDDEN"])
            #expect(hidden.errors.first?.objectValue?["path"] == ["messages_by_id"])
        }
    }

    @Test func aggregatesCountSumAndGroup() async throws {
        try await withGraph { _, graphql in
            let totals = await graphql.post(
                "{ authors_aggregated { countAll count { id tags } sum { score } max { id } __typename } }")
            #expect(totals.errors == [])
            #expect(
                totals.data == [
                    "authors_aggregated": [
                        [
                            "countAll": 3, "count": ["id": 3, "tags": 1], "sum": ["score": 1.5], "max": ["id": 3],
                            "__typename": "authors_aggregated",
                        ]
                    ]
                ])
            let grouped = await graphql.post(
                #"{ messages_aggregated(groupBy: ["author"], filter: {text: {_nnull: true}}) { group countAll } }"#)
            #expect(
                grouped.data == [
                    "messages_aggregated": [
                        ["group": ["author": nil], "countAll": 1], ["group": ["author": 1], "countAll": 2],
                        ["group": ["author": 2], "countAll": 1],
                    ]
                ])
            let forbidden = await graphql.post(
                "{ messages_aggregated { count { author } } }",
                context: reader(["messages": CollectionPermission(fields: ["id"])]))
            #expect(forbidden.codes == ["GRAPHQL_VALIDATION"])
        }
    }

    @Test func aSelectionOfOnlyTypenamesReadsAFieldTheCallerMayRead() async throws {
        try await withGraph { _, graphql in
            let noKey = reader(["messages": CollectionPermission(fields: ["text"])])
            let response = await graphql.post("{ messages(limit: 2) { __typename } }", context: noKey)
            #expect(response.errors == [])
            #expect(response.data == ["messages": [["__typename": "messages"], ["__typename": "messages"]]])
        }
    }

    @Test func aBadFilterIsAnInvalidQueryBesideTheData() async throws {
        try await withGraph { _, graphql in
            let response = await graphql.post(#"{ messages(filter: {id: {_eq: 1}}, limit: -5) { id } }"#)
            #expect(response.status == 200)
            #expect(response.codes == ["INVALID_QUERY"])
            #expect(response.data == nil || response.data == .null)
        }
    }

    @Test func syntaxAndValidationErrorsAre400WithLocations() async throws {
        try await withGraph { _, graphql in
            let syntax = await graphql.post("{ messages { id }")
            #expect(syntax.status == 400)
            #expect(syntax.codes == ["GRAPHQL_VALIDATION"])
            #expect(syntax.errors.first?.objectValue?["locations"] == [["line": 1, "column": 18]])
            let unknown = await graphql.post("{ messages { nope } }")
            #expect(unknown.status == 400)
            #expect(unknown.codes == ["GRAPHQL_VALIDATION"])
            let forbidden = await graphql.post("{ secrets { id } }", context: chatReader)
            #expect(forbidden.status == 400)
            #expect(forbidden.codes == ["GRAPHQL_VALIDATION"])
        }
    }

    @Test func mutationsAndSubscriptionsAreRefusedOverHTTP() async throws {
        try await withGraph { _, graphql in
            let mutation = await graphql.post("mutation { create_messages_item(data: {}) { id } }")
            #expect(mutation.status == 400)
            #expect(mutation.codes == ["GRAPHQL_VALIDATION"])
            let subscription = await graphql.post("subscription { messages_mutated { key } }")
            #expect(subscription.status == 400)
            #expect(subscription.codes == ["GRAPHQL_VALIDATION"])
            let get = await graphql.execute(
                GraphQLRequest(query: "subscription { messages_mutated { key } }"), method: .get, context: admin)
            #expect(get.status == 405)
            #expect(get.codes == ["METHOD_NOT_ALLOWED"])
        }
    }

    @Test func variablesAndOperationNamesWork() async throws {
        try await withGraph { _, graphql in
            let response = await graphql.execute(
                GraphQLRequest(
                    query: """
                        query A($f: messages_filter, $n: Int = 1) { messages(filter: $f, limit: $n) { text } }
                        query B { authors { name } }
                        """, variables: ["f": ["author": ["name": ["_eq": "Grace"]]]], operationName: "A"),
                method: .post, context: admin)
            #expect(response.data == ["messages": [["text": "compiling"]]])
            let ambiguous = await graphql.post("query A { messages { id } } query B { authors { id } }")
            #expect(ambiguous.status == 400)
            let badVariable = await graphql.post(
                "query ($n: Int!) { messages(limit: $n) { id } }", variables: ["n": "many"])
            #expect(badVariable.status == 400)
            #expect(badVariable.codes == ["GRAPHQL_VALIDATION"])
        }
    }

    @Test func documentsOverTheLimitsAreRefusedBeforeParsing() async throws {
        try await withGraph(settings: GraphQLSettings(maxDocumentSize: 200, maxDepth: 8, maxFields: 10)) { _, graphql in
            let deep = await graphql.post(String(repeating: "[", count: 100_000))
            #expect(deep.status == 400)
            #expect(deep.codes == ["GRAPHQL_VALIDATION"])
            let nested = await graphql.post("{ a { b { c { d { e { f { g { h { i } } } } } } } } }")
            #expect(nested.codes == ["GRAPHQL_VALIDATION"])
            let big = await graphql.post("{ messages { id } }" + String(repeating: " ", count: 300))
            #expect(big.codes == ["GRAPHQL_VALIDATION"])
            let fields = await graphql.post(
                "{ messages { ...F ...F } } fragment F on messages { a: id b: id c: id d: id e: id f: id }")
            #expect(fields.codes == ["GRAPHQL_VALIDATION"])
            let fine = await graphql.post("{ messages(limit: 1) { id } }")
            #expect(fine.data == ["messages": [["id": "1"]]])
        }
    }

    @Test func fragmentExpansionIsBoundedByTheFieldLimit() async throws {
        // Each fragment spreads the next twice: 2^20 fields if expanded naively.
        var document = "{ messages { ...F0 } }\n"
        for i in 0..<20 { document += "fragment F\(i) on messages { id ...F\(i + 1) ...F\(i + 1) }\n" }
        document += "fragment F20 on messages { id }"
        try await withGraph { _, graphql in
            let response = await graphql.post(document)
            #expect(response.status == 400)
            #expect(response.codes == ["GRAPHQL_VALIDATION"])
        }
    }

    @Test func introspectionCanBeTurnedOff() async throws {
        try await withGraph(settings: GraphQLSettings(introspection: false)) { _, graphql in
            let response = await graphql.post("{ __schema { queryType { name } } }")
            #expect(response.status == 400)
        }
        try await withGraph { _, graphql in
            let response = await graphql.post("{ __schema { queryType { name } } }")
            #expect(response.data == ["__schema": ["queryType": ["name": "Query"]]])
        }
    }
}
