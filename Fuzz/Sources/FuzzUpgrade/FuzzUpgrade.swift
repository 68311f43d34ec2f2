import RealtimeProtocol

/// Whatever the bytes, the upgrade reader answers (never a crash or a hang); a head it reads as an
/// upgrade lies within the bytes, is for one of the paths, and reads the same without what follows it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    let paths: Set<String> = ["/websocket", "/graphql"]
    let limits = UpgradeRequest.Limits(maxHeadBytes: 4096, maxHeaders: 16)
    let reading = UpgradeRequest.read(bytes, paths: paths, limits: limits)
    if case .upgrade(let request, let headLength) = reading {
        precondition(headLength <= min(count, limits.maxHeadBytes))
        precondition(paths.contains(String(request.path)))
        precondition(request.headers.count <= limits.maxHeaders)
        precondition(UpgradeRequest.read(Array(bytes[..<headLength]), paths: paths, limits: limits) == reading)
        // Every prefix of the head is a prefix of an upgrade.
        let cut = headLength / 2
        precondition(UpgradeRequest.read(Array(bytes[..<cut]), paths: paths, limits: limits) == .needMore)
    }
    return 0
}
