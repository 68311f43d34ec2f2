import Foundation
import Query
import Store
import SwitchboardCore
import Testing

// A seeded property test: REST and `init` select rows with the filter compiled to SQL
// (FilterCompiler through `Store.readItems`), subscriptions in memory on the change events'
// post-images (`InMemoryRead`, `Filter.matches`). For random schemas, rows and filters over every
// operator and function, through the m2o `items.owner` and the o2m `people.items` (`_some`,
// `_none`, `items.<field>`, `count(items)`), both must select the same rows. The generator is
// PropertyWorld.swift; PolicyAgreementPropertyTests runs the same reads as a user with policies.
//
// Default: seeds 1-40, `filtersPerWorld` filters each (a few seconds).
// Longer or targeted runs (see README, "Testing"):
//   PROPERTY_CASES=200000 swift test --filter FilterAgreementPropertyTests   # more worlds, new seeds
//   PROPERTY_SEED=1234 swift test --filter FilterAgreementPropertyTests      # one world, replayed
// With SWITCHBOARD_TEST_PG=host:port (scripts/test's PostgreSQL stage) the same cases also run
// on a throwaway PostgreSQL database.

@Suite(.serialized) struct FilterAgreementPropertyTests {
    static let defaultWorlds = 40
    static let filtersPerWorld = 100

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
        try await PropertyPlan.make(defaultWorlds: Self.defaultWorlds, perWorld: Self.filtersPerWorld).runCounting(
            "FilterAgreementPropertyTests", unit: "cases", on: backend, withBackend
        ) { seed, perWorld, store in try await Self.check(seed: seed, filters: perWorld, store: store) }
    }

    /// Builds the world of `seed` in `store` and checks `filters` random filters on it (on `items`,
    /// and on `people` through the o2m); answers the cases run and how many the SQL path refused
    /// (a bad value for the field's type).
    static func check(seed: UInt64, filters: Int, store: Store) async throws -> (Int, Int) {
        let world = AgreementWorld.make(seed: seed, now: DynamicVariables.currentTime())
        let rows = try await AgreementRows.create(world, in: store)
        var rng = SeededGenerator(seed: seed &* 0x2545_F491_4F6C_DD1D)
        var refused = 0
        for index in 0..<filters {
            let read: ReadCase
            if rng.chance(0.3) {
                read = ReadCase(target: .people, filter: FilterGenerator.people(world).filter(&rng), fields: ["id"])
            } else {
                let generator = FilterGenerator.items(world, relational: rng.chance(0.3))
                read = ReadCase(target: .items, filter: generator.filter(&rng), fields: ["id"])
            }
            switch await ReadAgreement.check(read, world: world, rows: rows, context: .system, store: store) {
            case .agree: continue
            case .refused:
                refused += 1
                continue
            case .disagree(let failure):
                var smallest = read
                var smallestFailure = failure
                var improved = true
                var budget = 500
                while improved, budget > 0 {
                    improved = false
                    for candidate in smallest.shrinks where candidate.filter != nil {
                        budget -= 1
                        let verdict = await ReadAgreement.check(
                            candidate, world: world, rows: rows, context: .system, store: store)
                        if case .disagree(let f) = verdict {
                            smallest = candidate
                            smallestFailure = f
                            improved = true
                            break
                        }
                    }
                }
                Issue.record(
                    """
                    SQL and in-memory filter evaluation disagree (case \(index) of seed \(seed))
                    \(world.description)
                    read:     \(read.json(world).jsonString)
                    shrunk:   \(smallest.json(world).jsonString)
                    \(smallestFailure)
                    replay:   PROPERTY_SEED=\(seed) PROPERTY_CASES=\(filters) swift test --filter FilterAgreementPropertyTests
                    """)
                return (index + 1, refused)
            }
        }
        return (filters, refused)
    }
}
