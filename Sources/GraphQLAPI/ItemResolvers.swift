import GraphQL
import OrderedCollections
import Query
import Store
import SwitchboardCore

/// What the resolvers of one HTTP request need: the store, the caller and the shape of its schema.
struct ResolutionContext: Sendable {
    let store: Store
    let items: ItemsContext
    let shape: GraphShape

    static func from(_ context: any Sendable) throws -> ResolutionContext {
        guard let context = context as? ResolutionContext else { throw SwitchboardError.internalError() }
        return context
    }

    /// The item query for a root field: its selection as fields and deep, its arguments as the REST parameters.
    func query(_ collection: String, arguments: Map, info: GraphQLResolveInfo) throws -> ItemQuery {
        guard let shape = shape.collections[collection] else { throw SwitchboardError.forbiddenCollection(collection) }
        let reader = SelectionReader(fragments: info.fragments, variables: info.variableValues.compactMapValues { $0 as? Map })
        let selection = try reader.read(info.fieldASTs.compactMap(\.selectionSet))
        let json = try ItemQueryBuilder(shape: self.shape).query(
            selection, on: shape, arguments: JSONValue(arguments).objectValue ?? [:])
        return try ItemQuery.parse(json: json, limits: store.environment.limits)
    }
}

/// The resolvers: root fields read through `Store` exactly as `/items` does
/// (permissions, filters, limits); every other field picks its value from the
/// row the root read returned.
enum ItemResolvers {
    static func list(collection: String) -> GraphQLFieldResolve {
        { _, arguments, context, info in
            let resolution = try ResolutionContext.from(context)
            let query = try resolution.query(collection, arguments: arguments, info: info)
            let result = try await resolution.store.readItems(collection, query: query, context: resolution.items)
            return result.data.map { $0 as (any Sendable)? }
        }
    }

    /// `<collection>_aggregated`: the selected functions and their fields become the
    /// REST `aggregate` parameter; grouped rows also get their group values under `group`
    /// (a function by its REST name: `groupBy: ["year(at)"]` gives `group: {at_year: 2026}`).
    static func aggregated(collection: String) -> GraphQLFieldResolve {
        { _, arguments, context, info in
            let resolution = try ResolutionContext.from(context)
            let reader = SelectionReader(
                fragments: info.fragments, variables: info.variableValues.compactMapValues { $0 as? Map })
            var aggregate = JSONObject()
            for selected in try reader.read(info.fieldASTs.compactMap(\.selectionSet)) {
                guard selected.name != "group", !selected.name.hasPrefix("__") else { continue }
                let fields = selected.selections.map(\.name).filter { !$0.hasPrefix("__") }
                aggregate[selected.name] = .array((selected.name == "countAll" ? ["*"] : fields).map(JSONValue.string))
            }
            var json = JSONValue(arguments).objectValue ?? [:]
            if let filter = json["filter"], let shape = resolution.shape.collections[collection] {
                json["filter"] = ItemQueryBuilder(shape: resolution.shape).restFilter(filter, on: shape)
            }
            // A function groups under its REST name (`year(at)` as `at_year`), as Directus's `group` has it.
            let groupBy = (json["groupBy"]?.arrayValue?.compactMap(\.stringValue) ?? []).map {
                FieldFunction($0)?.outputName ?? $0
            }
            if aggregate.isEmpty && groupBy.isEmpty { return [JSONObject() as (any Sendable)?] }
            json["aggregate"] = .object(aggregate)
            let query = try ItemQuery.parse(json: json, limits: resolution.store.environment.limits)
            let rows = try await resolution.store.readItems(collection, query: query, context: resolution.items).data
            return rows.map { row -> (any Sendable)? in
                guard !groupBy.isEmpty else { return row }
                var out = row
                out["group"] = .object(JSONObject(groupBy.map { ($0, row[$0] ?? .null) }))
                return out
            }
        }
    }

    static func byID(collection: String) -> GraphQLFieldResolve {
        { _, arguments, context, info in
            let resolution = try ResolutionContext.from(context)
            guard let id = JSONValue(arguments).objectValue?["id"]?.textValue else { throw SwitchboardError.forbidden() }
            let key = try typedKey(id, collection, resolution.store.schema)
            let query = try resolution.query(collection, arguments: .dictionary([:]), info: info)
            return try await resolution.store.readItem(collection, key: key, query: query, context: resolution.items)
        }
    }

    /// A key from an `ID` argument typed like the collection's primary key (as the REST `/items/:c/:id` does).
    static func typedKey(_ id: String, _ collection: String, _ schema: Schema) throws -> JSONValue {
        guard let pk = schema.collection(collection)?.primaryKeyField else { throw SwitchboardError.forbidden() }
        if pk.type == .integer || pk.type == .bigInteger {
            guard let i = Int64(id) else { throw SwitchboardError.forbidden() }
            return .int(i)
        }
        return .string(id)
    }

    static func scalar(_ name: String, _ scalar: FieldScalar) -> GraphQLFieldResolve {
        { source, _, _, _ in
            let value = scalar.render((source as? JSONObject)?[name] ?? .null)
            switch value {
            case .null: return nil
            case .array(let items) where scalar == .stringList: return items.map { $0.map as (any Sendable)? }
            default: return value.map
            }
        }
    }

    /// `<field>_func`: the row's `<field>_<function>` values (the REST names of `function(field)`)
    /// under the functions' names, for `<family>_functions`' fields to pick.
    static func functions(of field: String, _ family: FunctionFamily) -> GraphQLFieldResolve {
        { source, _, _, _ in
            guard let row = source as? JSONObject else { return nil }
            return JSONObject(
                family.kinds.map { kind in
                    (kind.rawValue, row[FieldFunction(kind: kind, field: field).outputName] ?? .null)
                })
        }
    }

    static func manyToOne(_ name: String) -> GraphQLFieldResolve {
        { source, _, _, _ in (source as? JSONObject)?[name]?.objectValue }
    }

    static func oneToMany(_ name: String) -> GraphQLFieldResolve {
        { source, _, _, _ in
            guard case .array(let items)? = (source as? JSONObject)?[name] else { return nil }
            return items.compactMap(\.objectValue).map { $0 as (any Sendable)? }
        }
    }
}
