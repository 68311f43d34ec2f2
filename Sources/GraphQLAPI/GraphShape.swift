import Store
import SwitchboardCore

/// The collections and fields of one caller's GraphQL schema as plain values:
/// what the GraphQL types are generated from, and what turning a selection into
/// an item query and rendering a subscription payload consult.
struct GraphShape: Sendable {
    /// By GraphQL type name, which is the collection's name.
    var collections: [String: CollectionShape]
    /// User collections with query and subscription root fields, sorted.
    var roots: [String]

    /// `directus_*` collections GraphQL never exposes, as in Directus (`SYSTEM_DENY_LIST`).
    static let deniedSystemCollections: Set<String> = [
        "directus_collections", "directus_fields", "directus_relations", "directus_migrations", "directus_sessions",
        "directus_extensions",
    ]

    /// Type names the schema defines itself; a collection with one of these names is left out.
    static let reservedTypeNames: Set<String> = Set(
        [
            "Query", "Mutation", "Subscription", "String", "Int", "Float", "Boolean", "ID", "JSON", "Date", "Hash",
            "GraphQLBigInt", "GraphQLStringOrFloat", "Void", "EventEnum",
        ] + FilterFamily.allCases.map(\.typeName) + FunctionFamily.typeNames)

    /// The shape for a caller with `access` over `schema`: readable fields only,
    /// relations only towards collections in the shape, no empty types.
    init(schema: Schema, access: ReadAccess) {
        // Each collection names seven types and three query fields; one whose names are taken
        // (`posts_filter` next to `posts`) is left out, deciding in name order.
        var included = Set<String>()
        var typeNames = Self.reservedTypeNames
        var queryFields = Set<String>()
        for name in access.collections.keys.sorted() {
            guard !Self.deniedSystemCollections.contains(name), Self.isValidName(name), schema.collection(name) != nil
            else { continue }
            let types = [
                name, name + "_filter", name + "_quantifier_filter", name + "_mutated", name + "_aggregated",
                name + "_aggregated_count", name + "_aggregated_fields",
            ]
            let fields = [name, name + "_by_id", name + "_aggregated"]
            guard typeNames.isDisjoint(with: types), queryFields.isDisjoint(with: fields) else { continue }
            typeNames.formUnion(types)
            queryFields.formUnion(fields)
            included.insert(name)
        }
        // Dropping a collection without fields can empty another one (its only field led there): repeat until stable.
        var shapes: [String: CollectionShape] = [:]
        while true {
            shapes = [:]
            for name in included {
                guard let collection = schema.collection(name), let fields = access.collections[name] else { continue }
                let shape = CollectionShape(
                    collection, schema: schema, readable: fields, conditional: access.conditional[name] ?? [],
                    included: included)
                if !shape.fields.isEmpty { shapes[name] = shape }
            }
            if shapes.count == included.count { break }
            included = Set(shapes.keys)
        }
        collections = shapes
        roots = shapes.values.filter { !$0.isSystem }.map(\.name).sorted()
    }

    init(collections: [String: CollectionShape], roots: [String]) {
        self.collections = collections
        self.roots = roots
    }

    /// GraphQL names: `[_A-Za-z][_0-9A-Za-z]*`, not starting with `__` (reserved for introspection).
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !name.hasPrefix("__") else { return false }
        func letter(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
        return letter(first) && name.utf8.allSatisfy { letter($0) || ($0 >= 48 && $0 <= 57) }
    }
}

/// One collection as a GraphQL object type.
struct CollectionShape: Sendable {
    let name: String
    let primaryKey: String
    let isSystem: Bool
    /// In the collection's field order.
    let fields: [FieldShape]
    private let index: [String: Int]
    /// `<field>_func` → the field, for fields with functions whose `_func` name no field takes.
    private let functionIndex: [String: Int]

    init(name: String, primaryKey: String, isSystem: Bool = false, fields: [FieldShape]) {
        self.name = name
        self.primaryKey = primaryKey
        self.isSystem = isSystem
        self.fields = fields
        var index: [String: Int] = [:]
        for (i, f) in fields.enumerated() { index[f.name] = i }
        self.index = index
        var functionIndex: [String: Int] = [:]
        for (i, f) in fields.enumerated() where f.functions != nil {
            let key = FunctionFamily.key(of: f.name)
            if index[key] == nil { functionIndex[key] = i }
        }
        self.functionIndex = functionIndex
    }

    init(
        _ collection: CollectionSchema, schema: Schema, readable: ReadAccess.Fields, conditional: Set<String> = [],
        included: Set<String>
    ) {
        var fields: [FieldShape] = []
        for field in collection.fields where readable.allows(field.field) && GraphShape.isValidName(field.field) {
            let note = field.meta["note"]?.stringValue
            let numeric = field.type.isNumeric && !field.isConcealed
            if let relation = schema.manyToOne(collection.name, field.field), included.contains(relation.oneCollection) {
                fields.append(
                    FieldShape(
                        name: field.field, kind: .manyToOne(relation.oneCollection), nonNull: false, note: note,
                        isNumeric: numeric))
            } else if field.type == .alias {
                guard let relation = schema.oneToMany(collection.name, field.field),
                    included.contains(relation.manyCollection)
                else { continue }
                fields.append(
                    FieldShape(
                        name: field.field, kind: .oneToMany(relation.manyCollection), nonNull: false, note: note,
                        functions: .count))
            } else {
                fields.append(
                    FieldShape(
                        name: field.field, kind: .scalar(FieldScalar(field)),
                        nonNull: Self.isNonNull(field) && !conditional.contains(field.field), note: note,
                        isNumeric: numeric, functions: FunctionFamily(field)))
            }
        }
        self.init(name: collection.name, primaryKey: collection.primaryKey, isSystem: collection.isSystem, fields: fields)
    }

    func field(_ name: String) -> FieldShape? { index[name].map { fields[$0] } }

    /// The field whose functions `<field>_func` names, with their family.
    func function(_ key: String) -> (field: FieldShape, family: FunctionFamily)? {
        guard let i = functionIndex[key], let family = fields[i].functions else { return nil }
        return (fields[i], family)
    }

    /// Directus marks a read field non-null when the database guarantees a value:
    /// the primary key, and required fields without a default or a generated value.
    private static func isNonNull(_ field: FieldSchema) -> Bool {
        if field.isPrimaryKey { return true }
        let generated = ["uuid", "user-created", "user-updated", "date-created", "date-updated"]
        return !field.nullable && field.defaultValue.isNull && !generated.contains(where: field.has)
    }
}

/// One field of a collection's object type.
struct FieldShape: Sendable {
    enum Kind: Sendable, Hashable {
        case scalar(FieldScalar)
        /// The related collection's object type.
        case manyToOne(String)
        /// A list of the related collection's object type.
        case oneToMany(String)
    }

    let name: String
    let kind: Kind
    let nonNull: Bool
    let note: String?
    /// A stored number (keys and foreign keys included), offered to `avg`, `sum`, `min`, `max`.
    var isNumeric = false
    /// What its `<field>_func` offers; nil when it has none.
    var functions: FunctionFamily?

    /// The related collection, for relational fields.
    var related: String? {
        switch kind {
        case .scalar: return nil
        case .manyToOne(let c), .oneToMany(let c): return c
        }
    }
}
