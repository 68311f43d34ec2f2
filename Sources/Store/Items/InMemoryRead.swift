import Query
import SwitchboardCore

/// What a query class is shown of a change's rows when fan-out answers without the database:
/// the rows the query's filter and the read permission's row filter (for the fields it
/// requests, `CollectionPermission.rowFilter`) admit, each with the fields it may read there
/// (`RowProjection`). Built once per event and class; the property tests hold it against the
/// SQL read (`Store.readItems`) of the same rows.
public struct InMemoryRead: Sendable {
    /// The query's filter AND the row filter, variables resolved; nil: every row.
    public let rule: Filter?
    public let projection: RowProjection

    public init(
        query: ItemQuery, tree: FieldTree, permission: CollectionPermission, collection: CollectionSchema,
        schema: Schema, variables: DynamicVariables
    ) {
        rule = Filter.conjunction([query.filter, permission.rowFilter(fields: query.fields, in: collection)])?
            .resolvingVariables(variables).typedOperands(on: collection.name, in: schema)
        projection = RowProjection(
            tree: tree, permission: permission, collection: collection, schema: schema, variables: variables)
    }

    /// Whether the class is shown `row` (a post-image; relations expanded where the rule reads them).
    public func admits(_ row: JSONObject) -> Bool { rule?.matches(row) ?? true }
}

extension InMemoryRead {
    /// Whether an `InMemoryRead` answers `query` from a change's rows alone: true unless
    /// evaluating or shaping it needs related rows (a filter or permission through a relation or
    /// an o2m, nested fields, a readable o2m alias, `deep`, a sort counting another collection's
    /// rows), which a change's rows do not carry.
    public static func suffices(
        for query: ItemQuery, tree: FieldTree, permission: CollectionPermission, collection: CollectionSchema,
        schema: Schema
    ) -> Bool {
        if !query.deep.isEmpty || sortsByRelatedCount(query.sort, of: collection.name, in: schema) { return false }
        for filter in [query.filter].compactMap({ $0 }) + permission.allFilters
        where filter.referencedPaths.contains(where: { $0.count > 1 || schema.oneToMany(collection.name, $0[0]) != nil }) {
            return false
        }
        if !tree.nested.isEmpty || tree.allNested != nil { return false }
        let names = tree.includesAll ? collection.fields.map(\.field) + tree.names : tree.names
        return !names.contains { name in
            // `count(comments)` counts rows of another collection.
            let field = FieldFunction(name)?.field ?? name
            return schema.oneToMany(collection.name, field) != nil && permission.allows(field: field)
        }
    }

    /// Whether a sort key counts an o2m's rows (`count(comments)`, `author.count(posts)`): a
    /// change's rows carry no such count, so their order is read with them.
    public static func sortsByRelatedCount(_ sort: [SortField], of collection: String, in schema: Schema) -> Bool {
        sort.contains { key in
            var current = collection
            for name in key.path.dropLast() {
                guard let relation = schema.manyToOne(current, name) else { return false }
                current = relation.oneCollection
            }
            guard let last = key.path.last, let function = FieldFunction(last), function.kind == .count else {
                return false
            }
            return schema.oneToMany(current, function.field) != nil
        }
    }
}
