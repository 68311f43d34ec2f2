import Query
import SwitchboardCore

/// What a read returns: rows (or aggregate rows) and the optional `meta` object.
public struct ReadResult: Sendable {
    public var data: [JSONObject]
    public var meta: JSONObject?
}

/// Reads items with the caller's read permissions applied: row filter in SQL,
/// fields checked against the allowed set, relations expanded with the related
/// collections' permissions, one batched query per relation and level.
struct ItemReader {
    let schema: Schema
    let dialect: SQLDialect
    let context: ItemsContext
    let variables: DynamicVariables
    let limits: QueryLimits
    let executor: any SQLExecutor

    /// One requested output field.
    enum Projection {
        case column(FieldSchema)
        case manyToOne(FieldSchema, RelationSchema, FieldTree, ItemQuery?)
        case oneToMany(FieldSchema, RelationSchema, FieldTree?, ItemQuery?)
        /// `year(date_created)` of a column, or `count(comments)` of an o2m (its relation given).
        case function(FieldFunction, FieldSchema, RelationSchema?)
    }

    func collection(_ name: String) throws(SwitchboardError) -> CollectionSchema {
        guard let c = schema.collection(name) else { throw SwitchboardError.forbiddenCollection(name) }
        return c
    }

    func readPermission(_ collection: String) throws(SwitchboardError) -> CollectionPermission {
        guard let p = context.permissions.permission(.read, collection) else {
            throw SwitchboardError.forbiddenCollection(collection)
        }
        return p
    }

    // MARK: Public entry points

    func read(_ collectionName: String, query: ItemQuery) async throws -> ReadResult {
        let collection = try collection(collectionName)
        let permission = try readPermission(collectionName)
        try checkLimit(query.limit)
        if !query.aggregate.isEmpty || !query.groupBy.isEmpty {
            return ReadResult(data: try await aggregate(collection, permission, query), meta: nil)
        }
        let tree = try FieldTree.parse(query.fields ?? ["*"])
        let rows = try await readRows(
            collection, permission: permission, tree: tree, filter: query.filter, search: query.search,
            sort: query.sort, limit: effectiveLimit(query.limit), offset: effectiveOffset(query), deep: query.deep,
            strict: true)
        var meta: JSONObject?
        if !query.meta.isEmpty {
            var m = JSONObject()
            if query.meta.contains(.totalCount) {
                m["total_count"] = .int(try await count(collection, permission, filter: nil, search: nil))
            }
            if query.meta.contains(.filterCount) {
                m["filter_count"] = .int(try await count(collection, permission, filter: query.filter, search: query.search))
            }
            meta = m
        }
        return ReadResult(data: rows, meta: meta)
    }

    /// The limit a read uses: the default when none is given, `-1` (all) capped
    /// by `QUERY_LIMIT_MAX`; an explicit limit above the maximum is refused (as in Directus).
    func effectiveLimit(_ requested: Int?) -> Int? { limits.effectiveLimit(requested) }

    func checkLimit(_ requested: Int?) throws(SwitchboardError) {
        if let requested, let max = limits.maxLimit, requested > max {
            throw SwitchboardError.invalidQuery("\"limit\" can't be larger than \(max).")
        }
    }

    func effectiveOffset(_ query: ItemQuery) -> Int? {
        if let offset = query.offset { return offset }
        if let page = query.page, page > 1, let limit = effectiveLimit(query.limit) { return (page - 1) * limit }
        return nil
    }

    /// Keys of the rows `filter` selects among those `permission` allows (for update/delete by query).
    func keys(
        _ collection: CollectionSchema, permission: CollectionPermission, filter: Filter?, limit: Int?
    ) async throws -> [JSONValue] {
        var compiler = FilterCompiler(schema: schema, dialect: dialect, context: context, variables: variables)
        var sql = SQLStatement("SELECT t0.\(dialect.quote(collection.primaryKey)) FROM \(dialect.quote(collection.name)) AS t0")
        sql.append(try whereClause(&compiler, collection, permission, filter: filter, search: nil))
        sql.append(" ORDER BY t0.\(dialect.quote(collection.primaryKey))")
        if let limit { sql.append(" LIMIT \(limit)") }
        return try await executor.query(sql).map { ValueCodec.key($0[0]) }
    }

    // MARK: Rows

    func readRows(
        _ collection: CollectionSchema, permission: CollectionPermission, tree: FieldTree, filter: Filter?,
        search: String?, sort: [SortField], limit: Int?, offset: Int?, deep: [String: ItemQuery], strict: Bool
    ) async throws -> [JSONObject] {
        try await readKeyedRows(
            collection, permission: permission, tree: tree, filter: filter, search: search, sort: sort, limit: limit,
            offset: offset, deep: deep, strict: strict, keyField: collection.primaryKey
        ).map(\.row)
    }

    /// `readRows`, each row with the stored value of `keyField` (a column), whether or not the
    /// row shows it: related rows are matched to their parents by it, which a field a policy
    /// grants only on some rows (null elsewhere) must not undo. `keys`: only rows whose
    /// `keyField` is one of them.
    func readKeyedRows(
        _ collection: CollectionSchema, permission: CollectionPermission, tree: FieldTree, filter: Filter?,
        search: String?, sort: [SortField], limit: Int?, offset: Int?, deep: [String: ItemQuery], strict: Bool,
        keyField: String, keys: [JSONValue]? = nil
    ) async throws -> [(key: JSONValue, row: JSONObject)] {
        let projections = try project(collection, permission: permission, tree: tree, deep: deep, strict: strict)
        var columns: [String] = [collection.primaryKey]
        for p in projections {
            switch p {
            case .column(let f), .manyToOne(let f, _, _, _), .function(_, let f, nil):
                if !columns.contains(f.field) { columns.append(f.field) }
            case .oneToMany, .function: break
            }
        }
        if !columns.contains(keyField) { columns.append(keyField) }
        // Fields granted by only some policies: one flag per distinct condition says
        // whether the row may show them (Directus's CASE WHEN per policy case).
        var flags: [Filter] = []
        var flagOf: [String: String] = [:]
        for p in projections {
            guard let condition = permission.condition(for: p.readField) else { continue }
            let index = flags.firstIndex(of: condition) ?? flags.count
            if index == flags.count { flags.append(condition) }
            flagOf[p.name] = "__case_\(index)"
        }
        var visible = permission
        visible.filter = permission.rowFilter(requesting: permission.requestedFields(tree, in: collection))
        var compiler = FilterCompiler(schema: schema, dialect: dialect, context: context, variables: variables)
        var sql = SQLStatement("SELECT ")
        sql.append(columns.map { "t0.\(dialect.quote($0))" }.joined(separator: ", "))
        for (i, condition) in flags.enumerated() {
            var trusted = FilterCompiler(schema: schema, dialect: dialect, context: .system, variables: variables)
            sql.append(", CASE WHEN ")
            sql.append(try trusted.compile(condition.resolvingVariables(variables), on: collection, alias: "t0"))
            sql.append(" THEN 1 ELSE 0 END AS \(dialect.quote("__case_\(i)"))")
        }
        sql.append(" FROM \(dialect.quote(collection.name)) AS t0")
        // The match on `keys` is ours, not the caller's: its key field need not be one it may read.
        let match = keys.map { Filter.condition(path: [keyField], op: ._in, value: .array($0)) }
        sql.append(try whereClause(&compiler, collection, visible, filter: filter, search: search, trusted: match))
        sql.append(try orderBy(&compiler, collection, sort))
        if let limit {
            sql.append(" LIMIT \(limit)")
            if let offset, offset > 0 { sql.append(" OFFSET \(offset)") }
        } else if let offset, offset > 0 {
            sql.append(dialect == .sqlite ? " LIMIT -1 OFFSET \(offset)" : " OFFSET \(offset)")
        }
        let sqlRows = try await executor.query(sql)
        var keys: [JSONValue] = []
        var raw: [[String: SQLValue]] = []
        keys.reserveCapacity(sqlRows.count)
        for row in sqlRows {
            var values: [String: SQLValue] = [:]
            for (i, c) in row.columns.enumerated() { values[c] = row.values[i] }
            raw.append(values)
            keys.append(ValueCodec.key(row[0]))
        }
        var output = raw.map { _ in JSONObject() }
        for p in projections {
            let flag = flagOf[p.name]
            func shown(_ i: Int) -> Bool { flag.map { (raw[i][$0]?.int ?? 0) != 0 } ?? true }
            switch p {
            case .column(let f):
                for i in raw.indices {
                    output[i][f.field] = shown(i) ? ValueCodec.decode(raw[i][f.field] ?? .null, for: f) : .null
                }
            case .manyToOne(let f, let relation, let subtree, let deepQuery):
                let fks = raw.indices.map { shown($0) ? ValueCodec.key(raw[$0][f.field] ?? .null) : .null }
                let related = try await fetchRelated(
                    relation.oneCollection, keyField: nil, keys: fks, tree: subtree, deep: deepQuery)
                for i in raw.indices {
                    let fk = fks[i]
                    output[i][f.field] = fk.isNull ? .null : (related[fk.hashKey]?.first.map(JSONValue.object) ?? .null)
                }
            case .function(let function, let f, nil):
                for i in raw.indices {
                    output[i][function.outputName] =
                        shown(i) ? function.apply(to: ValueCodec.decode(raw[i][f.field] ?? .null, for: f)) : .null
                }
            case .function(let function, _, let relation?):
                let counts = try await relatedCounts(relation, keys: keys)
                for i in raw.indices {
                    output[i][function.outputName] = shown(i) ? .int(counts[keys[i].hashKey] ?? 0) : .null
                }
            case .oneToMany(let f, let relation, let subtree, let deepQuery):
                guard let child = schema.collection(relation.manyCollection) else { continue }
                let childTree = subtree ?? FieldTree(names: [child.primaryKey])
                let related = try await fetchRelated(
                    child.name, keyField: relation.manyField, keys: keys, tree: childTree, deep: deepQuery)
                for i in raw.indices {
                    guard shown(i) else {
                        output[i][f.field] = .null
                        continue
                    }
                    var children = related[keys[i].hashKey] ?? []
                    if let limit = deepQuery?.limit, limit >= 0 { children = Array(children.prefix(limit)) }
                    if subtree == nil {
                        output[i][f.field] = .array(children.map { $0[child.primaryKey] ?? .null })
                    } else {
                        output[i][f.field] = .array(children.map(JSONValue.object))
                    }
                }
            }
        }
        // Restore the requested order of fields (relational fields were filled last).
        let order = projections.map(\.name)
        return raw.indices.map { i in
            (
                ValueCodec.key(raw[i][keyField] ?? .null),
                JSONObject(order.compactMap { name in output[i][name].map { (name, $0) } })
            )
        }
    }

    /// Reads rows of `collectionName` whose `keyField` (default: primary key) is in
    /// `keys`, grouped by that field. Rows the caller may not read are simply absent.
    private func fetchRelated(
        _ collectionName: String, keyField: String?, keys: [JSONValue], tree: FieldTree, deep: ItemQuery?
    ) async throws -> [String: [JSONObject]] {
        guard let collection = schema.collection(collectionName),
            let permission = context.permissions.permission(.read, collectionName)
        else { return [:] }
        var unique: [JSONValue] = []
        var seen = Set<String>()
        for k in keys where !k.isNull && seen.insert(k.hashKey).inserted { unique.append(k) }
        guard !unique.isEmpty else { return [:] }
        let field = keyField ?? collection.primaryKey
        var result: [String: [JSONObject]] = [:]
        // Chunked so that no statement exceeds the database's parameter limit.
        var start = 0
        while start < unique.count {
            let chunk = Array(unique[start..<min(start + 500, unique.count)])
            start += 500
            // Only the requested fields: the key read for the match is no requested field (it
            // would make the rows of a policy granting it visible, `rowFilter(requesting:)`).
            let rows = try await readKeyedRows(
                collection, permission: permission, tree: tree, filter: deep?.filter, search: nil,
                sort: deep?.sort ?? [], limit: nil, offset: nil, deep: deep?.deep ?? [:], strict: false, keyField: field,
                keys: chunk)
            for (key, row) in rows { result[key.hashKey, default: []].append(row) }
        }
        return result
    }

    /// How many rows of an o2m's collection the caller may read point at each of `keys`.
    private func relatedCounts(_ relation: RelationSchema, keys: [JSONValue]) async throws -> [String: Int64] {
        guard let child = schema.collection(relation.manyCollection),
            let permission = context.permissions.permission(.read, child.name)
        else { return [:] }
        var unique: [JSONValue] = []
        var seen = Set<String>()
        for k in keys where !k.isNull && seen.insert(k.hashKey).inserted { unique.append(k) }
        var counts: [String: Int64] = [:]
        let column = "t0.\(dialect.quote(relation.manyField))"
        for start in stride(from: 0, to: unique.count, by: 500) {
            let chunk = Array(unique[start..<min(start + 500, unique.count)])
            var compiler = FilterCompiler(schema: schema, dialect: dialect, context: context, variables: variables)
            var sql = SQLStatement("SELECT \(column), COUNT(*) FROM \(dialect.quote(child.name)) AS t0")
            sql.append(
                try whereClause(
                    &compiler, child, permission,
                    filter: .condition(path: [relation.manyField], op: ._in, value: .array(chunk)), search: nil))
            sql.append(" GROUP BY \(column)")
            for row in try await executor.query(sql) { counts[ValueCodec.key(row[0]).hashKey] = row[1].int ?? 0 }
        }
        return counts
    }

    /// Resolves a field tree against the schema and the allowed fields.
    /// `strict`: explicitly requested fields that are not allowed are an error
    /// (top-level request); otherwise they are dropped.
    func project(
        _ collection: CollectionSchema, permission: CollectionPermission, tree: FieldTree, deep: [String: ItemQuery],
        strict: Bool
    ) throws(SwitchboardError) -> [Projection] {
        var out: [Projection] = []
        var seen = Set<String>()
        func add(_ field: FieldSchema, subtree: FieldTree?, explicit: Bool) throws(SwitchboardError) {
            guard seen.insert(field.field).inserted else { return }
            if let relation = schema.manyToOne(collection.name, field.field) {
                if let subtree, context.permissions.permission(.read, relation.oneCollection) != nil {
                    out.append(.manyToOne(field, relation, subtree, deep[field.field]))
                } else if subtree != nil, explicit, strict {
                    throw SwitchboardError.forbiddenCollection(relation.oneCollection)
                } else {
                    out.append(.column(field))
                }
            } else if let relation = schema.oneToMany(collection.name, field.field) {
                if context.permissions.permission(.read, relation.manyCollection) != nil {
                    out.append(.oneToMany(field, relation, subtree, deep[field.field]))
                } else if explicit, strict {
                    throw SwitchboardError.forbiddenCollection(relation.manyCollection)
                }
            } else if field.type == .alias {
                return
            } else if subtree != nil, explicit {
                throw SwitchboardError.invalidQuery("Field \"\(field.field)\" is not a relation and cannot be expanded.")
            } else {
                out.append(.column(field))
            }
        }
        if tree.includesAll {
            for field in collection.fields where permission.allows(field: field.field) {
                try add(field, subtree: tree.subtree(for: field.field), explicit: false)
            }
        }
        for name in tree.names + tree.nestedOrder where !seen.contains(name) {
            if let function = FieldFunction(name) {
                guard let field = collection.field(function.field), permission.allows(field: function.field) else {
                    if strict { throw SwitchboardError.forbiddenFields(collection.name, [function.field]) }
                    continue
                }
                guard function.reads(field, in: collection, schema: schema) else { throw function.invalid(on: field) }
                let relation = function.kind == .count ? schema.oneToMany(collection.name, field.field) : nil
                if let relation, context.permissions.permission(.read, relation.manyCollection) == nil {
                    if strict { throw SwitchboardError.forbiddenCollection(relation.manyCollection) }
                    continue
                }
                seen.insert(name)
                out.append(.function(function, field, relation))
                continue
            }
            guard let field = collection.field(name), permission.allows(field: name) else {
                if strict { throw SwitchboardError.forbiddenFields(collection.name, [name]) }
                continue
            }
            try add(field, subtree: tree.subtree(for: name), explicit: true)
        }
        return out
    }

    private func whereClause(
        _ compiler: inout FilterCompiler, _ collection: CollectionSchema, _ permission: CollectionPermission,
        filter: Filter?, search: String?, trusted match: Filter? = nil
    ) throws(SwitchboardError) -> SQLStatement {
        var conditions: [SQLStatement] = []
        if let match {
            var trusted = FilterCompiler(schema: schema, dialect: dialect, context: .system, variables: variables)
            conditions.append(try trusted.compile(match, on: collection, alias: "t0"))
        }
        if let f = filter?.resolvingVariables(variables) {
            conditions.append(try compiler.compile(f, on: collection, alias: "t0"))
        }
        if let rowFilter = permission.filter?.resolvingVariables(variables) {
            // The permission filter may name fields the caller cannot read; it is ours, not theirs.
            var trusted = FilterCompiler(schema: schema, dialect: dialect, context: .system, variables: variables)
            conditions.append(try trusted.compile(rowFilter, on: collection, alias: "t0"))
        }
        if let search, !search.isEmpty {
            conditions.append(try searchCondition(collection, permission, search))
        }
        guard !conditions.isEmpty else { return SQLStatement() }
        var out = SQLStatement(" WHERE ")
        for (i, c) in conditions.enumerated() {
            if i > 0 { out.append(" AND ") }
            out.append(c)
        }
        return out
    }

    /// A search matches a field the caller may read on the row: as in Directus, a field
    /// granted by only some policies matches only where one of them admits the row (unless
    /// some policy grants `*`, where Directus searches every field unconditionally).
    private func searchCondition(_ collection: CollectionSchema, _ permission: CollectionPermission, _ search: String)
        throws(SwitchboardError) -> SQLStatement
    {
        var parts: [SQLStatement] = []
        for field in collection.columnFields where permission.allows(field: field.field) && !field.isConcealed {
            let column = "t0.\(dialect.quote(field.field))"
            var part: SQLStatement
            switch field.type {
            case .string, .text, .csv:
                part = SQLStatement(dialect.containsInsensitiveExpression(column), [.text(search)])
            case .integer, .bigInteger:
                guard let i = Int64(search) else { continue }
                part = SQLStatement("\(column) = ?", [.int(i)])
            case .float, .decimal:
                guard let d = Double(search) else { continue }
                part = SQLStatement("\(column) = ?", [.double(d)])
            case .uuid:
                guard UUIDText.isValid(search) else { continue }
                part = SQLStatement("\(column) = ?", [.text(search.lowercased())])
            default: continue
            }
            if permission.fields != nil, let condition = permission.condition(for: field.field) {
                var trusted = FilterCompiler(schema: schema, dialect: dialect, context: .system, variables: variables)
                var guarded = SQLStatement("(")
                guarded.append(part)
                guarded.append(" AND ")
                guarded.append(try trusted.compile(condition.resolvingVariables(variables), on: collection, alias: "t0"))
                guarded.append(")")
                part = guarded
            }
            parts.append(part)
        }
        guard !parts.isEmpty else { return SQLStatement("1=0") }
        var out = SQLStatement("(")
        for (i, p) in parts.enumerated() {
            if i > 0 { out.append(" OR ") }
            out.append(p)
        }
        out.append(")")
        return out
    }

    private func orderBy(
        _ compiler: inout FilterCompiler, _ collection: CollectionSchema, _ sort: [SortField]
    ) throws(SwitchboardError) -> SQLStatement {
        var out = SQLStatement(" ORDER BY ")
        for (i, s) in sort.enumerated() {
            if i > 0 { out.append(", ") }
            out.append(try sortExpression(&compiler, collection, s.path, alias: "t0"))
            out.append(s.descending ? " DESC" : " ASC")
        }
        if !sort.contains(where: { $0.path == [collection.primaryKey] }) {
            out.append((sort.isEmpty ? "" : ", ") + "t0.\(dialect.quote(collection.primaryKey)) ASC")
        }
        return out
    }

    /// A sortable expression; m2o paths become correlated subqueries, and so does `count` of an
    /// o2m (`count(comments)`, as Directus sorts by it).
    private func sortExpression(
        _ compiler: inout FilterCompiler, _ collection: CollectionSchema, _ path: [String], alias: String
    ) throws(SwitchboardError) -> SQLStatement {
        if path.count == 1, let function = FieldFunction(path[0]) {
            // `year(date_created)`: the date part (or JSON count) SQL filters use, under the field's permission.
            guard collection.field(function.field) != nil,
                context.permissions.permission(.read, collection.name)?.allows(field: function.field) ?? false
            else { throw SwitchboardError.forbiddenFields(collection.name, [function.field]) }
            if compiler.countsRelatedRows(function, on: collection) {
                return try compiler.relatedCountColumn(function, on: collection, alias: alias)
            }
            return SQLStatement(try compiler.functionColumn(function, on: collection, alias: alias))
        }
        guard let first = path.first, let field = collection.field(first),
            context.permissions.permission(.read, collection.name)?.allows(field: first) ?? false
        else { throw SwitchboardError.forbiddenFields(collection.name, [path.first ?? ""]) }
        if path.count == 1 {
            guard field.type.hasColumn else { throw SwitchboardError.invalidQuery("Cannot sort by alias field \"\(first)\".") }
            return SQLStatement("\(alias).\(dialect.quote(first))")
        }
        guard let relation = schema.manyToOne(collection.name, first), let related = schema.collection(relation.oneCollection)
        else { throw SwitchboardError.invalidQuery("Invalid sort: \"\(first)\" is not a many-to-one relation.") }
        let sub = compiler.nextAlias()
        var out = SQLStatement("(SELECT ")
        out.append(try sortExpression(&compiler, related, Array(path.dropFirst()), alias: sub))
        out.append(
            " FROM \(dialect.quote(related.name)) AS \(sub) WHERE \(sub).\(dialect.quote(related.primaryKey)) = \(alias).\(dialect.quote(first)))"
        )
        return out
    }

    // MARK: Counting and aggregates

    func count(
        _ collection: CollectionSchema, _ permission: CollectionPermission, filter: Filter?, search: String?
    ) async throws -> Int64 {
        var compiler = FilterCompiler(schema: schema, dialect: dialect, context: context, variables: variables)
        var sql = SQLStatement("SELECT COUNT(*) FROM \(dialect.quote(collection.name)) AS t0")
        sql.append(try whereClause(&compiler, collection, permission, filter: filter, search: search))
        return try await executor.query(sql).first?[0].int ?? 0
    }

    private func aggregate(
        _ collection: CollectionSchema, _ permission: CollectionPermission, _ query: ItemQuery
    ) async throws -> [JSONObject] {
        var selects: [(sql: String, function: String, field: String?)] = []
        for request in query.aggregate {
            for name in request.fields {
                let fn = request.function
                if name == "*" {
                    guard fn == .count || fn == .countAll else {
                        throw SwitchboardError.invalidQuery("\"\(fn.rawValue)\" needs a field, not \"*\".")
                    }
                    selects.append(("COUNT(*)", fn.rawValue, nil))
                    continue
                }
                guard let field = collection.field(name), field.type.hasColumn else {
                    throw SwitchboardError.invalidQuery("Invalid aggregate: field \"\(name)\" doesn't exist.")
                }
                guard permission.allows(field: name) else { throw SwitchboardError.forbidden() }
                let column = "t0.\(dialect.quote(name))"
                let expression: String
                switch fn {
                case .count: expression = "COUNT(\(column))"
                case .countDistinct: expression = "COUNT(DISTINCT \(column))"
                case .countAll: expression = "COUNT(*)"
                case .sum: expression = "SUM(\(column))"
                case .sumDistinct: expression = "SUM(DISTINCT \(column))"
                case .avg: expression = "AVG(\(column))"
                case .avgDistinct: expression = "AVG(DISTINCT \(column))"
                case .min: expression = "MIN(\(column))"
                case .max: expression = "MAX(\(column))"
                }
                selects.append((expression, fn.rawValue, fn == .countAll ? nil : name))
            }
        }
        // A group is a field, or a field function (`year(date_created)`, named `date_created_year`
        // in the result as Directus names function fields).
        // `count(comments)` of an o2m groups by how many related rows the caller may read.
        var compiler = FilterCompiler(schema: schema, dialect: dialect, context: context, variables: variables)
        var groupFields: [(field: FieldSchema, function: FieldFunction?)] = []
        for name in query.groupBy {
            let function = FieldFunction(name)
            let fieldName = function?.field ?? name
            let countsRows = function.map { compiler.countsRelatedRows($0, on: collection) } ?? false
            guard let field = collection.field(fieldName), field.type.hasColumn || countsRows else {
                throw SwitchboardError.invalidQuery("Invalid groupBy: field \"\(fieldName)\" doesn't exist.")
            }
            guard permission.allows(field: fieldName) else { throw SwitchboardError.forbidden() }
            groupFields.append((field, function))
        }
        // A group field granted by only some policies groups as null where none admits the row
        // (Directus's CASE WHEN on group columns); the aggregated values are the raw columns, as there.
        var sql = SQLStatement("SELECT ")
        for (i, (field, function)) in groupFields.enumerated() {
            if i > 0 { sql.append(", ") }
            let column: SQLStatement
            if let function, compiler.countsRelatedRows(function, on: collection) {
                column = try compiler.relatedCountColumn(function, on: collection, alias: "t0")
            } else {
                column = SQLStatement(
                    try function.map { try compiler.functionColumn($0, on: collection, alias: "t0") }
                        ?? "t0.\(dialect.quote(field.field))")
            }
            if let condition = permission.condition(for: field.field) {
                var trusted = FilterCompiler(schema: schema, dialect: dialect, context: .system, variables: variables)
                sql.append("CASE WHEN ")
                sql.append(try trusted.compile(condition.resolvingVariables(variables), on: collection, alias: "t0"))
                sql.append(" THEN ")
                sql.append(column)
                sql.append(" END")
            } else {
                sql.append(column)
            }
        }
        sql.append((groupFields.isEmpty || selects.isEmpty ? "" : ", ") + selects.map(\.sql).joined(separator: ", "))
        sql.append(" FROM \(dialect.quote(collection.name)) AS t0")
        sql.append(try whereClause(&compiler, collection, permission, filter: query.filter, search: query.search))
        if !groupFields.isEmpty {
            // By position: the group expressions may carry bound parameters.
            let positions = groupFields.indices.map { String($0 + 1) }.joined(separator: ", ")
            sql.append(" GROUP BY " + positions)
            sql.append(" ORDER BY " + positions)
            if let limit = effectiveLimit(query.limit) { sql.append(" LIMIT \(limit)") }
        }
        let rows = try await executor.query(sql)
        return rows.map { row in
            var out = JSONObject()
            for (i, (field, function)) in groupFields.enumerated() {
                if let function {
                    out[function.outputName] = row[i].int.map(JSONValue.int) ?? .null
                } else {
                    out[field.field] = ValueCodec.decode(row[i], for: field)
                }
            }
            for (j, s) in selects.enumerated() {
                let value = row[groupFields.count + j]
                let json: JSONValue
                switch value {
                case .int(let i): json = .int(i)
                case .double(let d): json = .double(d)
                case .null: json = .null
                default:
                    if let field = s.field.flatMap(collection.field) {
                        json = ValueCodec.decode(value, for: field)
                    } else {
                        json = ValueCodec.key(value)
                    }
                }
                if let field = s.field {
                    var inner = out[s.function]?.objectValue ?? JSONObject()
                    inner[field] = json
                    out[s.function] = .object(inner)
                } else {
                    out[s.function] = json
                }
            }
            return out
        }
    }
}

extension ItemReader.Projection {
    /// The field whose permissions govern this output (`year(at)`: `at`).
    var readField: String {
        switch self {
        case .column(let f), .manyToOne(let f, _, _, _), .oneToMany(let f, _, _, _), .function(_, let f, _): return f.field
        }
    }

    var name: String {
        switch self {
        case .column(let f), .manyToOne(let f, _, _, _), .oneToMany(let f, _, _, _): return f.field
        case .function(let function, _, _): return function.outputName
        }
    }
}

extension JSONValue {
    /// A key usable in dictionaries for primary/foreign key values: `1` and `"1"` meet.
    var hashKey: String { textValue ?? jsonString }
}
