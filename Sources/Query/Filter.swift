import SwitchboardCore

/// A Directus filter (`{"status":{"_eq":"published"}}`, `{"_or":[…]}`, …) as a tree
/// the Store can translate to SQL and realtime fan-out can evaluate in memory.
public indirect enum Filter: Sendable, Hashable {
    /// All must hold; `.and([])` matches everything.
    case and([Filter])
    /// At least one must hold; `.or([])` matches nothing.
    case or([Filter])
    /// A condition on the field a path reaches; `path.count > 1` is relational
    /// (through an m2o object or, with "some" semantics, an o2m array of objects).
    case condition(path: [String], op: FilterOperator, value: JSONValue)
    /// `{"comments":{"_some":{…}}}`: some related item matches the nested filter,
    /// whose paths are relative to the related item.
    case some(path: [String], Filter)
    /// `{"comments":{"_none":{…}}}`: no related item matches the nested filter.
    case none(path: [String], Filter)
}

// MARK: - Parsing

extension Filter {
    /// Parses Directus filter JSON. Several keys in one object are ANDed; `{}`
    /// matches everything. Throws `.invalidQuery` naming the offending part.
    ///
    /// `validation: true` parses a validation rule (a permission's or a field's `validation`),
    /// which may also use the validation operators `_regex` and `_submitted`.
    public static func parse(_ json: JSONValue, validation: Bool = false) throws(SwitchboardError) -> Filter {
        guard case .object(let object) = json else {
            throw .invalidQuery("Invalid filter: expected an object, got \(json.kindName)")
        }
        return try parse(object, prefix: [], validation: validation)
    }

    /// Parses one filter object whose keys apply to the field at `prefix`
    /// (empty at the top level or inside `_some`/`_none`).
    private static func parse(_ object: JSONObject, prefix: [String], validation: Bool) throws(SwitchboardError)
        -> Filter
    {
        let field = prefix.joined(separator: ".")
        var parts: [Filter] = []
        for (key, value) in object {
            switch key {
            case "_and", "_or":
                guard case .array(let items) = value else {
                    throw .invalidQuery("Invalid filter: \"\(key)\" expects an array, got \(value.kindName)")
                }
                var children: [Filter] = []
                for item in items {
                    guard case .object(let child) = item else {
                        throw .invalidQuery("Invalid filter: \"\(key)\" items must be objects, got \(item.kindName)")
                    }
                    children.append(try parse(child, prefix: prefix, validation: validation))
                }
                // Directus drops an empty group, so an empty `_or` matches everything too.
                parts.append(key == "_and" || children.isEmpty ? .and(children) : .or(children))
            case "_some", "_none":
                guard !prefix.isEmpty else {
                    throw .invalidQuery("Invalid filter: \"\(key)\" needs a relational field")
                }
                guard case .object(let nested) = value else {
                    throw .invalidQuery("Invalid filter: \"\(key)\" on \"\(field)\" expects an object")
                }
                let inner = try parse(nested, prefix: [], validation: validation)
                parts.append(key == "_some" ? .some(path: prefix, inner) : .none(path: prefix, inner))
            case _ where key.hasPrefix("_"):
                guard let op = FilterOperator(rawValue: key) else {
                    throw .invalidQuery("Invalid filter: unknown operator \"\(key)\"")
                }
                guard !prefix.isEmpty else { throw .invalidQuery("Invalid filter: operator \"\(key)\" needs a field") }
                guard validation || !op.isValidationOnly else {
                    throw .invalidQuery(
                        "Invalid filter: \"\(key)\" is a validation operator: it checks create and update payloads "
                            + "(permission and field validation rules), not reads")
                }
                parts.append(.condition(path: prefix, op: op, value: try operand(op, value, field: field)))
            default:
                let name = field.isEmpty ? key : field + "." + key
                if FieldFunction.looksLikeCall(key) {
                    guard FieldFunction(key) != nil else {
                        throw .invalidQuery(
                            "Invalid filter: invalid function \"\(name)\" (one of "
                                + FieldFunction.Kind.allCases.map { "\($0.rawValue)()" }.joined(separator: ", ") + ")")
                    }
                    guard case .object(let nested) = value else {
                        throw .invalidQuery(
                            "Invalid filter for \"\(name)\": expected an object of operators, got \(value.kindName)")
                    }
                    let groups: Set<String> = ["_and", "_or", "_some", "_none"]
                    guard nested.keys.allSatisfy({ $0.hasPrefix("_") && !groups.contains($0) }) else {
                        throw .invalidQuery("Invalid filter for \"\(name)\": a function takes operators only")
                    }
                    parts.append(try parse(nested, prefix: prefix + [key], validation: validation))
                    continue
                }
                guard QuerySyntax.isValidName(key) else {
                    throw .invalidQuery("Invalid filter: invalid field \"\(name)\"")
                }
                guard case .object(let nested) = value else {
                    throw .invalidQuery(
                        "Invalid filter for field \"\(name)\": expected an object of operators, got \(value.kindName)")
                }
                parts.append(try parse(nested, prefix: prefix + [key], validation: validation))
            }
        }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    /// Checks and normalizes an operator's value: lists become arrays, the
    /// null/empty family's flag becomes a boolean.
    private static func operand(_ op: FilterOperator, _ value: JSONValue, field: String) throws(SwitchboardError)
        -> JSONValue
    {
        let name = "\"\(op.rawValue)\" on \"\(field)\""
        switch op {
        case ._in, ._nin, ._between, ._nbetween:
            let items: [JSONValue]
            switch value {
            case .array(let array): items = array
            case .string(let text): items = QuerySyntax.commaSeparated(text).map(JSONValue.string)
            default:
                throw .invalidQuery(
                    "Invalid filter: \(name) expects an array or a comma-separated string, got \(value.kindName)")
            }
            if op == ._between || op == ._nbetween, items.count != 2 {
                throw .invalidQuery("Invalid filter: \(name) expects exactly 2 values, got \(items.count)")
            }
            return .array(items)
        case ._null, ._nnull, ._empty, ._nempty:
            switch value {
            case .bool: return value
            case .string("true"), .int(1): return .bool(true)
            case .string("false"), .int(0): return .bool(false)
            default: throw .invalidQuery("Invalid filter: \(name) expects a boolean, got \(value.kindName)")
            }
        case ._eq, ._neq, ._contains, ._ncontains:
            return value
        case ._submitted:
            return .bool(true)  // Directus requires the field whatever the value says
        case ._regex:
            switch value {
            case .null: return value
            case .string(let pattern):
                guard FilterOperator.regex(pattern) != nil else {
                    throw .invalidQuery("Invalid filter: \(name) is not a valid regular expression")
                }
                return value
            default: throw .invalidQuery("Invalid filter: \(name) expects a regular expression, got \(value.kindName)")
            }
        default:
            switch value {
            case .array, .object:
                throw .invalidQuery("Invalid filter: \(name) expects a single value, got \(value.kindName)")
            default: return value
            }
        }
    }
}

// MARK: - Composition and inspection

extension Filter {
    /// The AND of the given filters, skipping nils and flattening nested ANDs;
    /// nil when every filter is nil.
    public static func conjunction(_ filters: [Filter?]) -> Filter? {
        combine(filters, make: Filter.and) { if case .and(let parts) = $0 { parts } else { nil } }
    }

    /// The OR of the given filters, skipping nils and flattening nested ORs;
    /// nil when every filter is nil.
    public static func disjunction(_ filters: [Filter?]) -> Filter? {
        combine(filters, make: Filter.or) { if case .or(let parts) = $0 { parts } else { nil } }
    }

    private static func combine(
        _ filters: [Filter?], make: ([Filter]) -> Filter, split: (Filter) -> [Filter]?
    ) -> Filter? {
        let present = filters.compactMap { $0 }
        guard !present.isEmpty else { return nil }
        let parts = present.flatMap { split($0) ?? [$0] }
        return parts.count == 1 ? parts[0] : make(parts)
    }

    /// Every field path the filter reads, `_some`/`_none` targets included
    /// (their nested paths prefixed), so callers know which relations to load.
    public var referencedPaths: Set<[String]> {
        switch self {
        case .and(let parts), .or(let parts):
            return parts.reduce(into: []) { $0.formUnion($1.referencedPaths) }
        case .condition(let path, _, _):
            // `count(comments)` reads the relation itself; date parts stay as written (a plain field).
            if let last = path.last, let function = FieldFunction(last), function.kind == .count {
                return [path.dropLast() + [function.field]]
            }
            return [path]
        case .some(let path, let inner), .none(let path, let inner):
            return Set(inner.referencedPaths.map { path + $0 }).union([path])
        }
    }

    /// `_eq` conditions on plain fields that every matching row satisfies (found
    /// through AND chains only), for equality-index lookups. Values keep filter
    /// semantics (`"5"` equals `5`), so an index must normalize its keys alike.
    public var topLevelEqualities: [(field: String, value: JSONValue)] {
        switch self {
        case .and(let parts): return parts.flatMap(\.topLevelEqualities)
        case .or(let parts) where parts.count == 1: return parts[0].topLevelEqualities
        // A function (`year(at)`) is not a field of the row: it pins nothing.
        case .condition(let path, ._eq, let value) where path.count == 1 && FieldFunction(path[0]) == nil:
            return [(path[0], value)]
        default: return []
        }
    }

    /// Whether a `$NOW` variable appears, i.e. the resolved filter depends on
    /// the time and must be re-resolved as the clock moves.
    public var containsNowVariable: Bool {
        switch self {
        case .and(let parts), .or(let parts): return parts.contains(where: \.containsNowVariable)
        case .condition(_, _, let value): return Self.mentionsNow(value)
        case .some(_, let inner), .none(_, let inner): return inner.containsNowVariable
        }
    }

    private static func mentionsNow(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s): return s.hasPrefix("$NOW")
        case .array(let items): return items.contains(where: mentionsNow)
        default: return false
        }
    }
}

// MARK: - Evaluation

extension Filter {
    /// The filter with dynamic variables (`$NOW`, `$CURRENT_USER`, …) replaced.
    public func resolvingVariables(_ variables: DynamicVariables) -> Filter {
        switch self {
        case .and(let parts): return .and(parts.map { $0.resolvingVariables(variables) })
        case .or(let parts): return .or(parts.map { $0.resolvingVariables(variables) })
        case .condition(let path, let op, let value):
            return .condition(path: path, op: op, value: variables.resolve(value))
        case .some(let path, let inner): return .some(path: path, inner.resolvingVariables(variables))
        case .none(let path, let inner): return .none(path: path, inner.resolvingVariables(variables))
        }
    }

    /// Evaluates the (resolved) filter on an in-memory row with relations
    /// expanded, selecting exactly the rows its SQL selects (subscriptions).
    /// A condition through an o2m holds when it holds for some element.
    public func matches(_ row: JSONObject) -> Bool { evaluate(row, validating: false) }

    /// Evaluates a validation rule (a permission's or a field's) on a payload as Directus
    /// validates payloads with Joi: a field the payload leaves out passes every condition but
    /// `_submitted`; `_neq` / `_nin` let a null field pass; otherwise like `matches`.
    public func validates(_ payload: JSONObject) -> Bool { evaluate(payload, validating: true) }

    /// The first condition of a validation rule the payload fails (nil when it validates),
    /// for the `FAILED_VALIDATION` error: Directus names the field and the operator.
    public func validationFailure(_ payload: JSONObject) -> (path: [String], op: FilterOperator, value: JSONValue)? {
        switch self {
        case .and(let parts):
            for part in parts { if let failure = part.validationFailure(payload) { return failure } }
            return nil
        case .or(let parts):
            // Holds when one part holds; otherwise the first part's failure is the one named.
            var first: (path: [String], op: FilterOperator, value: JSONValue)?
            for part in parts {
                guard let failure = part.validationFailure(payload) else { return nil }
                if first == nil { first = failure }
            }
            return first ?? ([], ._eq, .null)
        case .condition(let path, let op, let value):
            return evaluate(payload, validating: true) ? nil : (path, op, value)
        case .some(let path, let inner), .none(let path, let inner):
            guard !evaluate(payload, validating: true) else { return nil }
            return inner.referencedPaths.first.map { (path + $0, ._eq, .null) } ?? (path, ._eq, .null)
        }
    }

    private func evaluate(_ row: JSONObject, validating: Bool) -> Bool {
        switch self {
        case .and(let parts): return parts.allSatisfy { $0.evaluate(row, validating: validating) }
        case .or(let parts): return parts.contains { $0.evaluate(row, validating: validating) }
        case .condition(let path, let op, let value):
            if validating, !RowPath.isPresent(path, in: row) { return op != ._submitted }
            return RowPath.values(at: path, in: row).contains { op.evaluate(field: $0, operand: value, validating: validating) }
        case .some(let path, let inner):
            return RowPath.objects(at: path, in: row).contains { inner.evaluate($0, validating: validating) }
        case .none(let path, let inner):
            return !RowPath.objects(at: path, in: row).contains { inner.evaluate($0, validating: validating) }
        }
    }
}
