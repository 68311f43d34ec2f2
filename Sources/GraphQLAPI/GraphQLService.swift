import GraphQL
import Logging
import Query
import Store
import SwitchboardCore

/// A GraphQL request as `/graphql` receives it (POST body or GET query string).
public struct GraphQLRequest: Sendable {
    public var query: String
    public var variables: JSONObject?
    public var operationName: String?

    public init(query: String, variables: JSONObject? = nil, operationName: String? = nil) {
        self.query = query
        self.variables = variables
        self.operationName = operationName
    }
}

/// The HTTP answer to a GraphQL request: a status and `{"data"?, "errors"?}`.
public struct GraphQLResponse: Sendable {
    public var status: Int
    public var body: JSONValue
}

/// GraphQL over the items the caller may read: queries over HTTP, and plans
/// for the subscription transport. Each caller's schema comes from the data
/// schema and its read permissions, cached; every read goes through `Store`
/// with the caller's `ItemsContext`, so it filters, limits and refuses exactly as
/// the REST items endpoints do.
public final class GraphQLService: Sendable {
    public let store: Store
    public let settings: GraphQLSettings
    private let cache: GraphQLSchemaCache
    private let logger: Logger

    public init(
        store: Store, settings: GraphQLSettings = GraphQLSettings(), logger: Logger = Logger(label: "switchboard.graphql")
    ) {
        self.store = store
        self.settings = settings
        self.cache = GraphQLSchemaCache(capacity: settings.schemaCacheCapacity)
        self.logger = logger
    }

    /// Schemas currently cached (for tests and metrics).
    public var cachedSchemaCount: Int { cache.count }

    /// The caller's schema in SDL (what introspection describes), for tests and tooling.
    public func schemaDescription(context: ItemsContext) throws -> String {
        printSchema(schema: try schema(for: context).schema)
    }

    /// Builds the caller's schema now, unless it is cached: building takes milliseconds
    /// for large schemas, so a transport can do it off its event loop before it calls
    /// `planSubscription` there (which otherwise builds on a cache miss).
    public func warmSchema(for context: ItemsContext) throws {
        _ = try schema(for: context)
    }

    func schema(for context: ItemsContext) throws -> ItemsGraphSchema {
        // The generation is read first: a schema reloaded in between is newer than its key, never older.
        let generation = store.schemaGeneration
        let dataSchema = store.schema
        let access = ReadAccess(context.permissions, schema: dataSchema)
        return try cache.schema(for: .init(generation: generation, access: access)) {
            try ItemsGraphSchema(shape: GraphShape(schema: dataSchema, access: access))
        }
    }

    // MARK: HTTP

    /// How the request arrived: Directus lets GET run queries only.
    public enum Method: Sendable {
        case get, post
    }

    /// Runs a query document. Syntax, validation and limit errors answer 400
    /// (`GRAPHQL_VALIDATION`); a mutation or subscription is refused with a
    /// clear error (405 over GET as in Directus, 400 over POST); errors while
    /// reading come back beside the data with their Directus codes (HTTP 200).
    /// A query over graphql-transport-ws runs as `.post`; its body is the `next` payload.
    public func execute(_ request: GraphQLRequest, method: Method, context: ItemsContext) async -> GraphQLResponse {
        let parsed: ParsedDocument
        switch parse(request.query, operationName: request.operationName) {
        case .success(let p): parsed = p
        case .failure(let failure): return Self.response(failure)
        }
        switch (parsed.operation.operation, method) {
        case (.query, _): break
        case (_, .get):
            return Self.response(
                GraphQLFailure(
                    .methodNotAllowed,
                    "Only queries can be sent with GET; this document's operation is a \(parsed.operation.operation.rawValue)."))
        case (.mutation, .post):
            return Self.response(
                GraphQLFailure(
                    .graphqlValidation, "Mutations are not supported here: write through the REST items endpoints."))
        case (.subscription, .post):
            return Self.response(
                GraphQLFailure(
                    .graphqlValidation,
                    "Subscriptions are served over a WebSocket (graphql-transport-ws), not over HTTP."))
        }
        let graph: ItemsGraphSchema
        do { graph = try schema(for: context) } catch { return Self.response(schemaFailure(error)) }
        if let failure = validate(parsed.document, graph) { return Self.response(failure) }
        let variables = (request.variables ?? [:]).reduce(into: [String: Map]()) { $0[$1.key] = $1.value.map }
        let result: GraphQLResult
        do {
            result = try await GraphQL.execute(
                schema: graph.schema, documentAST: parsed.document, rootValue: (),
                context: ResolutionContext(store: store, items: context, shape: graph.shape),
                variableValues: variables, operationName: request.operationName)
            // The schema's types must outlive the execution (the cache may drop it meanwhile).
            withExtendedLifetime(graph) {}
        } catch let error as GraphQLError {
            return Self.response(GraphQLFailure(validation: [error]))
        } catch {
            logger.error("graphql execution failed", metadata: ["error": "\(error)"])
            return Self.response(GraphQLFailure(.internalError, SwitchboardError.internalError().message))
        }
        for error in result.errors {
            // Our errors and GraphQL's own are the client's business; anything else is a fault to look into.
            guard let original = error.originalError, !(original is SwitchboardError) else { continue }
            logger.error("graphql field failed", metadata: ["path": "\(error.path)", "error": "\(original)"])
        }
        var body = JSONObject()
        if let data = result.data { body["data"] = JSONValue(data) }
        if !result.errors.isEmpty { body["errors"] = .array(result.errors.map(GraphQLErrorJSON.execution)) }
        // Errors without a path refused the request before any field ran (variables, operation): 400, as validation.
        let refused = result.data == nil && !result.errors.isEmpty && result.errors.allSatisfy { $0.path.elements.isEmpty }
        return GraphQLResponse(status: refused ? 400 : 200, body: .object(body))
    }

    private static func response(_ failure: GraphQLFailure) -> GraphQLResponse {
        GraphQLResponse(status: failure.status, body: ["errors": failure.errors])
    }

    func schemaFailure(_ error: any Error) -> GraphQLFailure {
        logger.error("graphql schema could not be built", metadata: ["error": "\(error)"])
        return GraphQLFailure(.internalError, SwitchboardError.internalError().message)
    }

    // MARK: Shared steps

    struct ParsedDocument {
        let document: Document
        let operation: OperationDefinition
    }

    /// Size and nesting limits, parsing, selection limits and the operation to run.
    func parse(_ query: String, operationName: String?) -> Result<ParsedDocument, GraphQLFailure> {
        let limits = DocumentLimits(settings: settings)
        if let failure = limits.checkText(query) { return .failure(failure) }
        let document: Document
        do {
            document = try GraphQL.parse(source: Source(body: query, name: "GraphQL request"))
        } catch let error as GraphQLError {
            return .failure(GraphQLFailure(validation: [error]))
        } catch {
            return .failure(GraphQLFailure(.graphqlValidation, "Syntax Error: \(error)"))
        }
        if let failure = limits.checkSelections(document) { return .failure(failure) }
        let operations = document.definitions.compactMap { $0 as? OperationDefinition }
        let operation: OperationDefinition?
        if let operationName {
            operation = operations.first { $0.name?.value == operationName }
            if operation == nil {
                return .failure(GraphQLFailure(.graphqlValidation, "Unknown operation named \"\(operationName)\"."))
            }
        } else if operations.count > 1 {
            return .failure(
                GraphQLFailure(.graphqlValidation, "Must provide operation name if query contains multiple operations."))
        } else {
            operation = operations.first
        }
        guard let operation else { return .failure(GraphQLFailure(.graphqlValidation, "Must provide an operation.")) }
        return .success(ParsedDocument(document: document, operation: operation))
    }

    /// The specification's rules against the caller's schema (plus no introspection when it is turned off).
    func validate(_ document: Document, _ graph: ItemsGraphSchema) -> GraphQLFailure? {
        let rules = settings.introspection ? specifiedRules : specifiedRules + [NoSchemaIntrospectionCustomRule]
        let errors = GraphQL.validate(schema: graph.schema, ast: document, rules: rules)
        return errors.isEmpty ? nil : GraphQLFailure(validation: errors)
    }
}
