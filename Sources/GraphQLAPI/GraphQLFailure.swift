import GraphQL
import Store
import SwitchboardCore

/// GraphQL errors refusing a whole document (syntax, validation, limits, wrong
/// operation), in the shape both `/graphql` and graphql-transport-ws send them.
public struct GraphQLFailure: Error, Sendable, Equatable {
    /// The GraphQL `errors` array: `[{"message", "locations"?, "path"?, "extensions": {"code", …}}]`.
    public let errors: JSONValue
    /// The HTTP status `/graphql` answers with (400 for documents, 405 for a GET that is not a query).
    public let status: Int

    public init(errors: [JSONValue], status: Int) {
        self.errors = .array(errors)
        self.status = status
    }

    /// One error with a code.
    init(_ code: ErrorCode, _ message: String, status: Int? = nil) {
        self.init(errors: [GraphQLErrorJSON.make(message: message, code: code)], status: status ?? code.httpStatus)
    }

    /// Syntax and validation errors: each keeps its locations and gets `GRAPHQL_VALIDATION`.
    init(validation errors: [GraphQLError]) {
        self.init(
            errors: errors.map { GraphQLErrorJSON.make($0, code: .graphqlValidation) },
            status: ErrorCode.graphqlValidation.httpStatus)
    }
}

/// GraphQL's error objects as JSON.
enum GraphQLErrorJSON {
    static func make(
        message: String, locations: [SourceLocation] = [], path: [JSONValue] = [], code: ErrorCode,
        extensions: JSONObject = [:]
    ) -> JSONValue {
        var object: JSONObject = ["message": .string(message)]
        if !locations.isEmpty {
            object["locations"] = .array(
                locations.map { ["line": .int(Int64($0.line)), "column": .int(Int64($0.column))] })
        }
        if !path.isEmpty { object["path"] = .array(path) }
        var ext = extensions
        ext["code"] = .string(code.rawValue)
        object["extensions"] = .object(ext)
        return .object(object)
    }

    static func make(_ error: GraphQLError, code: ErrorCode) -> JSONValue {
        make(message: error.message, locations: error.locations, path: path(error), code: code)
    }

    /// An error from executing a document: a Switchboard error keeps its code and
    /// message (as Directus's `processError` does), GraphQL's own errors keep their
    /// message, and anything else is an internal error that does not leak details.
    static func execution(_ error: GraphQLError) -> JSONValue {
        switch error.originalError {
        case let original as SwitchboardError:
            return make(
                message: original.message, locations: error.locations, path: path(error), code: original.code,
                extensions: original.extensions)
        case let original as SQLError:
            let mapped = original.clientError()
            return make(
                message: mapped.message, locations: error.locations, path: path(error), code: mapped.code,
                extensions: mapped.extensions)
        case nil:
            // Without a path it concerns the whole request (variables, operation name).
            return make(error, code: path(error).isEmpty ? .graphqlValidation : .internalError)
        default:
            return make(
                message: SwitchboardError.internalError().message, locations: error.locations, path: path(error),
                code: .internalError)
        }
    }

    static func path(_ error: GraphQLError) -> [JSONValue] {
        error.path.elements.map { element in
            switch element {
            case .index(let i): return .int(Int64(i))
            case .key(let k): return .string(k)
            }
        }
    }
}
