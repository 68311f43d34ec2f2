import SwitchboardCore

/// One entry of a Directus `sort` list: `"-date_created"`, `"author.name"`.
public struct SortField: Sendable, Hashable {
    /// The field path; more than one segment sorts by an m2o field.
    public var path: [String]
    /// Largest first (and nulls last).
    public var descending: Bool

    /// A sort key; ascending unless `descending`.
    public init(path: [String], descending: Bool = false) {
        self.path = path
        self.descending = descending
    }

    /// Parses one entry; a leading `-` means descending.
    /// The last segment may be a field function: `-year(date_created)`, `author.month(born)`.
    public static func parse(_ text: String) throws(SwitchboardError) -> SortField {
        let descending = text.hasPrefix("-")
        let name = descending ? String(text.dropFirst()) : text
        guard FieldFunction.looksLikeCall(name) else {
            return SortField(path: try QuerySyntax.path(name, parameter: "sort"), descending: descending)
        }
        // A function's argument holds no dot: the call is what follows the last dot before "(".
        let open = name.firstIndex(of: "(") ?? name.endIndex
        let dot = name[..<open].lastIndex(of: ".")
        let call = String(dot.map { name[name.index(after: $0)...] } ?? name[...])
        guard FieldFunction(call) != nil else {
            throw .invalidQuery(
                "Invalid sort: invalid function \"\(call)\" (one of "
                    + FieldFunction.Kind.allCases.map { "\($0.rawValue)()" }.joined(separator: ", ") + ")")
        }
        let prefix = dot.map { try? QuerySyntax.path(String(name[..<$0]), parameter: "sort") } ?? []
        guard let prefix else { throw .invalidQuery("Invalid field \"\(name)\" in sort") }
        return SortField(path: prefix + [call], descending: descending)
    }

    /// Parses a list whose entries may themselves be comma-joined (`["-a,b", "c"]`).
    public static func parse(list: [String]) throws(SwitchboardError) -> [SortField] {
        var result: [SortField] = []
        for entry in list.flatMap(QuerySyntax.commaSeparated) { result.append(try parse(entry)) }
        return result
    }

    /// Whether `a` sorts before `b`. Orders like SQLite: nulls first ascending
    /// (so last descending), then numbers (numerically), then text (bytewise).
    public static func areInIncreasingOrder(_ a: JSONObject, _ b: JSONObject, by fields: [SortField]) -> Bool {
        for field in fields {
            let order = compare(RowPath.value(at: field.path, in: a), RowPath.value(at: field.path, in: b))
            if order != 0 { return field.descending ? order > 0 : order < 0 }
        }
        return false
    }

    private static func compare(_ a: JSONValue, _ b: JSONValue) -> Int {
        let (ra, rb) = (rank(a), rank(b))
        if ra != rb { return ra < rb ? -1 : 1 }
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.string(let x), .string(let y)):
            return x == y ? 0 : (x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1)
        default:
            // Numbers (and booleans, stored as 0/1); arrays and objects count as equal.
            guard let x = ValueComparison.number(a), let y = ValueComparison.number(b) else { return 0 }
            return x < y ? -1 : (x == y ? 0 : 1)
        }
    }

    /// SQLite's storage-class order: NULL < numbers < text < everything else.
    private static func rank(_ value: JSONValue) -> Int {
        switch value {
        case .null: return 0
        case .bool, .int, .double: return 1
        case .string: return 2
        case .array, .object: return 3
        }
    }
}
