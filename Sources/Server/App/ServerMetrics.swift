import Messenger
import Metrics
import Prometheus
import Realtime
import Store
import SwitchboardCore
import Synchronization

/// This replica's Prometheus registry, served at `/metrics`.
///
/// What happens is recorded where it happens, through swift-metrics (events received,
/// backfills, fan-out latency, HTTP requests by route and status); levels (sockets,
/// subscriptions, pool use, Redis state, outbox lag) and the counters other parts keep as
/// atomics are read at each scrape. Every name has the `METRICS_NAME_PREFIX`; no label
/// takes a value from a client (routes are the router's patterns), so cardinality is bounded.
final class ServerMetrics: Sendable {
    struct Sources: Sendable {
        let realtime: RealtimeEngine
        let relay: EventRelay
        let database: any SQLDatabase
        let messenger: (any Messenger)?
        /// The logs stream, when it is on.
        let logs: LogStream?
        let isReady: @Sendable () -> Bool
    }

    let registry: PrometheusCollectorRegistry
    private let prefix: String
    private let sources: Sources
    private let levels: Levels
    private let mirrors: Mirrors
    /// Only in cluster mode (a single node has no Redis to report on).
    private let broker: Broker?

    /// Makes a registry the backend of swift-metrics, before the services that record into it are
    /// made. swift-metrics takes one backend per process: a second call answers the first registry.
    static func bootstrap(prefix: String) -> PrometheusCollectorRegistry {
        bootstrapped.withLock { existing in
            if let existing { return existing }
            let registry = makeBackend(prefix: prefix)
            existing = registry
            return registry
        }
    }

    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    private static func makeBackend(prefix: String) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (
                prefix + (swiftMetricsNames[name] ?? name.replacing(".", with: "_")),
                labels.map { (labelNames[$0.0] ?? $0.0.replacing(".", with: "_"), $0.1) }
            )
        }
        // Keyed by the sanitized names.
        let fanoutBuckets: [Duration] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2500),
        ]
        factory.durationHistogramBuckets[prefix + "realtime_fanout_latency_seconds"] = fanoutBuckets
        factory.durationHistogramBuckets[prefix + "realtime_fanout_wait_seconds"] = fanoutBuckets
        factory.valueHistogramBuckets[prefix + "outbox_backfill_events"] = [0, 1, 2, 5, 10, 50, 100, 500, 1000, 5000]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Hummingbird's `MetricsMiddleware` names, in Prometheus's conventions.
    static let swiftMetricsNames = [
        "hb.requests": "http_requests_total",
        "hb.request.errors": "http_request_errors_total",
        "http.server.request.duration": "http_request_duration_seconds",
        "http.server.active_requests": "http_active_requests",
    ]

    static let labelNames = [
        "http.route": "route", "http.request.method": "method", "http.response.status_code": "status",
        "error.type": "status",
    ]

    init(registry: PrometheusCollectorRegistry, prefix: String, sources: Sources) {
        self.registry = registry
        self.prefix = prefix
        self.sources = sources
        levels = Levels(registry: registry, prefix: prefix)
        mirrors = Mirrors(registry: registry, prefix: prefix)
        broker = sources.messenger.map { Broker(messenger: $0, registry: registry, prefix: prefix) }
    }

    /// The text exposition, with every level read now.
    func scrape() async -> [UInt8] {
        let stats = sources.realtime.stats()
        let auth = await sources.realtime.connectionsByAuthState()
        let usage = sources.database.usage
        let lag = sources.relay.lag
        let l = levels
        l.residentBytes.set(Int64((ProcessResources.residentKiB() ?? 0) * 1024))
        l.openFiles.set(Int64(ProcessResources.openFiles()))
        l.maxFiles.set(Int64(ProcessResources.openFileLimit().soft))
        l.connections.set(Int64(stats.connections))
        for (state, gauge) in l.connectionsByAuth { gauge.set(Int64(auth[state] ?? 0)) }
        l.subscriptions.set(Int64(stats.subscriptions))
        l.queryClasses.set(Int64(stats.queryClasses))
        l.ready.set(sources.isReady() ? Int64(1) : 0)
        l.outboxLagEvents.set(lag.events)
        l.outboxLagSeconds.set(Double(lag.behindFor.components.seconds) + Double(lag.behindFor.components.attoseconds) / 1e18)
        l.databaseInUse.set(Int64(usage.inUse))
        l.databaseWaiting.set(Int64(usage.waiting))
        l.databaseCapacity.set(Int64(usage.capacity))
        mirrors.events.update(stats.eventsDispatched)
        mirrors.frames.update(stats.framesQueued)
        mirrors.slowConsumerCloses.update(stats.slowConsumerCloses)
        mirrors.aggregateReads.update(stats.aggregateReads)
        mirrors.aggregateInMemory.update(stats.aggregateCountedInMemory)
        mirrors.logRecordsDropped.update(sources.logs?.droppedRecords ?? 0)
        broker?.read()
        return registry.emitToBuffer()
    }

    /// Gauges set at each scrape.
    private struct Levels: Sendable {
        let residentBytes, openFiles, maxFiles: Prometheus.Gauge
        let connections, subscriptions, queryClasses, ready: Prometheus.Gauge
        let connectionsByAuth: [(SocketAuthState, Prometheus.Gauge)]
        let outboxLagEvents, outboxLagSeconds: Prometheus.Gauge
        let databaseInUse, databaseWaiting, databaseCapacity: Prometheus.Gauge

        init(registry r: PrometheusCollectorRegistry, prefix p: String) {
            func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Prometheus.Gauge {
                r.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
            }
            // The process's own, by Prometheus's standard names (no prefix).
            residentBytes = gauge("process_resident_memory_bytes", "Resident memory of this process.")
            openFiles = gauge("process_open_fds", "Open file descriptors.")
            maxFiles = gauge("process_max_fds", "Open file descriptor limit (soft).")
            connections = gauge(p + "websocket_connections", "Open realtime sockets (both protocols).")
            connectionsByAuth = SocketAuthState.allCases.map { state in
                (
                    state,
                    gauge(
                        p + "websocket_connections_by_auth",
                        "Open realtime sockets by authentication state (pending, user, public, expired).",
                        [("auth", state.rawValue)])
                )
            }
            subscriptions = gauge(p + "websocket_subscriptions", "Active subscriptions over all sockets.")
            queryClasses = gauge(p + "realtime_query_classes", "Distinct subscription queries (shared rendering).")
            ready = gauge(p + "ready", "1 while this replica takes traffic (0 while draining).")
            outboxLagEvents = gauge(
                p + "outbox_lag_events", "Committed events this replica knows of and has not delivered yet.")
            outboxLagSeconds = gauge(p + "outbox_lag_seconds", "How long the oldest collection has been behind.")
            databaseInUse = gauge(p + "db_connections_in_use", "Database connections held by an operation.")
            databaseWaiting = gauge(p + "db_connections_waiting", "Operations waiting for a database connection.")
            databaseCapacity = gauge(p + "db_connections_max", "Database connections there can be at most.")
        }
    }

    /// Counters other parts keep as atomics, brought up to date at each scrape.
    private struct Mirrors: Sendable {
        let events, frames, slowConsumerCloses, logRecordsDropped: CounterMirror
        let aggregateReads, aggregateInMemory: CounterMirror

        init(registry r: PrometheusCollectorRegistry, prefix p: String) {
            events = CounterMirror(r, p + "realtime_events", "Change events matched against subscriptions.")
            frames = CounterMirror(r, p + "realtime_frames", "Subscription frames written to sockets.")
            slowConsumerCloses = CounterMirror(
                r, p + "realtime_slow_consumer_closes", "Sockets closed with 1013 for not reading.")
            logRecordsDropped = CounterMirror(
                r, p + "logs_records_dropped", "Log records not sent to a logs-stream socket that was not reading.")
            aggregateReads = CounterMirror(
                r, p + "realtime_aggregate_reads", "Aggregate subscription frames read from the database.")
            aggregateInMemory = CounterMirror(
                r, p + "realtime_aggregate_in_memory",
                "Aggregate subscription frames counted in memory from the change (database reads avoided).")
        }
    }

    /// The Redis messenger's state and counters.
    private struct Broker: Sendable {
        let messenger: any Messenger
        let connected, queued: Prometheus.Gauge
        let states: [(MessengerState, Prometheus.Gauge)]
        let published, publishDropped, publishFailed, reconnects: CounterMirror

        init(messenger: any Messenger, registry r: PrometheusCollectorRegistry, prefix p: String) {
            self.messenger = messenger
            func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Prometheus.Gauge {
                r.makeGauge(descriptor: MetricNameDescriptor(metricName: p + name, unitName: "", helpText: help), labels: labels)
            }
            connected = gauge("messenger_connected", "1 while the Redis messenger is connected.")
            queued = gauge("messenger_publish_queued", "Events waiting to be published to Redis.")
            states = [MessengerState.connected, .connecting, .disconnected].map { state in
                (state, gauge("messenger_state", "1 for the Redis messenger's current state.", [("state", state.rawValue)]))
            }
            published = CounterMirror(r, p + "messenger_published", "Events Redis accepted from this replica.")
            publishDropped = CounterMirror(
                r, p + "messenger_publish_dropped",
                "Events not published because the queue was full (other replicas read them from the outbox).")
            publishFailed = CounterMirror(r, p + "messenger_publish_failed", "Publishes that failed or timed out.")
            reconnects = CounterMirror(r, p + "messenger_reconnects", "Redis subscription connections re-established.")
        }

        func read() {
            let stats = messenger.stats
            let state = messenger.state
            connected.set(state == .connected ? Int64(1) : 0)
            for (s, gauge) in states { gauge.set(s == state ? Int64(1) : 0) }
            queued.set(Int64(stats.queued))
            published.update(stats.published)
            publishDropped.update(stats.dropped)
            publishFailed.update(stats.failed)
            reconnects.update(stats.reconnects)
        }
    }
}

/// A Prometheus counter that follows a running total kept elsewhere.
final class CounterMirror: Sendable {
    private let counter: Prometheus.Counter
    private let last = Mutex<UInt64>(0)

    /// `<name>_total` in `registry`.
    init(_ registry: PrometheusCollectorRegistry, _ name: String, _ help: String) {
        counter = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "total", helpText: help))
    }

    func update(_ total: UInt64) {
        let delta = last.withLock { last -> UInt64 in
            defer { last = max(last, total) }
            return total > last ? total - last : 0
        }
        if delta > 0 { counter.increment(by: Int64(delta)) }
    }
}
