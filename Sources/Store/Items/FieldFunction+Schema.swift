import Query
import SwitchboardCore

extension FieldFunction {
    /// Whether the function reads `field`, as Directus's `getFunctionsForType`: date parts of
    /// temporal fields, `count` of JSON fields and of o2m aliases.
    func reads(_ field: FieldSchema, in collection: CollectionSchema, schema: Schema) -> Bool {
        switch kind {
        case .count: return field.type == .json || schema.oneToMany(collection.name, field.field) != nil
        default: return field.type.isTemporal && appliesToTemporal(field.type.rawValue)
        }
    }

    /// `INVALID_QUERY` for a function on a field it does not read.
    func invalid(on field: FieldSchema) -> SwitchboardError {
        SwitchboardError.invalidQuery(
            "Invalid function specified \"\(kind.rawValue)\" for field \"\(field.field)\" of type \"\(field.type.rawValue)\".")
    }
}
