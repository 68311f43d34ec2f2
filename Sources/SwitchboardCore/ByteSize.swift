/// Parses sizes the way Directus does for `MAX_PAYLOAD_SIZE` (the npm `bytes`
/// package): `"1mb"`, `"100kb"`, `"1.5gb"`, `"512b"`; units are powers of
/// 1024 and case-insensitive; a bare integer is a count of bytes.
public enum ByteSize {
    private static let unitBytes: [String: Double] = [
        "b": 1,
        "kb": 1024,
        "mb": 1_048_576,
        "gb": 1_073_741_824,
        "tb": 1_099_511_627_776,
        "pb": 1_125_899_906_842_624,
    ]

    /// The size in bytes (fractions rounded down, like `bytes`), or `nil` when
    /// `text` is not a non-negative size.
    public static func bytes(from text: String) -> Int? {
        let trimmed = DurationParser.trim(text)
        if trimmed.hasPrefix("-") { return nil }
        let unsigned = trimmed.hasPrefix("+") ? trimmed.dropFirst() : trimmed
        guard let (number, rest) = DurationParser.splitLeadingNumber(unsigned) else { return nil }
        let unit = DurationParser.trim(rest).lowercased()
        let factor: Double
        if unit.isEmpty {
            // A bare number is bytes and must be whole.
            guard number == number.rounded(.down) else { return nil }
            factor = 1
        } else if let f = unitBytes[unit] {
            factor = f
        } else {
            return nil
        }
        let value = (number * factor).rounded(.down)
        guard value.isFinite, value >= 0, value < 9.0e18 else { return nil }
        return Int(value)
    }

    /// Formats a byte count the way `bytes.format` does for whole units
    /// (`1048576` → `"1mb"`), falling back to plain bytes (`"1500b"`).
    public static func format(_ bytes: Int) -> String {
        let units: [(String, Int)] = [
            ("pb", 1_125_899_906_842_624), ("tb", 1_099_511_627_776), ("gb", 1_073_741_824),
            ("mb", 1_048_576), ("kb", 1024),
        ]
        for (name, size) in units where bytes >= size && bytes % size == 0 {
            return "\(bytes / size)\(name)"
        }
        return "\(bytes)b"
    }
}
