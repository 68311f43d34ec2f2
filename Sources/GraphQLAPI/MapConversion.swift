import GraphQL
import OrderedCollections
import SwitchboardCore

/// GraphQL's `Map` and our `JSONValue` describe the same JSON values; these
/// convert at the library's boundary (variables in, results out).
extension JSONValue {
    init(_ map: Map) {
        switch map {
        case .undefined, .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n):
            switch n.storageType {
            case .bool: self = .bool(n.boolValue)
            case .int: self = .int(Int64(n.intValue))
            case .double: self = .double(n.doubleValue)
            case .unknown:
                let d = n.doubleValue
                self = d.rounded() == d && abs(d) < 9.0e15 ? .int(Int64(d)) : .double(d)
            }
        case .string(let s): self = .string(s)
        case .array(let items): self = .array(items.map(JSONValue.init))
        case .dictionary(let entries):
            self = .object(JSONObject(entries.compactMap { key, value in value.isUndefined ? nil : (key, JSONValue(value)) }))
        }
    }

    var map: Map {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .number(Number(i))
        case .double(let d): return .number(Number(d))
        case .string(let s): return .string(s)
        case .array(let items): return .array(items.map(\.map))
        case .object(let object):
            var entries = OrderedDictionary<String, Map>()
            for (key, value) in object { entries[key] = value.map }
            return .dictionary(entries)
        }
    }
}
