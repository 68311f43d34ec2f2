/// What the bench needs of an event frame, found by scanning its bytes instead of
/// parsing it into a JSON tree: at tens of thousands of deliveries a second the client's
/// parse cost more CPU than either server's fan-out, on the cores the servers share, so
/// the knee measured the client. A scan is sound here because in JSON text the bytes
/// `"name":` can only be a key: inside a string every `"` is escaped.
struct EventScan: Equatable {
    /// The frame's `seq` (the first `"seq":` key; rows of the bench collection have no
    /// `seq` field, and for nchan the published body's own `seq` is the only one).
    var seq: Int?
    /// Every `sent_at` in the frame, one per row.
    var sentAt: [Double]

    private static let createEvent = Array(#""event":"create""#.utf8)
    private static let seqKey = Array(#""seq":"#.utf8)
    private static let sentAtKey = Array(#""sent_at":"#.utf8)

    /// A Switchboard `subscription` + `create` frame, or nil for any other frame (those
    /// are rare and take the full parse).
    static func create(_ bytes: UnsafeRawBufferPointer) -> EventScan? {
        guard find(createEvent, in: bytes, from: 0) != nil else { return nil }
        return scanBody(bytes)
    }

    /// An nchan message: the published body itself (nil when it has neither a `seq` nor a
    /// `sent_at`: not a bench message).
    static func body(_ bytes: UnsafeRawBufferPointer) -> EventScan? {
        let scan = scanBody(bytes)
        return scan.seq == nil && scan.sentAt.isEmpty ? nil : scan
    }

    private static func scanBody(_ bytes: UnsafeRawBufferPointer) -> EventScan {
        var scan = EventScan(seq: nil, sentAt: [])
        if let at = find(seqKey, in: bytes, from: 0), let (value, _) = number(in: bytes, at: at) {
            scan.seq = Int(exactly: value)
        }
        var from = 0
        while let at = find(sentAtKey, in: bytes, from: from) {
            guard let (value, end) = number(in: bytes, at: at) else {
                from = at
                continue
            }
            scan.sentAt.append(value)
            from = end
        }
        return scan
    }

    /// The index just past the first occurrence of `pattern` at or after `from`.
    static func find(_ pattern: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let first = pattern.first, bytes.count >= pattern.count else { return nil }
        var i = from
        let last = bytes.count - pattern.count
        while i <= last {
            if bytes[i] == first {
                var j = 1
                while j < pattern.count && bytes[i + j] == pattern[j] { j += 1 }
                if j == pattern.count { return i + j }
            }
            i += 1
        }
        return nil
    }

    /// A JSON number at `at` (after optional spaces): integer digits, an optional fraction;
    /// nil when there is none. Returns the value and the index after it.
    static func number(in bytes: UnsafeRawBufferPointer, at start: Int) -> (Double, Int)? {
        var i = start
        while i < bytes.count && bytes[i] == UInt8(ascii: " ") { i += 1 }
        var negative = false
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        var value = 0.0
        var digits = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9"), digits < 18 {
            value = value * 10 + Double(bytes[i] - UInt8(ascii: "0"))
            digits += 1
            i += 1
        }
        guard digits > 0 else { return nil }
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                value += Double(bytes[i] - UInt8(ascii: "0")) * scale
                scale /= 10
                i += 1
            }
        }
        return (negative ? -value : value, i)
    }
}
