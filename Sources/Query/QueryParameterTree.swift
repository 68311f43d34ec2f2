import SwitchboardCore

/// Turns decoded URL query pairs into a JSON tree the way Directus's `qs`
/// parser does: `filter[status][_eq]=x` nests objects, `fields[]=a` appends,
/// a repeated plain name collects an array, and an object whose keys are all
/// indices (`filter[_and][0]…`) becomes an array in index order. Leaves stay
/// strings; the query parsers convert them.
public enum QueryParameterTree {
    /// The parameters as one object, top-level names in order of first appearance.
    public static func build(_ items: [(name: String, value: String)]) -> JSONObject {
        var root = JSONValue.object(JSONObject())
        for (name, value) in items {
            root = insert(value, at: segments(of: name)[...], into: root)
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

    private static func insert(_ value: String, at path: ArraySlice<String>, into node: JSONValue?) -> JSONValue {
        guard let key = path.first else {
            switch node {
            case nil: return .string(value)
            case .array(let items)?: return .array(items + [.string(value)])
            case let existing?: return .array([existing, .string(value)])
            }
        }
        let rest = path.dropFirst()
        if key.isEmpty {
            var items = node?.arrayValue ?? node.map { [$0] } ?? []
            items.append(insert(value, at: rest, into: nil))
            return .array(items)
        }
        // A later bracketed name overrides a plain value of the same name.
        var object = node?.objectValue ?? JSONObject()
        object[key] = insert(value, at: rest, into: object[key])
        return .object(object)
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
}
