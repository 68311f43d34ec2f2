import GraphQL
import OrderedCollections
import Synchronization

/// One caller's GraphQL schema: for each readable user collection a list field
/// `<collection>(filter, sort, limit, offset, page, search)`, `<collection>_by_id(id:)`,
/// `<collection>_aggregated(groupBy, filter, …)` and a subscription
/// `<collection>_mutated(event:, filter:)`; an object type per readable collection
/// with its readable fields, m2o fields as the related type, o2m fields as
/// lists of it and `<field>_func` for fields with functions (named as in Directus).
final class ItemsGraphSchema: Sendable {
    let schema: GraphQLSchema
    let shape: GraphShape
    private let types: TypeTable

    init(shape: GraphShape) throws {
        self.shape = shape
        let types = TypeTable()
        self.types = types
        try types.fill(shape: shape)
        let roots = try Self.rootTypes(shape: shape, types: types)
        schema = try GraphQLSchema(query: roots.query, subscription: roots.subscription)
    }

    // Object types that refer to each other hold each other once GraphQL has cached
    // their fields; emptying their fields breaks those cycles so the memory is freed.
    deinit { types.breakCycles() }

    private static func rootTypes(shape: GraphShape, types: TypeTable) throws -> (
        query: GraphQLObjectType, subscription: GraphQLObjectType?
    ) {
        var query = GraphQLFieldMap()
        var subscription = GraphQLFieldMap()
        let event = try eventEnum()
        for name in shape.roots {
            guard let collection = shape.collections[name], let object = types.object(name),
                let filter = types.filter(name)
            else { continue }
            query[name] = GraphQLField(
                type: GraphQLNonNull(GraphQLList(GraphQLNonNull(object))), args: listArguments(filter),
                resolve: ItemResolvers.list(collection: name))
            query[name + "_by_id"] = GraphQLField(
                type: object, args: ["id": GraphQLArgument(type: GraphQLNonNull(GraphQLID))],
                resolve: ItemResolvers.byID(collection: name))
            var aggregatedArguments: GraphQLArgumentConfigMap = ["groupBy": GraphQLArgument(type: GraphQLList(GraphQLString))]
            for (key, argument) in listArguments(filter) { aggregatedArguments[key] = argument }
            query[name + "_aggregated"] = GraphQLField(
                type: GraphQLNonNull(GraphQLList(GraphQLNonNull(try aggregatedType(collection)))),
                args: aggregatedArguments, resolve: ItemResolvers.aggregated(collection: name))
            let mutated = try GraphQLObjectType(
                name: name + "_mutated",
                fields: [
                    "key": GraphQLField(type: GraphQLNonNull(GraphQLID)), "event": GraphQLField(type: event),
                    "data": GraphQLField(type: object),
                ])
            subscription[name + "_mutated"] = GraphQLField(
                type: mutated, args: ["event": GraphQLArgument(type: event), "filter": GraphQLArgument(type: filter)])
        }
        if query.isEmpty {
            query["_empty"] = GraphQLField(
                type: GraphQLScalars.void, description: "There's no data to query.", resolve: { _, _, _, _ in Map.null })
        }
        return (
            try GraphQLObjectType(name: "Query", fields: query),
            subscription.isEmpty ? nil : try GraphQLObjectType(name: "Subscription", fields: subscription)
        )
    }

    /// `<collection>_aggregated` as Directus has it: `group`, `countAll`, `count` and
    /// `countDistinct` over every stored field, and, when there are numeric fields,
    /// `avg`, `sum`, `avgDistinct`, `sumDistinct`, `min`, `max` over them.
    static func aggregatedType(_ collection: CollectionShape) throws -> GraphQLObjectType {
        var counted = GraphQLFieldMap()
        var numeric = GraphQLFieldMap()
        for field in collection.fields {
            if case .oneToMany = field.kind { continue }
            counted[field.name] = GraphQLField(type: GraphQLInt, resolve: ItemResolvers.scalar(field.name, .int))
            if field.isNumeric {
                numeric[field.name] = GraphQLField(type: GraphQLFloat, resolve: ItemResolvers.scalar(field.name, .float))
            }
        }
        let count = try GraphQLObjectType(name: collection.name + "_aggregated_count", fields: counted)
        var fields: GraphQLFieldMap = [
            "group": GraphQLField(type: GraphQLScalars.json, resolve: ItemResolvers.scalar("group", .json)),
            "countAll": GraphQLField(type: GraphQLInt, resolve: ItemResolvers.scalar("countAll", .int)),
            "count": GraphQLField(type: count, resolve: ItemResolvers.manyToOne("count")),
            "countDistinct": GraphQLField(type: count, resolve: ItemResolvers.manyToOne("countDistinct")),
        ]
        if !numeric.isEmpty {
            let values = try GraphQLObjectType(name: collection.name + "_aggregated_fields", fields: numeric)
            for function in ["avg", "sum", "avgDistinct", "sumDistinct", "min", "max"] {
                fields[function] = GraphQLField(type: values, resolve: ItemResolvers.manyToOne(function))
            }
        }
        return try GraphQLObjectType(name: collection.name + "_aggregated", fields: fields)
    }

    static func eventEnum() throws -> GraphQLEnumType {
        try GraphQLEnumType(
            name: "EventEnum",
            values: [
                "create": GraphQLEnumValue(value: "create"), "update": GraphQLEnumValue(value: "update"),
                "delete": GraphQLEnumValue(value: "delete"),
            ])
    }

    /// Arguments of list fields and relational fields (Directus's `filter`, `sort`, `limit`, `offset`, `page`, `search`).
    static func listArguments(_ filter: GraphQLInputObjectType) -> GraphQLArgumentConfigMap {
        [
            "filter": GraphQLArgument(type: filter), "sort": GraphQLArgument(type: GraphQLList(GraphQLString)),
            "limit": GraphQLArgument(type: GraphQLInt), "offset": GraphQLArgument(type: GraphQLInt),
            "page": GraphQLArgument(type: GraphQLInt), "search": GraphQLArgument(type: GraphQLString),
        ]
    }
}

/// The named types of one schema. Types refer to each other through lazy field
/// closures that look their targets up here, so recursive relations need no cycles of ours.
final class TypeTable: Sendable {
    private struct Storage: Sendable {
        var objects: [String: GraphQLObjectType] = [:]
        var filters: [String: GraphQLInputObjectType] = [:]
        var quantifiers: [String: GraphQLInputObjectType] = [:]
        var operators: [FilterFamily: GraphQLInputObjectType] = [:]
        var functions: [FunctionFamily: GraphQLObjectType] = [:]
        var functionFilters: [FunctionFamily: GraphQLInputObjectType] = [:]
    }

    private let storage = Mutex(Storage())

    func object(_ name: String) -> GraphQLObjectType? { storage.withLock { $0.objects[name] } }
    func filter(_ name: String) -> GraphQLInputObjectType? { storage.withLock { $0.filters[name] } }
    func quantifier(_ name: String) -> GraphQLInputObjectType? { storage.withLock { $0.quantifiers[name] } }
    func operators(_ family: FilterFamily) -> GraphQLInputObjectType? { storage.withLock { $0.operators[family] } }
    func functions(_ family: FunctionFamily) -> GraphQLObjectType? { storage.withLock { $0.functions[family] } }
    func functionFilter(_ family: FunctionFamily) -> GraphQLInputObjectType? {
        storage.withLock { $0.functionFilters[family] }
    }

    func fill(shape: GraphShape) throws {
        var s = Storage()
        for family in FilterFamily.allCases { s.operators[family] = try family.makeType() }
        if let number = s.operators[.number] {
            for family in FunctionFamily.allCases {
                s.functions[family] = try family.makeObjectType()
                s.functionFilters[family] = try family.makeFilterType(numberOperators: number)
            }
        }
        // Quantifier filters only where an o2m field needs one: building a schema costs the
        // square of its type count (the library copies its type map per type).
        var quantified = Set<String>()
        for collection in shape.collections.values {
            for field in collection.fields { if case .oneToMany(let related) = field.kind { quantified.insert(related) } }
        }
        for (name, collection) in shape.collections {
            s.objects[name] = try GraphQLObjectType(
                name: name, fields: { [weak self] in try self?.objectFields(collection) ?? [:] })
            s.filters[name] = try GraphQLInputObjectType(
                name: name + "_filter", fields: { [weak self] in self?.filterFields(collection, quantified: false) ?? [:] })
            guard quantified.contains(name) else { continue }
            s.quantifiers[name] = try GraphQLInputObjectType(
                name: name + "_quantifier_filter",
                fields: { [weak self] in self?.filterFields(collection, quantified: true) ?? [:] })
        }
        let filled = s
        storage.withLock { $0 = filled }
    }

    func breakCycles() {
        for object in storage.withLock({ Array($0.objects.values) }) { object.fields = { [:] } }
    }

    private func objectFields(_ collection: CollectionShape) throws -> GraphQLFieldMap {
        var fields = GraphQLFieldMap()
        for field in collection.fields {
            switch field.kind {
            case .scalar(let scalar):
                let type: any GraphQLOutputType = field.nonNull ? GraphQLNonNull(scalar.outputType) : scalar.outputType
                fields[field.name] = GraphQLField(
                    type: type, description: field.note, resolve: ItemResolvers.scalar(field.name, scalar))
            case .manyToOne(let related):
                guard let object = object(related), let filter = filter(related) else { continue }
                fields[field.name] = GraphQLField(
                    type: object, description: field.note, args: ItemsGraphSchema.listArguments(filter),
                    resolve: ItemResolvers.manyToOne(field.name))
            case .oneToMany(let related):
                guard let object = object(related), let filter = filter(related) else { continue }
                fields[field.name] = GraphQLField(
                    type: GraphQLList(object), description: field.note, args: ItemsGraphSchema.listArguments(filter),
                    resolve: ItemResolvers.oneToMany(field.name))
            }
            let key = FunctionFamily.key(of: field.name)
            if let (_, family) = collection.function(key), let type = functions(family) {
                fields[key] = GraphQLField(type: type, resolve: ItemResolvers.functions(of: field.name, family))
            }
        }
        return fields
    }

    /// `<collection>_filter`: an operator object per field, the related filter for m2o
    /// fields, the related quantifier filter (`_some`/`_none`) for o2m fields, a function
    /// filter for `<field>_func`, `_and`/`_or`.
    private func filterFields(_ collection: CollectionShape, quantified: Bool) -> InputObjectFieldMap {
        var fields = InputObjectFieldMap()
        for field in collection.fields {
            switch field.kind {
            case .scalar(let scalar):
                if let type = operators(scalar.filterFamily) { fields[field.name] = InputObjectField(type: type) }
            case .manyToOne(let related):
                if let type = filter(related) { fields[field.name] = InputObjectField(type: type) }
            case .oneToMany(let related):
                if let type = quantifier(related) { fields[field.name] = InputObjectField(type: type) }
            }
            let key = FunctionFamily.key(of: field.name)
            if let (_, family) = collection.function(key), let type = functionFilter(family) {
                fields[key] = InputObjectField(type: type)
            }
        }
        if let own = filter(collection.name) {
            fields["_and"] = InputObjectField(type: GraphQLList(own))
            fields["_or"] = InputObjectField(type: GraphQLList(own))
            if quantified {
                fields["_some"] = InputObjectField(type: own)
                fields["_none"] = InputObjectField(type: own)
            }
        }
        return fields
    }
}
