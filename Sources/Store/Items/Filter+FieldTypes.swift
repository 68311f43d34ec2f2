import Query
import SwitchboardCore

extension Filter {
    /// The filter with each comparison's value taken as its field's type, as the SQL path binds
    /// it (`ValueCodec.encodeOperand`), for evaluation in memory (`matches`), which sees only
    /// values: a number or boolean compared with a text field becomes its text, so `"10" _gt 9`
    /// compares as text in memory as it does in SQL. Decimals, whose values travel as strings,
    /// keep comparing as numbers. Apply after `resolvingVariables`, so a variable's value is
    /// typed too. Paths the schema does not know are left as they are.
    public func typedOperands(on collection: String, in schema: Schema) -> Filter {
        switch self {
        case .and(let parts): return .and(parts.map { $0.typedOperands(on: collection, in: schema) })
        case .or(let parts): return .or(parts.map { $0.typedOperands(on: collection, in: schema) })
        case .some(let path, let inner):
            guard let target = Self.collection(at: path[...], from: collection, in: schema) else { return self }
            return .some(path: path, inner.typedOperands(on: target, in: schema))
        case .none(let path, let inner):
            guard let target = Self.collection(at: path[...], from: collection, in: schema) else { return self }
            return .none(path: path, inner.typedOperands(on: target, in: schema))
        case .condition(let path, let op, let value):
            guard Self.textComparisons.contains(op), let last = path.last, FieldFunction(last) == nil,
                let owner = Self.collection(at: path.dropLast(), from: collection, in: schema),
                let type = schema.collection(owner)?.field(last)?.type, type == .string || type == .text
            else { return self }
            return .condition(path: path, op: op, value: Self.asText(value))
        }
    }

    /// Operators whose value `ValueCodec.encodeOperand` binds as text on a text field.
    private static let textComparisons: Set<FilterOperator> = [
        ._eq, ._neq, ._lt, ._lte, ._gt, ._gte, ._in, ._nin, ._between, ._nbetween,
    ]

    private static func asText(_ value: JSONValue) -> JSONValue {
        switch value {
        case .int, .double, .bool: return value.textValue.map(JSONValue.string) ?? value
        case .array(let items): return .array(items.map(asText))
        default: return value
        }
    }

    /// The collection `path` leads to through m2o and o2m fields; nil when a step is not a relation.
    private static func collection(at path: ArraySlice<String>, from collection: String, in schema: Schema) -> String? {
        var current = collection
        for step in path {
            if let m2o = schema.manyToOne(current, step) {
                current = m2o.oneCollection
            } else if let o2m = schema.oneToMany(current, step) {
                current = o2m.manyCollection
            } else {
                return nil
            }
        }
        return current
    }
}
