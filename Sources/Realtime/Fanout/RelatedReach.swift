import Query
import Store
import SwitchboardCore

/// The other collections a query class's rendered rows depend on through relations, and by
/// which paths: `author.email` reaches `authors` by `[author]`, `comments.text` reaches `comments`
/// by `[comments]`, a filter `{author:{company:{name:…}}}` reaches `authors` and `companies`.
/// A change to a reached collection may change what the class's members were shown, so fan-out
/// re-reads the class's rows that lead to the changed rows (`parentFilter`), unless the change
/// touched none of the reached collection's fields that matter to the class (`matters`).
///
/// Reached through `fields` (nested relational fields, `*.*`, `count(o2m)`), `groupBy` (`count(o2m)`),
/// the query's `filter` and the read permission's filter. A bare o2m alias (`comments` alone, or inside
/// `*`), which renders child keys only, is not followed.
struct RelatedReach: Sendable, Equatable {
    /// One step of a path: the field, and whether it is an o2m alias (else an m2o foreign key).
    struct Step: Sendable, Hashable {
        var field: String
        var toMany: Bool
        /// The collection the step leads to.
        var target: String
    }

    /// The fields of a reached collection whose change may change what the class shows.
    struct WatchedFields: Sendable, Equatable {
        /// Every field (`*` rendered there).
        var all = false
        var names: Set<String> = []

        func intersects(_ changed: Set<String>) -> Bool { all || !names.isDisjoint(with: changed) }
    }

    /// The class's collection.
    private(set) var collection = ""
    /// Reached collection → the paths from the class's collection to it.
    private(set) var paths: [String: Set<[Step]>] = [:]
    /// Reached collections the query's own `filter` reads (a change there may move rows in or out).
    private(set) var filtered: Set<String> = []
    /// Reached collection → its fields that matter: rendered through a path, read by a filter
    /// (the query's, its `deep` ones, a read permission's, the reached collection's own read
    /// permission and its cases), sorted by, and the keys that link each step of a path.
    private(set) var watched: [String: WatchedFields] = [:]

    var isEmpty: Bool { paths.isEmpty }
    var collections: Set<String> { Set(paths.keys) }

    init() {}

    init(_ key: QueryClassKey, permissions: PermissionSet, schema: Schema) {
        self.init(collection: key.request.collection, query: key.request.query, permissions: permissions, schema: schema)
    }

    /// `permissions` are the class's: its read permission on `collection` reaches, its read
    /// permissions on the reached collections say which of their fields matter.
    init(collection: String, query: ItemQuery, permissions: PermissionSet, schema: Schema) {
        self.collection = collection
        if let tree = try? FieldTree.parse(query.fields ?? ["*"]) {
            follow(tree, from: collection, prefix: [], schema: schema)
        }
        // An aggregate grouped by `count(comments)` regroups when comments change.
        for name in query.groupBy where FieldFunction(name)?.kind == .count { walk([name], from: collection, schema: schema) }
        let permissionFilter = permissions.permission(.read, collection)?.filter
        for (filter, isQuery) in [(query.filter, true), (permissionFilter, false)] {
            guard let filter else { continue }
            for path in filter.referencedPaths {
                for reached in walk(path, from: collection, schema: schema) where isQuery { filtered.insert(reached) }
            }
        }
        // What orders rows (a window over them) or nested lists, and `deep` filters, matter where reached.
        for sort in query.sort { walk(sort.path, from: collection, schema: schema, reaching: false) }
        watchDeep(query.deep, from: collection, prefix: [], schema: schema)
        followPermissions(permissions, schema: schema)
        for reached in paths.keys {
            guard let permission = permissions.permission(.read, reached) else { continue }
            for path in permission.allFilters.flatMap(\.referencedPaths) {
                guard let first = path.first else { continue }
                watch(FieldFunction(first)?.field ?? first, of: reached)
            }
        }
    }

    /// Paths through reached collections' read permissions followed at most (each a distinct path).
    static let permissionPathsMax = 256

    /// A reached collection's read permission may read further (authors readable by
    /// `{company:{name:…}}`): what it reads is reached too, through each path to that collection,
    /// since it decides whether the related row is visible.
    private mutating func followPermissions(_ permissions: PermissionSet, schema: Schema) {
        guard !permissions.admin else { return }
        var pending = paths.values.flatMap { $0 }
        var done = Set<[Step]>()
        for _ in 0..<Self.permissionPathsMax {
            guard let steps = pending.popLast() else { return }
            guard done.insert(steps).inserted, steps.count < FieldTree.maxDepth, let target = steps.last?.target,
                let permission = permissions.permission(.read, target)
            else { continue }
            let before = paths
            for path in permission.allFilters.flatMap(\.referencedPaths) where path.count > 1 {
                walk(path, from: target, prefix: steps, schema: schema)
            }
            for (reached, all) in paths { pending.append(contentsOf: all.subtracting(before[reached] ?? [])) }
        }
    }

    /// Whether `event`, a change of a reached collection, may change what the class shows: a
    /// create or delete always may; an update only when a field that matters changed, compared
    /// row by row (by primary key) with its before-image. Without before-images: it may.
    func matters(_ event: ChangeEvent, schema: Schema) -> Bool {
        guard paths[event.collection] != nil else { return false }
        guard event.action == .update, !event.previous.isEmpty, let fields = watched[event.collection], !fields.all,
            let pk = schema.collection(event.collection)?.primaryKey
        else { return true }
        var before: [String: JSONObject] = [:]
        for row in event.previous {
            guard let key = row[pk]?.textValue else { return true }
            before[key] = row
        }
        guard before.count == event.rows.count else { return true }
        for row in event.rows {
            guard let key = row[pk]?.textValue, let old = before[key] else { return true }
            if fields.intersects(Self.changedFields(old, row)) { return true }
        }
        return false
    }

    /// The fields whose values differ between two images of a row (a field in one only counts).
    static func changedFields(_ before: JSONObject, _ after: JSONObject) -> Set<String> {
        var changed = Set<String>()
        for (name, value) in after where before[name] != value { changed.insert(name) }
        for (name, _) in before where after[name] == nil { changed.insert(name) }
        return changed
    }

    /// Records every relational prefix of a field or filter path, and the fields it reads where;
    /// answers the collections reached. With `reaching` false, only fields of collections reached
    /// anyway are recorded (a sort key).
    @discardableResult
    private mutating func walk(
        _ path: [String], from collection: String, prefix: [Step] = [], schema: Schema, reaching: Bool = true
    ) -> [String] {
        var current = collection
        var steps = prefix
        var reached: [String] = []
        for (i, raw) in path.enumerated() {
            // `count(comments)` reads the relation itself; `year(born)` reads `born`.
            let name = FieldFunction(raw)?.field ?? raw
            if !steps.isEmpty { watch(name, of: current) }
            guard let step = Self.step(name, of: current, schema: schema) else { break }
            // A bare m2o at the end is the key itself, held by this row.
            if !step.toMany && i == path.count - 1 && FieldFunction(raw) == nil { break }
            guard reaching || paths[step.target] != nil else { break }
            steps.append(step)
            if reaching { paths[step.target, default: []].insert(steps) }
            watchLink(step, from: current, schema: schema)
            reached.append(step.target)
            current = step.target
        }
        return reached
    }

    /// The key a step links by, on the collection it leads to: the primary key of an m2o's
    /// target, the foreign key of an o2m's child (a child moving parents changes both).
    private mutating func watchLink(_ step: Step, from collection: String, schema: Schema) {
        if step.toMany {
            if let relation = schema.oneToMany(collection, step.field) { watch(relation.manyField, of: step.target) }
            if let parent = schema.collection(collection) { watch(parent.primaryKey, of: collection) }
        } else if let target = schema.collection(step.target) {
            watch(target.primaryKey, of: step.target)
        }
    }

    private mutating func watch(_ field: String, of collection: String) {
        watched[collection, default: WatchedFields()].names.insert(field)
    }

    /// `deep` queries of nested relations: their filters and sorts read fields of the collections
    /// they apply to (where those are reached).
    private mutating func watchDeep(_ deep: [String: ItemQuery], from collection: String, prefix: [Step], schema: Schema) {
        guard prefix.count < FieldTree.maxDepth else { return }
        for (field, nested) in deep {
            guard let step = Self.step(field, of: collection, schema: schema), paths[step.target] != nil else { continue }
            let steps = prefix + [step]
            for path in nested.filter?.referencedPaths ?? [] {
                walk(path, from: step.target, prefix: steps, schema: schema, reaching: false)
            }
            for sort in nested.sort {
                walk(sort.path, from: step.target, prefix: steps, schema: schema, reaching: false)
            }
            watchDeep(nested.deep, from: step.target, prefix: steps, schema: schema)
        }
    }

    /// Records the paths of a field tree's nested relations, and what it renders of each
    /// reached collection: its named fields (a function's field), `*` (every field), the keys of
    /// deeper relations.
    private mutating func follow(_ tree: FieldTree, from collection: String, prefix: [Step], schema: Schema) {
        guard prefix.count < FieldTree.maxDepth else { return }
        if !prefix.isEmpty {
            if tree.includesAll { watched[collection, default: WatchedFields()].all = true }
            for name in tree.names + tree.nestedOrder { watch(FieldFunction(name)?.field ?? name, of: collection) }
        }
        for name in tree.names {
            // `count(comments)`: a count of another collection's rows.
            if let function = FieldFunction(name), function.kind == .count,
                let step = Self.step(function.field, of: collection, schema: schema), step.toMany
            {
                paths[step.target, default: []].insert(prefix + [step])
                watchLink(step, from: collection, schema: schema)
            }
        }
        var nested = tree.nested
        if let all = tree.allNested, let c = schema.collection(collection) {
            for field in c.fields where schema.isRelational(collection, field.field) && nested[field.field] == nil {
                nested[field.field] = all
            }
        }
        for (field, subtree) in nested {
            guard let step = Self.step(field, of: collection, schema: schema) else { continue }
            let steps = prefix + [step]
            paths[step.target, default: []].insert(steps)
            if !prefix.isEmpty { watch(field, of: collection) }
            watchLink(step, from: collection, schema: schema)
            follow(subtree, from: step.target, prefix: steps, schema: schema)
        }
    }

    static func step(_ field: String, of collection: String, schema: Schema) -> Step? {
        if let r = schema.manyToOne(collection, field) { return Step(field: field, toMany: false, target: r.oneCollection) }
        if let r = schema.oneToMany(collection, field) { return Step(field: field, toMany: true, target: r.manyCollection) }
        return nil
    }

    /// The class collection's rows that lead to the rows `event` changed: a filter over them (each
    /// path an `_in` condition, o2m steps with "some" semantics), or nil when none can.
    ///
    /// A path ending in an m2o step matches rows pointing at the changed keys; one ending in an o2m
    /// step matches the rows the changed children point at, before and after the write (a child
    /// moved from one parent to another changes both).
    func parentFilter(for event: ChangeEvent, schema: Schema) -> Filter? {
        guard let byPath = paths[event.collection] else { return nil }
        var parts: [Filter] = []
        for steps in byPath.sorted(by: { $0.map(\.field).lexicographicallyPrecedes($1.map(\.field)) }) {
            guard let last = steps.last else { continue }
            let prefix = steps.dropLast().map(\.field)
            if !last.toMany {
                guard !event.keys.isEmpty else { continue }
                parts.append(.condition(path: prefix + [last.field], op: ._in, value: .array(event.keys)))
                continue
            }
            // The o2m's foreign key on the child, and the parent collection's primary key.
            let parentCollection = steps.count > 1 ? steps[steps.count - 2].target : collection
            guard let relation = schema.oneToMany(parentCollection, last.field),
                let parent = schema.collection(relation.oneCollection)
            else { continue }
            var seen = Set<String>()
            let parentKeys = (event.rows + event.previous).compactMap { row -> JSONValue? in
                guard let key = row[relation.manyField], !key.isNull, let text = key.textValue, seen.insert(text).inserted
                else { return nil }
                return key
            }
            guard !parentKeys.isEmpty else { continue }
            parts.append(.condition(path: prefix + [parent.primaryKey], op: ._in, value: .array(parentKeys)))
        }
        if parts.isEmpty { return nil }
        return parts.count == 1 ? parts[0] : .or(parts)
    }
}
