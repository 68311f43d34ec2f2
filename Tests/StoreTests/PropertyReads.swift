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
        let shown = InMemoryRead(
            query: query, tree: tree, permission: permission, collection: collection, schema: store.schema,
            variables: variables)
        // Rows of `other` the caller's relational filters see: its row filter's (none without a read permission).
        func readable(_ other: String) -> (JSONObject) -> Bool {
            guard let p = context.permissions.permission(.read, other) else { return { _ in false } }
            let filter = p.filter?.resolvingVariables(variables).typedOperands(on: other, in: store.schema)
            return { filter?.matches($0) ?? true }
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
        var owner: (key: RowProjection, read: InMemoryRead)?
        if let subtree = tree.nested["owner"], let peoplePermission = context.permissions.permission(.read, people.name) {
            var nested = ItemQuery()
            nested.fields = read.fields.filter { $0.hasPrefix("owner.") }.map { String($0.dropFirst("owner.".count)) }
            owner = (
                RowProjection(
                    tree: FieldTree(names: ["owner"]), permission: permission, collection: collection,
                    schema: store.schema, variables: variables),
                InMemoryRead(
                    query: nested, tree: subtree, permission: peoplePermission, collection: people,
                    schema: store.schema, variables: variables)
            )
        }
        let peopleByKey = Dictionary(
            rows.people.compactMap { row in row["id"]?.intValue.map { ($0, row) } }, uniquingKeysWith: { a, _ in a })
        var out: [JSONObject] = []
        for i in plain.indices where shown.admits(evaluated[i]) {
            var row = shown.projection.apply(plain[i])
            if let owner {
                let key = owner.key.apply(plain[i])["owner"]?.intValue
                let person = key.flatMap { peopleByKey[$0] }.flatMap { owner.read.admits($0) ? $0 : nil }
                row["owner"] = person.map { .object(owner.read.projection.apply($0)) } ?? .null
            }
            out.append(row)
        }
        return out
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
