import Query
import Store
import SwitchboardCore

/// The fields a plain (non-relational) query returns from a change's row, in REST's order:
/// `*` gives the readable columns, then the named fields and field functions (`year(at)`
/// computed from `at`, named `at_year`) the caller may read. Built once per query class,
/// applied to every row of every event.
public struct RowProjection: Sendable {
    private struct Output: Sendable {
        var name: String
        var function: FieldFunction?
    }
    private let outputs: [Output]

    public init(tree: FieldTree, permission: CollectionPermission, collection: CollectionSchema) {
        var names: [String] = []
        if tree.includesAll {
            names = collection.fields.filter { $0.type.hasColumn && permission.allows(field: $0.field) }.map(\.field)
        }
        for name in tree.names where !names.contains(name) {
            // A function is computed from its field's value: the same rules as the field.
            let field = FieldFunction(name)?.field ?? name
            if let f = collection.field(field), f.type.hasColumn, permission.allows(field: field) { names.append(name) }
        }
        outputs = names.map { Output(name: $0, function: FieldFunction($0)) }
    }

    public func apply(_ row: JSONObject) -> JSONObject {
        JSONObject(
            outputs.map { output in
                guard let function = output.function else { return (output.name, row[output.name] ?? .null) }
                return (function.outputName, function.apply(to: row[function.field] ?? .null))
            })
    }
}
