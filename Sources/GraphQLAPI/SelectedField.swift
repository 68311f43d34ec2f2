import GraphQL
import Query
import SwitchboardCore

/// One field a selection asks for, with fragments spread, aliases kept,
/// `@skip`/`@include` applied and argument values resolved against the variables.
/// Fields with the same response key are merged, as GraphQL execution merges them.
struct SelectedField: Sendable, Hashable {
    /// The alias, else the field's name: the key of this field in the response.
    let responseKey: String
    let name: String
    let arguments: JSONObject
    let selections: [SelectedField]
}

/// Reads selection sets into `SelectedField`s. Works on validated documents, so
/// fragments exist, type conditions hold (every type here is an object type) and
/// fields with one response key agree on name and arguments.
struct SelectionReader {
    let fragments: [String: FragmentDefinition]
    let variables: [String: Map]

    private struct Group {
        var name: String
        var arguments: [Argument]
        var sets: [SelectionSet]
    }

    func read(_ sets: [SelectionSet]) throws -> [SelectedField] {
        var order: [String] = []
        var groups: [String: Group] = [:]
        for set in sets { try collect(set, &order, &groups, spreading: []) }
        return try order.compactMap { key in
            guard let group = groups[key] else { return nil }
            return SelectedField(
                responseKey: key, name: group.name, arguments: try arguments(group.arguments),
                selections: try read(group.sets))
        }
    }

    func arguments(_ arguments: [Argument]) throws -> JSONObject {
        var out = JSONObject()
        for argument in arguments {
            let value = try valueFromASTUntyped(valueAST: argument.value, variables: variables)
            if !value.isUndefined { out[argument.name.value] = JSONValue(value) }
        }
        return out
    }

    private func collect(
        _ set: SelectionSet, _ order: inout [String], _ groups: inout [String: Group], spreading: Set<String>
    ) throws {
        for selection in set.selections {
            switch selection {
            case let field as Field:
                guard try isIncluded(field.directives) else { continue }
                let key = field.alias?.value ?? field.name.value
                var group = groups[key] ?? Group(name: field.name.value, arguments: field.arguments, sets: [])
                if groups[key] == nil { order.append(key) }
                if let sub = field.selectionSet { group.sets.append(sub) }
                groups[key] = group
            case let spread as FragmentSpread:
                let name = spread.name.value
                // Validation refuses fragment cycles; the guard keeps an unvalidated document from recursing forever.
                guard try isIncluded(spread.directives), !spreading.contains(name), let fragment = fragments[name] else {
                    continue
                }
                try collect(fragment.selectionSet, &order, &groups, spreading: spreading.union([name]))
            case let inline as InlineFragment:
                guard try isIncluded(inline.directives) else { continue }
                try collect(inline.selectionSet, &order, &groups, spreading: spreading)
            default:
                continue
            }
        }
    }

    private func isIncluded(_ directives: [Directive]) throws -> Bool {
        for directive in directives {
            let name = directive.name.value
            guard name == "skip" || name == "include",
                let condition = directive.arguments.first(where: { $0.name.value == "if" })
            else { continue }
            guard case .bool(let flag) = try valueFromASTUntyped(valueAST: condition.value, variables: variables) else {
                continue
            }
            if name == "skip" && flag { return false }
            if name == "include" && !flag { return false }
        }
        return true
    }
}

extension CollectionShape {
    /// What to read when a selection names no field (only `__typename`): the
    /// primary key, or the first readable field when the key is not readable.
    var fallbackField: String { field(primaryKey) != nil ? primaryKey : fields.first?.name ?? primaryKey }
}

/// Turns a selection on a collection's type into the REST query that reads it:
/// Directus field paths (`author.name`, `year(date_created)` for `date_created_func { year }`)
/// and `deep` entries from relational fields' arguments, so the read goes through the same
/// Store code as `/items`.
struct ItemQueryBuilder {
    let shape: GraphShape

    /// The query object (`fields`, `deep` and the given list arguments) for `selection` on `collection`.
    func query(_ selection: [SelectedField], on collection: CollectionShape, arguments: JSONObject) throws(SwitchboardError)
        -> JSONObject
    {
        let (fields, deep) = try fieldsAndDeep(selection, on: collection)
        var query = JSONObject()
        for name in ["filter", "sort", "limit", "offset", "page", "search"] {
            if let value = arguments[name], !value.isNull { query[name] = value }
        }
        if let filter = query["filter"] { query["filter"] = restFilter(filter, on: collection) }
        query["fields"] = .array((fields.isEmpty ? [collection.fallbackField] : fields).map(JSONValue.string))
        if !deep.isEmpty { query["deep"] = .object(deep) }
        return query
    }

    func fieldsAndDeep(_ selection: [SelectedField], on collection: CollectionShape) throws(SwitchboardError) -> (
        [String], JSONObject
    ) {
        // One relational field selected under several aliases is read once, so it must ask for one thing.
        var byName: [String: [SelectedField]] = [:]
        var order: [String] = []
        for field in selection where field.name != "__typename" {
            if byName[field.name] == nil { order.append(field.name) }
            byName[field.name, default: []].append(field)
        }
        var fields: [String] = []
        var deep = JSONObject()
        for name in order {
            if let (field, _) = collection.function(name) {
                // `at_func { year month }` on its aliases reads `year(at)`, `month(at)` once each.
                for selection in byName[name] ?? [] {
                    for kind in selection.selections.compactMap({ FieldFunction.Kind(rawValue: $0.name) }) {
                        let path = FieldFunction(kind: kind, field: field.name).key
                        if !fields.contains(path) { fields.append(path) }
                    }
                }
                continue
            }
            guard let selected = byName[name], let first = selected.first, let field = collection.field(name) else {
                continue
            }
            guard let related = field.related, let target = shape.collections[related] else {
                fields.append(name)
                continue
            }
            if selected.contains(where: { $0.arguments != first.arguments }) {
                throw .invalidQuery(
                    "\"\(name)\" is selected more than once with different arguments; select it once (aliases of one relation share its arguments)."
                )
            }
            let (nested, nestedDeep) = try fieldsAndDeep(selected.flatMap(\.selections), on: target)
            fields += (nested.isEmpty ? [target.fallbackField] : nested).map { name + "." + $0 }
            var entry = JSONObject()
            for (key, value) in first.arguments where !value.isNull {
                entry["_" + key] = key == "filter" ? restFilter(value, on: target) : value
            }
            for (key, value) in nestedDeep { entry[key] = value }
            if !entry.isEmpty { deep[name] = .object(entry) }
        }
        return (fields, deep)
    }

    /// A `<collection>_filter` value as the REST filter: `at_func: {year: {_eq: 2026}}` becomes
    /// `"year(at)": {_eq: 2026}` (as Directus's `replaceFuncs`), at every level, through
    /// relational fields into their collections' filters.
    func restFilter(_ value: JSONValue, on collection: CollectionShape) -> JSONValue {
        switch value {
        case .array(let items): return .array(items.map { restFilter($0, on: collection) })
        case .object(let object):
            var out = JSONObject()
            for (key, inner) in object {
                if let (field, _) = collection.function(key), case .object(let functions) = inner {
                    for (kind, operators) in functions { out[kind + "(" + field.name + ")"] = operators }
                } else if let related = collection.field(key)?.related, let target = shape.collections[related] {
                    out[key] = restFilter(inner, on: target)
                } else if key.hasPrefix("_") {
                    // `_and`, `_or`, and an o2m's `_some` / `_none`, on this collection.
                    out[key] = restFilter(inner, on: collection)
                } else {
                    out[key] = inner
                }
            }
            return .object(out)
        default: return value
        }
    }
}
