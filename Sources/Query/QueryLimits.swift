import SwitchboardCore

/// How many items a read returns, and how big a query may be. Every size
/// limit is checked while parsing, before any work is done, and a query over
/// one is refused with `INVALID_QUERY` naming the limit and its setting, so
/// one request can never cost more than a few milliseconds of parsing.
public struct QueryLimits: Sendable, Equatable {
    /// Items returned when a query sets no limit (`QUERY_LIMIT_DEFAULT`).
    public var defaultLimit: Int
    /// Largest `limit` allowed; `nil` = no maximum (`QUERY_LIMIT_MAX`).
    public var maxLimit: Int?
    /// Conditions (field comparisons) in one filter (`QUERY_MAX_FILTER_CONDITIONS`).
    public var maxFilterConditions: Int
    /// Nesting of `_and` / `_or` / `_some` / `_none` groups in one filter (`QUERY_MAX_FILTER_DEPTH`).
    public var maxFilterDepth: Int
    /// Values in a filter's `_in` / `_nin` / `_between` lists, all together (`QUERY_MAX_FILTER_VALUES`).
    public var maxFilterValues: Int
    /// Entries in each of `fields`, `groupBy` and `aggregate` (`QUERY_MAX_FIELDS`).
    public var maxFields: Int
    /// Keys in `sort` (`QUERY_MAX_SORT`).
    public var maxSort: Int
    /// Segments of a field path (`author.team.name`) in fields, filters, sort and deep (`MAX_RELATIONAL_DEPTH`, as Directus).
    public var maxRelationalDepth: Int
    /// Nested queries in `deep`, at every level together (`QUERY_MAX_DEEP`).
    public var maxDeep: Int
    /// Name/value pairs in a URL's query string (`QUERY_MAX_PARAMETERS`).
    public var maxParameters: Int
    /// Bracket segments in one URL parameter name: `filter[a][_eq]` has 2 (`QUERY_MAX_PARAMETER_DEPTH`).
    public var maxParameterDepth: Int

    /// The rows (or groups) a read with `limit` returns at most; nil: all of them.
    public func effectiveLimit(_ requested: Int?) -> Int? {
        let limit = requested ?? defaultLimit
        if limit < 0 { return maxLimit }
        if let max = maxLimit { return min(limit, max) }
        return limit
    }

    public init(
        defaultLimit: Int = 100, maxLimit: Int? = nil, maxFilterConditions: Int = 1000, maxFilterDepth: Int = 16,
        maxFilterValues: Int = 10_000, maxFields: Int = 1000, maxSort: Int = 32, maxRelationalDepth: Int = 10,
        maxDeep: Int = 100, maxParameters: Int = 1000, maxParameterDepth: Int = 64
    ) {
        self.defaultLimit = defaultLimit
        self.maxLimit = maxLimit
        self.maxFilterConditions = maxFilterConditions
        self.maxFilterDepth = maxFilterDepth
        self.maxFilterValues = maxFilterValues
        self.maxFields = maxFields
        self.maxSort = maxSort
        self.maxRelationalDepth = maxRelationalDepth
        self.maxDeep = maxDeep
        self.maxParameters = maxParameters
        self.maxParameterDepth = maxParameterDepth
    }

    /// The error for a query over one of the limits.
    static func exceeded(_ what: String, _ limit: Int, _ setting: String) -> SwitchboardError {
        .invalidQuery("Query too large: \(what) (limit \(limit), \(setting))")
    }

    /// Checks a filter's conditions, values, group nesting and path depth.
    func check(_ filter: Filter) throws(SwitchboardError) {
        var conditions = 0
        var values = 0
        try check(filter, depth: 0, conditions: &conditions, values: &values)
    }

    private func check(_ filter: Filter, depth: Int, conditions: inout Int, values: inout Int) throws(SwitchboardError) {
        func path(_ p: [String]) throws(SwitchboardError) {
            if p.count > maxRelationalDepth {
                throw Self.exceeded(
                    "filter path \"\(p.joined(separator: "."))\" is \(p.count) levels deep", maxRelationalDepth,
                    "MAX_RELATIONAL_DEPTH")
            }
        }
        func group(_ parts: [Filter]) throws(SwitchboardError) {
            if depth + 1 > maxFilterDepth {
                throw Self.exceeded("filter groups nest deeper than \(maxFilterDepth)", maxFilterDepth, "QUERY_MAX_FILTER_DEPTH")
            }
            for part in parts { try check(part, depth: depth + 1, conditions: &conditions, values: &values) }
        }
        switch filter {
        case .and(let parts), .or(let parts):
            try group(parts)
        case .some(let p, let inner), .none(let p, let inner):
            try path(p)
            try group([inner])
        case .condition(let p, _, let value):
            try path(p)
            conditions += 1
            if conditions > maxFilterConditions {
                throw Self.exceeded(
                    "the filter has more than \(maxFilterConditions) conditions", maxFilterConditions,
                    "QUERY_MAX_FILTER_CONDITIONS")
            }
            if case .array(let items) = value {
                values += items.count
                if values > maxFilterValues {
                    throw Self.exceeded(
                        "the filter's lists hold more than \(maxFilterValues) values", maxFilterValues,
                        "QUERY_MAX_FILTER_VALUES")
                }
            }
        }
    }

    /// Checks the length of a list parameter and the depth of its paths.
    func check(list: [String], _ parameter: String, limit: Int, setting: String) throws(SwitchboardError) {
        if list.count > limit {
            throw Self.exceeded("\"\(parameter)\" has \(list.count) entries", limit, setting)
        }
        for entry in list {
            var segments = 1
            for c in entry.utf8 where c == UInt8(ascii: ".") { segments += 1 }
            if segments > maxRelationalDepth {
                throw Self.exceeded(
                    "\"\(parameter)\" entry \"\(entry)\" is \(segments) levels deep", maxRelationalDepth, "MAX_RELATIONAL_DEPTH")
            }
        }
    }
}
