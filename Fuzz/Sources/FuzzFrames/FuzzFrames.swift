import Query
import RealtimeProtocol
import SwitchboardCore

/// Every realtime frame a client can send is either a message or a rejection whose error frame is
/// well-formed JSON; never a crash or a hang, whatever the bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    switch ClientMessage.parse(bytes, limits: QueryLimits()) {
    case .success(let message):
        if case .subscribe(let request, _) = message { precondition(!request.collection.isEmpty) }
    case .failure(let rejection):
        guard case .object(let frame)? = try? JSONReader.parse(rejection.frame), frame["status"] == "error" else {
            fatalError("a rejection's frame is not a JSON error object")
        }
    }
    return 0
}
