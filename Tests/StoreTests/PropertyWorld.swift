import Foundation
import Query
import Store
import SwitchboardCore

// The generator of the seeded property tests (FilterAgreementPropertyTests,
// PolicyAgreementPropertyTests): random worlds of two related collections, their rows,
// filters over every operator and function, and the seeds a run takes.

/// The property tests' generator: `SplitMix64`, with the choices the generators make.
struct SeededGenerator: RandomNumberGenerator {
    private var base: SplitMix64
    init(seed: UInt64) { base = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { base.next() }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &self)] }
}

/// One random world: a `people` collection with random scalar fields and the o2m alias
/// `items`, an `items` collection with random scalar fields, a text `author` holding user ids
/// and the m2o `owner` → `people` (the other side of `items`), and their rows.
struct AgreementWorld {
    struct Field {
        var name: String
        /// A Directus type, or `user`: text holding a user id (the test user's or another's), or
        /// `access`: text holding a role or policy id (`accessIDs`, or another role's).
        var type: String
        var storedType: String { ["user", "access"].contains(type) ? "string" : type }
    }
    var seed: UInt64
    var people: [Field]
    var items: [Field]
    var peopleRows: [JSONObject]
    var itemRows: [JSONObject]
    /// Row times are placed around this instant, never within half an hour of a `$NOW(±N …)`.
    var now: Double
    /// The user the world's policies are for; `author` holds it or `otherUser`.
    var user: String { String(format: "5eed0000-0000-4000-8000-%012llx", seed & 0xFFFF_FFFF_FFFF) }
    static let otherUser = "00000000-0000-4000-8000-0000000000ff"
    /// The user's role (PolicyAgreementPropertyTests creates it, with the user).
    var role: String { String(format: "5eed0000-0000-4000-9000-%012llx", seed & 0xFFFF_FFFF_FFFF) }
    /// The parent of the user's role (Directus 11 nested roles: its policies are the user's too).
    var parentRole: String { String(format: "5eed0000-0000-4000-9001-%012llx", seed & 0xFFFF_FFFF_FFFF) }
    /// The id of the user's policy `index` (0-2; PolicyAgreementPropertyTests draws 1-3).
    func policy(_ index: Int) -> String {
        String(format: "5eed0000-0000-4000-a%03x-%012llx", index, seed & 0xFFFF_FFFF_FFFF)
    }
    /// What an `access` field holds: the user's role or its parent, one of its policies' ids, or
    /// another role's.
    var accessIDs: [String] { [role, parentRole, policy(0), policy(1), policy(2), Self.otherRole] }
    static let otherRole = "00000000-0000-4000-9000-0000000000ff"

    var peopleCollection: String { "people_\(seed)" }
    var itemsCollection: String { "items_\(seed)" }

    static let scalarTypes = ["integer", "bigInteger", "float", "string", "text", "boolean", "date", "dateTime", "timestamp"]

    /// `accessField`: `items` has `grp`, an `access` field (`$CURRENT_ROLE`, `$CURRENT_POLICIES`).
    static func make(seed: UInt64, now: Double, accessField: Bool = false) -> AgreementWorld {
        var rng = SeededGenerator(seed: seed)
        func fields(_ count: Int) -> [Field] {
            (0..<count).map { i in Field(name: "f\(i)", type: rng.pick(scalarTypes)) }
        }
        let people = fields(Int.random(in: 1...3, using: &rng))
        let items =
            fields(Int.random(in: 2...5, using: &rng)) + [Field(name: "author", type: "user")]
            + (accessField ? [Field(name: "grp", type: "access")] : [])
        var world = AgreementWorld(seed: seed, people: people, items: items, peopleRows: [], itemRows: [], now: now)
        for _ in 0..<Int.random(in: 2...5, using: &rng) {
            world.peopleRows.append(JSONObject(people.map { ($0.name, world.value(for: $0.type, &rng)) }))
        }
        for _ in 0..<Int.random(in: 4...14, using: &rng) {
            var row = JSONObject(items.map { ($0.name, world.value(for: $0.type, &rng)) })
            row["owner"] =
                rng.chance(0.25) ? .null : .int(Int64.random(in: 1...Int64(world.peopleRows.count), using: &rng))
            world.itemRows.append(row)
        }
        return world
    }

    static let strings: [String] = [
        "", "a", "A", "abc", "ABC", "Abc", "aBc d", "hello world", "Hello", "HELLO", "héllo", "HÉLLO", "%", "_", "a_c",
        "a%c", "5", "10", "2", "-1", "1.5", "true", "false", " ", "x y z", "ß", "2024-01-01", "0",
    ]
    static let integers: [Int64] = [0, 1, -1, 2, 5, 10, 100, -100, 2_147_483_647, -2_147_483_648]
    static let floats: [Double] = [0, 1, 1.5, -2.25, 0.1, 3, 1e10, -1e-3, 10]

    /// A stored value of the type, NULL a fifth of the time.
    func value(for type: String, _ rng: inout SeededGenerator) -> JSONValue {
        if rng.chance(0.2) { return .null }
        return typedValue(type, &rng)
    }

    func typedValue(_ type: String, _ rng: inout SeededGenerator) -> JSONValue {
        switch type {
        case "integer": return .int(rng.pick(Self.integers))
        case "bigInteger": return .int(rng.pick(Self.integers + [9_007_199_254_740_993, -9_007_199_254_740_993]))
        case "float": return .double(rng.pick(Self.floats))
        case "boolean": return .bool(rng.chance(0.5))
        case "date": return .string(ISOTimestamp(epochSeconds: time(&rng)).dateString)
        case "dateTime": return .string(ISOTimestamp(epochSeconds: time(&rng)).dateTimeString)
        case "timestamp": return .string(ISOTimestamp(epochSeconds: time(&rng)).iso8601)
        case "user": return .string(rng.chance(0.5) ? user : Self.otherUser)
        case "access": return .string(rng.pick(accessIDs))
        default: return .string(rng.pick(Self.strings))
        }
    }

    /// Whole hours plus a half from `now`, or fixed calendar instants.
    func time(_ rng: inout SeededGenerator) -> Double {
        if rng.chance(0.6) { return now + Double(Int.random(in: -72...72, using: &rng)) * 3600 + 1800 }
        return rng.pick([1_704_067_200, 1_704_110_400, 1_706_745_600, 1_735_689_599, 946_684_800])
    }

    /// Fields a filter on `items` may name: `(path, type)`, including `owner` (the key) and `owner.<field>`.
    var itemPaths: [([String], String)] {
        [(["id"], "integer"), (["owner"], "integer")] + items.map { ([$0.name], $0.type) } + [(["owner", "id"], "integer")]
            + people.map { (["owner", $0.name], $0.type) }
    }

    /// Fields a filter on `people` may name: its own, `items.<field>` (Directus's implicit
    /// "some") and `count(items)`. Not the bare alias (`{"items":{"_eq":3}}`, SQL: some child's
    /// key is 3): in memory a path ending at the o2m reads the array of child rows, not their
    /// keys, and so disagrees. Fan-out never evaluates it there (a filter through an o2m reads
    /// the changed rows from the database, `InMemoryRead.suffices`).
    var peoplePaths: [([String], String)] {
        [(["id"], "integer")] + people.map { ([$0.name], $0.type) }
            + [(["items", "id"], "integer"), (["items", "owner"], "integer")] + items.map { (["items", $0.name], $0.type) }
            + [(["count(items)"], "integer")]
    }

    var description: String {
        func json(_ rows: [JSONObject]) -> String { rows.map { JSONValue.object($0).jsonString }.joined(separator: "\n    ") }
        return """
            seed \(seed), user \(user)
              people: id, items ← items.owner, \(people.map { "\($0.name): \($0.type)" }.joined(separator: ", "))
                \(json(peopleRows))
              items: id, owner → people, \(items.map { "\($0.name): \($0.type)" }.joined(separator: ", "))
                \(json(itemRows))
            """
    }

    /// Creates the world's collections, the relation and its o2m alias in `store`.
    func create(in store: Store) async throws {
        @Sendable func fieldJSON(_ f: Field) -> JSONValue {
            ["field": .string(f.name), "type": .string(f.storedType), "schema": ["is_nullable": true]]
        }
        let peopleFields = people.map(fieldJSON)
        let itemFields = items.map(fieldJSON)
        let idField: JSONValue = [
            "field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true],
        ]
        let (people, items) = (peopleCollection, itemsCollection)
        _ = try await store.changeSchema { editor in
            _ = try await editor.createCollection([
                "collection": .string(people), "fields": .array([idField] + peopleFields),
            ])
            return try await editor.createCollection([
                "collection": .string(items),
                "fields": .array([idField] + itemFields + [["field": "owner", "type": "integer"]]),
            ])
        }
        _ = try await store.changeSchema { editor in
            try await editor.createField(people, ["field": "items", "type": "alias", "meta": ["special": ["o2m"]]])
        }
        try await store.changeSchema { editor in
            try await editor.createRelation([
                "collection": .string(items), "field": "owner", "related_collection": .string(people),
                "meta": ["one_field": "items"],
            ])
        }
    }
}

/// A generated filter, kept as a tree so that a failure can be shrunk branch by branch.
indirect enum GeneratedFilter: Sendable {
    case condition(path: [String], op: String, value: JSONValue)
    case and([GeneratedFilter])
    case or([GeneratedFilter])
    /// `{"items":{"_some":…}}` (`some`) or `{"items":{"_none":…}}`.
    case quantified(path: [String], some: Bool, GeneratedFilter)

    var json: JSONValue {
        func nest(_ path: [String], _ inner: JSONValue) -> JSONValue {
            var out = inner
            for segment in path.reversed() { out = .object(JSONObject([(segment, out)])) }
            return out
        }
        switch self {
        case .condition(let path, let op, let value): return nest(path, [op: value])
        case .and(let parts): return ["_and": .array(parts.map(\.json))]
        case .or(let parts): return ["_or": .array(parts.map(\.json))]
        case .quantified(let path, let some, let inner): return nest(path, [some ? "_some" : "_none": inner.json])
        }
    }

    var size: Int {
        switch self {
        case .condition: return 1
        case .and(let parts), .or(let parts): return 1 + parts.reduce(0) { $0 + $1.size }
        case .quantified(_, _, let inner): return 1 + inner.size
        }
    }

    /// Smaller filters: each child of a group alone, the group without one child,
    /// and the same with one child shrunk.
    var shrinks: [GeneratedFilter] {
        switch self {
        case .condition: return []
        case .quantified(let path, let some, let inner):
            return [.quantified(path: path, some: some, .and([]))] + inner.shrinks.map { .quantified(path: path, some: some, $0) }
        case .and(let parts), .or(let parts):
            let rebuild: ([GeneratedFilter]) -> GeneratedFilter = {
                if case .and = self { return .and($0) } else { return .or($0) }
            }
            var out = parts
            for i in parts.indices {
                var fewer = parts
                fewer.remove(at: i)
                out.append(rebuild(fewer))
            }
            for i in parts.indices {
                for smaller in parts[i].shrinks {
                    var copy = parts
                    copy[i] = smaller
                    out.append(rebuild(copy))
                }
            }
            return out
        }
    }

    /// Whether a condition reads another collection (an m2o object or o2m rows).
    var touchesRelation: Bool {
        switch self {
        case .condition(let path, _, _): return path.count > 1 || path.contains { FieldFunction($0)?.kind == .count }
        case .and(let parts), .or(let parts): return parts.contains(where: \.touchesRelation)
        case .quantified: return true
        }
    }
}

struct FilterGenerator {
    static let operators = FilterOperator.readOperators.map(\.rawValue)

    var world: AgreementWorld
    /// `(path, type)` a condition may name.
    var paths: [([String], String)]
    /// Whether `_some` / `_none` over `items` may appear (filters on `people`).
    var quantifies = false
    /// Operands of the field's type only, never null (permission filters: a policy whose
    /// filter every read refuses teaches nothing).
    var typedOperands = false

    /// A filter on `items` over plain fields and `owner` as a key, or (relational) over
    /// `owner.<field>` too; the bare key is then left out, as the rows it is evaluated on hold
    /// the related row in `owner`.
    static func items(_ world: AgreementWorld, relational: Bool) -> FilterGenerator {
        FilterGenerator(world: world, paths: world.itemPaths.filter { relational ? $0.0 != ["owner"] : $0.0.count == 1 })
    }

    /// A filter on `people`, through its o2m `items` too (`items.f0`, `count(items)`, `_some`, `_none`).
    static func people(_ world: AgreementWorld) -> FilterGenerator {
        FilterGenerator(world: world, paths: world.peoplePaths, quantifies: true)
    }

    func filter(_ rng: inout SeededGenerator, depth: Int = 0) -> GeneratedFilter {
        if depth < 3, rng.chance(depth == 0 ? 0.5 : 0.3) {
            let parts = (0..<Int.random(in: 0...3, using: &rng)).map { _ in filter(&rng, depth: depth + 1) }
            return rng.chance(0.5) ? .and(parts) : .or(parts)
        }
        if quantifies, rng.chance(0.2) {
            var items = Self.items(world, relational: false)
            items.typedOperands = typedOperands
            let inner = items.filter(&rng, depth: depth + 1)
            return .quantified(path: ["items"], some: rng.chance(0.5), inner)
        }
        var (path, type) = rng.pick(paths)
        // A date part (`year(f1)`, `owner.week(f0)`): an integer, read the same way by both paths.
        let parts: [String: [String]] = [
            "date": ["year", "month", "week", "day", "weekday"],
            "dateTime": ["year", "month", "week", "day", "weekday", "hour", "minute", "second"],
            "timestamp": ["year", "month", "week", "day", "weekday", "hour", "minute", "second"],
        ]
        if let functions = parts[type], rng.chance(0.35), let last = path.last {
            path[path.count - 1] = "\(rng.pick(functions))(\(last))"
            type = "integer"
        }
        let op = rng.pick(Self.operators)
        return .condition(path: path, op: op, value: operand(op, type, &rng))
    }

    func operand(_ op: String, _ type: String, _ rng: inout SeededGenerator) -> JSONValue {
        switch op {
        case "_null", "_nnull", "_empty", "_nempty":
            return rng.pick([true, false, "true", "false", 1, 0])
        case "_in", "_nin":
            if type == "access", rng.chance(0.4) { return rng.pick(["$CURRENT_POLICIES", "$CURRENT_ROLES"]) }
            let items = (0..<Int.random(in: 0...3, using: &rng)).map { _ in scalar(type, &rng) }
            if rng.chance(0.15) {
                return .string(items.compactMap(\.textValue).joined(separator: ","))
            }
            return .array(items)
        case "_between", "_nbetween":
            return [scalar(type, &rng, allowNull: false), scalar(type, &rng, allowNull: false)]
        default:
            return scalar(type, &rng)
        }
    }

    /// A value as clients send them: usually of the field's type, sometimes as text, of
    /// another type, null, or a `$NOW` / `$CURRENT_USER` / `$CURRENT_ROLE` variable.
    func scalar(_ type: String, _ rng: inout SeededGenerator, allowNull: Bool = true) -> JSONValue {
        if type == "user", rng.chance(0.3) { return "$CURRENT_USER" }
        if type == "access", rng.chance(0.3) { return "$CURRENT_ROLE" }
        if typedOperands { return world.typedValue(type, &rng) }
        let roll = Double.random(in: 0..<1, using: &rng)
        if allowNull, roll < 0.07 { return .null }
        if ["date", "dateTime", "timestamp"].contains(type), roll < 0.35 {
            let n = Int.random(in: -48...48, using: &rng)
            if rng.chance(0.2) { return "$NOW" }
            // Whole hours in any unit, so no row time (half past an hour) sits on a boundary.
            let (amount, unit) = rng.pick([
                (n, "hours"), (n, "h"), (n * 60, "minutes"), (n * 3600, "seconds"), (n / 24, "days"), (n / 168, "weeks"),
            ])
            return .string("$NOW(\(amount >= 0 ? "+" : "")\(amount) \(unit))")
        }
        if roll < 0.65 {
            let v = world.typedValue(type, &rng)
            // Numbers and booleans as text, as query strings and many clients send them.
            if roll < 0.25, v.stringValue == nil, let text = v.textValue { return .string(text) }
            return v
        }
        if roll < 0.8 { return .string(rng.pick(AgreementWorld.strings)) }
        if roll < 0.9 { return .int(rng.pick(AgreementWorld.integers)) }
        if roll < 0.95 { return .double(rng.pick(AgreementWorld.floats)) }
        return .bool(rng.chance(0.5))
    }
}

/// The seeds of a run and the cases per world: the fixed default seeds, or from
/// PROPERTY_SEED (one or more worlds, replayed) / PROPERTY_CASES (more worlds, new seeds).
struct PropertyPlan {
    var seeds: [UInt64]
    var perWorld: Int

    static func make(defaultWorlds: Int, perWorld: Int) -> PropertyPlan {
        let env = ProcessInfo.processInfo.environment
        let cases = env["PROPERTY_CASES"].flatMap { Int($0) }
        let defaultSeeds = Array(1...UInt64(defaultWorlds))
        if let seedText = env["PROPERTY_SEED"] {
            let seeds = seedText.split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            return PropertyPlan(seeds: seeds, perWorld: cases.map { max(1, $0 / max(1, seeds.count)) } ?? perWorld)
        }
        guard let cases, cases > defaultWorlds * perWorld else { return PropertyPlan(seeds: defaultSeeds, perWorld: perWorld) }
        // More worlds, with seeds past the fixed list so a long run explores new ground.
        let worlds = (cases + perWorld - 1) / perWorld
        return PropertyPlan(seeds: Array(1...UInt64(worlds)), perWorld: perWorld)
    }

    /// Runs `body` on every seed, one store per batch of 20 worlds (each world has its own collections).
    func run(
        _ withBackend: @Sendable (@Sendable (Store) async throws -> Void) async throws -> Void,
        _ body: @escaping @Sendable (UInt64, Int, Store) async throws -> Void
    ) async throws {
        for batch in stride(from: 0, to: seeds.count, by: 20) {
            let slice = Array(seeds[batch..<min(batch + 20, seeds.count)])
            let perWorld = perWorld
            try await withBackend { store in
                for seed in slice { try await body(seed, perWorld, store) }
            }
        }
    }

    /// `run` with `check` answering the cases it ran and how many the SQL path refused, and a
    /// line with the totals at the end: "`suite`[`backend`]: N `unit` (R refused …), W worlds, time".
    func runCounting(
        _ suite: String, unit: String, on backend: String,
        _ withBackend: @Sendable (@Sendable (Store) async throws -> Void) async throws -> Void,
        _ check: @escaping @Sendable (UInt64, Int, Store) async throws -> (Int, Int)
    ) async throws {
        let started = ContinuousClock.now
        let total = Counter()
        let refused = Counter()
        try await run(withBackend) { seed, perWorld, store in
            let (n, r) = try await check(seed, perWorld, store)
            await total.add(n)
            await refused.add(r)
        }
        let elapsed = ContinuousClock.now - started
        print(
            "\(suite)[\(backend)]: \(await total.value) \(unit) (\(await refused.value) refused as Directus refuses them),"
                + " \(seeds.count) worlds, \(elapsed)")
    }
}

actor Counter {
    private(set) var value = 0
    func add(_ n: Int) { value += n }
}
