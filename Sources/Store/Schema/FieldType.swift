/// Directus field types that Switchboard stores.
public enum FieldType: String, Sendable, Hashable, CaseIterable {
    case integer, bigInteger, float, decimal, string, text, boolean, uuid, json, csv
    case date, time, dateTime, timestamp
    /// Password hashes (`directus_users.password`).
    case hash
    /// No column: o2m relations and presentation fields.
    case alias

    /// Whether a column backs this type.
    public var hasColumn: Bool { self != .alias }

    public var isNumeric: Bool {
        switch self {
        case .integer, .bigInteger, .float, .decimal: return true
        default: return false
        }
    }

    public var isTemporal: Bool {
        switch self {
        case .date, .time, .dateTime, .timestamp: return true
        default: return false
        }
    }

    /// The column type in each dialect.
    public func columnType(_ dialect: SQLDialect, maxLength: Int?) -> String {
        switch (self, dialect) {
        case (.integer, .sqlite), (.bigInteger, .sqlite), (.boolean, .sqlite): return "INTEGER"
        case (.integer, .postgres): return "INTEGER"
        case (.bigInteger, .postgres): return "BIGINT"
        case (.boolean, .postgres): return "BOOLEAN"
        case (.float, .sqlite): return "REAL"
        case (.float, .postgres): return "DOUBLE PRECISION"
        case (.decimal, .sqlite): return "NUMERIC"
        case (.decimal, .postgres): return "NUMERIC(10, 5)"
        case (.string, _): return "VARCHAR(\(maxLength ?? 255))"
        case (.uuid, .sqlite): return "CHAR(36)"
        // UUIDs, JSON and temporal values are stored as canonical text in both
        // databases, so comparisons, sorting and bound parameters behave the same.
        case (.uuid, .postgres): return "VARCHAR(36)"
        default: return "TEXT"
        }
    }
}
