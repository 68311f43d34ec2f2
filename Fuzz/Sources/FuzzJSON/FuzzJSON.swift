import SwitchboardCore

/// The JSON reader never crashes or hangs, and what it accepts the writer writes back so that it
/// reads the same again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    guard let value = try? JSONReader.parse(bytes) else { return 0 }
    let written = value.jsonBytes
    guard let again = try? JSONReader.parse(written) else {
        fatalError("the writer's output does not parse: \(String(decoding: written.prefix(200), as: UTF8.self))")
    }
    precondition(again == value, "round trip changed the value")
    return 0
}
