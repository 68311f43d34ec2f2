import SwitchboardCore

/// An immutable snapshot of every collection, field and relation. Replaced as
/// a whole when the schema changes, so readers never see half an update.
public struct Schema: Sendable {
    public let collections: [String: CollectionSchema]
    public let relations: [RelationSchema]
    private let m2o: [String: RelationSchema]
    private let o2m: [String: RelationSchema]

    public init(collections: [CollectionSchema], relations: [RelationSchema]) {
        var byName: [String: CollectionSchema] = [:]
        for c in collections { byName[c.name] = c }
        self.collections = byName
        self.relations = relations
        var m2o: [String: RelationSchema] = [:]
        var o2m: [String: RelationSchema] = [:]
        for r in relations {
            m2o[r.manyCollection + "\u{0}" + r.manyField] = r
            if let one = r.oneField { o2m[r.oneCollection + "\u{0}" + one] = r }
        }
        self.m2o = m2o
        self.o2m = o2m
    }

    public func collection(_ name: String) -> CollectionSchema? { collections[name] }

    /// The relation when `collection.field` holds a foreign key.
    public func manyToOne(_ collection: String, _ field: String) -> RelationSchema? {
        m2o[collection + "\u{0}" + field]
    }

    /// The relation when `collection.field` is a one-to-many alias.
    public func oneToMany(_ collection: String, _ field: String) -> RelationSchema? {
        o2m[collection + "\u{0}" + field]
    }

    /// Whether `field` of `collection` leads to another collection.
    public func isRelational(_ collection: String, _ field: String) -> Bool {
        manyToOne(collection, field) != nil || oneToMany(collection, field) != nil
    }

    /// User-visible collection names, sorted.
    public var collectionNames: [String] { collections.keys.sorted() }
}
