import Query
import SwitchboardCore

/// The input is a JSON array: a query object (or a bare filter) followed by rows. Parsing the query
/// and evaluating it in memory on the rows (filter, sort, paging) never crashes; a filter that
/// parses decides every row one way or the other, the same way twice.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    guard case .array(let items)? = try? JSONReader.parse(bytes), case .object(let first)? = items.first else { return 0 }
    let rows = items.dropFirst().compactMap(\.objectValue)
    let variables = DynamicVariables(userID: "u1", roleID: "r1", roles: ["r1"], now: 1_700_000_000)
    if let filter = try? Filter.parse(.object(first)) {
        let resolved = filter.resolvingVariables(variables)
        for row in rows { precondition(resolved.matches(row) == resolved.matches(row)) }
    }
    if var query = try? ItemQuery.parse(json: first, limits: QueryLimits()) {
        query.filter = query.filter?.resolvingVariables(variables)
        let out = query.applyInMemory(rows)
        precondition(out.count <= rows.count)
    }
    return 0
}
