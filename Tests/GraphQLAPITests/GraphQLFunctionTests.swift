import GraphQLAPI
import Query
import Store
import SwitchboardCore
import Testing

/// `<field>_func` fields and filters, as Directus's GraphQL schema has them: `born_func { year }`
/// reads the REST field `year(born)`, `messages_func { count }` reads `count(messages)`, and
/// `born_func: {year: {_eq: 1815}}` in a filter is `{"year(born)": {"_eq": 1815}}`.
@Suite struct GraphQLFunctionTests {
    /// Ada was born on Sunday 10 December 1815 (ISO week 49), Grace on Sunday 9 December 1906 (also week 49).
    func withBirthdays(_ body: (Store, GraphQLService) async throws -> Void) async throws {
        try await withGraph { store, graphql in
            _ = try await store.updateItems("authors", keys: [1], data: ["born": "1815-12-10"], context: .system)
            _ = try await store.updateItems("authors", keys: [2], data: ["born": "1906-12-09"], context: .system)
            try await body(store, graphql)
        }
    }

    @Test func fieldsWithFunctionsHaveAFuncFieldOfDirectusTypes() async throws {
        try await withGraph { _, graphql in
            let sdl = try graphql.schemaDescription(context: admin)
            #expect(sdl.contains("  born: Date\n  born_func: date_functions\n"))
            #expect(sdl.contains("  profile: JSON\n  profile_func: count_functions\n"))
            #expect(sdl.contains("  messages_func: count_functions\n"))
            #expect(sdl.contains("type date_functions {\n  year: Int\n  month: Int\n  week: Int\n  day: Int\n  weekday: Int\n}"))
            #expect(sdl.contains("type count_functions {\n  count: Int\n}"))
            // Only types some field uses are in the schema (this one has no times or date-times).
            #expect(!sdl.contains("datetime_functions"))
            #expect(!sdl.contains("type time_functions"))
            // Filters take them too, each function a number filter.
            #expect(sdl.contains("  born: date_filter_operators\n  born_func: date_function_filter_operators\n"))
            #expect(sdl.contains("  messages_func: count_function_filter_operators\n"))
            #expect(sdl.contains("input count_function_filter_operators {\n  count: number_filter_operators\n}"))
            #expect(sdl.contains("input date_function_filter_operators {\n  year: number_filter_operators\n"))
            // Fields without functions have none.
            #expect(!sdl.contains("name_func"))
            #expect(!sdl.contains("author_func"))
        }
    }

    @Test func funcFieldsReadTheRESTFunctions() async throws {
        try await withBirthdays { _, graphql in
            let response = await graphql.post(
                """
                { authors(sort: "id") { name born_func { year month week day weekday __typename }
                    messages_func { count } profile_func { count } } }
                """)
            #expect(response.errors == [])
            #expect(
                response.data == [
                    "authors": [
                        [
                            "name": "Ada",
                            "born_func": [
                                "year": 1815, "month": 12, "week": 49, "day": 10, "weekday": 0, "__typename": "date_functions",
                            ],
                            "messages_func": ["count": 2], "profile_func": ["count": 0],
                        ],
                        [
                            "name": "Grace",
                            "born_func": [
                                "year": 1906, "month": 12, "week": 49, "day": 9, "weekday": 0, "__typename": "date_functions",
                            ],
                            "messages_func": ["count": 1], "profile_func": ["count": nil],
                        ],
                        [
                            "name": "Linus",
                            "born_func": [
                                "year": nil, "month": nil, "week": nil, "day": nil, "weekday": nil,
                                "__typename": "date_functions",
                            ],
                            "messages_func": ["count": 0], "profile_func": ["count": nil],
                        ],
                    ]
                ])
            // Through an m2o, under aliases.
            let nested = await graphql.post(
                "{ messages(sort: \"id\", limit: 1) { author { y: born_func { year } b: born_func { month } } } }")
            #expect(nested.errors == [])
            #expect(nested.data == ["messages": [["author": ["y": ["year": 1815], "b": ["month": 12]]]]])
        }
    }

    @Test func funcFiltersAreTheRESTFunctionFilters() async throws {
        try await withBirthdays { _, graphql in
            let busy = await graphql.post(#"{ authors(filter: {messages_func: {count: {_gte: 1}}}, sort: "id") { name } }"#)
            #expect(busy.errors == [])
            #expect(busy.data == ["authors": [["name": "Ada"], ["name": "Grace"]]])
            let both = await graphql.post(
                """
                { authors(filter: {_or: [{born_func: {year: {_lt: 1900}}}, {messages_func: {count: {_eq: 0}}}]}, sort: "id")
                  { name } }
                """)
            #expect(both.data == ["authors": [["name": "Ada"], ["name": "Linus"]]])
            // Through an m2o, and in a relational field's own filter argument.
            let byAuthor = await graphql.post(
                #"{ messages(filter: {author: {born_func: {year: {_eq: 1906}}}}) { text } }"#)
            #expect(byAuthor.data == ["messages": [["text": "compiling"]]])
            let deep = await graphql.post(
                #"{ authors_by_id(id: 1) { messages(filter: {author: {born_func: {weekday: {_eq: 0}}}}, sort: "id") { id } } }"#
            )
            #expect(deep.errors == [])
            #expect(deep.data == ["authors_by_id": ["messages": [["id": "1"], ["id": "2"]]]])
            // A function the family doesn't have is a validation error, as any unknown input field.
            let wrong = await graphql.post(#"{ authors(filter: {born_func: {hour: {_eq: 1}}}) { name } }"#)
            #expect(wrong.codes == ["GRAPHQL_VALIDATION"])
        }
    }

    @Test func sortAndGroupByTakeFunctionsAsInREST() async throws {
        try await withBirthdays { _, graphql in
            let sorted = await graphql.post(#"{ authors(sort: ["-count(messages)"]) { name } }"#)
            #expect(sorted.errors == [])
            #expect(sorted.data == ["authors": [["name": "Ada"], ["name": "Grace"], ["name": "Linus"]]])
            let grouped = await graphql.post(
                """
                { authors_aggregated(groupBy: ["count(messages)"], filter: {born_func: {year: {_nnull: true}}})
                  { group countAll } }
                """)
            #expect(grouped.errors == [])
            #expect(
                grouped.data == [
                    "authors_aggregated": [
                        ["group": ["messages_count": 1], "countAll": 1], ["group": ["messages_count": 2], "countAll": 1],
                    ]
                ])
        }
    }

    @Test func subscriptionsReadAndRenderFuncFields() async throws {
        try await withGraph { _, graphql in
            let plan = try graphql.planSubscription(
                query: """
                    subscription { authors_mutated(filter: {born_func: {year: {_gt: 1900}}}) {
                      data { name born_func { year __typename } messages_func { count } } } }
                    """, variables: nil, operationName: nil, context: admin
            ).get()
            #expect(plan.query.fields == ["name", "year(born)", "count(messages)"])
            #expect(plan.query.filter == (try Filter.parse(["year(born)": ["_gt": 1900]])))
            #expect(
                plan.payload(event: .create, key: 2, item: ["name": "Grace", "born_year": 1906, "messages_count": 1])
                    == [
                        "data": [
                            "authors_mutated": [
                                "data": [
                                    "name": "Grace", "born_func": ["year": 1906, "__typename": "date_functions"],
                                    "messages_func": ["count": 1],
                                ]
                            ]
                        ]
                    ])
        }
    }
}
