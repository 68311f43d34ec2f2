import Access
import Logging
import Messenger
import Metrics
import Store
import SwitchboardCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Moves committed changes between the store, the messenger and fan-out.
///
/// A local commit is handed to fan-out at once and queued for publishing to
/// `<namespace>:col:<collection>`; neither waits on Redis. Events from other
/// replicas arrive through the messenger. Every event passes its collection's
/// `CollectionSeqTracker`, so subscribers get each change once and in commit
/// order whichever way it came; gaps (a dropped publish, a Redis outage, a
/// writer that died after commit) are filled from the outbox when seen, after
/// every reconnect and by a periodic check, and a failed outbox read is
/// retried with backoff until the database answers.
public final class EventRelay: ChangeEventSink {
    let store: Store
    let fanout: Fanout
    let auth: AuthService
    let messenger: (any Messenger)?
    let namespace: String
    let logger: Logger
    /// How often tracked collections are compared with the database's seq.
    let checkInterval: Duration
    /// Outbox retention (age in ms, newest events kept per collection).
    let retention: (ageMs: Int64, maxEvents: Int)
    /// Test-only: exit right after a commit to this collection, before publishing.
    let crashAfterCommit: String?
    /// Where other replicas' stats snapshots go (the admin view); nil: they are not listened to.
    let fleet: FleetBoard?

    /// The collections this replica delivers (the permission collections, and those with local
    /// subscriptions), and since when each one that is behind has been behind.
    private struct Followed {
        var trackers: [String: CollectionSeqTracker] = [:]
        var behindSince: [String: ContinuousClock.Instant] = [:]
    }

    private let followed = Mutex(Followed())

    /// What ordering did, for `/metrics` (swift-metrics: no-ops unless the server bootstrapped a backend).
    private struct Meters {
        let received = Counter(label: "realtime_events_received_total")
        let backfills = Counter(label: "outbox_backfills_total")
        let backfillFailures = Counter(label: "outbox_backfill_failures_total")
        let backfilled = Recorder(label: "outbox_backfill_events", aggregate: true)
        let skipped = Counter(label: "outbox_skipped_events_total")
        let unreadable = Counter(label: "realtime_unreadable_messages_total")
    }

    private let meters = Meters()

    public init(
        store: Store, fanout: Fanout, auth: AuthService, messenger: (any Messenger)?, namespace: String,
        checkInterval: Duration = .seconds(2),
        retention: (ageMs: Int64, maxEvents: Int) = (86_400_000, 100_000),
        crashAfterCommit: String? = nil, fleet: FleetBoard? = nil, logger: Logger = Logger(label: "switchboard.relay")
    ) {
        self.retention = retention
        self.crashAfterCommit = crashAfterCommit
        self.fleet = fleet
        self.store = store
        self.fanout = fanout
        self.auth = auth
        self.messenger = messenger
        self.namespace = namespace
        self.checkInterval = checkInterval
        self.logger = logger
    }

    func channel(_ collection: String) -> String { "\(namespace):col:\(collection)" }
    var controlChannel: String { "\(namespace):control" }
    /// Every replica's stats snapshots (`ReplicaSnapshot`), for the admin view.
    var fleetChannel: String { "\(namespace):fleet" }

    /// Starts following the permission collections (always, for cache invalidation).
    public func start() async throws {
        await messenger?.subscribe(controlChannel)
        if fleet != nil { await messenger?.subscribe(fleetChannel) }
        for collection in SystemCollections.accessControl {
            await follow(collection, after: try await store.outbox.currentSeq(collection))
        }
    }

    private func follow(_ collection: String, after seq: Int64) async {
        let added = followed.withLock { f -> Bool in
            guard f.trackers[collection] == nil else { return false }
            f.trackers[collection] = CollectionSeqTracker(startingAfter: seq)
            return true
        }
        guard added else { return }
        await messenger?.subscribe(channel(collection))
        // Anything committed between `seq` and the confirmed subscription is picked up here.
        apply(collection) { $0.suspectGap() }
    }

    /// Fan-out reports interest changes in order, so a collection wanted again
    /// later is followed afresh from its new subscriber's `init` seq.
    private func unfollow(_ collection: String) async {
        guard !SystemCollections.accessControl.contains(collection), !fanout.isInterested(in: collection) else { return }
        let removed = followed.withLock { f -> Bool in
            f.behindSince[collection] = nil
            return f.trackers.removeValue(forKey: collection) != nil
        }
        if removed { await messenger?.unsubscribe(channel(collection)) }
    }

    /// How far delivery here is behind the events known to exist (held above a gap, or
    /// committed as the last periodic check or backfill saw): no database read.
    public var lag: (events: Int64, behindFor: Duration) {
        let now = ContinuousClock.now
        return followed.withLock { f in
            let events = f.trackers.values.reduce(Int64(0)) { $0 + ($1.knownHead - $1.last) }
            let oldest = f.behindSince.values.min()
            return (events, oldest.map { now - $0 } ?? .zero)
        }
    }

    // MARK: Local commits

    /// Called after commit: local subscribers get the events now, other replicas
    /// through Redis (queued; a hung Redis delays neither this nor the write's answer).
    public func publish(_ events: [ChangeEvent]) async {
        for event in events {
            if event.collection == crashAfterCommit {
                logger.critical(
                    "fault hook: exiting after commit, before publish",
                    metadata: ["collection": "\(event.collection)", "seq": "\(event.seq)"])
                _exit(137)
            }
            accept(event)
            messenger?.publish(JSONValue.object(event.json).jsonBytes, to: channel(event.collection))
        }
    }

    /// This replica's stats snapshot, to the other replicas (queued like events; a dropped one
    /// is only a missed refresh of the admin view).
    public func publishFleet(_ snapshot: [UInt8]) {
        messenger?.publish(snapshot, to: fleetChannel)
    }

    /// Schema changes: other replicas reload their schema and permission caches.
    public func schemaChanged() async {
        messenger?.publish(Array(#"{"kind":"schema"}"#.utf8), to: controlChannel)
    }

    // MARK: Ordering

    func accept(_ event: ChangeEvent) {
        apply(event.collection) { $0.receive(event) }
    }

    /// Feeds one input to a collection's tracker and carries out its output.
    /// Deliveries happen under the lock so they keep their order.
    private func apply(_ collection: String, _ input: (inout CollectionSeqTracker) -> CollectionSeqTracker.Output) {
        followed.withLock { f in
            guard var tracker = f.trackers[collection] else { return }
            let output = input(&tracker)
            f.trackers[collection] = tracker
            if tracker.knownHead > tracker.last {
                if f.behindSince[collection] == nil { f.behindSince[collection] = .now }
            } else if !f.behindSince.isEmpty {
                f.behindSince[collection] = nil
            }
            if !output.deliver.isEmpty { fanout.enqueue(output.deliver) }
            for hole in output.skipped {
                meters.skipped.increment(by: Int64(hole.count))
                logger.error(
                    "the outbox no longer holds these events; subscribers skip them",
                    metadata: ["collection": "\(collection)", "seqs": "\(hole.lowerBound)...\(hole.upperBound)"])
            }
            switch output.next {
            case .none: break
            case .backfill(let after, let limit):
                Task { await self.backfill(collection, after: after, limit: limit) }
            case .retry(let delay):
                Task {
                    try? await Task.sleep(for: delay)
                    self.apply(collection) { $0.retryDue() }
                }
            }
        }
    }

    private func backfill(_ collection: String, after: Int64, limit: Int) async {
        do {
            let events = try await store.outbox.events(collection, after: after, limit: limit)
            meters.backfills.increment()
            meters.backfilled.record(events.count)
            apply(collection) { $0.backfilled(events) }
        } catch {
            logger.warning(
                "outbox read failed; held events wait and the read is retried",
                metadata: ["collection": "\(collection)", "after": "\(after)", "error": "\(error)"])
            meters.backfillFailures.increment()
            apply(collection) { $0.backfillFailed() }
        }
    }

    // MARK: Messenger, interest and periodic checks

    /// Receives other replicas' events, follows fan-out's interest and checks for gaps until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let messenger {
                group.addTask { await self.consume(messenger) }
            }
            group.addTask { await self.followInterest() }
            group.addTask { await self.periodicCheck() }
            await group.waitForAll()
        }
    }

    private func followInterest() async {
        for await change in fanout.interestChanges {
            switch change {
            case .gained(let collection, let seq): await follow(collection, after: seq)
            case .lost(let collection): await unfollow(collection)
            }
        }
    }

    private func consume(_ messenger: any Messenger) async {
        for await event in messenger.events {
            switch event {
            case .resubscribed:
                for collection in followed.withLock({ Array($0.trackers.keys) }) { apply(collection) { $0.suspectGap() } }
                await reloadShared()
            case .message(let message):
                if message.channel == controlChannel {
                    await reloadShared()
                    continue
                }
                if message.channel == fleetChannel {
                    if fleet?.received(message.payload) == false {
                        logger.debug("ignoring an unreadable stats snapshot", metadata: ["channel": "\(message.channel)"])
                    }
                    continue
                }
                guard case .object(let o)? = try? JSONReader.parse(message.payload), let event = ChangeEvent(json: o) else {
                    logger.warning("ignoring an unreadable event", metadata: ["channel": "\(message.channel)"])
                    meters.unreadable.increment()
                    continue
                }
                meters.received.increment()
                accept(event)
            }
        }
    }

    private func reloadShared() async {
        do { try await store.reloadSchema() } catch { logger.warning("schema reload failed", metadata: ["error": "\(error)"]) }
        auth.resolver.invalidate()
    }

    /// Compares each followed collection with the database: a replica that
    /// died between commit and publish, or a publish dropped while Redis was
    /// unreachable, leaves a gap only this can reveal when nothing follows it.
    private func periodicCheck() async {
        var lastTrim = ContinuousClock.now
        while !Task.isCancelled && !fanout.isStopped {
            try? await Task.sleep(for: checkInterval)
            let positions = followed.withLock { $0.trackers.mapValues(\.last) }
            do {
                let current = try await store.outbox.currentSeqs(Array(positions.keys))
                for (collection, seq) in current where seq > positions[collection] ?? seq {
                    apply(collection) { $0.suspectGap(committedThrough: seq) }
                }
                try await store.outbox.reportPositions(replica: store.environment.replicaID, positions)
                if ContinuousClock.now - lastTrim > .seconds(60) {
                    lastTrim = ContinuousClock.now
                    let removed = try await store.outbox.trim(
                        olderThan: ISOTimestamp.now().epochMilliseconds - retention.ageMs, maxPerCollection: retention.maxEvents)
                    if removed > 0 { logger.debug("trimmed the outbox", metadata: ["events": "\(removed)"]) }
                }
            } catch {
                logger.debug("outbox check failed; trying again next period", metadata: ["error": "\(error)"])
            }
        }
    }
}
