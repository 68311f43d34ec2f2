/// A value as it crosses the database boundary.
public enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
    case bool(Bool)
}

/// One result row; column names are shared by all rows of a result.
public struct SQLRow: Sendable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public subscript(column: String) -> SQLValue {
        guard let i = columns.firstIndex(of: column) else { return .null }
        return values[i]
    }

    public subscript(index: Int) -> SQLValue { values[index] }
}

extension SQLValue {
    public var int: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d): return Int64(exactly: d.rounded())
        case .bool(let b): return b ? 1 : 0
        case .text(let s): return Int64(s)
        default: return nil
        }
    }

    public var text: String? {
        switch self {
        case .text(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return "\(d)"
        case .bool(let b): return b ? "true" : "false"
        case .blob(let b): return String(decoding: b, as: UTF8.self)
        case .null: return nil
        }
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// SQL text with positional parameters. Placeholders are written as `?` and
/// rendered per dialect (`$1…` for PostgreSQL) when executed.
public struct SQLStatement: Sendable, CustomStringConvertible {
    public var text: String
    public var binds: [SQLValue]

    public init(_ text: String = "", _ binds: [SQLValue] = []) {
        self.text = text
        self.binds = binds
    }

    public mutating func append(_ sql: String) { text += sql }

    public mutating func append(_ other: SQLStatement) {
        text += other.text
        binds += other.binds
    }

    /// Appends a placeholder bound to `value`.
    public mutating func bind(_ value: SQLValue) {
        text += "?"
        binds.append(value)
    }

    public var description: String { text }
}
