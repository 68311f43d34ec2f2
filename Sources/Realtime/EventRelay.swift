import Access
import Logging
import Messenger
import Store
import SwitchboardCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Moves committed changes between the store, the messenger and the hub.
///
/// Local commits are published to `<namespace>:col:<collection>` and handed
/// to the hub; events from other replicas arrive through the messenger. Every
/// event passes the collection's `CollectionSeqTracker`, so subscribers get
/// each change once and in commit order whichever way it came; gaps (a lost
/// publish, a Redis outage, a writer that died after commit) are filled from
/// the outbox: when seen, after every reconnect, and by a periodic check.
public final class EventRelay: ChangeEventSink {
    let store: Store
    let hub: RealtimeHub
    let messenger: (any Messenger)?
    let namespace: String
    let logger: Logger
    /// How often tracked collections are compared with the database's seq.
    let checkInterval: Duration
    /// Outbox retention (age in ms, newest events kept per collection).
    let retention: (ageMs: Int64, maxEvents: Int)
    /// Test-only: exit right after a commit to this collection, before publishing.
    let crashAfterCommit: String?

    private let trackers = Mutex<[String: CollectionSeqTracker]>([:])


    public init(
        store: Store, hub: RealtimeHub, messenger: (any Messenger)?, namespace: String, checkInterval: Duration = .seconds(2),
        retention: (ageMs: Int64, maxEvents: Int) = (86_400_000, 100_000), crashAfterCommit: String? = nil,
        logger: Logger = Logger(label: "switchboard.relay")
    ) {
        self.retention = retention
        self.crashAfterCommit = crashAfterCommit
        self.store = store
        self.hub = hub
        self.messenger = messenger
        self.namespace = namespace
        self.checkInterval = checkInterval
        self.logger = logger
    }

    func channel(_ collection: String) -> String { "\(namespace):col:\(collection)" }
    var controlChannel: String { "\(namespace):control" }

    /// Starts following the permission collections and the hub's interests.
    public func start() async throws {
        for collection in SystemCollections.accessControl { try await track(collection, after: nil) }
        await messenger?.subscribe(controlChannel)
        hub.interestObserver = { [weak self] collection, seq, interested in
            guard let self else { return }
            Task {
                if interested {
                    try? await self.track(collection, after: seq)
                } else if !SystemCollections.accessControl.contains(collection) {
                    await self.untrack(collection)
                }
            }
        }
    }

    private func track(_ collection: String, after seq: Int64?) async throws {
        let start: Int64
        if let seq { start = seq } else { start = try await store.currentSeq(collection) }
        let added = trackers.withLock { t -> Bool in
            guard t[collection] == nil else { return false }
            t[collection] = CollectionSeqTracker(startingAfter: start)
            return true
        }
        if added {
            await messenger?.subscribe(channel(collection))
            // Anything committed between `start` and the subscription is picked up here.
            suspectGap(collection)
        }
    }

    private func untrack(_ collection: String) async {
        guard !hub.isInterested(in: collection) else { return }
        let removed = trackers.withLock { $0.removeValue(forKey: collection) != nil }
        if removed { await messenger?.unsubscribe(channel(collection)) }
    }

    // MARK: Local commits

    public func publish(_ events: [ChangeEvent]) async {
        for event in events {
            if event.collection == crashAfterCommit {
                logger.critical(
                    "fault hook: exiting after commit, before publish",
                    metadata: ["collection": "\(event.collection)", "seq": "\(event.seq)"])
                _exit(137)
            }
            if let messenger {
                do {
                    try await messenger.publish(JSONValue.object(event.json).jsonBytes, to: channel(event.collection))
                } catch {
                    logger.debug(
                        "publish failed; other replicas will backfill",
                        metadata: ["collection": "\(event.collection)", "seq": "\(event.seq)", "error": "\(error)"])
                }
            }
            accept(event)
        }
    }

    /// Schema changes: other replicas reload their schema and permission caches.
    public func schemaChanged() async {
        guard let messenger else { return }
        try? await messenger.publish(Array(#"{"kind":"schema"}"#.utf8), to: controlChannel)
    }

    // MARK: Ordering

    func accept(_ event: ChangeEvent) {
        trackers.withLock { t in
            guard var tracker = t[event.collection] else { return }
            let action = tracker.receive(event)
            t[event.collection] = tracker
            perform(action, event.collection)
        }
    }

    private func suspectGap(_ collection: String) {
        trackers.withLock { t in
            guard var tracker = t[collection] else { return }
            let action = tracker.suspectGap()
            t[collection] = tracker
            perform(action, collection)
        }
    }

    /// Runs under the trackers lock so deliveries keep their order.
    private func perform(_ action: CollectionSeqTracker.Action, _ collection: String) {
        switch action {
        case .none: break
        case .deliver(let events): hub.enqueue(events)
        case .backfill(let after):
            Task { await self.backfill(collection, after: after) }
        }
    }

    private func backfill(_ collection: String, after: Int64) async {
        let events: [ChangeEvent]
        do {
            events = try await store.outboxEvents(collection, after: after, limit: 100_000)
        } catch {
            logger.warning("outbox backfill failed; retrying", metadata: ["collection": "\(collection)", "error": "\(error)"])
            try? await Task.sleep(for: .milliseconds(500))
            trackers.withLock { t in
                guard var tracker = t[collection] else { return }
                _ = tracker.backfilled([])
                t[collection] = tracker
            }
            suspectGap(collection)
            return
        }
        trackers.withLock { t in
            guard var tracker = t[collection] else { return }
            let (deliver, complete) = tracker.backfilled(events)
            t[collection] = tracker
            if !complete {
                logger.error(
                    "outbox no longer holds some events; subscribers skipped them",
                    metadata: ["collection": "\(collection)", "after": "\(after)"])
            }
            if !deliver.isEmpty { hub.enqueue(deliver) }
        }
    }

    // MARK: Messenger and periodic checks

    /// Receives other replicas' events and checks for gaps until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let messenger {
                group.addTask { await self.consume(messenger) }
            }
            group.addTask { await self.periodicCheck() }
            await group.waitForAll()
        }
    }

    private func consume(_ messenger: any Messenger) async {
        for await event in messenger.events {
            switch event {
            case .resubscribed:
                for collection in trackers.withLock({ Array($0.keys) }) { suspectGap(collection) }
                await reloadShared()
            case .message(let message):
                if message.channel == controlChannel {
                    await reloadShared()
                    continue
                }
                guard case .object(let o)? = try? JSONReader.parse(message.payload), let event = ChangeEvent(json: o) else {
                    logger.warning("ignoring an unreadable event", metadata: ["channel": "\(message.channel)"])
                    continue
                }
                accept(event)
            }
        }
    }

    private func reloadShared() async {
        do { try await store.reloadSchema() } catch { logger.warning("schema reload failed", metadata: ["error": "\(error)"]) }
        hub.auth.resolver.invalidate()
    }

    /// Compares each followed collection with the database: a replica that
    /// died between commit and publish leaves a gap only this can reveal.
    private func periodicCheck() async {
        var lastTrim = ContinuousClock.now
        while !Task.isCancelled && !hub.isStopped {
            try? await Task.sleep(for: checkInterval)
            let snapshot = trackers.withLock { $0.mapValues { ($0.last, $0.isInOrder) } }
            for (collection, (last, inOrder)) in snapshot where inOrder {
                if let current = try? await store.currentSeq(collection), current > last { suspectGap(collection) }
            }
            do {
                try await store.reportPositions(replica: store.environment.replicaID, snapshot.mapValues(\.0))
                if ContinuousClock.now - lastTrim > .seconds(60) {
                    lastTrim = ContinuousClock.now
                    let removed = try await store.trimOutbox(
                        olderThan: ISOTimestamp.now().epochMilliseconds - retention.ageMs, maxPerCollection: retention.maxEvents)
                    if removed > 0 { logger.debug("trimmed the outbox", metadata: ["events": "\(removed)"]) }
                }
            } catch {
                logger.debug("outbox bookkeeping failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
