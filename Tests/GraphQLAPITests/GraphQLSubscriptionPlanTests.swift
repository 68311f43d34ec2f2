import GraphQLAPI
import Query
import Store
import SwitchboardCore
import Testing

@Suite struct GraphQLSubscriptionPlanTests {
    func plan(
        _ graphql: GraphQLService, _ query: String, variables: JSONObject? = nil, operationName: String? = nil,
        context: ItemsContext = chatReader
    ) throws -> GraphQLSubscriptionPlan {
        try graphql.planSubscription(query: query, variables: variables, operationName: operationName, context: context).get()
    }

    func failure(
        _ graphql: GraphQLService, _ query: String, variables: JSONObject? = nil, context: ItemsContext = chatReader
    ) -> GraphQLFailure? {
        if case .failure(let f) = graphql.planSubscription(
            query: query, variables: variables, operationName: nil, context: context)
        {
            return f
        }
        return nil
    }

    @Test func aPlanNamesTheCollectionTheEventAndTheFieldsTheSelectionNeeds() async throws {
        try await withGraph { _, graphql in
            let p = try plan(graphql, "subscription { messages_mutated { key event data { id text } } }")
            #expect(p.collection == "messages")
            #expect(p.event == nil)
            #expect(p.responseKey == "messages_mutated")
            #expect(p.query.fields == ["id", "text"])
            #expect(p.query.filter == nil)
            #expect(
                p.payload(event: .create, key: 5, item: ["id": 5, "text": "new"])
                    == ["data": ["messages_mutated": ["key": "5", "event": "create", "data": ["id": "5", "text": "new"]]]])
        }
    }

    @Test func aliasesAndTypenamesShapeThePayload() async throws {
        try await withGraph { _, graphql in
            let p = try plan(
                graphql,
                "subscription { changes: messages_mutated(event: update) { k: key __typename data { __typename words: text } } }")
            #expect(p.event == .update)
            #expect(p.responseKey == "changes")
            #expect(
                p.payload(event: .update, key: 1, item: ["text": "edited", "id": 1])
                    == [
                        "data": [
                            "changes": [
                                "k": "1", "__typename": "messages_mutated",
                                "data": ["__typename": "messages", "words": "edited"],
                            ]
                        ]
                    ])
        }
    }

    @Test func fragmentsAndDirectivesAreApplied() async throws {
        try await withGraph { _, graphql in
            let p = try plan(
                graphql,
                """
                subscription($withText: Boolean!) { messages_mutated { ...Change } }
                fragment Change on messages_mutated { key data { ... on messages { id } text @include(if: $withText) } }
                """, variables: ["withText": false])
            #expect(p.query.fields == ["id"])
            #expect(
                p.payload(event: .create, key: 2, item: ["id": 2])
                    == ["data": ["messages_mutated": ["key": "2", "data": ["id": "2"]]]])
        }
    }

    @Test func manyToOneSelectionsBecomeFieldPathsAndNestedPayloads() async throws {
        try await withGraph { _, graphql in
            let p = try plan(graphql, "subscription { messages_mutated { data { text author { name } } } }")
            #expect(p.query.fields == ["text", "author.name"])
            #expect(
                p.payload(event: .create, key: 1, item: ["text": "hi", "author": ["name": "Ada"]])
                    == ["data": ["messages_mutated": ["data": ["text": "hi", "author": ["name": "Ada"]]]]])
            #expect(
                p.payload(event: .create, key: 1, item: ["text": "hi", "author": nil])
                    == ["data": ["messages_mutated": ["data": ["text": "hi", "author": nil]]]])
        }
    }

    @Test func equalDocumentsGiveEqualPlansForSharedRendering() async throws {
        try await withGraph { _, graphql in
            let a = try plan(graphql, "subscription { messages_mutated { key data { text } } }")
            let b = try plan(graphql, "subscription Named {\n  messages_mutated { key data { text } }\n}", context: admin)
            let c = try plan(graphql, "subscription { messages_mutated { k: key data { text } } }")
            #expect(a == b)
            #expect(a.hashValue == b.hashValue)
            #expect(a != c)
            try graphql.warmSchema(for: reader(["messages": CollectionPermission(fields: ["id"])]))
            #expect(graphql.cachedSchemaCount == 3)
        }
    }

    @Test func operationsOverTheSocketArePlannedByKind() async throws {
        try await withGraph { _, graphql in
            func kind(_ document: String) -> String {
                switch graphql.planOperation(query: document, variables: nil, operationName: nil, context: chatReader) {
                case .subscription(let plan): return "subscription \(plan.collection)"
                case .query: return "query"
                case .failed(let failure): return "failed " + failure.codes.joined(separator: ",")
                }
            }
            #expect(kind("subscription { messages_mutated { key } }") == "subscription messages")
            #expect(kind("{ messages_by_id(id: 1) { text } }") == "query")
            #expect(kind("{ secrets { id } }") == "failed GRAPHQL_VALIDATION")
            #expect(kind("mutation { x }") == "failed GRAPHQL_VALIDATION")
            #expect(kind("subscription { secrets_mutated { key } }") == "failed GRAPHQL_VALIDATION")
            #expect(kind("{") == "failed GRAPHQL_VALIDATION")
        }
    }

    @Test func aDeleteOrAnUnreadableRowHasNullData() async throws {
        try await withGraph { _, graphql in
            let p = try plan(graphql, "subscription { messages_mutated { key event data { id } } }")
            #expect(
                p.payload(event: .delete, key: 3, item: nil)
                    == ["data": ["messages_mutated": ["key": "3", "event": "delete", "data": nil]]])
        }
    }

    @Test func eventAndFilterCanComeFromVariables() async throws {
        try await withGraph { _, graphql in
            let p = try plan(
                graphql,
                "subscription($e: EventEnum, $f: messages_filter) { messages_mutated(event: $e, filter: $f) { key } }",
                variables: ["e": "delete", "f": ["text": ["_eq": "x"]]])
            #expect(p.event == .delete)
            #expect(p.query.filter == (try Filter.parse(["text": ["_eq": "x"]])))
            #expect(p.query.fields == ["id"])
            let literal = try plan(
                graphql, #"subscription { messages_mutated(filter: {author: {name: {_eq: "Ada"}}}) { key } }"#)
            #expect(literal.query.filter == (try Filter.parse(["author": ["name": ["_eq": "Ada"]]])))
        }
    }

    @Test func documentsThatAreNotOneValidSubscriptionFail() async throws {
        try await withGraph { _, graphql in
            let syntax = failure(graphql, "subscription { messages_mutated { key }")
            #expect(syntax?.codes == ["GRAPHQL_VALIDATION"])
            #expect(syntax?.status == 400)
            #expect(failure(graphql, "subscription { messages_mutated { nope } }")?.codes == ["GRAPHQL_VALIDATION"])
            #expect(failure(graphql, "{ messages { id } }")?.codes == ["GRAPHQL_VALIDATION"])
            let two = failure(graphql, "subscription { messages_mutated { key } authors_mutated { key } }")
            #expect(two?.codes.allSatisfy { $0 == "GRAPHQL_VALIDATION" } == true)
            #expect(two?.codes.isEmpty == false)
            #expect(failure(graphql, "subscription { __typename }")?.codes.isEmpty == false)
        }
    }

    @Test func aCollectionTheCallerCannotReadIsNotInItsSchema() async throws {
        try await withGraph { _, graphql in
            let forbidden = failure(graphql, "subscription { secrets_mutated { key } }")
            #expect(forbidden?.codes == ["GRAPHQL_VALIDATION"])
            #expect(forbidden?.messages.first?.contains("secrets_mutated") == true)
            _ = try plan(graphql, "subscription { secrets_mutated { key } }", context: admin)
        }
    }

    @Test func missingOrBadVariablesFail() async throws {
        try await withGraph { _, graphql in
            let missing = failure(graphql, "subscription($e: EventEnum!) { messages_mutated(event: $e) { key } }")
            #expect(missing?.codes == ["GRAPHQL_VALIDATION"])
            let badEvent = failure(
                graphql, "subscription($e: EventEnum) { messages_mutated(event: $e) { key } }", variables: ["e": "upsert"])
            #expect(badEvent?.codes == ["GRAPHQL_VALIDATION"])
            let badFilter = failure(
                graphql, "subscription($f: messages_filter) { messages_mutated(filter: $f) { key } }",
                variables: ["f": ["text": ["_nope": 1]]])
            #expect(badFilter?.codes == ["INVALID_QUERY"])
        }
    }
}
