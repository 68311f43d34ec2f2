import SwitchboardCore

/// Turns a URL's query string into a JSON tree the way Directus's `qs`
/// parser does: `filter[status][_eq]=x` nests objects, `fields[]=a` appends,
/// a repeated plain name collects an array, and an object whose keys are all
/// indices (`filter[_and][0]…`) becomes an array in index order. Leaves stay
/// strings; the query parsers convert them. Building is linear in the input.
public enum QueryParameterTree {
    /// `a=1&b=x+y&c=%41`: pairs in order, `+` and percent-escapes decoded in names and values.
    public static func pairs(_ queryString: Substring) -> [(name: String, value: String)] {
        guard !queryString.isEmpty else { return [] }
        return queryString.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            return (name, value)
        }
    }

    /// The parameters as one object, top-level names in order of first appearance.
    /// More than `limits.maxParameters` pairs, or a name with more than
    /// `limits.maxParameterDepth` brackets, is refused before anything is built.
    public static func build(_ items: [(name: String, value: String)], limits: QueryLimits = QueryLimits())
        throws(SwitchboardError) -> JSONObject
    {
        if items.count > limits.maxParameters {
            throw QueryLimits.exceeded(
                "the URL has \(items.count) query parameters", limits.maxParameters, "QUERY_MAX_PARAMETERS")
        }
        var root = JSONValue.object(JSONObject())
        for (name, value) in items {
            let path = segments(of: name)
            if path.count - 1 > limits.maxParameterDepth {
                throw QueryLimits.exceeded(
                    "parameter \"\(path[0])\" has \(path.count - 1) bracket levels", limits.maxParameterDepth,
                    "QUERY_MAX_PARAMETER_DEPTH")
            }
            insert(value, at: path[...], into: &root)
        }
        guard case .object(let object) = indexedObjectsAsArrays(root) else { return JSONObject() }
        return object
    }

    /// `a[b][]` → `["a", "b", ""]`; a name with unbalanced brackets is taken literally.
    private static func segments(of name: String) -> [String] {
        guard let open = name.firstIndex(of: "["), open != name.startIndex else { return [name] }
        var segments = [String(name[..<open])]
        var rest = name[open...]
        while rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else { return [name] }
            segments.append(String(rest[rest.index(after: rest.startIndex)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return rest.isEmpty ? segments : [name]
    }

    /// Inserts in place: each container is taken out of its parent while it
    /// changes, so it is uniquely referenced and never copied.
    private static func insert(_ value: String, at path: ArraySlice<String>, into node: inout JSONValue) {
        guard let key = path.first else {
            switch node {
            case .null: node = .string(value)
            case .array(var items):
                node = .null
                items.append(.string(value))
                node = .array(items)
            default: node = .array([node, .string(value)])
            }
            return
        }
        let rest = path.dropFirst()
        if key.isEmpty {
            var items: [JSONValue]
            switch node {
            case .null: items = []
            case .array(let a): items = a
            default: items = [node]
            }
            node = .null
            var child = JSONValue.null
            insert(value, at: rest, into: &child)
            items.append(child)
            node = .array(items)
            return
        }
        // A later bracketed name overrides a plain value of the same name.
        var object = node.objectValue ?? JSONObject()
        node = .null
        object.modifyValue(forKey: key) { child in insert(value, at: rest, into: &child) }
        node = .object(object)
    }

    private static func indexedObjectsAsArrays(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items):
            return .array(items.map(indexedObjectsAsArrays))
        case .object(let object):
            let indexed = object.entries.compactMap { entry in
                entry.key.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? Int(entry.key).map { ($0, entry.value) } : nil
            }
            if !object.isEmpty, indexed.count == object.count {
                return .array(indexed.sorted { $0.0 < $1.0 }.map { indexedObjectsAsArrays($0.1) })
            }
            return .object(JSONObject(object.entries.map { ($0.key, indexedObjectsAsArrays($0.value)) }))
        default:
            return value
        }
    }

    private static func decode(_ s: Substring) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else if c == UInt8(ascii: "%"), it.count >= 2, let h = hex(it[it.startIndex]), let l = hex(it[it.startIndex + 1]) {
                bytes.append(h << 4 | l)
                it = it.dropFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 65...70: return c - 55
        case 97...102: return c - 87
        default: return nil
        }
    }
}
