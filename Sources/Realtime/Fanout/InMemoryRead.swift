import Query
import Store
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
