import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The server's port: accepts connections on the event loops and sets each one
/// up at the front door (`SwitchboardChannel`) right there. A realtime socket
/// never touches a Swift task; an HTTP connection gets one task, running
/// Hummingbird's HTTP/1.1 handling with the router, for as long as it lives.
/// (Hummingbird's own server hands every accepted connection to a task
/// through an async sequence: two task wake-ups per connection before it is
/// even routed, a third of the cost of a connect-subscribe-close cycle.)
///
/// Graceful shutdown stops accepting, asks idle HTTP connections to close
/// (NIO's quiescing), and returns once every connection has closed: the
/// realtime service has drained its sockets by then (it shuts down first).
struct Listener: Service {
    let host: String
    let port: Int
    /// Connections the kernel queues before they are accepted: room for a reconnect storm (a
    /// drained replica's clients arriving at once). Linux caps it at `net.core.somaxconn`.
    var backlog: Int32 = 4096
    let channel: SwitchboardChannel
    let logger: Logger
    var eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

    func run() async throws {
        let quiescing = ServerQuiescingHelper(group: eventLoopGroup)
        let (channel, logger) = (self.channel, self.logger)
        let server = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { server in
                server.eventLoop.makeCompletedFuture {
                    try server.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: server))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { child in
                channel.setup(channel: child, logger: logger).map { value in
                    value.route.whenComplete { result in
                        // A realtime socket lives on its event loop from here; HTTP gets its task.
                        if case .success(.realtime) = result { return }
                        Task { await channel.handle(value: value, logger: logger) }
                    }
                }
            }
            .bind(host: host, port: port).get()
        let closed = server.eventLoop.makePromise(of: Void.self)
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await closed.futureResult.get()
            } onCancel: {
                server.close(promise: nil)
                closed.succeed()
            }
        } onGracefulShutdown: {
            quiescing.initiateShutdown(promise: closed)
        }
    }
}

/// The `Date` response header, formatted once per second (RFC 9110 §6.6.1).
final class ResponseDate: Sendable {
    private let cached = Mutex<(second: Int, text: String)>((-1, ""))

    var now: String {
        let second = Int(time(nil))
        return cached.withLock { c in
            if c.second != second { c = (second, Self.format(second)) }
            return c.text
        }
    }

    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(_ epochSecond: Int) -> String {
        var t = time_t(epochSecond)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
