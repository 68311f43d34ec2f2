import GraphQLAPI
import Query
import Store
import SwitchboardCore
import Testing

@Suite struct GraphQLSchemaTests {
    @Test func everyUserCollectionHasAListAByIDAndAMutatedRootField() async throws {
        try await withGraph { _, graphql in
            let sdl = try graphql.schemaDescription(context: admin)
            #expect(
                sdl.contains(
                    "messages(filter: messages_filter, sort: [String], limit: Int, offset: Int, page: Int, search: String): [messages!]!"
                ))
            #expect(sdl.contains("messages_by_id(id: ID!): messages"))
            #expect(
                sdl.contains(
                    "messages_aggregated(groupBy: [String], filter: messages_filter, sort: [String], limit: Int, offset: Int, page: Int, search: String): [messages_aggregated!]!"
                ))
            #expect(sdl.contains("type authors_aggregated_fields {\n  id: Float\n  rank: Float\n  score: Float\n}"))
            #expect(sdl.contains("messages_mutated(event: EventEnum, filter: messages_filter): messages_mutated"))
            #expect(sdl.contains("type messages_mutated {\n  key: ID!\n  event: EventEnum\n  data: messages\n}"))
            #expect(sdl.contains("enum EventEnum {\n  create\n  update\n  delete\n}"))
            // System collections are only types (targets of relations), never root fields.
            #expect(!sdl.contains("directus_users("))
            #expect(!sdl.contains("directus_users_by_id"))
        }
    }

    @Test func fieldsAreTypedAsDirectusTypesThem() async throws {
        try await withGraph { _, graphql in
            let sdl = try graphql.schemaDescription(context: admin)
            #expect(sdl.contains("type authors {\n  id: ID!\n  name: String!\n  rank: GraphQLBigInt\n  score: Float\n"))
            #expect(
                sdl.contains(
                    "  active: Boolean\n  profile: JSON\n  profile_func: count_functions\n  born: Date\n  born_func: date_functions\n  tags: [String]\n"
                ))
            #expect(
                sdl.contains(
                    "  messages(filter: messages_filter, sort: [String], limit: Int, offset: Int, page: Int, search: String): [messages]"
                ))
            #expect(
                sdl.contains(
                    "  author(filter: authors_filter, sort: [String], limit: Int, offset: Int, page: Int, search: String): authors"
                ))
        }
    }

    @Test func filterInputsFollowDirectusOperators() async throws {
        try await withGraph { _, graphql in
            let sdl = try graphql.schemaDescription(context: admin)
            #expect(sdl.contains("input messages_filter {\n  id: id_filter_operators\n  text: string_filter_operators\n"))
            #expect(sdl.contains("  author: authors_filter\n  _and: [messages_filter]\n  _or: [messages_filter]\n}"))
            #expect(sdl.contains("  messages: messages_quantifier_filter\n"))
            #expect(sdl.contains("input messages_quantifier_filter {"))
            #expect(sdl.contains("  _some: messages_filter\n  _none: messages_filter\n"))
            #expect(sdl.contains("  rank: big_int_filter_operators\n  score: number_filter_operators\n"))
            #expect(sdl.contains("input number_filter_operators {\n  _eq: GraphQLStringOrFloat\n"))
        }
    }

    @Test func onlyReadableCollectionsAndFieldsAppear() async throws {
        try await withGraph { _, graphql in
            let textOnly = reader(["messages": CollectionPermission(fields: ["id", "text"])])
            let sdl = try graphql.schemaDescription(context: textOnly)
            #expect(sdl.contains("type messages {\n  id: ID!\n  text: String\n}"))
            #expect(!sdl.contains("authors"))
            #expect(!sdl.contains("secrets"))
        }
    }

    @Test func anM2OToAnUnreadableCollectionIsItsKey() async throws {
        try await withGraph { _, graphql in
            let noAuthors = reader(["messages": CollectionPermission(fields: nil)])
            let sdl = try graphql.schemaDescription(context: noAuthors)
            #expect(sdl.contains("type messages {\n  id: ID!\n  text: String\n  author: Int\n}"))
        }
    }

    @Test func aCallerWhoCanReadNothingGetsAnEmptyQuery() async throws {
        try await withGraph { _, graphql in
            let sdl = try graphql.schemaDescription(context: reader([:]))
            #expect(sdl.contains("type Query {\n  \"\"\"There's no data to query.\"\"\"\n  _empty: Void\n}"))
            #expect(!sdl.contains("Subscription"))
            let response = await graphql.post("{ _empty }", context: reader([:]))
            #expect(response.status == 200)
            #expect(response.data == ["_empty": nil])
        }
    }

    @Test func callersWithTheSameReadAccessShareOneSchemaAndASchemaChangeRebuildsIt() async throws {
        try await withGraph { store, graphql in
            _ = try graphql.schemaDescription(context: chatReader)
            _ = try graphql.schemaDescription(context: chatReader)
            // Other row filters, same readable fields: the same schema.
            var filtered = chatReader
            filtered.permissions.rules["messages"]?[.read]?.filter = try Filter.parse(["text": ["_eq": "x"]])
            _ = try graphql.schemaDescription(context: filtered)
            #expect(graphql.cachedSchemaCount == 1)
            _ = try await store.changeSchema { try await $0.createField("messages", ["field": "mood", "type": "string"]) }
            let sdl = try graphql.schemaDescription(context: admin)
            #expect(sdl.contains("  mood: String\n"))
            #expect(graphql.cachedSchemaCount == 2)
        }
    }

    @Test func theSchemaCacheIsBounded() async throws {
        try await withGraph(settings: GraphQLSettings(schemaCacheCapacity: 2)) { _, graphql in
            for fields in [["id"], ["id", "text"], ["text"], ["author"]] {
                _ = try graphql.schemaDescription(context: reader(["messages": CollectionPermission(fields: Set(fields))]))
            }
            #expect(graphql.cachedSchemaCount == 2)
        }
    }
}
