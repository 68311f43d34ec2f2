import NIOCore
import NIOHTTP1

/// A protocol served over WebSocket on one path of the server's port. The
/// front door looks the upgrade's path up in a table of endpoints, asks the
/// endpoint for its decision (at once on the event loop when no lookup is
/// needed, else from a task), writes the 101 with the endpoint's subprotocol
/// and lets it install its handlers. The Directus realtime protocol
/// (`RealtimeEngine`) is one endpoint; another (GraphQL's
/// `graphql-transport-ws`) is another entry in the table, reusing the shards,
/// deadline timer and fan-out behind it.
public protocol UpgradeEndpoint: Sendable {
    /// The decision when it needs no lookup (called on the event loop); nil: `admit` decides.
    func admitAtOnce(_ head: HTTPRequestHead, remoteAddress: String?) -> UpgradeAdmission?
    /// The decision, with whatever lookups it needs.
    func admit(_ head: HTTPRequestHead, remoteAddress: String?) async -> UpgradeAdmission
}

/// What an upgrade request gets from its endpoint.
public enum UpgradeAdmission: Sendable {
    /// An HTTP error instead of the upgrade, then close.
    case refuse(HTTPResponseStatus, String)
    /// `Sec-WebSocket-Protocol` for the 101 (nil: none), what turns the channel into the
    /// endpoint's socket once the 101 left (called on the channel's event loop), and what gives
    /// back what the acceptance took (its connection slot) if `install` is never called (the
    /// client left first). `install` gives it back itself when it throws.
    case accept(
        subprotocol: String?, install: @Sendable (any Channel) throws -> Void, abandon: @Sendable () -> Void)
}

extension UpgradeEndpoint {
    /// The decision, handed to `decided` on `loop`: at once when `admitAtOnce` knows it, else
    /// after `admit` (off the loop). Both front doors (the HTTP codec's and the plain-upgrade one)
    /// admit through here.
    public func decide(
        _ head: HTTPRequestHead, remoteAddress: String?, on loop: any EventLoop,
        _ decided: @escaping (UpgradeAdmission) -> Void
    ) {
        if let admission = admitAtOnce(head, remoteAddress: remoteAddress) { return decided(admission) }
        let bound = NIOLoopBound(decided, eventLoop: loop)
        Task {
            let admission = await admit(head, remoteAddress: remoteAddress)
            loop.execute { bound.value(admission) }
        }
    }
}
