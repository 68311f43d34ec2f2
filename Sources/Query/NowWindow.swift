import SwitchboardCore

/// A part of a filter that a matching row stops satisfying as the clock moves on: a plain date
/// field `_gt` / `_gte` a `$NOW` variable, or `_between` with a `$NOW` lower bound. Realtime uses
/// it to tell `live` subscribers when a row leaves without a write (PROTOCOL.md, `live`).
public struct NowWindow: Sendable, Hashable {
    /// The plain field compared with the clock.
    public let field: String
    public let adjustment: NowAdjustment
    /// `_gte` and `_between` hold at equality; `_gt` does not.
    public let inclusive: Bool

    public init(field: String, adjustment: NowAdjustment, inclusive: Bool) {
        self.field = field
        self.adjustment = adjustment
        self.inclusive = inclusive
    }

    /// The windows every row matching `filter` is inside: conditions reached through `_and` chains
    /// (and one-element `_or`s) only. A window under a real `_or`, a `_none` or a relation does not
    /// decide whether the row matches alone, so it is not one of them.
    public static func required(by filter: Filter) -> [NowWindow] {
        switch filter {
        case .and(let parts): return parts.flatMap(required(by:))
        case .or(let parts) where parts.count == 1: return required(by: parts[0])
        case .condition(let path, let op, let value) where path.count == 1:
            switch (op, value) {
            case (._gt, .string(let s)), (._gte, .string(let s)):
                guard let adjustment = NowAdjustment(variable: s) else { return [] }
                return [NowWindow(field: path[0], adjustment: adjustment, inclusive: op == ._gte)]
            case (._between, .array(let bounds)) where bounds.count == 2:
                guard case .string(let s) = bounds[0], let adjustment = NowAdjustment(variable: s) else { return [] }
                return [NowWindow(field: path[0], adjustment: adjustment, inclusive: true)]
            default:
                return []
            }
        default:
            return []
        }
    }

    /// The first instant (ms since the epoch) at which `row` no longer satisfies any of `windows`,
    /// or nil when there is none (no windows, or a value that is not a date: such a row fails the
    /// comparison already).
    public static func exit(of row: JSONObject, through windows: [NowWindow]) -> Int64? {
        windows.compactMap { $0.exit(of: row) }.min()
    }

    /// The first instant (ms since the epoch) at which `row`'s value is outside this window.
    public func exit(of row: JSONObject) -> Int64? {
        guard case .string(let text)? = row[field], let value = ISOTimestamp(parsing: text)?.epochMilliseconds else {
            return nil
        }
        switch adjustment {
        case .seconds(let n):
            // Inside while value ≥ now + n (or >): outside from value − n (+1 ms when inclusive).
            let edge = value - Int64(n) * 1000
            return inclusive ? edge + 1 : edge
        case .months:
            return calendarExit(value)
        }
    }

    /// Whether the window holds for a value (ms) at `now` (ms), as the filter evaluates it.
    func holds(_ value: Int64, at now: Int64) -> Bool {
        let bound = ISOTimestamp(epochSeconds: adjustment.applied(to: Double(now) / 1000)).epochMilliseconds
        return inclusive ? value >= bound : value > bound
    }

    /// Calendar months have no fixed length: the edge is searched for between an instant the row
    /// is inside and one it is outside (JavaScript's month-end rollover, which `$NOW(-1 month)`
    /// follows, can make the bound step back for a few days; the edge found is one where it leaves).
    private func calendarExit(_ value: Int64) -> Int64? {
        let bound = ISOTimestamp(epochSeconds: adjustment.applied(to: Double(value) / 1000)).epochMilliseconds
        let guess = value + (value - bound)
        let day: Int64 = 86_400_000
        var width = 4 * day
        var inside = guess - width
        var outside = guess + width
        for _ in 0..<8 where holds(value, at: inside) == false || holds(value, at: outside) {
            width *= 2
            inside = guess - width
            outside = guess + width
        }
        guard holds(value, at: inside), !holds(value, at: outside) else { return nil }
        while outside - inside > 1 {
            let middle = inside + (outside - inside) / 2
            if holds(value, at: middle) { inside = middle } else { outside = middle }
        }
        return outside
    }
}
