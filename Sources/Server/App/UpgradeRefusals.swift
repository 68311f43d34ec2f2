import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Remembers why an upgrade was refused so the refusal goes out with the
/// status PROTOCOL.md names (401 / 403) instead of the WebSocket layer's
/// generic 400.
final class UpgradeRefusals: Sendable {
    private let refusals = Mutex<[ObjectIdentifier: HTTPResponse.Status]>([:])

    func record(_ status: HTTPResponse.Status, for channel: any Channel) {
        let id = ObjectIdentifier(channel)
        refusals.withLock { $0[id] = status }
        channel.closeFuture.whenComplete { [weak self] _ in self?.refusals.withLock { _ = $0.removeValue(forKey: id) } }
    }

    func take(for channel: any Channel) -> HTTPResponse.Status? {
        refusals.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// One per HTTP connection, on the path of the failed-upgrade answer.
    func makeHandler() -> UpgradeRefusalHandler { UpgradeRefusalHandler(refusals: self) }
}

/// Rewrites the status of a refused upgrade's response.
final class UpgradeRefusalHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let refusals: UpgradeRefusals

    init(refusals: UpgradeRefusals) { self.refusals = refusals }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var part = unwrapOutboundIn(data)
        if case .head(var head) = part, head.status == .badRequest, let status = refusals.take(for: context.channel) {
            head.status = status
            part = .head(head)
        }
        context.write(wrapOutboundOut(part), promise: promise)
    }
}
