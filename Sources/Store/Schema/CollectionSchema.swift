import SwitchboardCore

/// A collection: a table plus its fields in display order.
public struct CollectionSchema: Sendable, Hashable {
    public var name: String
    public var primaryKey: String
    public var fields: [FieldSchema]
    public var meta: JSONObject
    /// `directus_*` collections defined by Switchboard itself.
    public var isSystem: Bool
    /// Whether writes to this collection record `directus_activity` rows (Directus `accountability`).
    public var recordsActivity: Bool

    public init(
        name: String, primaryKey: String, fields: [FieldSchema], meta: JSONObject = [:], isSystem: Bool = false,
        recordsActivity: Bool = true
    ) {
        self.name = name
        self.primaryKey = primaryKey
        self.fields = fields
        self.meta = meta
        self.isSystem = isSystem
        self.recordsActivity = recordsActivity
    }

    public func field(_ name: String) -> FieldSchema? {
        fields.first { $0.field == name }
    }

    public var primaryKeyField: FieldSchema? { field(primaryKey) }

    /// Fields stored in columns.
    public var columnFields: [FieldSchema] { fields.filter { $0.type.hasColumn } }
}

/// A many-to-one relation (`messages.user` → `directus_users`) and its optional
/// one-to-many alias on the other side (`directus_users.messages`).
public struct RelationSchema: Sendable, Hashable {
    public var manyCollection: String
    public var manyField: String
    public var oneCollection: String
    public var oneField: String?
    public var onDelete: String
    public var meta: JSONObject

    public init(
        manyCollection: String, manyField: String, oneCollection: String, oneField: String? = nil,
        onDelete: String = "SET NULL", meta: JSONObject = [:]
    ) {
        self.manyCollection = manyCollection
        self.manyField = manyField
        self.oneCollection = oneCollection
        self.oneField = oneField
        self.onDelete = onDelete
        self.meta = meta
    }
}
