/// The Redis Cluster slot of a key or shard channel: CRC16-XMODEM of the key (or of
/// its first non-empty `{hashtag}`) modulo 16384, as the cluster specification defines.
public struct HashSlot: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let count = 16384

    public let value: Int

    public init?(_ value: Int) {
        guard (0..<Self.count).contains(value) else { return nil }
        self.value = value
    }

    public init(key: some StringProtocol) {
        let bytes = Array(key.utf8)
        value = Int(Self.crc16(Self.hashedPart(of: bytes)[...])) % Self.count
    }

    /// The bytes between the first `{` and the next `}` when they enclose something, else the whole key.
    static func hashedPart(of key: [UInt8]) -> ArraySlice<UInt8> {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        else { return key[...] }
        return key[(open + 1)..<close]
    }

    /// CRC16-XMODEM: polynomial 0x1021, initial value 0, no reflection.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }

    public static func < (a: HashSlot, b: HashSlot) -> Bool { a.value < b.value }

    public var description: String { String(value) }
}
