import Query
import SwitchboardCore

/// The fields a plain (non-relational) query returns from a change's row, in REST's order:
/// `*` gives the readable columns, then the named fields and field functions (`year(at)`
/// computed from `at`, named `at_year`) the caller may read. Built once per query class,
/// applied to every row of every event.
///
/// A field granted only by some of the caller's policies (`CollectionPermission.cases`)
/// reads as null on rows none of those policies' filters admit, as the SQL read returns it.
public struct RowProjection: Sendable {
    private struct Output: Sendable {
        var name: String
        var function: FieldFunction?
        /// Rows on which the value may be shown; nil: every row.
        var condition: Filter?
    }
    private let outputs: [Output]
    /// The unaliased top-level fields the projection reads (what a read "requests").
    public let requestedFields: Set<String>

    /// `variables` resolve the conditions' `$CURRENT_*`/`$NOW`; `schema` types their values as their fields.
    public init(
        tree: FieldTree, permission: CollectionPermission, collection: CollectionSchema, schema: Schema,
        variables: DynamicVariables? = nil
    ) {
        var names: [String] = []
        if tree.includesAll {
            names = collection.fields.filter { $0.type.hasColumn && permission.allows(field: $0.field) }.map(\.field)
        }
        for name in tree.names where !names.contains(name) {
            // A function is computed from its field's value: the same rules as the field.
            let field = FieldFunction(name)?.field ?? name
            if let f = collection.field(field), f.type.hasColumn, permission.allows(field: field) { names.append(name) }
        }
        outputs = names.map { name in
            let function = FieldFunction(name)
            let condition = permission.condition(for: function?.field ?? name)
            let resolved = variables.flatMap { condition?.resolvingVariables($0) } ?? condition
            return Output(
                name: name, function: function, condition: resolved?.typedOperands(on: collection.name, in: schema))
        }
        requestedFields = Set(names.map { FieldFunction($0)?.field ?? $0 })
    }

    public func apply(_ row: JSONObject) -> JSONObject {
        JSONObject(
            outputs.map { output in
                let shown = output.condition?.matches(row) ?? true
                guard let function = output.function else { return (output.name, shown ? row[output.name] ?? .null : .null) }
                return (function.outputName, shown ? function.apply(to: row[function.field] ?? .null) : .null)
            })
    }
}
