import SwitchboardCore

/// Reads values at field paths of in-memory rows, where relational fields have
/// been expanded: an m2o is a nested object, an o2m an array of objects.
enum RowPath {
    /// Every value the path reaches. Intermediate arrays (o2m) fan out, so a path
    /// can reach many values or none (empty o2m); a missing field or a
    /// non-object on the way reads as null.
    static func values(at path: [String], in row: JSONObject) -> [JSONValue] {
        // Most paths are a single plain field; skip the fan-out machinery for them.
        if path.count == 1 { return [read(path[0], in: row)] }
        var out: [JSONValue] = []
        collect(path[...], .object(row), into: &out)
        return out
    }

    /// A field of an object, or a function of one (`year(date)`, `count(comments)`).
    private static func read(_ key: String, in object: JSONObject) -> JSONValue {
        if let value = object[key] { return value }
        guard let function = FieldFunction(key) else { return .null }
        return function.apply(to: object[function.field] ?? .null)
    }

    /// The single value at a path, for sorting: arrays on the way read as null.
    static func value(at path: [String], in row: JSONObject) -> JSONValue {
        var current = JSONValue.object(row)
        for key in path {
            guard case .object(let object) = current else { return .null }
            current = read(key, in: object)
        }
        return current
    }

    /// Whether a payload has a value (null included) at a path: validation skips a field the
    /// payload leaves out, as Joi does, except for `_submitted`. A function (`year(at)`) is
    /// present when its field is; a path that goes on past a non-object stops there.
    static func isPresent(_ path: [String], in row: JSONObject) -> Bool {
        var current = row
        for (index, key) in path.enumerated() {
            guard let value = current[FieldFunction(key)?.field ?? key] else { return false }
            guard index < path.count - 1, case .object(let next) = value else { return true }
            current = next
        }
        return true
    }

    /// The related objects at a path, for `_some`/`_none`: the elements of an
    /// o2m array, or an m2o object itself.
    static func objects(at path: [String], in row: JSONObject) -> [JSONObject] {
        values(at: path, in: row).flatMap { value -> [JSONObject] in
            switch value {
            case .array(let items): return items.compactMap(\.objectValue)
            case .object(let object): return [object]
            default: return []
            }
        }
    }

    private static func collect(_ path: ArraySlice<String>, _ value: JSONValue, into out: inout [JSONValue]) {
        guard let key = path.first else {
            out.append(value)
            return
        }
        switch value {
        case .object(let object): collect(path.dropFirst(), read(key, in: object), into: &out)
        case .array(let items): for item in items { collect(path, item, into: &out) }
        default: out.append(.null)
        }
    }
}
