import SwitchboardCore

/// A Directus filter operator; the raw value is its name in filter JSON.
public enum FilterOperator: String, Sendable, Hashable, CaseIterable {
    case _eq, _neq, _lt, _lte, _gt, _gte, _in, _nin, _null, _nnull
    case _contains, _ncontains, _icontains, _nicontains
    case _starts_with, _nstarts_with, _istarts_with, _nistarts_with
    case _ends_with, _nends_with, _iends_with, _niends_with
    case _between, _nbetween, _empty, _nempty
    /// Directus's validation operators: they check create/update payloads (permission and field
    /// `validation` rules), and read filters refuse them (Directus ignores them there).
    case _regex, _submitted

    /// `_regex` / `_submitted`: only in validation rules (`Filter.parse(_:validation: true)`).
    public var isValidationOnly: Bool { self == ._regex || self == ._submitted }

    /// The operators a read filter (REST, subscriptions, permission row filters) may use.
    public static let readOperators: [FilterOperator] = allCases.filter { !$0.isValidationOnly }

    /// Evaluates the operator for one field value against its (resolved) operand.
    ///
    /// Mirrors SQL as Directus compiles it: a null field fails every test except
    /// `_eq: null`, `_nin: []` and the null/empty checks, negated tests included
    /// (`NOT (NULL = 5)` is not true). An undecidable test, such as
    /// ordering text against a number, fails both ways, as a NULL result does in SQL.
    ///
    /// `validating` gives Directus's payload validation instead (Joi's `any().not(…)`): there
    /// `_neq` and `_nin` only refuse the listed values, so a null or missing field passes them.
    func evaluate(field: JSONValue, operand: JSONValue, validating: Bool = false) -> Bool {
        typealias V = ValueComparison
        if validating, self == ._neq || self == ._nin {
            return !(operand.arrayValue ?? [operand]).contains { V.equal(field, $0) }
        }
        // The null/empty family carries a boolean; `false` inverts the test.
        let flag = operand.boolValue ?? true
        switch self {
        case ._null: return field.isNull == flag
        case ._nnull: return field.isNull != flag
        case ._empty: return Self.isEmpty(field) == flag
        case ._nempty: return Self.isEmpty(field) != flag
        case ._eq: return V.equal(field, operand)
        case ._neq: return !field.isNull && !V.equal(field, operand)
        case ._in: return !field.isNull && (operand.arrayValue ?? [operand]).contains { !$0.isNull && V.equal(field, $0) }
        case ._nin:
            // `x NOT IN ()` holds for every row, `x NOT IN (…, NULL)` for none.
            let list = operand.arrayValue ?? [operand]
            if list.isEmpty { return true }
            if field.isNull || list.contains(where: \.isNull) { return false }
            return !list.contains { V.equal(field, $0) }
        case ._lt: return V.order(field, operand).map { $0 < 0 } ?? false
        case ._lte: return V.order(field, operand).map { $0 <= 0 } ?? false
        case ._gt: return V.order(field, operand).map { $0 > 0 } ?? false
        case ._gte: return V.order(field, operand).map { $0 >= 0 } ?? false
        case ._between, ._nbetween:
            guard let bounds = operand.arrayValue, bounds.count == 2, !field.isNull else { return false }
            // SQL's `x [NOT] BETWEEN a AND b` is `a <= x AND x <= b` in three-valued logic: a null
            // bound (`$CURRENT_USER` without a user) leaves its side unknown, so `_between` never
            // holds and `_nbetween` holds when the other side fails.
            var sides: [Bool?] = []
            for (bound, holds) in [(bounds[0], { (o: Int) in o >= 0 }), (bounds[1], { (o: Int) in o <= 0 })] {
                if bound.isNull {
                    sides.append(nil)
                    continue
                }
                guard let order = V.order(field, bound) else { return false }
                sides.append(holds(order))
            }
            return self == ._between ? sides.allSatisfy { $0 == true } : sides.contains(false)
        case ._contains: return Self.contains(field, operand, caseInsensitive: false) ?? false
        case ._ncontains: return Self.contains(field, operand, caseInsensitive: false).map(!) ?? false
        case ._icontains: return Self.contains(field, operand, caseInsensitive: true) ?? false
        case ._nicontains: return Self.contains(field, operand, caseInsensitive: true).map(!) ?? false
        case ._starts_with: return Self.text(field, operand, false) { $0.hasPrefix($1) } ?? false
        case ._nstarts_with: return Self.text(field, operand, false) { !$0.hasPrefix($1) } ?? false
        case ._istarts_with: return Self.text(field, operand, true) { $0.hasPrefix($1) } ?? false
        case ._nistarts_with: return Self.text(field, operand, true) { !$0.hasPrefix($1) } ?? false
        case ._ends_with: return Self.text(field, operand, false) { $0.hasSuffix($1) } ?? false
        case ._nends_with: return Self.text(field, operand, false) { !$0.hasSuffix($1) } ?? false
        case ._iends_with: return Self.text(field, operand, true) { $0.hasSuffix($1) } ?? false
        case ._niends_with: return Self.text(field, operand, true) { !$0.hasSuffix($1) } ?? false
        // Presence is the payload's, not the value's: `Filter` checks it before asking here.
        case ._submitted: return true
        case ._regex: return Self.regexMatches(field, operand)
        }
    }

    /// Joi's `string().regex(…)` as Directus builds it: the value must be a string in which the
    /// pattern is found (unanchored); `/…/` around the pattern is dropped. A null pattern accepts
    /// only `true`, as Directus's `any().equal(true)` does.
    private static func regexMatches(_ field: JSONValue, _ operand: JSONValue) -> Bool {
        guard let pattern = operand.stringValue else { return operand.isNull && field == .bool(true) }
        guard case .string(let text) = field, let regex = Self.regex(pattern) else { return false }
        return text.contains(regex)
    }

    /// The compiled `_regex` pattern, or nil when it is not a valid regular expression.
    static func regex(_ pattern: String) -> Regex<AnyRegexOutput>? {
        let body =
            pattern.count >= 2 && pattern.hasPrefix("/") && pattern.hasSuffix("/")
            ? String(pattern.dropFirst().dropLast()) : pattern
        return try? Regex(body)
    }

    private static func isEmpty(_ value: JSONValue) -> Bool {
        switch value {
        case .null, .string(""), .array([]): return true
        default: return false
        }
    }

    /// Substring test on text; element test on arrays (JSON/CSV fields).
    private static func contains(_ field: JSONValue, _ operand: JSONValue, caseInsensitive: Bool) -> Bool? {
        if case .array(let items) = field {
            guard caseInsensitive else { return items.contains { ValueComparison.equal($0, operand) } }
            let needle = operand.textValue.map(asciiLowercased)
            return items.contains { $0.textValue.map(asciiLowercased) == needle }
        }
        return text(field, operand, caseInsensitive) { $0.contains($1) }
    }

    private static func text(
        _ field: JSONValue, _ operand: JSONValue, _ caseInsensitive: Bool, _ test: (String, String) -> Bool
    ) -> Bool? {
        guard let haystack = field.textValue, let needle = operand.textValue else { return nil }
        return caseInsensitive ? test(asciiLowercased(haystack), asciiLowercased(needle)) : test(haystack, needle)
    }

    /// Folds A-Z only, as SQL `lower()` does in SQLite (and PostgreSQL in the C locale):
    /// the `i` operators must select the same rows in memory as in SQL.
    private static func asciiLowercased(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return text }
        return String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}
