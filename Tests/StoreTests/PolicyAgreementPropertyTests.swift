import Access
import Foundation
import Query
import Store
import SwitchboardCore
import Testing

// A seeded property test of what a role may see: per world a user with a role and 1-3 random
// policies, each reading `items` under a random row filter (`$CURRENT_USER`, `$CURRENT_ROLE` and
// `$CURRENT_POLICIES` among them, and `owner.<field>` through the m2o) with a random field subset
// or `*`, most also reading `people` (some through the o2m: `items.<field>`, `_some`, `_none`).
// In three worlds of four the policies are rows as Directus stores them (directus_policies,
// directus_permissions, directus_access through the role, through the role's parent or to the
// user), row filters may also use `$CURRENT_USER.<path>` and `$CURRENT_ROLE.<path>`, and the
// user's context is what the server's `PermissionResolver` makes of them; in the fourth it is
// built straight from `CollectionPermission.combining`. For random reads (filters through the
// m2o and the o2m, fields with `owner.<field>` and date parts), the SQL read as that user
// (`Store.readItems`) must equal, row for row and field for field, what fan-out shows a
// subscriber of the same query in memory (`InMemoryRead`: the policies' row filter and
// per-policy field cases, `RowProjection`) on the create events' post-images. The generator is
// PropertyWorld.swift, the comparison PropertyReads.swift.
//
// Default: seeds 1-100, `readsPerWorld` reads each. PROPERTY_CASES / PROPERTY_SEED as for
// FilterAgreementPropertyTests (README, "Testing"); PostgreSQL too with SWITCHBOARD_TEST_PG.

/// One policy's read grant on one collection.
struct GeneratedGrant: Sendable {
    /// nil: `*`.
    var fields: [String]?
    var filter: GeneratedFilter?

    var row: PermissionGrantRow {
        PermissionGrantRow(
            fields: fields.map { Set($0) }, filter: filter.flatMap { try? Filter.parse($0.json) }, validation: nil,
            presets: [:])
    }

    var json: JSONValue {
        let fieldList: JSONValue = fields.map { JSONValue.array($0.map(JSONValue.string)) } ?? "*"
        return ["fields": fieldList, "permissions": filter?.json ?? .null]
    }

    /// The grant as a directus_permissions row of `policy`.
    func permissionRow(_ collection: String, policy: String) -> JSONObject {
        [
            "collection": .string(collection), "action": "read", "policy": .string(policy),
            "fields": .array((fields ?? ["*"]).map(JSONValue.string)), "permissions": filter?.json ?? .null,
        ]
    }
}

/// A policy of the test user: a read of `items`, and of `people` or not; given through the
/// user's role, through that role's parent or to the user (directus_access).
struct GeneratedPolicy: Sendable {
    enum Access: String, Sendable { case role, parentRole, user }
    var items: GeneratedGrant
    var people: GeneratedGrant?
    var access: Access

    var json: JSONValue {
        ["items": items.json, "people": people?.json ?? .null, "access": .string(access.rawValue)]
    }

    /// The directus_access row that gives policy `id` to `world`'s user.
    func accessRow(_ world: AgreementWorld, policy id: String) -> JSONObject {
        switch access {
        case .role: ["role": .string(world.role), "policy": .string(id)]
        case .parentRole: ["role": .string(world.parentRole), "policy": .string(id)]
        case .user: ["user": .string(world.user), "policy": .string(id)]
        }
    }
}

@Suite(.serialized) struct PolicyAgreementPropertyTests {
    /// More worlds than FilterAgreementPropertyTests: each draws its own policies.
    static let defaultWorlds = 100
    static let readsPerWorld = 60

    @Test func aRoleSeesTheSameOverSQLAndInMemoryOnSQLite() async throws {
        try await runAll(on: "SQLite") { body in try await withStore(body) }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_PG"] != nil))
    func aRoleSeesTheSameOverSQLAndInMemoryOnPostgreSQL() async throws {
        try await runAll(on: "PostgreSQL") { body in try await withPostgresStore(body) }
    }

    private func runAll(
        on backend: String, _ withBackend: @Sendable (@Sendable (Store) async throws -> Void) async throws -> Void
    ) async throws {
        try await PropertyPlan.make(defaultWorlds: Self.defaultWorlds, perWorld: Self.readsPerWorld).runCounting(
            "PolicyAgreementPropertyTests", unit: "reads", on: backend, withBackend
        ) { seed, perWorld, store in try await Self.check(seed: seed, reads: perWorld, store: store) }
    }

    // MARK: Generation

    /// `resolved`: the context comes through `PermissionResolver`, which reads the rows behind
    /// `$CURRENT_USER.<path>` and `$CURRENT_ROLE.<path>` (row filters use them then, and the
    /// policies may come through the role's parent).
    static func policies(_ world: AgreementWorld, resolved: Bool, _ rng: inout SeededGenerator) -> [GeneratedPolicy] {
        // Row filters on plain fields of the collection, with operands of the field's type.
        // The bare `owner` key is left out: relational reads evaluate the rule on rows whose
        // `owner` holds the related row.
        var itemFilters = FilterGenerator(world: world, paths: world.itemPaths.filter { $0.0.count == 1 && $0.0 != ["owner"] })
        itemFilters.typedOperands = true
        var peopleFilters = FilterGenerator(
            world: world, paths: [(["id"], "integer")] + world.people.map { ([$0.name], $0.type) })
        peopleFilters.typedOperands = true
        // Relational row filters: `items` through its m2o (`owner.<field>`), `people` through its
        // o2m (`items.<field>`, `count(items)`, `_some`, `_none`). The server's joins for them see
        // every related row, whatever the caller may read of it.
        var relationalItemFilters = FilterGenerator.items(world, relational: true)
        relationalItemFilters.paths = relationalItemFilters.paths.filter { $0.0.count > 1 }
        relationalItemFilters.typedOperands = true
        var relationalPeopleFilters = FilterGenerator.people(world)
        relationalPeopleFilters.typedOperands = true
        let mine = GeneratedFilter.condition(path: ["author"], op: "_eq", value: "$CURRENT_USER")
        let mineByAccess: [GeneratedFilter] = [
            .condition(path: ["grp"], op: "_eq", value: "$CURRENT_ROLE"),
            .condition(path: ["grp"], op: "_in", value: "$CURRENT_POLICIES"),
            .condition(path: ["grp"], op: "_nin", value: "$CURRENT_POLICIES"),
            .condition(path: ["grp"], op: "_in", value: "$CURRENT_ROLES"),
        ]
        // Variable paths, through the user's and the role's own rows (the user row's `role` is
        // an m2o to directus_roles, so `$CURRENT_USER.role.parent` reads across it).
        let mineByPath: [GeneratedFilter] = [
            .condition(path: ["author"], op: "_eq", value: "$CURRENT_USER.id"),
            .condition(path: ["grp"], op: "_eq", value: "$CURRENT_USER.role"),
            .condition(path: ["grp"], op: "_eq", value: "$CURRENT_USER.role.parent"),
            .condition(path: ["grp"], op: "_neq", value: "$CURRENT_ROLE.parent"),
            .condition(path: ["grp"], op: "_eq", value: "$CURRENT_ROLE.id"),
        ]
        func subset(_ names: [String], _ rng: inout SeededGenerator) -> [String] {
            let chosen = names.filter { _ in rng.chance(0.5) }
            return chosen.isEmpty ? [rng.pick(names)] : chosen
        }
        return (0..<Int.random(in: 1...3, using: &rng)).map { _ in
            let roll = Double.random(in: 0..<1, using: &rng)
            let itemFilter: GeneratedFilter? =
                roll < 0.2
                ? nil
                : roll < 0.4
                    ? mine
                    : roll < 0.6
                        ? rng.pick(resolved && rng.chance(0.4) ? mineByPath : mineByAccess)
                        : roll < 0.75
                            ? relationalItemFilters.filter(&rng, depth: 2)
                            : itemFilters.filter(&rng, depth: 2)
            let items = GeneratedGrant(
                fields: rng.chance(0.3) ? nil : subset(["id", "owner"] + world.items.map(\.name), &rng), filter: itemFilter)
            var people: GeneratedGrant?
            if rng.chance(0.7) {
                people = GeneratedGrant(
                    fields: rng.chance(0.4) ? nil : subset(["id", "items"] + world.people.map(\.name), &rng),
                    filter: rng.chance(0.4)
                        ? nil
                        : rng.chance(0.3)
                            ? relationalPeopleFilters.filter(&rng, depth: 2) : peopleFilters.filter(&rng, depth: 2))
            }
            let access: GeneratedPolicy.Access =
                rng.chance(0.4) ? .user : resolved && rng.chance(0.4) ? .parentRole : .role
            return GeneratedPolicy(items: items, people: people, access: access)
        }
    }

    /// Whether the worlds of `seed` reach their context through `PermissionResolver` (three in four).
    static func resolved(_ seed: UInt64) -> Bool { seed % 4 != 0 }

    /// The test user's context with `policies` (policy `i` has the id `world.policy(i)`):
    /// `resolved`, through rows and `PermissionResolver`; else combined here as Directus 11 combines them.
    static func context(_ world: AgreementWorld, _ policies: [GeneratedPolicy], resolved: Bool, store: Store)
        async throws -> ItemsContext
    {
        if resolved { return try await resolvedContext(world, policies, store: store) }
        var rules: [String: [PermissionAction: CollectionPermission]] = [:]
        if let p = CollectionPermission.combining(policies.map(\.items.row)) { rules[world.itemsCollection] = [.read: p] }
        if let p = CollectionPermission.combining(policies.compactMap(\.people?.row)) {
            rules[world.peopleCollection] = [.read: p]
        }
        return ItemsContext(
            accountability: Accountability(
                userID: world.user, roleID: world.role, roles: [world.role, world.parentRole],
                policies: policies.indices.map(world.policy)),
            permissions: PermissionSet(admin: false, rules: rules))
    }

    /// The world's user as Directus stores it: its role, an active user in it, and the rows of
    /// the three policies `policies` may use (without access or permissions yet).
    static func createUser(_ world: AgreementWorld, in store: Store) async throws {
        let (role, user, seed) = (world.role, world.user, world.seed)
        let policies = (0..<3).map(world.policy)
        _ = try await store.write(context: .system) { tx in
            _ = try await tx.create(
                SystemCollections.roles,
                [
                    ["id": .string(world.parentRole), "name": .string("Parent role \(seed)")],
                    ["id": .string(role), "name": .string("Role \(seed)"), "parent": .string(world.parentRole)],
                ])
            _ = try await tx.create(
                SystemCollections.policies,
                policies.map { ["id": .string($0), "name": .string("Policy \($0)"), "app_access": false] })
            return try await tx.create(
                SystemCollections.users,
                [
                    [
                        "id": .string(user), "email": .string("property-\(seed)@example.com"), "role": .string(role),
                        "status": "active",
                    ]
                ])
        }
    }

    /// The user's context as the server makes it: `policies` written as directus_access rows
    /// (through the role or to the user) and their read grants as directus_permissions rows, in
    /// place of the previous ones (a shrink rewrites them), read back by a new `PermissionResolver`.
    static func resolvedContext(_ world: AgreementWorld, _ policies: [GeneratedPolicy], store: Store) async throws
        -> ItemsContext
    {
        var previous = ItemQuery()
        previous.filter = .condition(
            path: ["policy"], op: ._in, value: .array((0..<3).map { .string(world.policy($0)) }))
        previous.limit = -1
        _ = try await store.deleteItems(SystemCollections.permissions, query: previous, context: .system)
        _ = try await store.deleteItems(SystemCollections.access, query: previous, context: .system)
        var access: [JSONObject] = []
        var permissions: [JSONObject] = []
        for (index, policy) in policies.enumerated() {
            let id = world.policy(index)
            access.append(policy.accessRow(world, policy: id))
            permissions.append(policy.items.permissionRow(world.itemsCollection, policy: id))
            if let people = policy.people { permissions.append(people.permissionRow(world.peopleCollection, policy: id)) }
        }
        _ = try await store.createItems(SystemCollections.access, access, context: .system)
        _ = try await store.createItems(SystemCollections.permissions, permissions, context: .system)
        let resolver = PermissionResolver(store: store)
        guard let accountability = try await resolver.accountability(userID: world.user) else {
            throw SwitchboardError.invalidPayload("the world's user \(world.user) is not an active user")
        }
        return try await resolver.context(for: accountability)
    }

    /// A read of `items` or `people`. Most reads keep to what `context` may read (a read of a
    /// field it may not read is refused, on both paths alike: one in five still tries).
    static func read(_ world: AgreementWorld, _ context: ItemsContext, _ rng: inout SeededGenerator) -> ReadCase {
        func dateParts(_ fields: [AgreementWorld.Field], prefix: String) -> [String] {
            fields.filter { ["date", "dateTime", "timestamp"].contains($0.type) }.map { "\(prefix)year(\($0.name))" }
                + fields.filter { ["dateTime", "timestamp"].contains($0.type) }.map { "\(prefix)hour(\($0.name))" }
        }
        let permitted = rng.chance(0.8)
        // Whether `context` may read the field a path or `fields` entry names at each step.
        func readable(_ path: [String], from collection: String) -> Bool {
            guard permitted else { return true }
            var current = collection
            for step in path {
                let name = FieldFunction(step)?.field ?? step
                guard let p = context.permissions.permission(.read, current), p.allows(field: name) else { return false }
                if name == "owner" {
                    current = world.peopleCollection
                } else if name == "items" {
                    current = world.itemsCollection
                }
            }
            return true
        }
        func pickFields(_ names: [String], from collection: String, _ rng: inout SeededGenerator) -> [String] {
            let allowed = names.filter { $0 == "*" || readable($0.split(separator: ".").map(String.init), from: collection) }
            let choices = allowed.isEmpty ? names : allowed
            var out: [String] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let name = rng.pick(choices)
                if !out.contains(name) { out.append(name) }
            }
            return out
        }
        func keepingReadable(_ generator: FilterGenerator, from collection: String) -> FilterGenerator {
            var copy = generator
            let paths = generator.paths.filter { readable($0.0, from: collection) }
            if !paths.isEmpty { copy.paths = paths }
            return copy
        }
        let filtered = rng.chance(0.8)
        if rng.chance(0.3) {
            // `people` fields name no o2m: a subscription reading one reads the database.
            let names = ["id"] + world.people.map(\.name) + dateParts(world.people, prefix: "")
            let generator = keepingReadable(FilterGenerator.people(world), from: world.peopleCollection)
            return ReadCase(
                target: .people, filter: filtered ? generator.filter(&rng) : nil,
                fields: pickFields(names, from: world.peopleCollection, &rng))
        }
        let names =
            ["*", "id", "owner"] + world.items.map(\.name) + dateParts(world.items, prefix: "")
            + ["owner.id"] + world.people.map { "owner.\($0.name)" } + dateParts(world.people, prefix: "owner.")
        let generator = keepingReadable(
            FilterGenerator.items(world, relational: rng.chance(0.4)), from: world.itemsCollection)
        return ReadCase(
            target: .items, filter: filtered ? generator.filter(&rng) : nil,
            fields: pickFields(names, from: world.itemsCollection, &rng))
    }

    // MARK: Checking

    /// Builds the world of `seed` in `store`, draws its policies and checks `reads` random reads
    /// as its user; answers the reads run and how many were refused.
    static func check(seed: UInt64, reads: Int, store: Store) async throws -> (Int, Int) {
        let world = AgreementWorld.make(seed: seed, now: DynamicVariables.currentTime(), accessField: true)
        let rows = try await AgreementRows.create(world, in: store)
        var rng = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15)
        let resolved = Self.resolved(seed)
        let policies = Self.policies(world, resolved: resolved, &rng)
        if resolved { try await Self.createUser(world, in: store) }
        let context = try await Self.context(world, policies, resolved: resolved, store: store)
        // The resolver found the role, its parent and every policy, through either role or the user.
        #expect(context.accountability.roleID == world.role)
        #expect(context.accountability.roles == [world.role, world.parentRole])
        #expect(Set(context.accountability.policies) == Set(policies.indices.map(world.policy)))
        var refused = 0
        for index in 0..<reads {
            let read = Self.read(world, context, &rng)
            switch await ReadAgreement.check(read, world: world, rows: rows, context: context, store: store) {
            case .agree: continue
            case .refused:
                refused += 1
                continue
            case .disagree(let failure):
                let (smallest, smallestPolicies, smallestFailure) = await shrink(
                    read, policies, failure, world: world, rows: rows, resolved: resolved, store: store)
                Issue.record(
                    """
                    A role sees different rows or fields over SQL and in memory (read \(index) of seed \(seed))
                    \(world.description)
                    context:  \(resolved ? "PermissionResolver over directus_* rows" : "CollectionPermission.combining")
                    role \(world.role), policies \(policies.indices.map(world.policy).joined(separator: ", "))
                    policies: \(policies.map(\.json.jsonString).joined(separator: "\n          "))
                    read:     \(read.json(world).jsonString)
                    shrunk:
                    policies: \(smallestPolicies.map(\.json.jsonString).joined(separator: "\n          "))
                    read:     \(smallest.json(world).jsonString)
                    \(smallestFailure)
                    replay:   PROPERTY_SEED=\(seed) PROPERTY_CASES=\(reads) swift test --filter PolicyAgreementPropertyTests
                    """)
                return (index + 1, refused)
            }
        }
        return (reads, refused)
    }

    /// Smaller failing cases: a policy, its `people` grant, a row filter or a granted field
    /// dropped; the read shrunk (filter, fields). At most 500 tries, each context made the way
    /// the failing one was (`resolved`: its rows rewritten).
    static func shrink(
        _ read: ReadCase, _ policies: [GeneratedPolicy], _ failure: String, world: AgreementWorld, rows: AgreementRows,
        resolved: Bool, store: Store
    ) async -> (ReadCase, [GeneratedPolicy], String) {
        var best = (read, policies, failure)
        var budget = 500
        var improved = true
        while improved, budget > 0 {
            improved = false
            var candidates: [(ReadCase, [GeneratedPolicy])] = []
            if best.1.count > 1 {
                for i in best.1.indices {
                    var fewer = best.1
                    fewer.remove(at: i)
                    candidates.append((best.0, fewer))
                }
            }
            for i in best.1.indices {
                if best.1[i].people != nil {
                    var copy = best.1
                    copy[i].people = nil
                    candidates.append((best.0, copy))
                }
                if best.1[i].items.filter != nil {
                    var copy = best.1
                    copy[i].items.filter = nil
                    candidates.append((best.0, copy))
                }
                if best.1[i].people?.filter != nil {
                    var copy = best.1
                    copy[i].people?.filter = nil
                    candidates.append((best.0, copy))
                }
                if let fields = best.1[i].items.fields, fields.count > 1 {
                    for j in fields.indices {
                        var copy = best.1
                        copy[i].items.fields?.remove(at: j)
                        candidates.append((best.0, copy))
                    }
                }
                if let fields = best.1[i].people?.fields, fields.count > 1 {
                    for j in fields.indices {
                        var copy = best.1
                        copy[i].people?.fields?.remove(at: j)
                        candidates.append((best.0, copy))
                    }
                }
            }
            candidates += best.0.shrinks.map { ($0, best.1) }
            for (candidate, candidatePolicies) in candidates {
                budget -= 1
                if budget < 0 { break }
                guard
                    let context = try? await Self.context(
                        world, candidatePolicies, resolved: resolved, store: store)
                else { continue }
                let verdict = await ReadAgreement.check(
                    candidate, world: world, rows: rows, context: context, store: store)
                if case .disagree(let f) = verdict {
                    best = (candidate, candidatePolicies, f)
                    improved = true
                    break
                }
            }
        }
        return best
    }
}
