import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// Request context for WebSocket upgrade requests (Hummingbird needs one that
/// can carry the upgrade handler).
struct SwitchboardWebSocketContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let remoteAddress: String?
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress?.ipAddress
        channel = source.channel
    }
}
