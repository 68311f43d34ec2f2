import Query
import Store
import SwitchboardCore
import Testing

@testable import Realtime

@Suite struct AggregateTallyTests {
    static func event(_ seq: Int64, _ action: ChangeEvent.Action, rows: [JSONObject], previous: [JSONObject] = [])
        -> ChangeEvent
    {
        ChangeEvent(
            collection: "posts", seq: seq, action: action, keys: rows.compactMap { $0["id"] }, rows: rows,
            previous: previous, origin: "r", userID: nil, timestamp: ISOTimestamp(epochMilliseconds: 0))
    }

    static func row(_ id: Int64, _ status: JSONValue, score: JSONValue = .null) -> JSONObject {
        JSONObject([("id", .int(id)), ("status", status), ("score", score)])
    }

    static func plan(
        aggregate: [AggregateRequest] = [AggregateRequest(function: .count, fields: ["*"])], groupBy: [String] = [],
        filter: JSONValue? = nil, groupLimit: Int? = nil
    ) throws -> AggregateTally.Plan? {
        var q = ItemQuery()
        q.aggregate = aggregate
        q.groupBy = groupBy
        q.filter = try filter.map { try Filter.parse($0) }
        return AggregateTally.Plan(
            query: q, rule: q.filter, primaryKey: "id", groupLimit: groupLimit,
            isPlainField: { ["id", "status", "score"].contains($0) })
    }

    /// What the database answers for the base query: one row per group, ordered by the group key.
    static func baseRead(_ rows: [JSONObject], _ plan: AggregateTally.Plan) -> [JSONObject] {
        let matching = rows.filter { plan.rule?.matches($0) ?? true }
        var groups: [[JSONValue]: [JSONObject]] = [:]
        for row in matching { groups[plan.groupBy.map { row[$0] ?? .null }, default: []].append(row) }
        if plan.groupBy.isEmpty && groups.isEmpty { groups[[]] = [] }
        var keys = groups.keys.sorted { $0.map { $0.textValue ?? "" }.joined() < $1.map { $0.textValue ?? "" }.joined() }
        if let limit = plan.groupLimit { keys = Array(keys.prefix(limit)) }
        return keys.map { key in
            var out = JSONObject()
            for (field, value) in zip(plan.groupBy, key) { out[field] = value }
            let members = groups[key] ?? []
            out["countAll"] = .int(Int64(members.count))
            var counts = JSONObject()
            for field in plan.countedFields {
                counts[field] = .int(Int64(members.filter { !($0[field] ?? .null).isNull }.count))
            }
            out["count"] = .object(counts)
            return out
        }
    }

    /// The REST answer for the subscription's own query, computed from scratch.
    static func recount(_ rows: [JSONObject], _ plan: AggregateTally.Plan) -> Set<String> {
        let matching = rows.filter { plan.rule?.matches($0) ?? true }
        var result = AggregateRequest.compute(plan.requests, groupBy: plan.groupBy, rows: matching)
        if let limit = plan.groupLimit {
            func text(_ row: JSONObject) -> String { plan.groupBy.map { row[$0]?.textValue ?? "" }.joined() }
            result = Array(result.sorted { text($0) < text($1) }.prefix(limit))
        }
        return Set(result.map { JSONValue.object($0).jsonString })
    }

    static func apply(_ tally: inout AggregateTally, _ event: ChangeEvent) -> Bool { tally.apply(event) }
    static func pass(_ tally: inout AggregateTally, _ event: ChangeEvent) -> Bool { tally.pass(event) }

    static func shape(_ rows: [JSONObject]) -> Set<String> { Set(rows.map { JSONValue.object($0).jsonString }) }

    @Test func countsCreatesUpdatesAndDeletesThroughTheFilter() throws {
        let plan = try #require(try Self.plan(filter: ["status": ["_eq": "published"]]))
        var tally = AggregateTally(plan: plan, read: [["countAll": 2, "count": [:]]], seq: 10)
        #expect(tally.result == [["count": 2]])
        #expect(Self.apply(&tally, Self.event(11, .create, rows: [Self.row(3, "published"), Self.row(4, "draft")])))
        #expect(tally.result == [["count": 3]])
        // Moves out of the filter.
        #expect(Self.apply(&tally, Self.event(12, .update, rows: [Self.row(3, "draft")], previous: [Self.row(3, "published")])))
        #expect(tally.result == [["count": 2]])
        #expect(Self.apply(&tally, Self.event(13, .delete, rows: [Self.row(1, "published"), Self.row(4, "draft")])))
        #expect(tally.result == [["count": 1]])
        #expect(tally.seq == 13)
    }

    @Test func aChangeOutOfOrderOrWithoutPreImagesIsNotApplied() throws {
        let plan = try #require(try Self.plan())
        var tally = AggregateTally(plan: plan, read: [["countAll": 2, "count": [:]]], seq: 10)
        #expect(!Self.apply(&tally, Self.event(12, .create, rows: [Self.row(3, "a")])))
        #expect(!Self.apply(&tally, Self.event(11, .update, rows: [Self.row(3, "a")])))
        #expect(!Self.pass(&tally, Self.event(11, .update, rows: [Self.row(3, "a")])))
        #expect(tally.seq == 10)
        #expect(tally.result == [["count": 2]])
        #expect(Self.pass(&tally, Self.event(11, .create, rows: [Self.row(3, "a")])))
        #expect(tally.seq == 11)
    }

    @Test func aNewGroupOrALeavingGroupAtTheLimitNeedsARead() throws {
        let plan = try #require(try Self.plan(groupBy: ["status"], groupLimit: 2))
        var tally = AggregateTally(
            plan: plan, read: [["status": "a", "countAll": 1, "count": [:]], ["status": "b", "countAll": 1, "count": [:]]],
            seq: 1)
        #expect(!Self.apply(&tally, Self.event(2, .create, rows: [Self.row(9, "c")])))
        #expect(!Self.apply(&tally, Self.event(2, .delete, rows: [Self.row(1, "a")])))
        #expect(Self.apply(&tally, Self.event(2, .create, rows: [Self.row(9, "a")])))
        #expect(tally.result == [["status": "a", "count": 2], ["status": "b", "count": 1]])
    }

    @Test func countOfAFieldCountsRowsWhereItIsNotNull() throws {
        let plan = try #require(
            try Self.plan(aggregate: [
                AggregateRequest(function: .countAll, fields: ["*"]), AggregateRequest(function: .count, fields: ["score"]),
            ]))
        var tally = AggregateTally(plan: plan, read: [["countAll": 0, "count": ["score": 0]]], seq: 0)
        #expect(Self.apply(&tally, Self.event(1, .create, rows: [Self.row(1, "a"), Self.row(2, "a", score: 5)])))
        #expect(tally.result == [["countAll": 2, "count": ["score": 1]]])
        #expect(Self.apply(&tally, Self.event(2, .update, rows: [Self.row(1, "a", score: 1)], previous: [Self.row(1, "a")])))
        #expect(tally.result == [["countAll": 2, "count": ["score": 2]]])
    }

    @Test func queriesThatCannotBeCountedInMemoryHaveNoPlan() throws {
        #expect(try Self.plan(aggregate: [AggregateRequest(function: .sum, fields: ["score"])]) == nil)
        #expect(try Self.plan(aggregate: [AggregateRequest(function: .max, fields: ["score"])]) == nil)
        #expect(try Self.plan(filter: ["author": ["name": ["_eq": "x"]]]) == nil)
        #expect(try Self.plan(filter: ["score": ["_gt": "$NOW(-1 day)"]]) == nil)
        #expect(try Self.plan(groupBy: ["year(date)"]) == nil)
        #expect(try Self.plan(filter: ["status": ["_eq": "a"]]) != nil)
    }

    /// Random creates, updates and deletes applied one by one equal a recount from scratch after
    /// every change; changes the tally cannot apply are answered with a fresh base read, as fan-out does.
    @Test(arguments: [nil, 2] as [Int?]) func randomChangesAppliedInMemoryEqualARecount(groupLimit: Int?) throws {
        var rng = SplitMix64(seed: 0x5eed + UInt64(groupLimit ?? 0))
        let statuses: [JSONValue] = ["a", "b", "c", .null]
        let plans = [
            try Self.plan(filter: ["status": ["_neq": "c"]]),
            try Self.plan(
                aggregate: [
                    AggregateRequest(function: .count, fields: ["score"]), AggregateRequest(function: .countAll, fields: ["*"]),
                ], groupBy: ["status"], groupLimit: groupLimit),
            try Self.plan(groupBy: ["status"], filter: ["score": ["_gte": 3]], groupLimit: groupLimit),
        ].compactMap { $0 }
        #expect(plans.count == 3)
        for plan in plans {
            var table: [Int64: JSONObject] = [:]
            var nextID: Int64 = 1
            var seq: Int64 = 0
            var tally = AggregateTally(plan: plan, read: Self.baseRead([], plan), seq: 0)
            var applied = 0
            for _ in 0..<400 {
                seq += 1
                let score: JSONValue = rng.next() % 3 == 0 ? .null : .int(Int64(rng.next() % 6))
                let status = statuses[Int(rng.next() % 4)]
                let event: ChangeEvent
                switch rng.next() % 3 {
                case 0 where !table.isEmpty:
                    let id = table.keys.sorted()[Int(rng.next() % UInt64(table.count))]
                    event = Self.event(seq, .delete, rows: [table[id]!])
                    table[id] = nil
                case 1 where !table.isEmpty:
                    let id = table.keys.sorted()[Int(rng.next() % UInt64(table.count))]
                    let before = table[id]!
                    table[id] = Self.row(id, status, score: score)
                    event = Self.event(seq, .update, rows: [table[id]!], previous: [before])
                default:
                    table[nextID] = Self.row(nextID, status, score: score)
                    event = Self.event(seq, .create, rows: [table[nextID]!])
                    nextID += 1
                }
                let rows = table.keys.sorted().map { table[$0]! }
                if tally.apply(event) {
                    applied += 1
                } else {
                    tally = AggregateTally(plan: plan, read: Self.baseRead(rows, plan), seq: seq)
                }
                #expect(Self.shape(tally.result) == Self.recount(rows, plan), "seq \(seq)")
            }
            #expect(applied > (groupLimit == nil ? 200 : 100))
        }
    }
}
