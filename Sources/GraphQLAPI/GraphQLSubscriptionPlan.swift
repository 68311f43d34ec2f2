import Query
import Store
import SwitchboardCore

/// What one graphql-transport-ws `subscribe` asks for, worked out from the
/// document alone: the collection, the event filter, the item query whose
/// rows feed `data`, and how to shape each `next` payload. Equal plans (same
/// collection, event, query and selection) render equal payloads for equal rows,
/// so subscribers with equal plans can share one rendering.
public struct GraphQLSubscriptionPlan: Sendable, Hashable {
    /// The collection whose changes are delivered.
    public let collection: String
    /// The `event` argument; `nil` delivers every event.
    public let event: ChangeEvent.Action?
    /// `fields`: the Directus field paths the `data` selection needs (m2o as
    /// `author.name`); `filter`: the `filter` argument (REST filter language); `deep`
    /// from relational fields' arguments.
    public let query: ItemQuery
    /// The root field's key in the payload: its alias, else `<collection>_mutated`.
    public let responseKey: String
    let selection: [SelectedField]
    let shape: GraphShape

    public static func == (lhs: GraphQLSubscriptionPlan, rhs: GraphQLSubscriptionPlan) -> Bool {
        lhs.collection == rhs.collection && lhs.event == rhs.event && lhs.query == rhs.query
            && lhs.responseKey == rhs.responseKey && lhs.selection == rhs.selection
    }

    // The shape only says how the selected fields render, which the data schema fixes.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(collection)
        hasher.combine(event)
        hasher.combine(query)
        hasher.combine(responseKey)
        hasher.combine(selection)
    }

    /// The `next` payload for one changed key: `{"data": {<responseKey>: {key, event, data}}}`
    /// with the document's aliases, `__typename`s and nested selections. `item` is the row
    /// as the REST socket renders it for `query`; `nil` (a delete, or a row the caller
    /// can no longer read) gives `data: null`.
    public func payload(event: ChangeEvent.Action, key: JSONValue, item: JSONObject?) -> JSONValue {
        var mutated = JSONObject()
        for field in selection {
            switch field.name {
            case "__typename": mutated[field.responseKey] = .string(collection + "_mutated")
            case "key": mutated[field.responseKey] = FieldScalar.id.render(key)
            case "event": mutated[field.responseKey] = .string(event.rawValue)
            case "data":
                mutated[field.responseKey] =
                    item.flatMap { row in
                        shape.collections[collection].map { render(row, field.selections, $0) }
                    } ?? .null
            default: continue
            }
        }
        return ["data": [responseKey: .object(mutated)]]
    }

    private func render(_ row: JSONObject, _ selection: [SelectedField], _ collection: CollectionShape) -> JSONValue {
        var out = JSONObject()
        for selected in selection {
            if selected.name == "__typename" {
                out[selected.responseKey] = .string(collection.name)
                continue
            }
            if let (field, family) = collection.function(selected.name) {
                out[selected.responseKey] = functions(of: field.name, family, in: row, selected.selections)
                continue
            }
            guard let field = collection.field(selected.name) else { continue }
            let value = row[selected.name] ?? .null
            switch field.kind {
            case .scalar(let scalar):
                out[selected.responseKey] = scalar.render(value)
            case .manyToOne(let related):
                guard case .object(let nested) = value, let target = shape.collections[related] else {
                    out[selected.responseKey] = .null
                    continue
                }
                out[selected.responseKey] = render(nested, selected.selections, target)
            case .oneToMany(let related):
                guard case .array(let items) = value, let target = shape.collections[related] else {
                    out[selected.responseKey] = .null
                    continue
                }
                out[selected.responseKey] = .array(
                    items.compactMap(\.objectValue).map { render($0, selected.selections, target) })
            }
        }
        return .object(out)
    }

    /// `<field>_func { year }`: the row's `<field>_year` (the REST name of `year(<field>)`) as `year`.
    private func functions(of field: String, _ family: FunctionFamily, in row: JSONObject, _ selection: [SelectedField])
        -> JSONValue
    {
        var out = JSONObject()
        for selected in selection {
            if selected.name == "__typename" {
                out[selected.responseKey] = .string(family.typeName)
            } else if let kind = FieldFunction.Kind(rawValue: selected.name) {
                out[selected.responseKey] = FieldScalar.int.render(
                    row[FieldFunction(kind: kind, field: field).outputName] ?? .null)
            }
        }
        return .object(out)
    }
}
