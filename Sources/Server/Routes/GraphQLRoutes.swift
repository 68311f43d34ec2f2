import GraphQLAPI
import Hummingbird
import SwitchboardCore

/// `POST /graphql` (`{query, variables, operationName}`) and `GET /graphql?query=&variables=&operationName=`:
/// GraphQL reads of the caller's items (Directus's `/graphql`). Subscriptions are the realtime engine's.
struct GraphQLRoutes {
    let graphql: GraphQLService
    let callers: CallerResolver
    let maxPayload: Int

    func register(on router: Router<SwitchboardRequestContext>) {
        router.post("graphql") { request, context in
            let items = try await callers.itemsContext(request, context)
            let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
            let variables: JSONObject?
            switch body["variables"] {
            case nil, .null?: variables = nil
            case .object(let object)?: variables = object
            default: throw SwitchboardError.invalidPayload("\"variables\" must be an object.")
            }
            let query = try Self.request(body["query"], variables: variables, operationName: body["operationName"])
            return Self.response(await graphql.execute(query, method: .post, context: items))
        }
        router.get("graphql") { request, context in
            let items = try await callers.itemsContext(request, context)
            var variables: JSONObject?
            if let text = HTTPSupport.queryValue(request, "variables"), !text.isEmpty {
                guard case .object(let object)? = try? JSONValue(parsing: text) else {
                    throw SwitchboardError.invalidQuery("Variables are invalid JSON.")
                }
                variables = object
            }
            let query = try Self.request(
                HTTPSupport.queryValue(request, "query").map(JSONValue.string), variables: variables,
                operationName: HTTPSupport.queryValue(request, "operationName").map(JSONValue.string))
            return Self.response(await graphql.execute(query, method: .get, context: items))
        }
    }

    private static func request(_ query: JSONValue?, variables: JSONObject?, operationName: JSONValue?) throws
        -> GraphQLRequest
    {
        guard case .string(let text)? = query, !text.isEmpty else {
            throw SwitchboardError.invalidPayload("Must provide query string.")
        }
        let name: String?
        switch operationName {
        case nil, .null?: name = nil
        case .string(let s)?: name = s.isEmpty ? nil : s
        default: throw SwitchboardError.invalidPayload("\"operationName\" must be a string.")
        }
        return GraphQLRequest(query: text, variables: variables, operationName: name)
    }

    private static func response(_ response: GraphQLResponse) -> Response {
        HTTPSupport.json(response.body, status: HTTPResponse.Status(code: response.status))
    }
}
