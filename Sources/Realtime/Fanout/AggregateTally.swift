import Query
import Store
import SwitchboardCore

/// One aggregate query class's counts, kept up to date from change events instead of a
/// database read per event. The base comes from a read at a known seq (`Store.readAggregate`);
/// only the next event of the collection (seq + 1) is applied, on its pre- and post-images.
/// Whatever cannot be applied exactly answers `false`, and the caller reads the base again.
///
/// Counted in memory: `count: "*"`, `countAll` and `count` of plain fields (rows where the field
/// is not null), with or without `groupBy` on plain fields, when the query's filter and the read
/// permission's filter only compare plain fields of the collection (no relations, functions,
/// `$NOW` or `search`). `sum`, `avg`, `min`, `max` and the distinct counts are read every time:
/// `min`/`max` cannot be taken back when the extreme row leaves, and sums of floats would drift
/// from the database's.
struct AggregateTally: Sendable, Equatable {
    /// What a query class asks for, when it can be counted in memory.
    struct Plan: Sendable, Equatable {
        /// The aggregate requests, in the query's order (only `count` and `countAll`).
        var requests: [AggregateRequest]
        var groupBy: [String]
        /// The query's filter and the read permission's, variables resolved.
        var rule: Filter?
        var primaryKey: String
        /// Groups a read returns at most (nil: all of them).
        var groupLimit: Int?

        /// The plan for `query` with the read permission's `permissionFilter` (variables already
        /// resolved in `rule`), or nil when the class is read from the database on every event.
        init?(
            query: ItemQuery, rule: Filter?, primaryKey: String, groupLimit: Int?,
            isPlainField: (String) -> Bool
        ) {
            guard !query.aggregate.isEmpty, query.search == nil else { return nil }
            for request in query.aggregate {
                switch request.function {
                case .countAll: continue
                case .count:
                    if request.fields == ["*"] { continue }
                    guard request.fields.allSatisfy({ $0 != "*" && isPlainField($0) }) else { return nil }
                default: return nil
                }
            }
            // `count` twice (`{"count": "*"}` and `{"count": "id"}` merged) is left to the database.
            let functions = query.aggregate.map(\.function)
            guard Set(functions).count == functions.count else { return nil }
            guard query.groupBy.allSatisfy(isPlainField) else { return nil }
            if let rule {
                guard !rule.containsNowVariable, Self.isPlain(rule),
                    rule.referencedPaths.allSatisfy({ $0.count == 1 && isPlainField($0[0]) })
                else { return nil }
            }
            requests = query.aggregate
            groupBy = query.groupBy
            self.rule = rule
            self.primaryKey = primaryKey
            self.groupLimit = query.groupBy.isEmpty ? nil : groupLimit
        }

        /// No `_some` / `_none` (they read related rows).
        private static func isPlain(_ filter: Filter) -> Bool {
            switch filter {
            case .and(let parts), .or(let parts): return parts.allSatisfy(isPlain)
            case .condition: return true
            case .some, .none: return false
            }
        }

        /// Fields whose non-null rows are counted.
        var countedFields: [String] {
            var out: [String] = []
            for request in requests where request.function == .count && request.fields != ["*"] {
                for field in request.fields where !out.contains(field) { out.append(field) }
            }
            return out
        }

        /// The query the base is read with: every group's rows and non-null counts.
        func baseQuery(_ query: ItemQuery) -> ItemQuery {
            var q = query
            q.aggregate = [AggregateRequest(function: .countAll, fields: ["*"])]
            if !countedFields.isEmpty { q.aggregate.append(AggregateRequest(function: .count, fields: countedFields)) }
            return q
        }
    }

    struct Group: Sendable, Equatable {
        var key: [JSONValue]
        var rows: Int64
        /// field → rows where it is not null
        var nonNull: [String: Int64]
    }

    let plan: Plan
    /// The seq of the last change the counts include.
    private(set) var seq: Int64
    /// In the order the database returned them (new groups are never placed by us: that is a read).
    private(set) var groups: [Group]
    /// The collection as it was when the base was read: a schema change asks for a new read.
    let basis: CollectionSchema?

    /// The tally of a base read of `plan.baseQuery` taken at `seq`.
    init(plan: Plan, read: [JSONObject], seq: Int64, basis: CollectionSchema? = nil) {
        self.plan = plan
        self.seq = seq
        self.basis = basis
        groups = read.map { row in
            let counts = row["count"]?.objectValue ?? [:]
            return Group(
                key: plan.groupBy.map { row[$0] ?? .null }, rows: row["countAll"]?.intValue ?? 0,
                nonNull: Dictionary(uniqueKeysWithValues: plan.countedFields.map { ($0, counts[$0]?.intValue ?? 0) }))
        }
        if plan.groupBy.isEmpty && groups.isEmpty {
            groups = [Group(key: [], rows: 0, nonNull: Dictionary(uniqueKeysWithValues: plan.countedFields.map { ($0, 0) }))]
        }
    }

    /// Applies the collection's next change; false (nothing changed) when it can't be applied
    /// exactly: not the next seq, an update without every pre-image, a row entering a group the
    /// tally doesn't hold, or a group leaving when more may wait beyond the group limit.
    mutating func apply(_ event: ChangeEvent) -> Bool {
        guard event.seq == seq + 1, let (before, after) = images(of: event) else { return false }
        var next = groups
        var index: [[JSONValue]: Int] = [:]
        for (i, group) in next.enumerated() { index[group.key] = i }
        for (rows, sign) in [(before, Int64(-1)), (after, Int64(1))] {
            for row in rows where plan.rule?.matches(row) ?? true {
                guard let i = index[plan.groupBy.map { row[$0] ?? .null }] else { return false }
                next[i].rows += sign
                for field in plan.countedFields where !(row[field] ?? .null).isNull { next[i].nonNull[field, default: 0] += sign }
            }
        }
        guard next.allSatisfy({ $0.rows >= 0 && $0.nonNull.values.allSatisfy { $0 >= 0 } }) else { return false }
        if !plan.groupBy.isEmpty {
            let kept = next.filter { $0.rows > 0 }
            if kept.count < next.count, let limit = plan.groupLimit, next.count >= limit { return false }
            next = kept
        }
        groups = next
        seq = event.seq
        return true
    }

    /// An event the query class was not offered (its equality index ruled every row out, before
    /// and after): the counts stay. False when the tally can no longer follow (a gap, or an update
    /// without pre-images, whose old rows the index could not look at).
    mutating func pass(_ event: ChangeEvent) -> Bool {
        guard event.seq == seq + 1, images(of: event) != nil else { return false }
        seq = event.seq
        return true
    }

    /// The rows before and after the change; nil when an update lacks a pre-image.
    private func images(of event: ChangeEvent) -> (before: [JSONObject], after: [JSONObject])? {
        switch event.action {
        case .create: return ([], event.rows)
        case .delete: return (event.rows, [])
        case .update:
            let pk = plan.primaryKey
            let old = Set(event.previous.compactMap { $0[pk]?.textValue })
            let new = Set(event.rows.compactMap { $0[pk]?.textValue })
            guard event.previous.count == event.rows.count, old.count == event.rows.count, old == new else { return nil }
            return (event.previous, event.rows)
        }
    }

    /// The aggregate in REST's shape (as `ItemReader` answers it).
    var result: [JSONObject] {
        groups.map { group in
            var out = JSONObject()
            for (field, value) in zip(plan.groupBy, group.key) { out[field] = value }
            for request in plan.requests {
                if request.function == .countAll || request.fields == ["*"] {
                    out[request.function.rawValue] = .int(group.rows)
                } else {
                    var inner = JSONObject()
                    for field in request.fields { inner[field] = .int(group.nonNull[field] ?? 0) }
                    out[request.function.rawValue] = .object(inner)
                }
            }
            return out
        }
    }
}
