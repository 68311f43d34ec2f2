import SwitchboardCore

/// One field of a collection: its storage and the Directus metadata clients read.
public struct FieldSchema: Sendable, Hashable {
    public var collection: String
    public var field: String
    public var type: FieldType
    public var isPrimaryKey = false
    public var autoIncrement = false
    public var nullable = true
    public var unique = false
    public var defaultValue: JSONValue = .null
    public var maxLength: Int?
    /// Directus `meta.special`: `uuid`, `date-created`, `date-updated`, `user-created`,
    /// `user-updated`, `m2o`, `o2m`, `hash`, `cast-boolean`, `cast-json`, `cast-csv`, `conceal`.
    public var special: [String] = []
    /// The rest of Directus's `meta` object (interface, hidden, readonly, note, …), kept as given.
    public var meta: JSONObject = [:]

    public init(
        collection: String, field: String, type: FieldType, isPrimaryKey: Bool = false, autoIncrement: Bool = false,
        nullable: Bool = true, unique: Bool = false, defaultValue: JSONValue = .null, maxLength: Int? = nil,
        special: [String] = [], meta: JSONObject = [:]
    ) {
        self.collection = collection
        self.field = field
        self.type = type
        self.isPrimaryKey = isPrimaryKey
        self.autoIncrement = autoIncrement
        self.nullable = nullable && !isPrimaryKey
        self.unique = unique
        self.defaultValue = defaultValue
        self.maxLength = maxLength
        self.special = special
        self.meta = meta
    }

    public func has(_ special: String) -> Bool { self.special.contains(special) }

    /// Values of this field are never returned in clear (`password`, `token`).
    public var isConcealed: Bool { type == .hash || has("conceal") || has("hash") }
}
