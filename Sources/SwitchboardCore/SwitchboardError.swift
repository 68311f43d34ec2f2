/// The error codes clients see, with Directus's names and HTTP statuses.
public enum ErrorCode: String, Sendable, Hashable, CaseIterable {
    case invalidPayload = "INVALID_PAYLOAD"
    case invalidQuery = "INVALID_QUERY"
    case forbidden = "FORBIDDEN"
    case invalidCredentials = "INVALID_CREDENTIALS"
    case invalidToken = "INVALID_TOKEN"
    case tokenExpired = "TOKEN_EXPIRED"
    case userSuspended = "USER_SUSPENDED"
    case routeNotFound = "ROUTE_NOT_FOUND"
    case recordNotUnique = "RECORD_NOT_UNIQUE"
    case contentTooLarge = "CONTENT_TOO_LARGE"
    case failedValidation = "FAILED_VALIDATION"
    case invalidForeignKey = "INVALID_FOREIGN_KEY"
    case notNullViolation = "NOT_NULL_VIOLATION"
    case valueTooLong = "VALUE_TOO_LONG"
    case valueOutOfRange = "VALUE_OUT_OF_RANGE"
    case unsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
    case methodNotAllowed = "METHOD_NOT_ALLOWED"
    case requestsExceeded = "REQUESTS_EXCEEDED"
    case serviceUnavailable = "SERVICE_UNAVAILABLE"
    case internalError = "INTERNAL_SERVER_ERROR"
    case invalidCollection = "INVALID_COLLECTION"
    case authFailed = "AUTH_FAILED"
    case authTimeout = "AUTH_TIMEOUT"
    /// A GraphQL document that does not parse or validate against the caller's schema.
    case graphqlValidation = "GRAPHQL_VALIDATION"

    public var httpStatus: Int {
        switch self {
        case .invalidPayload, .invalidQuery, .recordNotUnique, .failedValidation, .invalidForeignKey,
            .notNullViolation, .valueTooLong, .valueOutOfRange, .invalidCollection, .graphqlValidation:
            return 400
        case .invalidCredentials, .tokenExpired, .userSuspended, .authFailed, .authTimeout: return 401
        case .forbidden, .invalidToken: return 403
        case .routeNotFound: return 404
        case .methodNotAllowed: return 405
        case .contentTooLarge: return 413
        case .unsupportedMediaType: return 415
        case .requestsExceeded: return 429
        case .serviceUnavailable: return 503
        case .internalError: return 500
        }
    }
}

/// An error that reaches a client: a Directus code, a message and optional
/// extensions (e.g. `field` for validation and uniqueness errors).
public struct SwitchboardError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var extensions: JSONObject

    public init(_ code: ErrorCode, _ message: String, extensions: JSONObject = [:]) {
        self.code = code
        self.message = message
        self.extensions = extensions
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func forbidden() -> SwitchboardError {
        SwitchboardError(.forbidden, "You don't have permission to access this.")
    }

    /// Directus's wording for a collection that is missing or not readable (the two look the same).
    public static func forbiddenCollection(_ collection: String) -> SwitchboardError {
        let reason = "You don't have permission to access collection \"\(collection)\" or it does not exist."
        return SwitchboardError(.forbidden, reason, extensions: ["reason": .string(reason)])
    }

    /// Directus's wording for fields that are missing or not readable.
    public static func forbiddenFields(_ collection: String, _ fields: [String]) -> SwitchboardError {
        let list = fields.map { "\"\($0)\"" }.joined(separator: ", ")
        let reason =
            fields.count == 1
            ? "You don't have permission to access field \(list) in collection \"\(collection)\" or it does not exist."
            : "You don't have permission to access fields \(list) in collection \"\(collection)\" or they do not exist."
        return SwitchboardError(.forbidden, reason, extensions: ["reason": .string(reason)])
    }

    public static func invalidPayload(_ message: String) -> SwitchboardError {
        SwitchboardError(.invalidPayload, message)
    }

    public static func invalidQuery(_ message: String) -> SwitchboardError {
        SwitchboardError(.invalidQuery, message)
    }

    public static func invalidCredentials() -> SwitchboardError {
        SwitchboardError(.invalidCredentials, "Invalid user credentials.")
    }

    public static func internalError(_ message: String = "An unexpected error occurred.") -> SwitchboardError {
        SwitchboardError(.internalError, message)
    }

    /// The `{"message":…,"extensions":{"code":…}}` object of a REST error list.
    public var restObject: JSONObject {
        var ext = extensions
        ext["code"] = .string(code.rawValue)
        return ["message": .string(message), "extensions": .object(ext)]
    }
}
