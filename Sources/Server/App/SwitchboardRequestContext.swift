import Hummingbird
import NIOCore

/// Per-request state: Hummingbird's core storage plus the peer address
/// (recorded on sessions and activity rows).
struct SwitchboardRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies are size-checked by `HTTPBody.collect` with `MAX_PAYLOAD_SIZE`.
    var maxUploadSize: Int { Int.max }
}
