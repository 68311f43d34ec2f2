import Foundation
import Query
import Store
import SwitchboardCore
import Testing

// A seeded property test: REST and `init` select rows with the filter compiled to SQL
// (FilterCompiler through `Store.readItems`), subscriptions with `Filter.matches` on the
// change event's post-images. For random schemas, rows and filters over every operator,
// both must select the same rows.
//
// Default: the fixed seeds below, `defaultCases` filters in all (a few seconds).
// Longer or targeted runs (see README, "Testing"):
//   PROPERTY_CASES=200000 swift test --filter FilterAgreementPropertyTests   # more worlds, new seeds
//   PROPERTY_SEED=1234 swift test --filter FilterAgreementPropertyTests      # one world, replayed
// With SWITCHBOARD_TEST_PG=host:port (scripts/test's PostgreSQL stage) the same cases also run
// on a throwaway PostgreSQL database.

/// The property test's generator: `SplitMix64`, with the choices the generators make.
struct SeededGenerator: RandomNumberGenerator {
    private var base: SplitMix64
    init(seed: UInt64) { base = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { base.next() }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &self)] }
}

/// One random world: a `people` collection, an `items` collection with random scalar
/// fields and an m2o `owner` → `people`, and their rows.
struct AgreementWorld {
    struct Field {
        var name: String
        var type: String
    }
    var seed: UInt64
    var people: [Field]
    var items: [Field]
    var peopleRows: [JSONObject]
    var itemRows: [JSONObject]
    /// Row times are placed around this instant, never within half an hour of a `$NOW(±N …)`.
    var now: Double

    static let scalarTypes = ["integer", "bigInteger", "float", "string", "text", "boolean", "date", "dateTime", "timestamp"]

    static func make(seed: UInt64, now: Double) -> AgreementWorld {
        var rng = SeededGenerator(seed: seed)
        func fields(_ count: Int) -> [Field] {
            (0..<count).map { i in Field(name: "f\(i)", type: rng.pick(scalarTypes)) }
        }
        let people = fields(Int.random(in: 1...3, using: &rng))
        let items = fields(Int.random(in: 2...5, using: &rng))
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
    /// Text that reads as a number or boolean is left out of stored text: against a number
    /// operand SQL compares such a text column as text, memory as a number, so that decimals
    /// (strings in the API) compare as numbers. README "Filter semantics" lists this.
    static let storedStrings = strings.filter { Double($0) == nil && $0 != "true" && $0 != "false" }
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
        default: return .string(rng.pick(Self.storedStrings))
        }
    }

    /// Whole hours plus a half from `now`, or fixed calendar instants.
    func time(_ rng: inout SeededGenerator) -> Double {
        if rng.chance(0.6) { return now + Double(Int.random(in: -72...72, using: &rng)) * 3600 + 1800 }
        return rng.pick([1_704_067_200, 1_704_110_400, 1_706_745_600, 1_735_689_599, 946_684_800])
    }

    /// Fields a filter may name: `(path, type)`, including `owner` (the key) and `owner.<field>`.
    var paths: [([String], String)] {
        [(["id"], "integer"), (["owner"], "integer")] + items.map { ([$0.name], $0.type) } + [(["owner", "id"], "integer")]
            + people.map { (["owner", $0.name], $0.type) }
    }

    var description: String {
        func json(_ rows: [JSONObject]) -> String { rows.map { JSONValue.object($0).jsonString }.joined(separator: "\n    ") }
        return """
            seed \(seed)
              people: \(people.map { "\($0.name): \($0.type)" }.joined(separator: ", "))
                \(json(peopleRows))
              items: id, owner → people, \(items.map { "\($0.name): \($0.type)" }.joined(separator: ", "))
                \(json(itemRows))
            """
    }
}

/// A generated filter, kept as a tree so that a failure can be shrunk branch by branch.
indirect enum GeneratedFilter: Sendable {
    case condition(path: [String], op: String, value: JSONValue)
    case and([GeneratedFilter])
    case or([GeneratedFilter])

    var json: JSONValue {
        switch self {
        case .condition(let path, let op, let value):
            var inner: JSONValue = [op: value]
            for segment in path.reversed() { inner = .object(JSONObject([(segment, inner)])) }
            return inner
        case .and(let parts): return ["_and": .array(parts.map(\.json))]
        case .or(let parts): return ["_or": .array(parts.map(\.json))]
        }
    }

    var size: Int {
        switch self {
        case .condition: return 1
        case .and(let parts), .or(let parts): return 1 + parts.reduce(0) { $0 + $1.size }
        }
    }

    /// Smaller filters: each child of a group alone, the group without one child,
    /// and the same with one child shrunk.
    var shrinks: [GeneratedFilter] {
        switch self {
        case .condition: return []
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

    var touchesRelation: Bool {
        switch self {
        case .condition(let path, _, _): return path.count > 1
        case .and(let parts), .or(let parts): return parts.contains(where: \.touchesRelation)
        }
    }
}

struct FilterGenerator {
    static let operators = FilterOperator.readOperators.map(\.rawValue)

    var world: AgreementWorld

    /// A filter over plain fields and `owner` as a key, or (relational) over `owner.<field>` too.
    func filter(_ rng: inout SeededGenerator, relational: Bool, depth: Int = 0) -> GeneratedFilter {
        if depth < 3, rng.chance(depth == 0 ? 0.5 : 0.3) {
            let parts = (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                filter(&rng, relational: relational, depth: depth + 1)
            }
            return rng.chance(0.5) ? .and(parts) : .or(parts)
        }
        let candidates = world.paths.filter { relational ? $0.0 != ["owner"] : $0.0.count == 1 }
        var (path, type) = rng.pick(candidates)
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
    /// another type, null, or a `$NOW` variable.
    func scalar(_ type: String, _ rng: inout SeededGenerator, allowNull: Bool = true) -> JSONValue {
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

/// A database the cases run on.
struct AgreementBackend: Sendable {
    var name: String
    var run: @Sendable (_ body: @Sendable (Store) async throws -> Void) async throws -> Void
}

@Suite(.serialized) struct FilterAgreementPropertyTests {
    static let defaultSeeds: [UInt64] = Array(1...40)
    static let filtersPerWorld = 100
    static let defaultCases = defaultSeeds.count * filtersPerWorld

    /// Seeds and the number of filters per world, from PROPERTY_SEED / PROPERTY_CASES.
    static func plan() -> (seeds: [UInt64], perWorld: Int) {
        let env = ProcessInfo.processInfo.environment
        let cases = env["PROPERTY_CASES"].flatMap { Int($0) }
        if let seedText = env["PROPERTY_SEED"] {
            let seeds = seedText.split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            return (seeds, cases.map { max(1, $0 / max(1, seeds.count)) } ?? filtersPerWorld)
        }
        guard let cases, cases > defaultCases else { return (defaultSeeds, filtersPerWorld) }
        // More worlds, with seeds past the fixed list so a long run explores new ground.
        let worlds = (cases + filtersPerWorld - 1) / filtersPerWorld
        return (Array(1...UInt64(worlds)), filtersPerWorld)
    }

    @Test func sqlAndMemoryAgreeOnSQLite() async throws {
        try await runAll(on: "SQLite") { body in try await withStore(body) }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_PG"] != nil))
    func sqlAndMemoryAgreeOnPostgreSQL() async throws {
        try await runAll(on: "PostgreSQL") { body in try await withPostgresStore(body) }
    }

    private func runAll(
        on backend: String, _ withBackend: @Sendable (@Sendable (Store) async throws -> Void) async throws -> Void
    ) async throws {
        let (seeds, perWorld) = Self.plan()
        let started = ContinuousClock.now
        let total = Counter()
        let refused = Counter()
        // One store per batch of worlds: each world gets its own pair of collections.
        for batch in stride(from: 0, to: seeds.count, by: 20) {
            let slice = Array(seeds[batch..<min(batch + 20, seeds.count)])
            try await withBackend { store in
                for seed in slice {
                    let (n, r) = try await Self.check(seed: seed, filters: perWorld, store: store)
                    await total.add(n)
                    await refused.add(r)
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        print(
            "FilterAgreementPropertyTests[\(backend)]: \(await total.value) cases (\(await refused.value) refused as"
                + " Directus refuses them), \(seeds.count) worlds, \(elapsed)")
    }

    /// Builds the world of `seed` in `store` and checks `filters` random filters on it; answers
    /// the cases run and how many of them the SQL path refused (a bad value for the field's type).
    static func check(seed: UInt64, filters: Int, store: Store) async throws -> (Int, Int) {
        let world = AgreementWorld.make(seed: seed, now: DynamicVariables.currentTime())
        let people = "people_\(seed)"
        let items = "items_\(seed)"
        let recorder = EventRecorder()
        store.addSink(recorder)
        try await create(world, people: people, items: items, in: store)
        _ = try await store.createItems(people, world.peopleRows, context: .system)
        _ = try await store.createItems(items, world.itemRows, context: .system)
        // The rows exactly as subscriptions see them: the create events' post-images.
        let peopleByKey = Dictionary(
            (await recorder.events(of: people)).flatMap(\.rows).compactMap { row in row["id"]?.intValue.map { ($0, row) } },
            uniquingKeysWith: { a, _ in a })
        let postImages = (await recorder.events(of: items)).flatMap(\.rows)
        let expanded = postImages.map { row -> JSONObject in
            var copy = row
            copy["owner"] = row["owner"]?.intValue.flatMap { peopleByKey[$0] }.map(JSONValue.object) ?? .null
            return copy
        }
        var rng = SeededGenerator(seed: seed &* 0x2545_F491_4F6C_DD1D)
        let generator = FilterGenerator(world: world)
        var refused = 0
        for index in 0..<filters {
            let generated = generator.filter(&rng, relational: rng.chance(0.3))
            guard let failure = try await disagreement(generated, items, postImages, expanded, store) else { continue }
            if failure == Self.refusal {
                refused += 1
                continue
            }
            var smallest = generated
            var smallestFailure = failure
            var improved = true
            while improved {
                improved = false
                for candidate in smallest.shrinks.sorted(by: { $0.size < $1.size }) {
                    if let f = try await disagreement(candidate, items, postImages, expanded, store), f != Self.refusal {
                        smallest = candidate
                        smallestFailure = f
                        improved = true
                        break
                    }
                }
            }
            Issue.record(
                """
                SQL and in-memory filter evaluation disagree (case \(index) of \(world.description.prefix(while: { $0 != "\n" })))
                \(world.description)
                filter:   \(generated.json.jsonString)
                shrunk:   \(smallest.json.jsonString)
                \(smallestFailure)
                replay:   PROPERTY_SEED=\(seed) PROPERTY_CASES=\(filters) swift test --filter FilterAgreementPropertyTests
                """)
            return (index + 1, refused)
        }
        return (filters, refused)
    }

    static let refusal = "refused"

    /// Nil when both paths select the same item ids, `refusal` when the SQL path refuses a value
    /// of the wrong type, else what each selected.
    static func disagreement(
        _ generated: GeneratedFilter, _ collection: String, _ plain: [JSONObject], _ expanded: [JSONObject], _ store: Store
    ) async throws -> String? {
        let parsed: Filter
        do {
            parsed = try Filter.parse(generated.json)
        } catch {
            return nil  // refused before either path runs: REST and subscribe answer the same error
        }
        var query = ItemQuery()
        query.filter = parsed
        query.fields = ["id"]
        query.limit = -1
        query.sort = [SortField(path: ["id"])]
        let sqlIDs: [Int64]
        do {
            sqlIDs = try await store.readItems(collection, query: query, context: .system).data.compactMap { $0["id"]?.intValue }
        } catch let error as SwitchboardError
            where ["Invalid numeric value", "Invalid boolean value", "Invalid date value"].contains(
                where: error.message.hasPrefix)
        {
            return refusal  // refused as Directus refuses it: no subscription or read runs this filter
        } catch {
            return "sql:      error \(error)\nmemory:   (no error)"
        }
        let resolved = parsed.resolvingVariables(ItemsContext.system.variables())
        let rows = generated.touchesRelation ? expanded : plain
        let memoryIDs = rows.filter { resolved.matches($0) }.compactMap { $0["id"]?.intValue }.sorted()
        guard sqlIDs != memoryIDs else { return nil }
        return "sql:      \(sqlIDs)\nmemory:   \(memoryIDs)"
    }

    static func create(_ world: AgreementWorld, people: String, items: String, in store: Store) async throws {
        @Sendable func fieldJSON(_ f: AgreementWorld.Field) -> JSONValue {
            ["field": .string(f.name), "type": .string(f.type), "schema": ["is_nullable": true]]
        }
        let peopleFields = world.people.map(fieldJSON)
        let itemFields = world.items.map(fieldJSON)
        let idField: JSONValue = [
            "field": "id", "type": "integer", "schema": ["is_primary_key": true, "has_auto_increment": true],
        ]
        _ = try await store.changeSchema { editor in
            _ = try await editor.createCollection([
                "collection": .string(people), "fields": .array([idField] + peopleFields),
            ])
            return try await editor.createCollection([
                "collection": .string(items),
                "fields": .array([idField] + itemFields + [["field": "owner", "type": "integer"]]),
            ])
        }
        try await store.changeSchema { editor in
            try await editor.createRelation([
                "collection": .string(items), "field": "owner", "related_collection": .string(people),
            ])
        }
    }
}

actor Counter {
    private(set) var value = 0
    func add(_ n: Int) { value += n }
}
