import Foundation
import Hummingbird
import Realtime
import SwitchboardCore

/// `GET /metrics` in the Prometheus text format, when `METRICS_ENABLED` is true. Readable by
/// admins and by `Authorization: Metrics <token>` with a token from `METRICS_TOKENS`, as in
/// Directus. Numbers are this replica's own.
struct MetricsRoutes {
    let realtime: RealtimeEngine
    let callers: CallerResolver
    let tokens: [String]
    let prefix: String
    let isReady: @Sendable () -> Bool
    let messengerState: @Sendable () -> String?

    func register(on router: Router<SwitchboardRequestContext>) {
        router.get("metrics") { request, context in
            try await authorize(request, context)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            headers[.cacheControl] = "no-cache"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: render())))
        }
    }

    private func authorize(_ request: Request, _ context: SwitchboardRequestContext) async throws {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "metrics" {
                guard tokens.contains(String(parts[1])) else { throw SwitchboardError.forbidden() }
                return
            }
        }
        guard try await callers.accountability(request, context).admin else { throw SwitchboardError.forbidden() }
    }

    func render() -> String {
        var out = MetricsText()
        out.add(
            "process_resident_memory_bytes", .gauge, "Resident memory of this process.",
            Double((ProcessResources.residentKiB() ?? 0) * 1024))
        out.add("process_open_fds", .gauge, "Open file descriptors.", Double(ProcessResources.openFiles()))
        out.add(
            "process_max_fds", .gauge, "Open file descriptor limit (soft).",
            Double(ProcessResources.openFileLimit().soft))
        let s = realtime.stats()
        out.add(prefix + "websocket_connections", .gauge, "Open realtime sockets.", Double(s.connections))
        out.add(prefix + "websocket_subscriptions", .gauge, "Active subscriptions over all sockets.", Double(s.subscriptions))
        out.add(
            prefix + "realtime_query_classes", .gauge, "Distinct subscription queries (shared rendering).", Double(s.queryClasses)
        )
        out.add(
            prefix + "realtime_events_total", .counter, "Change events matched against subscriptions.", Double(s.eventsDispatched)
        )
        out.add(prefix + "realtime_frames_total", .counter, "Subscription frames written to sockets.", Double(s.framesQueued))
        out.add(
            prefix + "realtime_slow_consumer_closes_total", .counter, "Sockets closed with 1013 for not reading.",
            Double(s.slowConsumerCloses))
        out.add(prefix + "ready", .gauge, "1 while this replica takes traffic (0 while draining).", isReady() ? 1 : 0)
        if let state = messengerState() {
            out.add(
                prefix + "messenger_connected", .gauge, "1 while the Redis messenger is connected.", state == "connected" ? 1 : 0)
        }
        return out.text
    }
}

/// Builds Prometheus text exposition: `# HELP`, `# TYPE`, then the sample.
struct MetricsText {
    enum Kind: String { case gauge, counter }
    private(set) var text = ""

    mutating func add(_ name: String, _ kind: Kind, _ help: String, _ value: Double) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
        let number = value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        text += "\(name) \(number)\n"
    }
}
