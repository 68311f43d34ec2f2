import SwitchboardCore

/// Converts between API values (JSON) and stored values (SQL) per field type,
/// the way Directus casts them: booleans as true/false, json as values, csv as
/// arrays, temporal values as ISO text.
enum ValueCodec {
    static let concealedMask: JSONValue = "**********"

    /// JSON from the API → a column value. Throws `INVALID_PAYLOAD` naming the field.
    static func encode(_ value: JSONValue, for field: FieldSchema, dialect: SQLDialect) throws(SwitchboardError) -> SQLValue {
        if case .null = value { return .null }
        func bad(_ expected: String) -> SwitchboardError {
            SwitchboardError(
                .invalidPayload,
                "Invalid value for field \"\(field.field)\": expected \(expected), got \(value.kindName).",
                extensions: ["field": .string(field.field)])
        }
        switch field.type {
        case .integer, .bigInteger:
            if let i = value.intValue { return .int(i) }
            if case .string(let s) = value, let i = Int64(s.trimmed) { return .int(i) }
            if case .bool(let b) = value { return .int(b ? 1 : 0) }
            throw bad("an integer")
        case .float, .decimal:
            if let d = value.doubleValue { return .double(d) }
            if case .string(let s) = value, let d = Double(s.trimmed), d.isFinite { return .double(d) }
            throw bad("a number")
        case .string, .text, .hash:
            switch value {
            case .string(let s):
                if field.type == .string, let max = field.maxLength ?? 255 as Int?, s.count > max {
                    throw SwitchboardError(
                        .valueTooLong, "Value for field \"\(field.field)\" is too long (max \(max) characters).",
                        extensions: ["field": .string(field.field)])
                }
                return .text(s)
            case .int, .double, .bool: return .text(value.textValue ?? "")
            default: throw bad("a string")
            }
        case .boolean:
            switch value {
            case .bool(let b): return dialect == .postgres ? .bool(b) : .int(b ? 1 : 0)
            case .int(let i) where i == 0 || i == 1: return dialect == .postgres ? .bool(i == 1) : .int(i)
            case .string(let s) where s == "true" || s == "false" || s == "1" || s == "0":
                let b = s == "true" || s == "1"
                return dialect == .postgres ? .bool(b) : .int(b ? 1 : 0)
            default: throw bad("a boolean")
            }
        case .uuid:
            guard case .string(let s) = value, UUIDText.isValid(s) else { throw bad("a UUID") }
            return .text(s.lowercased())
        case .json:
            return .text(value.jsonString)
        case .csv:
            switch value {
            case .array(let items):
                var parts: [String] = []
                for item in items {
                    guard let t = item.textValue else { throw bad("an array of strings") }
                    parts.append(t)
                }
                return .text(parts.joined(separator: ","))
            case .string(let s): return .text(s)
            default: throw bad("an array of strings")
            }
        case .date:
            guard case .string(let s) = value, let t = ISOTimestamp(parsing: s) else { throw bad("a date (YYYY-MM-DD)") }
            return .text(t.dateString)
        case .time:
            guard case .string(let s) = value, let t = TimeOfDay.normalize(s) else { throw bad("a time (HH:MM:SS)") }
            return .text(t)
        case .dateTime:
            guard case .string(let s) = value, let t = ISOTimestamp(parsing: s) else {
                throw bad("a date-time (YYYY-MM-DDTHH:MM:SS)")
            }
            return .text(t.dateTimeString)
        case .timestamp:
            guard case .string(let s) = value, let t = ISOTimestamp(parsing: s) else { throw bad("an ISO-8601 timestamp") }
            return .text(t.iso8601)
        case .alias:
            throw bad("no value (alias fields have no column)")
        }
    }

    /// A filter operand → a column value of the same storage form, so that SQL
    /// comparisons on dates and booleans behave like comparisons of values.
    static func encodeOperand(_ value: JSONValue, for field: FieldSchema, dialect: SQLDialect) -> SQLValue {
        switch field.type {
        case .date, .dateTime, .timestamp:
            if case .string(let s) = value, let t = ISOTimestamp(parsing: s) {
                switch field.type {
                case .date: return .text(t.dateString)
                case .dateTime: return .text(t.dateTimeString)
                default: return .text(t.iso8601)
                }
            }
        case .boolean:
            // true/false, "true"/"false" and 1/0 in any form: PostgreSQL has no `boolean = integer`.
            let text = value.textValue
            if let b = value.boolValue ?? (text == "true" || text == "1" ? true : text == "false" || text == "0" ? false : nil) {
                return dialect == .postgres ? .bool(b) : .int(b ? 1 : 0)
            }
        case .integer, .bigInteger:
            if case .string(let s) = value {
                if let i = Int64(s.trimmed) { return .int(i) }
                if let d = Double(s.trimmed) { return .double(d) }
                if s == "true" || s == "false" { return .int(s == "true" ? 1 : 0) }
            }
        case .float, .decimal:
            if case .string(let s) = value {
                if let d = Double(s.trimmed) { return .double(d) }
                if s == "true" || s == "false" { return .int(s == "true" ? 1 : 0) }
            }
        case .string, .text:
            // A number or boolean against a text column is compared as the text the API would show.
            if let text = value.textValue { return .text(text) }
        case .uuid:
            if case .string(let s) = value { return .text(s.lowercased()) }
        default: break
        }
        return plain(value)
    }

    /// A JSON scalar as an SQL value without knowing the field.
    static func plain(_ value: JSONValue) -> SQLValue {
        switch value {
        case .null: return .null
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .text(s)
        case .array, .object: return .text(value.jsonString)
        }
    }

    /// A column value → the JSON the API returns.
    static func decode(_ value: SQLValue, for field: FieldSchema) -> JSONValue {
        if case .null = value { return .null }
        if field.isConcealed { return concealedMask }
        switch field.type {
        case .integer, .bigInteger:
            if let i = value.int { return .int(i) }
        case .decimal:
            // Decimals travel as strings so that no precision is lost (as Directus does on PostgreSQL).
            switch value {
            case .double(let d): return .string(JSONWriter.formatDouble(d))
            case .int(let i): return .string(String(i))
            case .text(let s): return .string(s)
            default: break
            }
        case .float:
            switch value {
            case .double(let d): return .double(d)
            case .int(let i): return .double(Double(i))
            case .text(let s): if let d = Double(s) { return .double(d) }
            default: break
            }
        case .boolean:
            switch value {
            case .bool(let b): return .bool(b)
            case .int(let i): return .bool(i != 0)
            case .text(let s): return .bool(s == "true" || s == "1" || s == "t")
            default: break
            }
        case .json:
            if let text = value.text { return (try? JSONValue(parsing: text)) ?? .string(text) }
        case .csv:
            if let text = value.text {
                return .array(
                    text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map { .string(String($0)) })
            }
        default: break
        }
        return value.text.map(JSONValue.string) ?? .null
    }

    /// The raw stored value as JSON (for keys and foreign keys).
    static func key(_ value: SQLValue) -> JSONValue {
        switch value {
        case .null: return .null
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bool(let b): return .bool(b)
        case .text(let s): return .string(s)
        case .blob(let b): return .string(String(decoding: b, as: UTF8.self))
        }
    }
}

/// Validation of UUID text (8-4-4-4-12 hex digits).
enum UUIDText {
    static func isValid(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard bytes.count == 36 else { return false }
        for (i, c) in bytes.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                if c != UInt8(ascii: "-") { return false }
            } else if !((48...57).contains(c) || (65...70).contains(c) || (97...102).contains(c)) {
                return false
            }
        }
        return true
    }
}

/// Normalizes `HH:MM` / `HH:MM:SS` to `HH:MM:SS`.
enum TimeOfDay {
    static func normalize(_ s: String) -> String? {
        let parts = s.split(separator: ":")
        guard parts.count == 2 || parts.count == 3 else { return nil }
        var values: [Int] = []
        for p in parts {
            guard p.count == 2, p.allSatisfy(\.isASCII), let v = Int(p) else { return nil }
            values.append(v)
        }
        if values.count == 2 { values.append(0) }
        guard values[0] < 24, values[1] < 60, values[2] < 61 else { return nil }
        return values.map { $0 < 10 ? "0\($0)" : "\($0)" }.joined(separator: ":")
    }
}
