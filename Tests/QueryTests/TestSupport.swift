import Query
import SwitchboardCore
import Testing

/// Parses JSON text in tests, where malformed fixtures are programmer errors.
func json(_ text: String) -> JSONValue {
    try! JSONValue(parsing: text)
}

func object(_ text: String) -> JSONObject {
    json(text).objectValue ?? JSONObject()
}

func filter(_ text: String) throws -> Filter {
    try Filter.parse(json(text))
}

/// Whether `filterJSON` matches `rowJSON` (variables resolved with `variables`).
func matches(_ filterJSON: String, _ rowJSON: String, _ variables: DynamicVariables = DynamicVariables(now: 0)) throws
    -> Bool
{
    try filter(filterJSON).resolvingVariables(variables).matches(object(rowJSON))
}

/// The error a throwing parse produces, for asserting on code and message.
func parseError(_ body: () throws(SwitchboardError) -> some Any) -> SwitchboardError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}
