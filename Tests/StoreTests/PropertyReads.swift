import Query
import Realtime
import Store
import SwitchboardCore

/// The world's rows as fan-out holds them: the create events' post-images.
struct AgreementRows: Sendable {
    var people: [JSONObject]
    var items: [JSONObject]

    /// Creates `world`'s collections and rows in `store`; answers the rows as the create events carry them.
    static func create(_ world: AgreementWorld, in store: Store) async throws -> AgreementRows {
        let recorder = EventRecorder()
        store.addSink(recorder)
        try await world.create(in: store)
        _ = try await store.createItems(world.peopleCollection, world.peopleRows, context: .system)
        _ = try await store.createItems(world.itemsCollection, world.itemRows, context: .system)
        return AgreementRows(
            people: (await recorder.events(of: world.peopleCollection)).flatMap(\.rows),
            items: (await recorder.events(of: world.itemsCollection)).flatMap(\.rows))
    }

    /// `items` with `owner` replaced by the owner's row where the caller may read it (`readable`:
    /// its row filter on `people`). An owner it may not read holds no row at all (`[]`), so no
    /// condition through it holds, as its SQL subquery finds no row.
    func expandedItems(readable: (JSONObject) -> Bool) -> [JSONObject] {
        let byKey = Dictionary(
            people.compactMap { row in row["id"]?.intValue.map { ($0, row) } }, uniquingKeysWith: { a, _ in a })
        return items.map { row in
            var copy = row
            copy["owner"] =
                row["owner"]?.intValue.map { key in
                    byKey[key].map { readable($0) ? .object($0) : .array([]) } ?? .null
                } ?? .null
            return copy
        }
    }

    /// `people` with the o2m `items`: the rows pointing at each person that the caller may read.
    func expandedPeople(readable: (JSONObject) -> Bool) -> [JSONObject] {
        let visible = items.filter(readable)
        return people.map { row in
            var copy = row
            let key = row["id"]?.intValue
            copy["items"] = .array(visible.filter { $0["owner"]?.intValue == key }.map(JSONValue.object))
            return copy
        }
    }
}

/// One read of the property tests: a collection of the world, a filter, the fields.
struct ReadCase: Sendable {
    enum Target: Sendable { case items, people }
    var target: Target
    var filter: GeneratedFilter?
    var fields: [String]

    func collection(_ world: AgreementWorld) -> String {
        target == .items ? world.itemsCollection : world.peopleCollection
    }

    func json(_ world: AgreementWorld) -> JSONValue {
        [
            "collection": .string(collection(world)), "filter": filter?.json ?? .null,
            "fields": .array(fields.map(JSONValue.string)),
        ]
    }

    /// Whether `context` may read every field the read names, at each step through a relation:
    /// its fields (`owner.f0` reads `owner` of items and `f0` of people) and its filter's paths
    /// (a path into a relation, `count(items)` and `_some`/`_none` read the related collection).
    func namesOnlyReadable(_ world: AgreementWorld, _ context: ItemsContext) -> Bool {
        func related(_ field: String) -> String? {
            field == "owner" ? world.peopleCollection : field == "items" ? world.itemsCollection : nil
        }
        func readable(_ path: [String], intoRelation: Bool) -> Bool {
            var current = collection(world)
            for (index, step) in path.enumerated() where step != "*" {
                let name = FieldFunction(step)?.field ?? step
                guard let p = context.permissions.permission(.read, current), p.allows(field: name) else { return false }
                guard let next = related(name) else { continue }
                current = next
                let last = index == path.count - 1
                if (!last || intoRelation || FieldFunction(step) != nil), context.permissions.permission(.read, next) == nil {
                    return false
                }
            }
            return true
        }
        func paths(_ filter: GeneratedFilter, _ prefix: [String]) -> [[String]] {
            switch filter {
            case .condition(let path, _, _): return [prefix + path]
            case .and(let parts), .or(let parts): return parts.flatMap { paths($0, prefix) }
            case .quantified(let path, _, let inner): return [prefix + path] + paths(inner, prefix + path)
            }
        }
        return fields.allSatisfy { readable($0.split(separator: ".").map(String.init), intoRelation: false) }
            && (filter.map { paths($0, []) } ?? []).allSatisfy { readable($0, intoRelation: true) }
    }

    /// Smaller reads: the filter shrunk or left out, one field fewer.
    var shrinks: [ReadCase] {
        var out: [ReadCase] = []
        if let filter {
            var none = self
            none.filter = nil
            out.append(none)
            for smaller in filter.shrinks.sorted(by: { $0.size < $1.size }) {
                var copy = self
                copy.filter = smaller
                out.append(copy)
            }
        }
        if fields.count > 1 {
            for i in fields.indices {
                var copy = self
                copy.fields.remove(at: i)
                out.append(copy)
            }
        }
        return out
    }
}

enum ReadVerdict: Equatable {
    case agree
    /// Refused as Directus refuses it (a value of the wrong type, or a field or collection the
    /// caller may not read): no subscription runs this read either, its `init` answers the error.
    case refused
    case disagree(String)
}

/// Holds the SQL read of a `ReadCase` (`Store.readItems` with the caller's context) against
/// what fan-out shows a subscriber of the same query, in memory: `InMemoryRead` on the
/// post-images, relations expanded as far as the caller may follow them, and an `owner.<field>`
/// read as the same in-memory read of `people` with the nested fields.
enum ReadAgreement {
    static let refusedValues = ["Invalid numeric value", "Invalid boolean value", "Invalid date value"]

    static func check(
        _ read: ReadCase, world: AgreementWorld, rows: AgreementRows, context: ItemsContext, store: Store
    ) async -> ReadVerdict {
        let parsed: Filter?
        do {
            parsed = try read.filter.map { try Filter.parse($0.json) }
        } catch {
            return .agree  // refused before either path runs: REST and subscribe answer the same error
        }
        var query = ItemQuery()
        query.filter = parsed
        query.fields = read.fields
        query.limit = -1
        let name = read.collection(world)
        let sqlRows: [JSONObject]
        do {
            sqlRows = try await store.readItems(name, query: query, context: context).data
        } catch let error as SwitchboardError
            where refusedValues.contains(where: error.message.hasPrefix)
            || (error.code == .forbidden && !context.permissions.admin)
        {
            // FORBIDDEN only for a read that names a field or collection the caller may not read
            // (the fields of a permission's own row filter are the server's, not the caller's).
            if error.code == .forbidden, read.namesOnlyReadable(world, context) {
                return .disagree("sql:      refused: \(error.message)\nmemory:   (the read names only readable fields)")
            }
            return .refused
        } catch {
            return .disagree("sql:      error \(error)\nmemory:   (no error)")
        }
        let memoryRows: [JSONObject]
        do {
            memoryRows = try memory(read, query: query, world: world, rows: rows, context: context, store: store)
        } catch {
            return .disagree("sql:      \(rowsText(sqlRows))\nmemory:   error \(error)")
        }
        let sql = sqlRows.map { normalized(.object($0)).jsonString }.sorted()
        let mem = memoryRows.map { normalized(.object($0)).jsonString }.sorted()
        guard sql != mem else { return .agree }
        return .disagree("sql:      \(sql.joined(separator: "\n          "))\nmemory:   \(mem.joined(separator: "\n          "))")
    }

    struct MemoryRefusal: Error, CustomStringConvertible {
        var description: String
    }

    static func memory(
        _ read: ReadCase, query: ItemQuery, world: AgreementWorld, rows: AgreementRows, context: ItemsContext,
        store: Store
    ) throws -> [JSONObject] {
        let name = read.collection(world)
        guard let collection = store.schema.collection(name), let people = store.schema.collection(world.peopleCollection)
        else { throw MemoryRefusal(description: "no schema") }
        guard let permission = context.permissions.permission(.read, name) else {
            throw MemoryRefusal(description: "no read permission on \(name)")
        }
        let variables = context.variables()
        let tree = try FieldTree.parse(read.fields)
        let shown = ReferenceRead(
            query: query, tree: tree, permission: permission, collection: collection, schema: store.schema,
            variables: variables)
        // Every row with its relations expanded in full, for the permissions' own filters.
        let fullItems = rows.expandedItems(readable: { _ in true })
        let fullPeople = rows.expandedPeople(readable: { _ in true })
        let fullByKey = [world.itemsCollection: byKey(fullItems), world.peopleCollection: byKey(fullPeople)]
        func full(_ row: JSONObject, of other: String) -> JSONObject {
            row["id"]?.intValue.flatMap { fullByKey[other]?[$0] } ?? row
        }
        // Rows of `other` the caller's relational filters see: its row filter's (none without a read permission).
        func readable(_ other: String) -> (JSONObject) -> Bool {
            guard let p = context.permissions.permission(.read, other) else { return { _ in false } }
            let filter = p.filter?.resolvingVariables(variables).typedOperands(on: other, in: store.schema)
            return { filter?.matches(full($0, of: other)) ?? true }
        }
        let plain = read.target == .items ? rows.items : rows.people
        let evaluated: [JSONObject]
        switch read.target {
        case .items:
            evaluated =
                read.filter?.touchesRelation == true ? rows.expandedItems(readable: readable(world.peopleCollection)) : plain
        case .people:
            evaluated = rows.expandedPeople(readable: readable(world.itemsCollection))
        }
        // `owner.<field>`: the owner as a read of `people` with those fields shows it.
        var owner: (key: ReferenceRead, read: ReferenceRead)?
        if let subtree = tree.nested["owner"], let peoplePermission = context.permissions.permission(.read, people.name) {
            var nested = ItemQuery()
            nested.fields = read.fields.filter { $0.hasPrefix("owner.") }.map { String($0.dropFirst("owner.".count)) }
            owner = (
                ReferenceRead(
                    query: ItemQuery(), tree: FieldTree(names: ["owner"]), permission: permission, collection: collection,
                    schema: store.schema, variables: variables),
                ReferenceRead(
                    query: nested, tree: subtree, permission: peoplePermission, collection: people,
                    schema: store.schema, variables: variables)
            )
        }
        let peopleByKey = byKey(rows.people)
        var out: [JSONObject] = []
        for i in plain.indices {
            let fullRow = full(plain[i], of: name)
            guard shown.admits(evaluated[i], full: fullRow) else { continue }
            var row = shown.project(plain[i], full: fullRow)
            if let owner {
                let key = owner.key.project(plain[i], full: fullRow)["owner"]?.intValue
                let person = key.flatMap { peopleByKey[$0] }
                let fullPerson = person.map { full($0, of: people.name) }
                if let person, let fullPerson, owner.read.admits(person, full: fullPerson) {
                    row["owner"] = .object(owner.read.project(person, full: fullPerson))
                } else {
                    row["owner"] = .null
                }
            }
            out.append(row)
        }
        return out
    }

    static func byKey(_ rows: [JSONObject]) -> [Int64: JSONObject] {
        Dictionary(rows.compactMap { row in row["id"]?.intValue.map { ($0, row) } }, uniquingKeysWith: { a, _ in a })
    }

    /// Objects with their keys in order, at every level: the field order is not what is compared.
    static func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            return .object(JSONObject(object.entries.sorted { $0.key < $1.key }.map { ($0.key, normalized($0.value)) }))
        case .array(let items): return .array(items.map(normalized))
        default: return value
        }
    }

    static func rowsText(_ rows: [JSONObject]) -> String {
        rows.map { JSONValue.object($0).jsonString }.joined(separator: "\n          ")
    }
}

/// What a read shows of a row in memory: `InMemoryRead`, as fan-out runs it, unless the read
/// permission's filters (its row filter, a field's per-policy cases) go through a relation.
/// Fan-out reads the database for such a class; here they are evaluated on the row expanded in
/// full, as the server's SQL joins for them see every related row, and the query's own filter
/// on the row expanded as far as the caller may follow it.
struct ReferenceRead {
    let inMemory: InMemoryRead
    /// The permission's filters read a relation.
    let relational: Bool
    let query: Filter?
    let rowFilter: Filter?

    init(
        query: ItemQuery, tree: FieldTree, permission: CollectionPermission, collection: CollectionSchema, schema: Schema,
        variables: DynamicVariables
    ) {
        inMemory = InMemoryRead(
            query: query, tree: tree, permission: permission, collection: collection, schema: schema, variables: variables)
        relational = permission.allFilters.contains(where: \.readsRelation)
        self.query = query.filter?.resolvingVariables(variables).typedOperands(on: collection.name, in: schema)
        rowFilter = permission.rowFilter(fields: query.fields, in: collection)?.resolvingVariables(variables)
            .typedOperands(on: collection.name, in: schema)
    }

    /// `evaluated`: the row for the query's filter; `full`: with every related row.
    func admits(_ evaluated: JSONObject, full: JSONObject) -> Bool {
        guard relational else { return inMemory.admits(evaluated) }
        return (query?.matches(evaluated) ?? true) && (rowFilter?.matches(full) ?? true)
    }

    /// The shown fields of `plain`; with relational cases, decided on `full`, showing `plain`'s values.
    func project(_ plain: JSONObject, full: JSONObject) -> JSONObject {
        guard relational else { return inMemory.projection.apply(plain) }
        var out = inMemory.projection.apply(full)
        for (key, value) in out.entries where value != .null {
            if let stored = plain[key] { out[key] = stored }
        }
        return out
    }
}

extension Filter {
    /// Whether a condition reads another collection (an m2o's row, an o2m's rows).
    var readsRelation: Bool {
        switch self {
        case .condition(let path, _, _): path.count > 1 || path.contains { FieldFunction($0)?.kind == .count }
        case .and(let parts), .or(let parts): parts.contains(where: \.readsRelation)
        case .some, .none: true
        }
    }
}
