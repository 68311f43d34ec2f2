import Query
import Store
import SwitchboardCore

/// [extension] `live`: the rows a query class's members were shown that will leave the class's
/// `$NOW` windows (`NowWindow`) as time passes, and when; fan-out's one tick asks every class for
/// the rows due and sends each class's members `delete` with `reason: "left"`, without a write.
///
/// Rows come from the events rendered for the class (in seq order: authoritative) and from the
/// members' `init` reads (read at some point after the join's boundary, so a row an event has
/// already moved on, removed since the boundary, or that already left, is not taken from them).
/// At most `limit` keys are tracked; rows beyond it leave on update only.
struct WindowExits: Sendable {
    let windows: [NowWindow]
    let limit: Int

    struct Tracked: Sendable, Equatable {
        var key: JSONValue
        /// ms since the epoch
        var exit: Int64
    }

    /// key text → the row's key and its exit
    private(set) var tracked: [String: Tracked] = [:]
    /// Keys events removed since, with the seq of the event, so that an older `init` read does not bring them back.
    private var forgotten: [String: (seq: Int64, at: Int64)] = [:]
    /// Exits by time; entries a later `show` or `forget` replaced are skipped when they surface.
    private var heap = TimeHeap<String>()
    /// Whether a row was ever refused for the limit (reported once).
    private(set) var overflowed = false
    /// When `forgotten` was last pruned (ms).
    private var prunedAt: Int64 = 0

    /// How long a removed key blocks `init` rows that may predate its removal (ms); reads take far less.
    static let forgottenFor: Int64 = 60_000

    init(windows: [NowWindow], limit: Int) {
        self.windows = windows
        self.limit = limit
    }

    /// The windows a `live` class's rows leave over time; empty when it has none to track (not
    /// `live`, an aggregate, `event: create`, or windows only under `_or` or through relations).
    static func windows(for key: QueryClassKey, permissionFilter: Filter?) -> [NowWindow] {
        let request = key.request
        guard request.live, request.query.aggregate.isEmpty, request.query.groupBy.isEmpty,
            request.event == nil || request.event == .update || request.event == .delete,
            let rule = Filter.conjunction([request.query.filter, permissionFilter])
        else { return [] }
        return NowWindow.required(by: rule)
    }

    enum Shown: Equatable {
        case tracked
        /// The row is outside every window already or has no date there: nothing to wait for.
        case untracked
        /// The limit was reached; true the first time (to report it once).
        case refused(first: Bool)
    }

    /// An event showed the class's members this row (it matches): it leaves at its exit.
    @discardableResult
    mutating func show(_ key: JSONValue, row: JSONObject) -> Shown {
        guard let text = key.textValue else { return .untracked }
        forgotten[text] = nil
        return track(key, text: text, row: row)
    }

    /// A member's `init`, read after `boundary`, showed it this row. Events are newer: a key an event
    /// tracks or removed after `boundary` keeps what the event said.
    @discardableResult
    mutating func introduce(_ key: JSONValue, row: JSONObject, boundary: Int64) -> Shown {
        guard let text = key.textValue, tracked[text] == nil else { return .untracked }
        if let removal = forgotten[text], removal.seq > boundary { return .untracked }
        return track(key, text: text, row: row)
    }

    /// An event deleted the row or moved it out of the class's filter (seq: that event's).
    mutating func forget(_ key: JSONValue, seq: Int64, now: Int64) {
        guard let text = key.textValue else { return }
        tracked[text] = nil
        if forgotten.count < limit { forgotten[text] = (seq, now) }
    }

    /// Removes and answers the rows whose exit is at or before `now`, earliest first.
    mutating func due(now: Int64) -> [JSONValue] {
        var out: [JSONValue] = []
        while let first = heap.popDue(now: now) {
            if let t = tracked[first.value], t.exit == first.at {
                tracked[first.value] = nil
                out.append(t.key)
                // Every member has it, or an `init` read after this cannot show it: none brings it back.
                if forgotten.count < limit { forgotten[first.value] = (.max, now) }
            }
        }
        if !forgotten.isEmpty, now - prunedAt >= Self.forgottenFor / 4 {
            prunedAt = now
            forgotten = forgotten.filter { now - $0.value.at < Self.forgottenFor }
        }
        return out
    }

    /// A subscription moved here from `other` (its permissions changed): the rows it was shown
    /// there keep their exits here, when both classes have the same windows (else they are timed
    /// from their next change).
    mutating func adopt(_ other: WindowExits) {
        guard other.windows == windows else { return }
        for (text, t) in other.tracked where tracked[text] == nil && tracked.count < limit {
            tracked[text] = t
            heap.push(text, at: t.exit)
        }
    }

    /// Heap entries, stale ones included (for tests of the compaction).
    var scheduledCount: Int { heap.count }

    private mutating func track(_ key: JSONValue, text: String, row: JSONObject) -> Shown {
        guard let exit = NowWindow.exit(of: row, through: windows) else {
            tracked[text] = nil
            return .untracked
        }
        if tracked[text] == nil, tracked.count >= limit {
            defer { overflowed = true }
            return .refused(first: !overflowed)
        }
        if tracked[text]?.exit == exit { return .tracked }
        tracked[text] = Tracked(key: key, exit: exit)
        heap.push(text, at: exit)
        // Rows bumped again and again (a heartbeat) leave stale entries behind: rebuilt when they dominate.
        if heap.count > 2 * tracked.count + 64 {
            heap.removeAll()
            for (text, t) in tracked { heap.push(text, at: t.exit) }
        }
        return .tracked
    }
}
