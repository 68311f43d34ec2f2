import SwitchboardCore

/// The query of an items read: Directus's `fields`, `filter`, `sort`, `limit`,
/// `offset`, `page`, `search`, `aggregate`, `groupBy`, `deep` and `meta`,
/// parsed from a realtime/SDK JSON object or from URL query parameters.
public struct ItemQuery: Sendable, Hashable {
    /// The requested field paths, comma-joined entries split; nil = default (`*`).
    public var fields: [String]?
    /// The filter as parsed; dynamic variables are still unresolved.
    public var filter: Filter?
    /// Sort keys, most significant first.
    public var sort: [SortField] = []
    /// Maximum number of items; -1 = all, nil = the caller's default.
    public var limit: Int?
    /// Number of items to skip.
    public var offset: Int?
    /// 1-based page of `limit` items; takes precedence over `offset`.
    public var page: Int?
    /// Full-text search term (applied by the Store, which knows the field types).
    public var search: String?
    /// Aggregates to compute instead of returning items.
    public var aggregate: [AggregateRequest] = []
    /// Fields to group aggregates by.
    public var groupBy: [String] = []
    /// Queries for nested relational fields, keyed by field name.
    public var deep: [String: ItemQuery] = [:]
    /// Counts requested in the response's `meta`.
    public var meta: Set<MetaField> = []

    /// An empty query: all fields, no filter, default limit.
    public init() {}

    /// Parses the `query` object of a realtime subscription or SDK request.
    /// Values may be in JSON form or in the string forms URLs use (comma-joined
    /// lists, JSON text for `filter`/`deep`/`aggregate`, numeric strings).
    /// `alias`, `backlink` and `version` are ignored; other unknown keys throw,
    /// and so does a query over one of `limits`' sizes.
    public static func parse(json: JSONObject, limits: QueryLimits = QueryLimits()) throws(SwitchboardError) -> ItemQuery {
        var query = ItemQuery()
        var deepCount = 0
        for (key, value) in json {
            if let parameter = Parameter(rawValue: key) {
                try query.set(parameter, value, limits: limits, deepCount: &deepCount)
            } else if !["alias", "backlink", "version"].contains(key) {
                throw .invalidQuery("Unknown query parameter \"\(key)\"")
            }
        }
        return query
    }

    /// Parses decoded URL query pairs, including bracket notation
    /// (`filter[status][_eq]=published`, `deep[comments][_limit]=3`,
    /// `fields[]=a`). Unknown names (`access_token`, …) are ignored, as Directus does.
    public static func parse(queryItems: [(name: String, value: String)], limits: QueryLimits = QueryLimits())
        throws(SwitchboardError) -> ItemQuery
    {
        var query = ItemQuery()
        var deepCount = 0
        for (key, value) in try QueryParameterTree.build(queryItems, limits: limits) {
            if let parameter = Parameter(rawValue: key) { try query.set(parameter, value, limits: limits, deepCount: &deepCount) }
        }
        return query
    }

    /// Applies the query to a few in-memory rows (realtime events): the filter,
    /// whose variables must already be resolved, then sort, offset/page and
    /// limit. `search`, `fields` and `deep` are left to the caller.
    public func applyInMemory(_ rows: [JSONObject]) -> [JSONObject] {
        var result = filter.map { filter in rows.filter(filter.matches) } ?? rows
        // Swift's sort is stable, so ties keep their incoming order.
        if !sort.isEmpty { result.sort { SortField.areInIncreasingOrder($0, $1, by: sort) } }
        let start: Int
        if let page, let limit, limit > 0 {
            start = (page - 1) * limit
        } else {
            start = offset ?? 0
        }
        guard start < result.count else { return [] }
        let end = limit.flatMap { $0 >= 0 ? Swift.min(result.count, start + $0) : nil } ?? result.count
        return Array(result[start..<end])
    }

    private enum Parameter: String {
        case fields, filter, sort, limit, offset, page, search, aggregate, groupBy, deep, meta
    }

    /// Sets one parameter from its JSON or string form; null means absent.
    private mutating func set(_ parameter: Parameter, _ value: JSONValue, limits: QueryLimits, deepCount: inout Int)
        throws(SwitchboardError)
    {
        if value.isNull { return }
        let name = parameter.rawValue
        let context = "query parameter \"\(name)\""
        switch parameter {
        case .fields:
            let list = try QuerySyntax.stringList(value, in: context)
            try limits.check(list: list, "fields", limit: limits.maxFields, setting: "QUERY_MAX_FIELDS")
            _ = try FieldTree.parse(list)  // validate now, so the error reaches the client at parse time
            fields = list
        case .filter:
            let parsed = try Filter.parse(Self.json(value, name))
            try limits.check(parsed)
            filter = parsed
        case .sort:
            let list = try QuerySyntax.stringList(value, in: context)
            try limits.check(list: list, "sort", limit: limits.maxSort, setting: "QUERY_MAX_SORT")
            sort = try SortField.parse(list: list)
        case .limit: limit = try Self.integer(value, name, minimum: -1)
        case .offset: offset = try Self.integer(value, name, minimum: 0)
        case .page: page = try Self.integer(value, name, minimum: 1)
        case .search:
            guard case .string(let text) = value else {
                throw .invalidQuery("Invalid query parameter \"search\": expected a string, got \(value.kindName)")
            }
            search = text
        case .aggregate:
            aggregate = try AggregateRequest.parse(Self.json(value, name))
            let entries = aggregate.reduce(0) { $0 + $1.fields.count }
            if entries > limits.maxFields {
                throw QueryLimits.exceeded("\"aggregate\" has \(entries) entries", limits.maxFields, "QUERY_MAX_FIELDS")
            }
        case .groupBy:
            groupBy = try QuerySyntax.stringList(value, in: context)
            try limits.check(list: groupBy, "groupBy", limit: limits.maxFields, setting: "QUERY_MAX_FIELDS")
            for field in groupBy where !QuerySyntax.isValidName(field) && FieldFunction(field) == nil {
                throw .invalidQuery("Invalid query parameter \"groupBy\": \"\(field)\" is not a valid field")
            }
        case .deep: deep = try Self.deep(Self.json(value, name), at: "deep", level: 1, limits: limits, count: &deepCount)
        case .meta:
            meta = []
            for entry in try QuerySyntax.stringList(value, in: context) {
                if entry == "*" {
                    meta.formUnion(MetaField.allCases)
                } else if let field = MetaField(rawValue: entry) {
                    meta.insert(field)
                } else {
                    throw .invalidQuery("Invalid query parameter \"meta\": unknown value \"\(entry)\"")
                }
            }
        }
    }

    /// Structured parameters arrive as JSON values or, from URLs and some SDK
    /// calls, as JSON text.
    private static func json(_ value: JSONValue, _ name: String) throws(SwitchboardError) -> JSONValue {
        guard case .string(let text) = value else { return value }
        do {
            return try JSONValue(parsing: text)
        } catch {
            throw .invalidQuery("Invalid JSON in \(name): \(error.reason)")
        }
    }

    private static func integer(_ value: JSONValue, _ name: String, minimum: Int) throws(SwitchboardError) -> Int {
        let number: Int64?
        switch value {
        case .string(let text): number = Int64(QuerySyntax.trimmed(text[...]))
        default: number = value.intValue
        }
        // The upper bound keeps `(page - 1) * limit` far from overflow.
        guard let number, number >= minimum, number <= Int64(Int32.max) else {
            throw .invalidQuery("Invalid query parameter \"\(name)\": expected an integer ≥ \(minimum)")
        }
        return Int(number)
    }

    /// Parses a `deep` object: `{"comments": {"_filter": …, "_limit": 5, "user": {…}}}`.
    /// Underscored keys are the nested query's parameters; other keys nest further.
    private static func deep(
        _ value: JSONValue, at location: String, level: Int, limits: QueryLimits, count: inout Int
    ) throws(SwitchboardError) -> [String: ItemQuery] {
        guard case .object(let object) = value else {
            throw .invalidQuery("Invalid \(location): expected an object, got \(value.kindName)")
        }
        if level > limits.maxRelationalDepth {
            throw QueryLimits.exceeded(
                "\(location) nests deeper than \(limits.maxRelationalDepth) levels", limits.maxRelationalDepth,
                "MAX_RELATIONAL_DEPTH")
        }
        var result: [String: ItemQuery] = [:]
        for (field, spec) in object {
            count += 1
            if count > limits.maxDeep {
                throw QueryLimits.exceeded("\"deep\" holds more than \(limits.maxDeep) queries", limits.maxDeep, "QUERY_MAX_DEEP")
            }
            let here = location + "." + field
            guard QuerySyntax.isValidName(field), case .object(let entries) = spec else {
                throw .invalidQuery("Invalid \(here): expected a relational field with an object of parameters")
            }
            var query = ItemQuery()
            var nested = JSONObject()
            for (key, parameterValue) in entries {
                guard key.hasPrefix("_") else {
                    nested[key] = parameterValue
                    continue
                }
                guard let parameter = Parameter(rawValue: String(key.dropFirst())), parameter != .deep,
                    parameter != .meta
                else { throw .invalidQuery("Invalid \(here): unknown parameter \"\(key)\"") }
                try query.set(parameter, parameterValue, limits: limits, deepCount: &count)
            }
            if !nested.isEmpty {
                query.deep = try deep(.object(nested), at: here, level: level + 1, limits: limits, count: &count)
            }
            result[field] = query
        }
        return result
    }
}
