import SwitchboardCore

/// The `directus_*` collections with Directus's names and the fields clients use.
/// Their definitions live in code (as in Directus); user collections live in
/// `directus_collections` / `directus_fields` / `directus_relations`.
public enum SystemCollections {
    public static let users = "directus_users"
    public static let roles = "directus_roles"
    public static let policies = "directus_policies"
    public static let access = "directus_access"
    public static let permissions = "directus_permissions"
    public static let sessions = "directus_sessions"
    public static let activity = "directus_activity"
    public static let notifications = "directus_notifications"
    public static let collections = "directus_collections"
    public static let fields = "directus_fields"
    public static let relations = "directus_relations"

    /// Columns that exist in system tables but are never exposed through the API.
    static let internalColumns: [String: [(name: String, type: FieldType)]] = [
        fields: [("switchboard_schema", .json)]
    ]

    private static func f(
        _ collection: String, _ name: String, _ type: FieldType, pk: Bool = false, auto: Bool = false,
        nullable: Bool = true, unique: Bool = false, def: JSONValue = .null, special: [String] = []
    ) -> FieldSchema {
        FieldSchema(
            collection: collection, field: name, type: type, isPrimaryKey: pk, autoIncrement: auto,
            nullable: nullable, unique: unique, defaultValue: def, special: special)
    }

    public static let all: [CollectionSchema] = {
        let u = users
        let r = roles
        let p = policies
        let a = access
        let pm = permissions
        let s = sessions
        let ac = activity
        let n = notifications
        let c = collections
        let fd = fields
        let rl = relations
        return [
            CollectionSchema(
                name: u, primaryKey: "id",
                fields: [
                    f(u, "id", .uuid, pk: true, special: ["uuid"]),
                    f(u, "first_name", .string), f(u, "last_name", .string),
                    f(u, "email", .string, unique: true),
                    f(u, "password", .hash, special: ["hash", "conceal"]),
                    f(u, "location", .string), f(u, "title", .string), f(u, "description", .text),
                    f(u, "tags", .json, special: ["cast-json"]), f(u, "avatar", .uuid), f(u, "language", .string),
                    f(u, "status", .string, nullable: false, def: "active"),
                    f(u, "role", .uuid, special: ["m2o"]),
                    f(u, "token", .string, unique: true, special: ["conceal"]),
                    f(u, "last_access", .timestamp), f(u, "last_page", .string),
                    f(u, "provider", .string, nullable: false, def: "default"),
                    f(u, "external_identifier", .string, unique: true),
                    f(u, "email_notifications", .boolean, def: true, special: ["cast-boolean"]),
                    f(u, "policies", .alias, special: ["o2m"]),
                ], isSystem: true),
            CollectionSchema(
                name: r, primaryKey: "id",
                fields: [
                    f(r, "id", .uuid, pk: true, special: ["uuid"]),
                    f(r, "name", .string, nullable: false),
                    f(r, "icon", .string, nullable: false, def: "supervised_user_circle"),
                    f(r, "description", .text),
                    f(r, "parent", .uuid, special: ["m2o"]),
                    f(r, "children", .alias, special: ["o2m"]),
                    f(r, "policies", .alias, special: ["o2m"]),
                    f(r, "users", .alias, special: ["o2m"]),
                ], isSystem: true),
            CollectionSchema(
                name: p, primaryKey: "id",
                fields: [
                    f(p, "id", .uuid, pk: true, special: ["uuid"]),
                    f(p, "name", .string, nullable: false),
                    f(p, "icon", .string, nullable: false, def: "badge"),
                    f(p, "description", .text),
                    f(p, "ip_access", .csv, special: ["cast-csv"]),
                    f(p, "enforce_tfa", .boolean, nullable: false, def: false, special: ["cast-boolean"]),
                    f(p, "admin_access", .boolean, nullable: false, def: false, special: ["cast-boolean"]),
                    f(p, "app_access", .boolean, nullable: false, def: false, special: ["cast-boolean"]),
                    f(p, "permissions", .alias, special: ["o2m"]),
                    f(p, "roles", .alias, special: ["o2m"]),
                ], isSystem: true),
            CollectionSchema(
                name: a, primaryKey: "id",
                fields: [
                    f(a, "id", .uuid, pk: true, special: ["uuid"]),
                    f(a, "role", .uuid, special: ["m2o"]),
                    f(a, "user", .uuid, special: ["m2o"]),
                    f(a, "policy", .uuid, nullable: false, special: ["m2o"]),
                    f(a, "sort", .integer),
                ], isSystem: true),
            CollectionSchema(
                name: pm, primaryKey: "id",
                fields: [
                    f(pm, "id", .integer, pk: true, auto: true),
                    f(pm, "collection", .string, nullable: false),
                    f(pm, "action", .string, nullable: false),
                    f(pm, "permissions", .json, special: ["cast-json"]),
                    f(pm, "validation", .json, special: ["cast-json"]),
                    f(pm, "presets", .json, special: ["cast-json"]),
                    f(pm, "fields", .csv, special: ["cast-csv"]),
                    f(pm, "policy", .uuid, nullable: false, special: ["m2o"]),
                ], isSystem: true),
            CollectionSchema(
                name: s, primaryKey: "token",
                fields: [
                    f(s, "token", .string, pk: true, special: ["conceal"]),
                    f(s, "user", .uuid, special: ["m2o"]),
                    f(s, "expires", .timestamp, nullable: false),
                    f(s, "ip", .string), f(s, "user_agent", .text),
                    f(s, "origin", .string), f(s, "next_token", .string, special: ["conceal"]),
                ], isSystem: true, recordsActivity: false),
            CollectionSchema(
                name: ac, primaryKey: "id",
                fields: [
                    f(ac, "id", .integer, pk: true, auto: true),
                    f(ac, "action", .string, nullable: false),
                    f(ac, "user", .uuid, special: ["m2o"]),
                    f(ac, "timestamp", .timestamp, nullable: false, special: ["date-created"]),
                    f(ac, "ip", .string), f(ac, "user_agent", .text),
                    f(ac, "collection", .string, nullable: false),
                    f(ac, "item", .string, nullable: false),
                    f(ac, "origin", .string),
                ], isSystem: true, recordsActivity: false),
            CollectionSchema(
                name: n, primaryKey: "id",
                fields: [
                    f(n, "id", .integer, pk: true, auto: true),
                    f(n, "timestamp", .timestamp, special: ["date-created"]),
                    f(n, "status", .string, def: "inbox"),
                    f(n, "recipient", .uuid, nullable: false, special: ["m2o"]),
                    f(n, "sender", .uuid, special: ["m2o"]),
                    f(n, "subject", .string, nullable: false),
                    f(n, "message", .text),
                    f(n, "collection", .string), f(n, "item", .string),
                ], isSystem: true),
            CollectionSchema(
                name: c, primaryKey: "collection",
                fields: [
                    f(c, "collection", .string, pk: true),
                    f(c, "icon", .string), f(c, "note", .text), f(c, "display_template", .string),
                    f(c, "hidden", .boolean, nullable: false, def: false, special: ["cast-boolean"]),
                    f(c, "singleton", .boolean, nullable: false, def: false, special: ["cast-boolean"]),
                    f(c, "translations", .json, special: ["cast-json"]),
                    f(c, "archive_field", .string), f(c, "archive_app_filter", .boolean, def: true),
                    f(c, "archive_value", .string), f(c, "unarchive_value", .string),
                    f(c, "sort_field", .string), f(c, "accountability", .string, def: "all"),
                    f(c, "color", .string), f(c, "sort", .integer), f(c, "group", .string),
                    f(c, "collapse", .string, nullable: false, def: "open"), f(c, "preview_url", .string),
                    f(c, "versioning", .boolean, nullable: false, def: false, special: ["cast-boolean"]),
                ], isSystem: true),
            CollectionSchema(
                name: fd, primaryKey: "id",
                fields: [
                    f(fd, "id", .integer, pk: true, auto: true),
                    f(fd, "collection", .string, nullable: false), f(fd, "field", .string, nullable: false),
                    f(fd, "special", .csv, special: ["cast-csv"]), f(fd, "interface", .string),
                    f(fd, "options", .json, special: ["cast-json"]), f(fd, "display", .string),
                    f(fd, "display_options", .json, special: ["cast-json"]),
                    f(fd, "readonly", .boolean, nullable: false, def: false, special: ["cast-boolean"]),
                    f(fd, "hidden", .boolean, nullable: false, def: false, special: ["cast-boolean"]),
                    f(fd, "sort", .integer), f(fd, "width", .string, def: "full"),
                    f(fd, "translations", .json, special: ["cast-json"]), f(fd, "note", .text),
                    f(fd, "conditions", .json, special: ["cast-json"]),
                    f(fd, "required", .boolean, def: false, special: ["cast-boolean"]),
                    f(fd, "group", .string), f(fd, "validation", .json, special: ["cast-json"]),
                    f(fd, "validation_message", .text),
                    f(fd, "searchable", .boolean, nullable: false, def: true, special: ["cast-boolean"]),
                ], isSystem: true),
            CollectionSchema(
                name: rl, primaryKey: "id",
                fields: [
                    f(rl, "id", .integer, pk: true, auto: true),
                    f(rl, "many_collection", .string, nullable: false), f(rl, "many_field", .string, nullable: false),
                    f(rl, "one_collection", .string), f(rl, "one_field", .string),
                    f(rl, "one_collection_field", .string), f(rl, "one_allowed_collections", .csv),
                    f(rl, "junction_field", .string), f(rl, "sort_field", .string),
                    f(rl, "one_deselect_action", .string, nullable: false, def: "nullify"),
                ], isSystem: true),
        ]
    }()

    /// Relations among system collections.
    public static let relationList: [RelationSchema] = [
        RelationSchema(manyCollection: users, manyField: "role", oneCollection: roles, oneField: "users"),
        RelationSchema(manyCollection: roles, manyField: "parent", oneCollection: roles, oneField: "children"),
        RelationSchema(
            manyCollection: access, manyField: "role", oneCollection: roles, oneField: "policies", onDelete: "CASCADE"),
        RelationSchema(
            manyCollection: access, manyField: "user", oneCollection: users, oneField: "policies", onDelete: "CASCADE"),
        RelationSchema(
            manyCollection: access, manyField: "policy", oneCollection: policies, oneField: "roles", onDelete: "CASCADE"),
        RelationSchema(
            manyCollection: permissions, manyField: "policy", oneCollection: policies, oneField: "permissions",
            onDelete: "CASCADE"),
        RelationSchema(manyCollection: sessions, manyField: "user", oneCollection: users, onDelete: "CASCADE"),
        RelationSchema(manyCollection: activity, manyField: "user", oneCollection: users),
        RelationSchema(manyCollection: notifications, manyField: "recipient", oneCollection: users, onDelete: "CASCADE"),
        RelationSchema(manyCollection: notifications, manyField: "sender", oneCollection: users),
    ]

    /// Collections whose changes alter who may see what (followed on every replica).
    public static let accessControl: Set<String> = [users, roles, policies, access, permissions]

    public static func isSystem(_ collection: String) -> Bool { collection.hasPrefix("directus_") }

    /// The admin view's virtual collection on the realtime socket (the replicas' stats; see
    /// `FleetBoard`): no table, and no user collection may take its name.
    public static let replicas = "switchboard_replicas"
}
