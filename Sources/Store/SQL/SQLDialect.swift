/// The differences between the SQL of SQLite and PostgreSQL that the store needs.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres

    /// `"name"` with embedded quotes doubled.
    public func quote(_ identifier: String) -> String {
        var out = "\""
        for ch in identifier {
            if ch == "\"" { out += "\"\"" } else { out.append(ch) }
        }
        return out + "\""
    }

    /// Renders `?` placeholders in the dialect's form, skipping quoted text.
    public func render(_ sql: String) -> String {
        guard self == .postgres else { return sql }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var n = 0
        var inSingle = false
        var inDouble = false
        for ch in sql {
            switch ch {
            case "'" where !inDouble: inSingle.toggle(); out.append(ch)
            case "\"" where !inSingle: inDouble.toggle(); out.append(ch)
            case "?" where !inSingle && !inDouble:
                n += 1
                out += "$\(n)"
            default: out.append(ch)
            }
        }
        return out
    }

    /// Case-sensitive substring test.
    public func containsExpression(_ column: String) -> String {
        switch self {
        case .sqlite: return "instr(\(column), ?) > 0"
        case .postgres: return "strpos(\(column), ?) > 0"
        }
    }

    /// Case-insensitive substring test (ASCII case folding in SQLite).
    public func containsInsensitiveExpression(_ column: String) -> String {
        switch self {
        case .sqlite: return "instr(lower(\(column)), lower(?)) > 0"
        case .postgres: return "strpos(lower(\(column)), lower(?)) > 0"
        }
    }

    /// A float column as the API writes it (`10`, not SQLite's `10.0`), for the string operators.
    public func floatToText(_ column: String) -> String {
        switch self {
        case .sqlite:
            return "(CASE WHEN \(column) = CAST(\(column) AS INTEGER) AND abs(\(column)) < 9.0e18 "
                + "THEN CAST(CAST(\(column) AS INTEGER) AS TEXT) ELSE CAST(\(column) AS TEXT) END)"
        case .postgres: return "CAST(\(column) AS TEXT)"
        }
    }

    /// Text compared byte by byte with ASCII-only `lower()`, whatever the database's collation:
    /// filters must select in SQL what they select in memory (PostgreSQL's `C` collation; SQLite's
    /// BINARY already is).
    public func binaryText(_ expression: String) -> String {
        switch self {
        case .sqlite: return expression
        case .postgres: return "(\(expression) COLLATE \"C\")"
        }
    }

    /// Column to text, for `search` and string operators on non-text columns.
    public func castToText(_ column: String) -> String {
        switch self {
        case .sqlite: return "CAST(\(column) AS TEXT)"
        case .postgres: return "CAST(\(column) AS TEXT)"
        }
    }
}
