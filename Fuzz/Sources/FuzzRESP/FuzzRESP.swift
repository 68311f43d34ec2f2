import RESP

/// Whatever bytes a Redis server (or something posing as one) sends, the reply parser yields
/// replies or a protocol error; never a crash, a hang or unbounded output. The input arrives split
/// at a point its first byte chooses, as TCP would split it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0, let parser = RESPParser() else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    let split = 1 + Int(bytes[0]) % max(1, count)
    for chunk in [Array(bytes[1..<min(split, count)]), Array(bytes[min(split, count)..<count])] {
        chunk.withUnsafeBytes { parser.feed($0) }
        for _ in 0..<(count + 1) {
            guard let reply = try? parser.next() else { break }
            _ = reply.text
        }
    }
    _ = RESPCodec.encode([bytes])
    return 0
}
