import Query
import Store
import SwitchboardCore

/// The other collections a query class's rendered rows depend on through relations, and by
/// which paths: `author.email` reaches `authors` by `[author]`, `comments.text` reaches `comments`
/// by `[comments]`, a filter `{author:{company:{name:…}}}` reaches `authors` and `companies`.
/// A change to a reached collection may change what the class's members were shown, so fan-out
/// re-reads the class's rows that lead to the changed rows (`parentFilter`).
///
/// Reached through `fields` (nested relational fields, `*.*`, `count(o2m)`), `groupBy` (`count(o2m)`),
/// the query's `filter` and the read permission's filter. A bare o2m alias (`comments` alone, or inside `*`), which
/// renders child keys only, is not followed.
struct RelatedReach: Sendable, Equatable {
    /// One step of a path: the field, and whether it is an o2m alias (else an m2o foreign key).
    struct Step: Sendable, Hashable {
        var field: String
        var toMany: Bool
        /// The collection the step leads to.
        var target: String
    }

    /// The class's collection.
    private(set) var collection = ""
    /// Reached collection → the paths from the class's collection to it.
    private(set) var paths: [String: Set<[Step]>] = [:]
    /// Reached collections the query's own `filter` reads (a change there may move rows in or out).
    private(set) var filtered: Set<String> = []

    var isEmpty: Bool { paths.isEmpty }
    var collections: Set<String> { Set(paths.keys) }

    init() {}

    init(_ key: QueryClassKey, permissionFilter: Filter?, schema: Schema) {
        self.init(
            collection: key.request.collection, query: key.request.query, permissionFilter: permissionFilter, schema: schema)
    }

    init(collection: String, query: ItemQuery, permissionFilter: Filter?, schema: Schema) {
        self.collection = collection
        if let tree = try? FieldTree.parse(query.fields ?? ["*"]) {
            follow(tree, from: collection, prefix: [], schema: schema)
        }
        // An aggregate grouped by `count(comments)` regroups when comments change.
        for name in query.groupBy where FieldFunction(name)?.kind == .count { walk([name], from: collection, schema: schema) }
        for (filter, isQuery) in [(query.filter, true), (permissionFilter, false)] {
            guard let filter else { continue }
            for path in filter.referencedPaths {
                for reached in walk(path, from: collection, schema: schema) where isQuery { filtered.insert(reached) }
            }
        }
    }

    /// Records every relational prefix of a field or filter path; answers the collections reached.
    @discardableResult
    private mutating func walk(_ path: [String], from collection: String, schema: Schema) -> [String] {
        var current = collection
        var steps: [Step] = []
        var reached: [String] = []
        for (i, raw) in path.enumerated() {
            // `count(comments)` reads the relation itself.
            let name = FieldFunction(raw)?.field ?? raw
            guard let step = Self.step(name, of: current, schema: schema) else { break }
            // A bare m2o at the end is the key itself, held by this row.
            if !step.toMany && i == path.count - 1 && FieldFunction(raw) == nil { break }
            steps.append(step)
            paths[step.target, default: []].insert(steps)
            reached.append(step.target)
            current = step.target
        }
        return reached
    }

    private mutating func follow(_ tree: FieldTree, from collection: String, prefix: [Step], schema: Schema) {
        guard prefix.count < FieldTree.maxDepth else { return }
        for name in tree.names {
            // `count(comments)`: a count of another collection's rows.
            if let function = FieldFunction(name), function.kind == .count,
                let step = Self.step(function.field, of: collection, schema: schema), step.toMany
            {
                paths[step.target, default: []].insert(prefix + [step])
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
