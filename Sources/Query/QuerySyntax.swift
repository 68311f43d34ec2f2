import SwitchboardCore

/// Lexical helpers shared by the query parsers.
enum QuerySyntax {
    /// Splits a comma-joined list (`"a, b"`), trimming whitespace around each
    /// entry. Empty entries are kept so callers can reject or keep them.
    static func commaSeparated(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false).map(trimmed)
    }

    static func trimmed(_ text: Substring) -> String {
        var text = text
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }

    /// Field names as Directus allows them in paths: ASCII letters, digits, `_` and `-`.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                    || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
            }
    }

    /// Splits a dotted path (`author.name`) and validates every segment.
    static func path(_ text: String, parameter: String) throws(SwitchboardError) -> [String] {
        let segments = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        for segment in segments where !isValidName(segment) {
            throw .invalidQuery("Invalid field \"\(text)\" in \(parameter)")
        }
        return segments
    }

    /// A list given as an array of strings or as comma-joined text (either may
    /// mix: `["a,b", "c"]`). `context` names the parameter in errors.
    static func stringList(_ value: JSONValue, in context: String) throws(SwitchboardError) -> [String] {
        switch value {
        case .string(let text): return commaSeparated(text)
        case .array(let items):
            var list: [String] = []
            for item in items {
                guard case .string(let text) = item else {
                    throw .invalidQuery("Invalid \(context): expected strings, got \(item.kindName)")
                }
                list += commaSeparated(text)
            }
            return list
        default:
            throw .invalidQuery("Invalid \(context): expected a string or an array, got \(value.kindName)")
        }
    }
}
