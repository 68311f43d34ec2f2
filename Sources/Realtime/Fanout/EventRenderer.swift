import Query
import RealtimeProtocol
import Store
import SwitchboardCore

/// Turns one committed change into the frame a query class receives, or nil
/// when the class should receive nothing. Plain-field queries are evaluated in
/// memory on the event's post-images (no database read); queries with
/// relational fields, relational filters, `deep` or `aggregate` read the
/// changed rows once per class, batched over the event's keys.
struct EventRenderer {
    let store: Store
    let stats: AggregateStats

    /// `tally`: an aggregate class's counts, kept between events (see `AggregateTally`).
    func render(_ event: ChangeEvent, for cls: QueryClass, tally: inout AggregateTally?) async throws -> [RenderedEvent] {
        let query = cls.key.request.query
        if !query.aggregate.isEmpty || !query.groupBy.isEmpty {
            if let only = cls.key.request.event, only != event.action { return [] }
            if let item = cls.key.request.item, !event.keys.contains(where: { $0.textValue == item.textValue }) { return [] }
            return [try await renderAggregate(event, for: cls, tally: &tally)]
        }
        var frames: [RenderedEvent] = []
        if let main = try await renderMain(event, for: cls) { frames.append(main) }
        if cls.key.request.live, event.action == .update, let left = try await leftRows(event, for: cls) { frames.append(left) }
        return frames
    }

    /// [extension] For `live` subscriptions: keys of updated rows that matched
    /// the subscriber's filter before the write and no longer do.
    private func leftRows(_ event: ChangeEvent, for cls: QueryClass) async throws -> RenderedEvent? {
        let request = cls.key.request
        if let only = request.event, only != .delete && only != .update { return nil }
        guard let collection = store.schema.collection(event.collection),
            let permission = cls.context.permissions.permission(.read, event.collection)
        else { return nil }
        let pk = collection.primaryKey
        let schema = store.schema
        let variables = cls.context.variables()
        func prepared(_ filter: Filter?) -> Filter? {
            filter?.resolvingVariables(variables).typedOperands(on: event.collection, in: schema)
        }
        let own = prepared(request.query.filter)
        let permitted = prepared(permission.rowFilter(fields: request.query.fields, in: collection))
        guard let rule = Filter.conjunction([own, permitted]) else { return nil }
        // Conditions through an m2o (`author.status`) are checked on the images with their related
        // rows read in: a row whose own `author` moved to an inactive author leaves. The related
        // rows are as they are now for both images (a change of them is their own event). A
        // pre-image whose related row is gone (its delete set this key to null) meets the
        // subscription's own conditions through that m2o, so the row leaves, unless the read
        // permission goes through it: then whether the caller could read the row is unknown, and
        // its key is not revealed.
        func manyToOnes(_ filter: Filter?) -> Set<String> {
            Set(
                (filter?.referencedPaths ?? []).compactMap { path in
                    path.count > 1 && schema.manyToOne(collection.name, path[0]) != nil ? path[0] : nil
                })
        }
        var evaluable = Self.evaluablePart(rule, of: event.collection, in: schema, keepingManyToOne: true)
        var followed = manyToOnes(evaluable)
        var previous = event.previous
        var rows = event.rows
        if !followed.isEmpty {
            if let expanded = try await withManyToOnes(previous + rows, for: evaluable, of: collection) {
                previous = Array(expanded[..<previous.count])
                rows = Array(expanded[previous.count...])
            } else {
                evaluable = Self.evaluablePart(rule, of: event.collection, in: schema)
                followed = []
            }
        }
        let permissionFollows = followed.isEmpty ? [] : manyToOnes(permitted)
        let evaluableIfRelatedGone =
            followed.isEmpty
            ? nil
            : Filter.conjunction([
                own.map { Self.evaluablePart($0, of: event.collection, in: schema) },
                permitted.map { Self.evaluablePart($0, of: event.collection, in: schema, keepingManyToOne: true) },
            ])
        func wasVisible(_ i: Int) -> Bool {
            let gone = followed.filter { field in
                !(event.previous[i][field]?.isNull ?? true) && (previous[i][field]?.isNull ?? true)
            }
            if gone.isEmpty { return evaluable.matches(previous[i]) }
            if !gone.isDisjoint(with: permissionFollows) { return false }
            return evaluableIfRelatedGone?.matches(previous[i]) ?? true
        }
        let before = Set(previous.indices.filter(wasVisible).compactMap { previous[$0][pk]?.textValue })
        var left: [JSONValue] = []
        for row in rows {
            guard let key = row[pk], let text = key.textValue, before.contains(text), !evaluable.matches(row) else { continue }
            if let item = request.item, item.textValue != text { continue }
            left.append(key)
        }
        guard !left.isEmpty else { return nil }
        return RenderedEvent(
            event: "delete", data: request.item != nil ? left[0] : .array(left), meta: nil, seq: event.seq,
            extra: [("reason", "left")])
    }

    private func renderMain(_ event: ChangeEvent, for cls: QueryClass) async throws -> RenderedEvent? {
        let request = cls.key.request
        if let only = request.event, only != event.action { return nil }
        var keys = event.keys
        var rows = event.rows
        let schema = store.schema
        guard let collection = schema.collection(event.collection) else { return nil }
        let pk = collection.primaryKey
        if let item = request.item {
            keys = keys.filter { $0.textValue == item.textValue }
            rows = rows.filter { $0[pk]?.textValue == item.textValue }
            if keys.isEmpty { return nil }
        }
        let query = request.query
        guard let permission = cls.context.permissions.permission(.read, event.collection) else { return nil }
        let variables = cls.context.variables()
        let data: JSONValue
        switch event.action {
        case .delete:
            // Only keys of rows the subscriber could read before the delete [deviation from Directus].
            // m2o conditions (`category.name`) read the related rows, which outlive the delete.
            let rowFilter = permission.rowFilter(fields: query.fields, in: collection)
            let resolved = Filter.conjunction([query.filter, rowFilter])?.resolvingVariables(variables)
                .typedOperands(on: event.collection, in: schema)
            var rule = resolved.map { Self.evaluablePart($0, of: event.collection, in: schema, keepingManyToOne: true) }
            var candidates = rows
            if let full = rule, let expanded = try await withManyToOnes(rows, for: full, of: collection) {
                candidates = expanded
            } else {
                rule = resolved.map { Self.evaluablePart($0, of: event.collection, in: schema) }
            }
            let visible = candidates.filter { row in rule?.matches(row) ?? true }
                .compactMap { $0[pk] }
            if visible.isEmpty { return nil }
            data = request.item != nil ? visible[0] : .array(visible)
        case .create, .update:
            let shaped: [JSONObject]
            let tree = try FieldTree.parse(query.fields ?? ["*"])
            if !InMemoryRead.suffices(for: query, tree: tree, permission: permission, collection: collection, schema: schema) {
                shaped = try await readWindowed(collection.name, keys: keys, query: query, context: cls.context)
            } else {
                let read = InMemoryRead(
                    query: query, tree: tree, permission: permission, collection: collection, schema: schema,
                    variables: variables)
                shaped = window(rows.filter(read.admits), query, sorting: true).map(read.projection.apply)
            }
            if shaped.isEmpty { return nil }
            data = request.item != nil ? .object(shaped[0]) : .array(shaped.map(JSONValue.object))
        }
        return RenderedEvent(event: event.action.rawValue, data: data, meta: nil, seq: event.seq)
    }

    /// The aggregate over the whole collection after `event`: counted in memory when the class's
    /// tally can apply it, else read (the base of a new tally when the class can be counted).
    private func renderAggregate(_ event: ChangeEvent, for cls: QueryClass, tally: inout AggregateTally?)
        async throws -> RenderedEvent
    {
        func frame(_ rows: [JSONObject]) -> RenderedEvent {
            RenderedEvent(event: event.action.rawValue, data: .array(rows.map(JSONValue.object)), meta: nil, seq: event.seq)
        }
        let collection = store.schema.collection(event.collection)
        if var counts = tally, counts.basis == collection {
            // A base read after this change already includes it.
            if counts.seq >= event.seq { return frame(counts.result) }
            if counts.apply(event) {
                tally = counts
                stats.countedInMemory()
                return frame(counts.result)
            }
        }
        tally = nil
        let query = cls.key.request.query
        guard let plan = aggregatePlan(for: cls, collection: event.collection) else {
            stats.read()
            return frame(try await store.readItems(event.collection, query: query, context: cls.context).data)
        }
        let base = try await store.readAtSeq(event.collection, query: plan.baseQuery(query), context: cls.context)
        stats.read()
        let counts = AggregateTally(plan: plan, read: base.result.data, seq: base.seq, basis: collection)
        tally = counts
        return frame(counts.result)
    }

    /// How an aggregate class is counted in memory; nil when it is read on every event.
    private func aggregatePlan(for cls: QueryClass, collection name: String) -> AggregateTally.Plan? {
        let request = cls.key.request
        guard request.item == nil, request.event == nil, let collection = store.schema.collection(name),
            let permission = cls.context.permissions.permission(.read, name)
        else { return nil }
        let schema = store.schema
        let rule = Filter.conjunction([request.query.filter, permission.filter])?
            .resolvingVariables(cls.context.variables()).typedOperands(on: name, in: schema)
        return AggregateTally.Plan(
            query: request.query, rule: rule, primaryKey: collection.primaryKey,
            groupLimit: store.environment.limits.effectiveLimit(request.query.limit),
            isPlainField: { field in
                guard let f = collection.field(field), f.type.hasColumn else { return false }
                return schema.oneToMany(name, field) == nil
            })
    }

    /// Deleted rows with each m2o field the filter reads through (`category` for `category.name`)
    /// replaced by the related row, read now: the related rows outlive the delete. The read is the
    /// system's, as the permission filter's own SQL is. Nil when the filter also compares such a
    /// field as a key (`category _eq 3`), which the replaced row could no longer answer.
    private func withManyToOnes(_ rows: [JSONObject], for filter: Filter, of collection: CollectionSchema)
        async throws -> [JSONObject]?
    {
        var deeper: [String: Set<String>] = [:]
        let paths = filter.referencedPaths
        for path in paths where path.count > 1 && store.schema.manyToOne(collection.name, path[0]) != nil {
            // `category.year(at)` is computed from `at`: read the field itself.
            var rest = Array(path.dropFirst())
            if let function = FieldFunction(rest[rest.count - 1]) { rest[rest.count - 1] = function.field }
            deeper[path[0], default: []].insert(rest.joined(separator: "."))
        }
        guard !deeper.isEmpty else { return rows }
        if deeper.keys.contains(where: { paths.contains([$0]) }) { return nil }
        var out = rows
        for (field, paths) in deeper {
            guard let relation = store.schema.manyToOne(collection.name, field),
                let related = store.schema.collection(relation.oneCollection)
            else { continue }
            var seen = Set<String>()
            let keys = rows.compactMap { row -> JSONValue? in
                guard let key = row[field], !key.isNull, let text = key.textValue, seen.insert(text).inserted else { return nil }
                return key
            }
            var byKey: [String: JSONValue] = [:]
            if !keys.isEmpty {
                var q = ItemQuery()
                q.fields = [related.primaryKey] + paths.sorted()
                q.limit = -1
                for row in try await store.readItems(related.name, keys: keys, query: q, context: .system) {
                    if let text = row[related.primaryKey]?.textValue { byKey[text] = .object(row) }
                }
            }
            for i in out.indices {
                out[i][field] = out[i][field]?.textValue.flatMap { byKey[$0] } ?? .null
            }
        }
        return out
    }

    enum RelatedRendering {
        case frames([RenderedEvent])
        /// More than the limit of the class's rows lead to the changed rows: none are sent.
        case tooMany
    }

    /// The frames a change to a related collection (`authors`, for a class on `posts` reading
    /// `author.email`) sends a class: an `update` of the class's rows that lead to the changed rows,
    /// as a read of those rows with the class's query and permissions returns them now, and for
    /// `live` classes whose filter reads the related collection, `delete` with `reason: "left"` of
    /// those rows the class may read but whose filter no longer holds. No frame carries a seq: they
    /// are no change of the class's collection. At most `limit` rows are re-read. An update that
    /// changed none of the fields that matter to the class (`RelatedReach.matters`) sends nothing.
    func renderRelated(_ event: ChangeEvent, for cls: QueryClass, reach: RelatedReach, limit: Int) async throws
        -> RelatedRendering
    {
        let request = cls.key.request
        let schema = store.schema
        let sendsUpdate = request.event == nil || request.event == .update
        let sendsLeft =
            request.live && (request.event == nil || request.event == .delete) && reach.filtered.contains(event.collection)
        guard sendsUpdate || sendsLeft, reach.matters(event, schema: schema),
            let collection = schema.collection(request.collection),
            cls.context.permissions.permission(.read, collection.name) != nil,
            let leading = reach.parentFilter(for: event, schema: schema)
        else { return .frames([]) }
        let pk = collection.primaryKey
        var find = ItemQuery()
        find.fields = [pk]
        find.filter = leading
        find.limit = limit + 1
        // Which rows lead there is the system's question (as the permission filter's own SQL is);
        // what the class is shown of them is read with its permissions below.
        var keys = try await store.readItems(collection.name, query: find, context: .system).data.compactMap { $0[pk] }
        if keys.count > limit { return .tooMany }
        if let item = request.item { keys = keys.filter { $0.textValue == item.textValue } }
        guard !keys.isEmpty else { return .frames([]) }
        let query = request.query
        var frames: [RenderedEvent] = []
        if sendsUpdate {
            if !query.aggregate.isEmpty || !query.groupBy.isEmpty {
                let result = try await store.readItems(collection.name, query: query, context: cls.context)
                return .frames([
                    RenderedEvent(event: "update", data: .array(result.data.map(JSONValue.object)), meta: nil, seq: nil)
                ])
            }
            let shaped = try await readWindowed(collection.name, keys: keys, query: query, context: cls.context)
            if !shaped.isEmpty {
                let data: JSONValue = request.item != nil ? .object(shaped[0]) : .array(shaped.map(JSONValue.object))
                frames.append(RenderedEvent(event: "update", data: data, meta: nil, seq: nil))
            }
        }
        if sendsLeft {
            var probe = ItemQuery()
            probe.fields = [pk]
            probe.limit = -1
            let readable = try await store.readItems(collection.name, keys: keys, query: probe, context: cls.context)
            probe.filter = query.filter
            let matching = Set(
                try await store.readItems(collection.name, keys: keys, query: probe, context: cls.context)
                    .compactMap { $0[pk]?.textValue })
            let left = readable.compactMap { $0[pk] }.filter { key in key.textValue.map { !matching.contains($0) } ?? false }
            if !left.isEmpty {
                frames.append(
                    RenderedEvent(
                        event: "delete", data: request.item != nil ? left[0] : .array(left), meta: nil, seq: nil,
                        extra: [("reason", "left")]))
            }
        }
        return .frames(frames)
    }

    /// A change's rows read by key with the class's query: `offset` / `page` / `limit` apply to
    /// those rows afterwards (`window`), as to an event's; no `meta`. `sort` is applied afterwards
    /// too, unless it counts another collection's rows (`count(comments)`): the read sorts by that
    /// and its order is kept.
    private func readWindowed(_ collection: String, keys: [JSONValue], query: ItemQuery, context: ItemsContext)
        async throws -> [JSONObject]
    {
        let readSorted = InMemoryRead.sortsByRelatedCount(query.sort, of: collection, in: store.schema)
        var q = query
        if !readSorted { q.sort = [] }
        q.offset = nil
        q.page = nil
        q.limit = nil
        q.meta = []
        let rows = try await store.readItems(collection, keys: keys, query: q, context: context)
        return window(rows, query, sorting: !readSorted)
    }

    /// `sort` (when `sorting`), `offset`, `limit` over the changed rows of one event (as Directus does).
    private func window(_ rows: [JSONObject], _ query: ItemQuery, sorting: Bool) -> [JSONObject] {
        var out = rows
        if sorting && !query.sort.isEmpty {
            out.sort { SortField.areInIncreasingOrder($0, $1, by: query.sort) }
        }
        if let offset = query.offset, offset > 0 { out = Array(out.dropFirst(offset)) }
        if let limit = query.limit, limit >= 0 { out = Array(out.prefix(limit)) }
        return out
    }

    /// A filter with relational conditions dropped (they can't be checked on a
    /// deleted row's pre-image); used only to decide which deleted keys to reveal and which
    /// updated rows left a `live` filter.
    /// Conditions on an o2m (`comments`, `count(comments)`) read related rows, which a
    /// change event does not carry.
    /// `keepingManyToOne`: conditions through an m2o (`category.name`) stay, for rows whose
    /// m2o fields `withManyToOnes` filled in.
    static func evaluablePart(
        _ filter: Filter, of collection: String, in schema: Schema, keepingManyToOne: Bool = false
    ) -> Filter {
        func part(_ f: Filter) -> Filter { evaluablePart(f, of: collection, in: schema, keepingManyToOne: keepingManyToOne) }
        switch filter {
        case .and(let parts): return .and(parts.map(part))
        case .or(let parts): return .or(parts.map(part))
        case .condition(let path, _, _) where path.count > 1:
            // Deeper steps are read as the database answers them: only o2m heads are dropped.
            return keepingManyToOne && schema.manyToOne(collection, path[0]) != nil ? filter : .and([])
        case .condition(let path, _, _) where schema.oneToMany(collection, FieldFunction(path[0])?.field ?? path[0]) != nil:
            return .and([])
        case .some, .none: return .and([])
        default: return filter
        }
    }
}
