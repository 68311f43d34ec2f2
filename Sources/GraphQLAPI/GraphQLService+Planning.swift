import GraphQL
import Query
import Store
import SwitchboardCore

/// What a graphql-transport-ws `subscribe` message's document asks for.
public enum GraphQLDocumentPlan: Sendable {
    case subscription(GraphQLSubscriptionPlan)
    /// A valid query: `GraphQLService.execute` answers it (one `next`, then `complete`).
    case query
    /// The errors for the `error` message.
    case failed(GraphQLFailure)
}

extension GraphQLService {
    /// Plans a graphql-transport-ws subscription: parses and validates `query`
    /// against the caller's schema (a collection it cannot read is not in it, so
    /// asking for one is a validation error), coerces the variables and reads the
    /// one root field `<collection>_mutated(event:, filter:)` and its selection.
    /// Synchronous and without database access: safe on an event loop.
    ///
    /// A failure carries the GraphQL `errors` array for the `error` message:
    /// syntax errors, validation errors, limits, a document that is not exactly
    /// one subscription field, bad variables or a bad filter.
    public func planSubscription(
        query: String, variables: JSONObject?, operationName: String?, context: ItemsContext
    ) -> Result<GraphQLSubscriptionPlan, GraphQLFailure> {
        let parsed: ParsedDocument
        switch parse(query, operationName: operationName) {
        case .success(let p): parsed = p
        case .failure(let failure): return .failure(failure)
        }
        guard parsed.operation.operation == .subscription else {
            return .failure(
                GraphQLFailure(
                    .graphqlValidation,
                    "Only subscriptions can be sent here; this document's operation is a \(parsed.operation.operation.rawValue)."
                ))
        }
        return planSubscription(parsed, variables: variables, context: context)
    }

    /// What a document sent over graphql-transport-ws asks for: a subscription
    /// (planned as `planSubscription` does), a query (valid against the caller's
    /// schema; run it with `execute`, whose body is the `next` payload), or why
    /// it cannot run (syntax, validation, limits, a mutation). Synchronous and
    /// without database access, like `planSubscription`.
    public func planOperation(
        query: String, variables: JSONObject?, operationName: String?, context: ItemsContext
    ) -> GraphQLDocumentPlan {
        let parsed: ParsedDocument
        switch parse(query, operationName: operationName) {
        case .success(let p): parsed = p
        case .failure(let failure): return .failed(failure)
        }
        switch parsed.operation.operation {
        case .subscription:
            switch planSubscription(parsed, variables: variables, context: context) {
            case .success(let plan): return .subscription(plan)
            case .failure(let failure): return .failed(failure)
            }
        case .mutation:
            return .failed(
                GraphQLFailure(
                    .graphqlValidation, "Mutations are not supported here: write through the REST items endpoints."))
        case .query:
            do {
                let graph = try schema(for: context)
                if let failure = validate(parsed.document, graph) { return .failed(failure) }
                return .query
            } catch {
                return .failed(schemaFailure(error))
            }
        }
    }

    private func planSubscription(_ parsed: ParsedDocument, variables: JSONObject?, context: ItemsContext) -> Result<
        GraphQLSubscriptionPlan, GraphQLFailure
    > {
        let graph: ItemsGraphSchema
        do { graph = try schema(for: context) } catch { return .failure(schemaFailure(error)) }
        if let failure = validate(parsed.document, graph) { return .failure(failure) }
        let coerced: [String: Map]
        switch Self.coerceVariables(parsed.operation, variables ?? [:]) {
        case .success(let v): coerced = v
        case .failure(let failure): return .failure(failure)
        }
        var fragments: [String: FragmentDefinition] = [:]
        for case let fragment as FragmentDefinition in parsed.document.definitions { fragments[fragment.name.value] = fragment }
        do {
            let reader = SelectionReader(fragments: fragments, variables: coerced)
            let roots = try reader.read([parsed.operation.selectionSet])
            guard roots.count == 1, let root = roots.first, root.name.hasSuffix("_mutated") else {
                return .failure(
                    GraphQLFailure(.graphqlValidation, "A subscription must select exactly one field, <collection>_mutated."))
            }
            let collection = String(root.name.dropLast("_mutated".count))
            guard let shape = graph.shape.collections[collection] else {
                return .failure(GraphQLFailure(.graphqlValidation, "Cannot subscribe to \"\(root.name)\"."))
            }
            var event: ChangeEvent.Action?
            if let value = root.arguments["event"], !value.isNull {
                guard let name = value.stringValue, let action = ChangeEvent.Action(rawValue: name) else {
                    return .failure(
                        GraphQLFailure(
                            .graphqlValidation,
                            "Argument \"event\" must be one of create, update, delete; got \(value.jsonString)."))
                }
                event = action
            }
            let dataSelection = root.selections.filter { $0.name == "data" }.flatMap(\.selections)
            let json = try ItemQueryBuilder(shape: graph.shape).query(
                dataSelection, on: shape, arguments: root.arguments["filter"].map { ["filter": $0] } ?? [:])
            let itemQuery = try ItemQuery.parse(json: json, limits: store.environment.limits)
            return .success(
                GraphQLSubscriptionPlan(
                    collection: collection, event: event, query: itemQuery, responseKey: root.responseKey,
                    selection: root.selections, shape: graph.shape))
        } catch let error as SwitchboardError {
            return .failure(GraphQLFailure(error.code, error.message))
        } catch let error as GraphQLError {
            return .failure(GraphQLFailure(validation: [error]))
        } catch {
            return .failure(GraphQLFailure(.invalidQuery, "\(error)"))
        }
    }

    /// The operation's variables: provided values, else defaults; a required one missing is an error.
    /// Values are checked where they are used (filters by the filter parser, `event` above).
    static func coerceVariables(_ operation: OperationDefinition, _ provided: JSONObject) -> Result<
        [String: Map], GraphQLFailure
    > {
        var out: [String: Map] = [:]
        for definition in operation.variableDefinitions {
            let name = definition.variable.name.value
            let required = definition.type is NonNullType
            if let value = provided[name], !(value.isNull && required) {
                out[name] = value.map
            } else if let fallback = definition.defaultValue,
                let value = try? valueFromASTUntyped(valueAST: fallback)
            {
                out[name] = value
            } else if required {
                return .failure(
                    GraphQLFailure(
                        errors: [
                            GraphQLErrorJSON.make(
                                message:
                                    "Variable \"$\(name)\" of required type \"\(GraphQL.print(ast: definition.type))\" was not provided.",
                                code: .graphqlValidation)
                        ], status: 400))
            }
        }
        return .success(out)
    }
}
