import Logging
import NIOCore
import RealtimeProtocol
import SwitchboardCore
import Synchronization

/// A logs-stream socket as the stream sees it, used on its event loop only.
protocol LogSubscriber: AnyObject {
    var id: UInt64 { get }
    /// Writes one record's frame, or drops it when the socket's outbound buffer is full.
    func writeLog(_ frame: ByteBuffer) -> LogWrite
    /// The end of a hand-off: one flush for everything it wrote.
    func flushLogs()
}

enum LogWrite {
    case written
    /// The outbound buffer is full (`WEBSOCKETS_MAX_QUEUED_BYTES`): the record is dropped.
    case full
    /// The socket is closing: it no longer counts.
    case closed
}

/// This process's log records for the logs-stream sockets
/// (`WEBSOCKETS_LOGS_PATH`). Its `LogStreamHandler` hands each record here
/// from whatever thread logged it; while no socket is subscribed a record
/// costs one atomic load. A record is rendered once, then handed to each
/// event loop that has a subscriber wanting its level, in one hop per loop
/// for every record that arrived meanwhile (`LogMailbox`).
///
/// Bounded: a loop holds at most `handOffLimit` records waiting for it, and a
/// socket whose outbound buffer is full (`WEBSOCKETS_MAX_QUEUED_BYTES`) has
/// records dropped rather than queued; drops are counted and logged once per
/// run of drops. No socket is closed for reading slowly. Records of this
/// replica only: Directus relays every node's records through its bus, here
/// each replica streams its own (the frame's `uid` names the process).
public final class LogStream: Sendable {
    public struct Settings: Sendable {
        /// Records below this level never enter the stream (`WEBSOCKETS_LOGS_LEVEL`).
        public var threshold: LogLevel
        public var style: LogFrameRenderer.Style
        /// Records waiting for one event loop; more are dropped.
        public var handOffLimit: Int

        public init(threshold: LogLevel = .info, style: LogFrameRenderer.Style = .pretty, handOffLimit: Int = 1024) {
            self.threshold = threshold
            self.style = style
            self.handOffLimit = handOffLimit
        }
    }

    public let threshold: LogLevel
    let renderer: LogFrameRenderer
    let handOffLimit: Int
    private let subscribers = Atomic<Int>(0)
    private let mailboxes = Mutex<[LogMailbox]>([])
    private let dropped = Atomic<UInt64>(0)

    public init(settings: Settings, nodeID: String, pid: Int, hostname: String) {
        threshold = settings.threshold
        handOffLimit = max(1, settings.handOffLimit)
        renderer = LogFrameRenderer(style: settings.style, nodeID: nodeID, pid: pid, hostname: hostname)
    }

    /// Whether any socket is subscribed (records are rendered only then).
    public var hasSubscribers: Bool { subscribers.load(ordering: .relaxed) > 0 }

    /// Subscribed sockets, over all loops.
    public var subscriberCount: Int { subscribers.load(ordering: .relaxed) }

    /// Records dropped for slow subscribers since the start (one per record and subscriber).
    public var droppedRecords: UInt64 { dropped.load(ordering: .relaxed) }

    /// Hands a record to the loops whose subscribers want its level (any thread).
    public func publish(_ record: LogRecord) {
        guard record.level >= threshold, hasSubscribers else { return }
        let boxes = mailboxes.withLock { $0 }
        var frame: [UInt8] = []
        for box in boxes where box.wants(record.level) {
            if frame.isEmpty { frame = renderer.frame(record) }
            box.post(record.level, frame)
        }
    }

    // MARK: Subscriptions (on the subscriber's loop)

    /// Streams records of `level` and above to `subscriber` (a new level replaces the old).
    func subscribe(_ subscriber: any LogSubscriber, level: LogLevel, on loop: any EventLoop) {
        if mailbox(for: loop).set(subscriber, level: level) { subscribers.add(1, ordering: .relaxed) }
    }

    func unsubscribe(_ subscriber: any LogSubscriber, on loop: any EventLoop) {
        if mailbox(for: loop).remove(subscriber) { subscribers.subtract(1, ordering: .relaxed) }
    }

    func noteDropped(_ count: Int) { dropped.add(UInt64(count), ordering: .relaxed) }

    private func mailbox(for loop: any EventLoop) -> LogMailbox {
        mailboxes.withLock { list in
            if let existing = list.first(where: { $0.eventLoop === loop }) { return existing }
            let box = LogMailbox(eventLoop: loop, stream: self)
            list.append(box)
            return box
        }
    }
}

/// One event loop's share of the stream: records posted from any thread wait
/// here (bounded) until one run on the loop writes them to the loop's
/// subscribers, each with one flush.
final class LogMailbox: Sendable {
    let eventLoop: any EventLoop
    private let stream: LogStream
    /// The lowest level any subscriber here wants (`Int.max`: none).
    private let lowest = Atomic<Int>(Int.max)
    private let pending = Mutex<Pending>(Pending())
    private let state: NIOLoopBound<State>

    struct Pending {
        var records: [(LogLevel, [UInt8])] = []
        var scheduled = false
        /// Records refused because `records` was full.
        var overflow = 0
    }

    final class State {
        var entries: [Entry] = []
    }

    struct Entry {
        let subscriber: any LogSubscriber
        var level: LogLevel
        /// Records dropped since its last successful write (its current run of drops).
        var dropping = 0
    }

    init(eventLoop: any EventLoop, stream: LogStream) {
        self.eventLoop = eventLoop
        self.stream = stream
        state = NIOLoopBound(State(), eventLoop: eventLoop)
    }

    func wants(_ level: LogLevel) -> Bool { level.rawValue >= lowest.load(ordering: .relaxed) }

    /// Queues a record for the loop (any thread); dropped when `handOffLimit` records wait already.
    func post(_ level: LogLevel, _ frame: [UInt8]) {
        let limit = stream.handOffLimit
        let schedule = pending.withLock { p -> Bool in
            guard p.records.count < limit else {
                p.overflow += 1
                return false
            }
            p.records.append((level, frame))
            defer { p.scheduled = true }
            return !p.scheduled
        }
        if schedule { eventLoop.execute { self.deliver() } }
    }

    /// True when `subscriber` is new here.
    func set(_ subscriber: any LogSubscriber, level: LogLevel) -> Bool {
        let s = state.value
        defer { updateLowest() }
        if let index = s.entries.firstIndex(where: { $0.subscriber === subscriber }) {
            s.entries[index].level = level
            return false
        }
        s.entries.append(Entry(subscriber: subscriber, level: level))
        return true
    }

    /// True when `subscriber` was here.
    func remove(_ subscriber: any LogSubscriber) -> Bool {
        let s = state.value
        guard let index = s.entries.firstIndex(where: { $0.subscriber === subscriber }) else { return false }
        s.entries.remove(at: index)
        updateLowest()
        return true
    }

    private func updateLowest() {
        lowest.store(state.value.entries.map(\.level.rawValue).min() ?? Int.max, ordering: .relaxed)
    }

    /// On the loop: writes what waits to every subscriber that wants it.
    private func deliver() {
        let (records, overflow) = pending.withLock { p -> ([(LogLevel, [UInt8])], Int) in
            defer {
                p.records = []
                p.overflow = 0
                p.scheduled = false
            }
            return (p.records, p.overflow)
        }
        let s = state.value
        guard !s.entries.isEmpty else { return }
        let allocator = ByteBufferAllocator()
        let frames = records.map { ($0.0, WebSocketWire.textFrame($0.1, allocator: allocator)) }
        // A write can close its socket (which unsubscribes it): the entries are read from a copy.
        var outcomes: [(UInt64, written: Int, dropped: Int)] = []
        for entry in s.entries {
            var written = 0
            var droppedHere = overflow
            for (level, frame) in frames where level >= entry.level {
                switch entry.subscriber.writeLog(frame) {
                case .written: written += 1
                case .full: droppedHere += 1
                case .closed: break
                }
            }
            if written > 0 { entry.subscriber.flushLogs() }
            outcomes.append((entry.subscriber.id, written, droppedHere))
        }
        var notes: [(Logger.Level, String, Logger.Metadata)] = []
        for (id, written, droppedHere) in outcomes {
            guard let index = s.entries.firstIndex(where: { $0.subscriber.id == id }) else { continue }
            if droppedHere > 0 {
                stream.noteDropped(droppedHere)
                if s.entries[index].dropping == 0 {
                    notes.append(
                        (.warning, "a logs subscriber reads too slowly: log records are dropped for it", ["socket": "\(id)"]))
                }
                s.entries[index].dropping += droppedHere
            }
            if written > 0, droppedHere == 0, s.entries[index].dropping > 0 {
                notes.append(
                    (.info, "a logs subscriber reads again", ["socket": "\(id)", "dropped": "\(s.entries[index].dropping)"]))
                s.entries[index].dropping = 0
            }
        }
        // Logged once all writes are done: these records come back through this stream.
        if !notes.isEmpty {
            let logger = Logger(label: "switchboard.logs")
            for (level, message, metadata) in notes { logger.log(level: level, "\(message)", metadata: metadata) }
        }
    }
}

/// The swift-log handler that feeds a `LogStream`; multiplexed with the console's.
public struct LogStreamHandler: LogHandler {
    public let label: String
    public let stream: LogStream
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]

    public init(label: String, stream: LogStream, logLevel: Logger.Level) {
        self.label = label
        self.stream = stream
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        guard stream.hasSubscribers else { return }
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let pairs = merged.map { ($0.key, $0.value.description) }.sorted { $0.0 < $1.0 }
        stream.publish(
            LogRecord(
                level: LogLevel(event.level), timeMs: Clock.nowMs(), message: event.message.description, label: label,
                metadata: pairs))
    }
}

extension LogLevel {
    /// swift-log's level on pino's scale (`notice` counts as `info`, `critical` as `fatal`).
    public init(_ level: Logger.Level) {
        switch level {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info, .notice: self = .info
        case .warning: self = .warn
        case .error: self = .error
        case .critical: self = .fatal
        }
    }

    /// swift-log's level that lets this one and above through.
    public var loggerLevel: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .warn: .warning
        case .error: .error
        case .fatal: .critical
        }
    }
}
