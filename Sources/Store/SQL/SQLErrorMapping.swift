import SwitchboardCore

extension SQLError {
    /// The error a client sees for this database error, for writes to `collection`
    /// (constraint names carry it) or for any other request (nil).
    public func clientError(collection: String? = nil) -> SwitchboardError {
        func extensions(_ column: String?) -> JSONObject {
            var ext: JSONObject = [:]
            if let collection { ext["collection"] = .string(collection) }
            if let column { ext["field"] = .string(column) }
            return ext
        }
        let inCollection = collection.map { " in collection \"\($0)\"" } ?? ""
        switch kind {
        case .uniqueViolation(let column):
            return SwitchboardError(
                .recordNotUnique, "Value for field \"\(column ?? "")\"\(inCollection) has to be unique.",
                extensions: extensions(column))
        case .notNullViolation(let column):
            return SwitchboardError(
                .notNullViolation, "Value for field \"\(column ?? "")\"\(inCollection) can't be null.",
                extensions: extensions(column))
        case .foreignKeyViolation:
            return SwitchboardError(.invalidForeignKey, "Invalid foreign key\(inCollection).")
        case .checkViolation:
            return SwitchboardError(.failedValidation, "A value\(inCollection) is out of range.")
        case .invalidValue:
            return SwitchboardError(.invalidQuery, "A value does not fit its field's type: \(message)")
        case .tooComplex:
            return SwitchboardError(.invalidQuery, "The query is too complex for the database: \(message)")
        case .timedOut:
            return SwitchboardError(.serviceUnavailable, "The database did not finish in time (DB_STATEMENT_TIMEOUT).")
        case .unavailable:
            return SwitchboardError(.serviceUnavailable, "The database is unavailable.")
        case .other:
            return SwitchboardError.internalError()
        }
    }
}

extension SwitchboardError {
    /// What a client sees for any error a request raised: Switchboard's own
    /// errors as they are, database errors mapped, anything else a 500.
    public static func client(_ error: any Error) -> SwitchboardError {
        if let error = error as? SwitchboardError { return error }
        if let error = error as? SQLError { return error.clientError() }
        return .internalError()
    }
}
