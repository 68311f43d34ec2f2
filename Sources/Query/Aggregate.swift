import SwitchboardCore

/// A Directus aggregate function; the raw value is its name in queries and results.
public enum AggregateFunction: String, Sendable, Hashable, CaseIterable {
    case count, countDistinct, countAll, sum, sumDistinct, avg, avgDistinct, min, max
}

/// One function applied to fields: `{"sum": "price,qty"}` is one request for two fields.
public struct AggregateRequest: Sendable, Hashable {
    public var function: AggregateFunction
    /// Field names; `["*"]` for `count: "*"` and `countAll`.
    public var fields: [String]

    /// A request for `function` over `fields`.
    public init(function: AggregateFunction, fields: [String]) {
        self.function = function
        self.fields = fields
    }

    /// Parses an `aggregate` object: `{"count":"*"}`, `{"count":["id"]}`,
    /// `{"sum":"price,qty"}`. Keys keep their order.
    public static func parse(_ json: JSONValue) throws(SwitchboardError) -> [AggregateRequest] {
        guard case .object(let object) = json else {
            throw .invalidQuery("Invalid aggregate: expected an object, got \(json.kindName)")
        }
        var requests: [AggregateRequest] = []
        for (key, value) in object {
            guard let function = AggregateFunction(rawValue: key) else {
                throw .invalidQuery("Invalid aggregate: unknown function \"\(key)\"")
            }
            if function == .countAll {
                requests.append(AggregateRequest(function: .countAll, fields: ["*"]))
                continue
            }
            let fields = try QuerySyntax.stringList(value, in: "aggregate \"\(key)\"")
            for field in fields where !QuerySyntax.isValidName(field) && !(field == "*" && function == .count) {
                throw .invalidQuery("Invalid aggregate: \"\(field)\" is not a valid field for \"\(key)\"")
            }
            requests.append(AggregateRequest(function: function, fields: fields))
        }
        return requests
    }

    /// Computes aggregates over in-memory rows in Directus's REST shape:
    /// `[{"count": 5}]` for `count: "*"`, `[{"sum": {"price": 12.5}}]` for field
    /// aggregates; with `groupBy`, one object per group (in order of first
    /// appearance) carrying the group fields at top level. `count: "*"` and
    /// `countAll` count rows; the other functions skip nulls; sums and averages
    /// of nothing are null.
    public static func compute(_ requests: [AggregateRequest], groupBy: [String], rows: [JSONObject]) -> [JSONObject] {
        var groups: [(key: [JSONValue], rows: [JSONObject])] = []
        if groupBy.isEmpty {
            groups = [([], rows)]
        } else {
            var index: [[JSONValue]: Int] = [:]
            for row in rows {
                let key = groupBy.map { row[$0] ?? .null }
                if let i = index[key] {
                    groups[i].rows.append(row)
                } else {
                    index[key] = groups.count
                    groups.append((key, [row]))
                }
            }
        }
        return groups.map { group in
            var out = JSONObject()
            for (field, value) in zip(groupBy, group.key) { out[field] = value }
            for request in requests {
                let name = request.function.rawValue
                if request.function == .countAll || (request.function == .count && request.fields.contains("*")) {
                    out[name] = .int(Int64(group.rows.count))
                    continue
                }
                var results = out[name]?.objectValue ?? JSONObject()
                for field in request.fields {
                    results[field] = request.function.apply(to: group.rows.map { $0[field] ?? .null })
                }
                out[name] = .object(results)
            }
            return out
        }
    }
}

extension AggregateFunction {
    /// The function over one column's values (nulls included; they are skipped here).
    fileprivate func apply(to column: [JSONValue]) -> JSONValue {
        let values = column.filter { !$0.isNull }
        switch self {
        case .count, .countAll: return .int(Int64(values.count))
        case .countDistinct: return .int(Int64(Set(values).count))
        case .sum: return Self.sum(values)
        case .sumDistinct: return Self.sum(Self.distinct(values))
        case .avg: return Self.average(values)
        case .avgDistinct: return Self.average(Self.distinct(values))
        case .min: return Self.extreme(values, wantsMin: true)
        case .max: return Self.extreme(values, wantsMin: false)
        }
    }

    private static func distinct(_ values: [JSONValue]) -> [JSONValue] {
        var seen = Set<JSONValue>()
        return values.filter { seen.insert($0).inserted }
    }

    /// Integers stay integers unless a double appears or the total overflows.
    private static func sum(_ values: [JSONValue]) -> JSONValue {
        var intTotal: Int64? = 0
        var total = 0.0
        var count = 0
        for value in values {
            guard let number = numeric(value) else { continue }
            count += 1
            total += number
            if case .int(let i) = value, let sofar = intTotal {
                let (next, overflow) = sofar.addingReportingOverflow(i)
                intTotal = overflow ? nil : next
            } else {
                intTotal = nil
            }
        }
        guard count > 0 else { return .null }
        return intTotal.map(JSONValue.int) ?? .double(total)
    }

    private static func average(_ values: [JSONValue]) -> JSONValue {
        let numbers = values.compactMap(numeric)
        guard !numbers.isEmpty else { return .null }
        return .double(numbers.reduce(0, +) / Double(numbers.count))
    }

    /// Numbers and numeric text, which SQL's SUM/AVG would also count.
    private static func numeric(_ value: JSONValue) -> Double? {
        switch value {
        case .int, .double: return value.doubleValue
        case .string(let s): return Double(s).flatMap { $0.isFinite ? $0 : nil }
        default: return nil
        }
    }

    /// Min/max over the numbers if there are any, else over the strings.
    private static func extreme(_ values: [JSONValue], wantsMin: Bool) -> JSONValue {
        let numbers = values.compactMap { value in value.doubleValue.map { (value, $0) } }
        if let pick = numbers.min(by: { wantsMin ? $0.1 < $1.1 : $0.1 > $1.1 }) { return pick.0 }
        let strings = values.compactMap(\.stringValue)
        let pick = strings.min {
            wantsMin ? $0.utf8.lexicographicallyPrecedes($1.utf8) : $1.utf8.lexicographicallyPrecedes($0.utf8)
        }
        return pick.map(JSONValue.string) ?? .null
    }
}
