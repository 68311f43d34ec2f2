import GraphQL
import SwitchboardCore

/// Bounds the work one document can ask for, checked before the library sees it:
/// its size and bracket nesting before parsing (the parser recurses once per
/// level), its selection depth and field count with fragments expanded before
/// validation and execution (both expand fragments, so a few fragments spread
/// into each other could otherwise ask for exponentially many fields).
struct DocumentLimits {
    let settings: GraphQLSettings

    func checkText(_ query: String) -> GraphQLFailure? {
        if query.utf8.count > settings.maxDocumentSize {
            return exceeded("the document has \(query.utf8.count) bytes", settings.maxDocumentSize, "GRAPHQL_QUERY_MAX_SIZE")
        }
        let bytes = Array(query.utf8)
        let quote = UInt8(ascii: "\"")
        var depth = 0
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "#"):
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n"), bytes[i] != UInt8(ascii: "\r") { i += 1 }
            case quote where i + 1 < bytes.count && bytes[i] == quote && bytes[i + 1] == quote:
                // A block string: ends at the next unescaped `"""`.
                i += 2
                while i < bytes.count {
                    if bytes[i] == UInt8(ascii: "\\") {
                        i += 2
                    } else if bytes[i] == quote, i + 2 < bytes.count, bytes[i + 1] == quote,
                        bytes[i + 2] == quote
                    {
                        i += 3
                        break
                    } else {
                        i += 1
                    }
                }
            case quote:
                while i < bytes.count, bytes[i] != quote, bytes[i] != UInt8(ascii: "\n") {
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                i += 1
            case UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "("):
                depth += 1
                if depth > settings.maxDepth {
                    return exceeded(
                        "brackets nest deeper than \(settings.maxDepth)", settings.maxDepth, "GRAPHQL_QUERY_MAX_DEPTH")
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: ")"):
                depth = max(0, depth - 1)
            default:
                continue
            }
        }
        return nil
    }

    func checkSelections(_ document: Document) -> GraphQLFailure? {
        var fragments: [String: FragmentDefinition] = [:]
        for case let fragment as FragmentDefinition in document.definitions { fragments[fragment.name.value] = fragment }
        var costs: [String: Cost] = [:]
        var total = Cost()
        for case let operation as OperationDefinition in document.definitions {
            var spreading = Set<String>()
            total.add(cost(operation.selectionSet, fragments, &costs, &spreading))
        }
        for (_, fragment) in fragments where costs[fragment.name.value] == nil {
            var spreading = Set<String>()
            total.add(cost(fragment.selectionSet, fragments, &costs, &spreading))
        }
        if total.depth > settings.maxDepth {
            return exceeded("selections nest deeper than \(settings.maxDepth)", settings.maxDepth, "GRAPHQL_QUERY_MAX_DEPTH")
        }
        if total.fields > settings.maxFields {
            return exceeded("it selects more than \(settings.maxFields) fields", settings.maxFields, "GRAPHQL_QUERY_MAX_FIELDS")
        }
        return nil
    }

    private struct Cost {
        var depth = 0
        var fields = 0

        mutating func add(_ other: Cost) {
            depth = max(depth, other.depth)
            fields = fields.addingReportingOverflow(other.fields).overflow ? Int.max : fields + other.fields
        }
    }

    private func cost(
        _ set: SelectionSet, _ fragments: [String: FragmentDefinition], _ costs: inout [String: Cost],
        _ spreading: inout Set<String>
    ) -> Cost {
        var total = Cost()
        for selection in set.selections {
            switch selection {
            case let field as Field:
                var own = Cost(depth: 1, fields: 1)
                if let sub = field.selectionSet {
                    let inner = cost(sub, fragments, &costs, &spreading)
                    own.depth += inner.depth
                    own.add(Cost(depth: 0, fields: inner.fields))
                }
                total.add(own)
            case let spread as FragmentSpread:
                let name = spread.name.value
                if let known = costs[name] {
                    total.add(known)
                } else if let fragment = fragments[name], !spreading.contains(name) {
                    // A cycle counts nothing here; validation refuses it.
                    spreading.insert(name)
                    let c = cost(fragment.selectionSet, fragments, &costs, &spreading)
                    spreading.remove(name)
                    costs[name] = c
                    total.add(c)
                }
            case let inline as InlineFragment:
                total.add(cost(inline.selectionSet, fragments, &costs, &spreading))
            default:
                continue
            }
        }
        return total
    }

    private func exceeded(_ what: String, _ limit: Int, _ setting: String) -> GraphQLFailure {
        GraphQLFailure(.graphqlValidation, "Query too large: \(what) (limit \(limit), \(setting)).")
    }
}
