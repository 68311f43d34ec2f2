import GraphQL
import Query
import Store
import SwitchboardCore
import Testing

@testable import GraphQLAPI

@Suite struct GraphShapeTests {
    static func collection(_ name: String, _ fields: [(String, FieldType)]) -> CollectionSchema {
        CollectionSchema(
            name: name, primaryKey: "id",
            fields: [FieldSchema(collection: name, field: "id", type: .integer, isPrimaryKey: true)]
                + fields.map { FieldSchema(collection: name, field: $0.0, type: $0.1) })
    }

    static let schema = Schema(
        collections: [
            collection("posts", [("title", .string), ("my-field", .string), ("author", .integer)]),
            collection("people", [("name", .string), ("posts", .alias)]),
            collection("my-things", [("name", .string)]), collection("Query", [("name", .string)]),
            collection("posts_filter", [("name", .string)]), collection("__hidden", [("name", .string)]),
            // `x_quantifier`'s filter type would be `x`'s quantifier filter type.
            collection("x", [("name", .string)]), collection("x_quantifier", [("name", .string)]),
        ],
        relations: [RelationSchema(manyCollection: "posts", manyField: "author", oneCollection: "people", oneField: "posts")])

    static let everything = ReadAccess(collections: Dictionary(uniqueKeysWithValues: schema.collections.keys.map { ($0, .all) }))

    @Test func namesGraphQLCannotCarryOrThatCollideAreLeftOut() {
        let shape = GraphShape(schema: Self.schema, access: Self.everything)
        #expect(shape.roots == ["people", "posts", "x"])
        #expect(shape.collections["posts"]?.fields.map(\.name) == ["id", "title", "author"])
    }

    @Test func aFieldOnlySomePoliciesGrantIsNullable() throws {
        let mine: Filter = .condition(path: ["author"], op: ._eq, value: 1)
        let read = try #require(
            CollectionPermission.combining([
                PermissionGrantRow(fields: ["title"], filter: nil, validation: nil, presets: [:]),
                PermissionGrantRow(fields: ["id", "title"], filter: mine, validation: nil, presets: [:]),
            ]))
        let access = ReadAccess(PermissionSet(admin: false, rules: ["posts": [.read: read]]), schema: Self.schema)
        #expect(access.conditional == ["posts": ["id"]])
        let shape = GraphShape(schema: Self.schema, access: access)
        #expect(shape.collections["posts"]?.field("id")?.nonNull == false)
        #expect(GraphShape(schema: Self.schema, access: Self.everything).collections["posts"]?.field("id")?.nonNull == true)
    }

    @Test func fieldsWithFunctionsGetAFuncEntryUnlessAFieldHasItsName() {
        let events = Self.collection(
            "events", [("at", .dateTime), ("on", .date), ("starts", .time), ("tags", .json), ("title", .string)])
        let clash = Self.collection("clash", [("at", .timestamp), ("at_func", .string)])
        let schema = Schema(collections: [events, clash], relations: [])
        let shape = GraphShape(
            schema: schema, access: ReadAccess(collections: ["events": .all, "clash": .all]))
        let families = ["at_func", "on_func", "starts_func", "tags_func", "title_func", "id_func"].map {
            shape.collections["events"]?.function($0)?.family
        }
        #expect(families == [.dateTime, .date, .time, .count, nil, nil])
        #expect(shape.collections["events"]?.function("at_func")?.field.name == "at")
        // A real field named `at_func` stays itself; `at` then has no functions in GraphQL.
        #expect(shape.collections["clash"]?.function("at_func") == nil)
        #expect(shape.collections["clash"]?.field("at_func") != nil)
        // An o2m counts its rows.
        #expect(
            GraphShape(schema: Self.schema, access: Self.everything).collections["people"]?.function("posts_func")?.family
                == .count)
    }

    @Test func relationsLeadOnlyToCollectionsInTheShape() {
        let both = GraphShape(schema: Self.schema, access: Self.everything)
        #expect(both.collections["posts"]?.field("author")?.kind == .manyToOne("people"))
        #expect(both.collections["people"]?.field("posts")?.kind == .oneToMany("posts"))
        let postsOnly = GraphShape(schema: Self.schema, access: ReadAccess(collections: ["posts": .all]))
        #expect(postsOnly.collections["posts"]?.field("author")?.kind == .scalar(.int))
        // An o2m alias whose other side is unreadable has nothing to show: the type without it.
        let peopleOnly = GraphShape(
            schema: Self.schema, access: ReadAccess(collections: ["people": .only(["posts"])]))
        #expect(peopleOnly.collections["people"] == nil)
        #expect(peopleOnly.roots.isEmpty)
    }

    @Test func aDroppedSchemaFreesItsTypesDespiteTheirCycles() throws {
        weak var posts: GraphQLObjectType?
        weak var people: GraphQLObjectType?
        do {
            let graph = try ItemsGraphSchema(shape: GraphShape(schema: Self.schema, access: Self.everything))
            posts = graph.schema.getType(name: "posts") as? GraphQLObjectType
            people = graph.schema.getType(name: "people") as? GraphQLObjectType
            #expect(posts != nil && people != nil)
        }
        #expect(posts == nil)
        #expect(people == nil)
    }
}

@Suite struct DocumentLimitsTests {
    let limits = DocumentLimits(settings: GraphQLSettings(maxDocumentSize: 1000, maxDepth: 3, maxFields: 5))

    @Test func bracketsInStringsAndCommentsDoNotCount() {
        #expect(limits.checkText(#"{ a(s: "{{{{[[[[") }"#) == nil)
        #expect(limits.checkText("{ a(s: \"\"\"{{{{\n\\\"\"\" ((((\"\"\") }") == nil)
        #expect(limits.checkText("# {{{{{{\n{ a }") == nil)
        #expect(limits.checkText(#"{ a(s: "\"{{{{") }"#) == nil)
        #expect(limits.checkText(#"{ a(s: "") { b { c { d } } } }"#) != nil)
        #expect(limits.checkText("{ a { b { c { d } } } }") != nil)
        #expect(limits.checkText("{ a { b { c } } }") == nil)
        #expect(limits.checkText("{ a { b } }") == nil)
    }

    @Test func selectionsCountWithFragmentsExpanded() throws {
        let fine = try parse(source: "{ a { ...F } } fragment F on T { b c }")
        #expect(limits.checkSelections(fine) == nil)
        let tooMany = try parse(source: "{ a { ...F ...F } } fragment F on T { b c d }")
        #expect(limits.checkSelections(tooMany) != nil)
        let tooDeep = try parse(source: "{ a { ...F } } fragment F on T { b { c { d } } }")
        #expect(limits.checkSelections(tooDeep) != nil)
        let cycle = try parse(source: "{ a { ...F } } fragment F on T { b ...G } fragment G on T { c ...F }")
        #expect(limits.checkSelections(cycle) == nil)
    }
}
