/// The GraphQL endpoint's settings (`GRAPHQL_*` variables).
public struct GraphQLSettings: Sendable, Equatable {
    /// Answer introspection (`GRAPHQL_INTROSPECTION`).
    public var introspection: Bool
    /// Schemas kept, one per schema version and read access (`GRAPHQL_SCHEMA_CACHE_CAPACITY`).
    public var schemaCacheCapacity: Int
    /// Largest document in bytes (`GRAPHQL_QUERY_MAX_SIZE`).
    public var maxDocumentSize: Int
    /// Nesting of brackets in the text and of selections with fragments expanded (`GRAPHQL_QUERY_MAX_DEPTH`).
    public var maxDepth: Int
    /// Fields selected, fragments expanded (`GRAPHQL_QUERY_MAX_FIELDS`).
    public var maxFields: Int

    public init(
        introspection: Bool = true, schemaCacheCapacity: Int = 100, maxDocumentSize: Int = 65_536, maxDepth: Int = 64,
        maxFields: Int = 1000
    ) {
        self.introspection = introspection
        self.schemaCacheCapacity = schemaCacheCapacity
        self.maxDocumentSize = maxDocumentSize
        self.maxDepth = maxDepth
        self.maxFields = maxFields
    }
}
