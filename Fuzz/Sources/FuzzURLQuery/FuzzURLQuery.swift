import Query
import SwitchboardCore

/// Any URL query string (brackets, JSON values, percent-escapes) is either a query or an
/// INVALID_QUERY error, within the size limits; never a crash or a hang.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
    let pairs = QueryParameterTree.pairs(Substring(text))
    do {
        let query = try ItemQuery.parse(queryItems: pairs, limits: QueryLimits())
        if let filter = query.filter { _ = filter.resolvingVariables(DynamicVariables(now: 0)) }
    } catch {
        precondition(error.code == .invalidQuery || error.code == .invalidPayload, "unexpected error \(error.code)")
    }
    return 0
}
