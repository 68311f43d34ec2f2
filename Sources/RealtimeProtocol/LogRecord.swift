import SwitchboardCore

/// One log record, as the logs stream carries it.
public struct LogRecord: Sendable, Equatable {
    public var level: LogLevel
    /// Epoch milliseconds (pino's `time`).
    public var timeMs: Int64
    public var message: String
    /// The logger's label (`switchboard.realtime`, …).
    public var label: String
    /// The record's metadata (`replica`, `request`, `socket`, …), already rendered as text.
    public var metadata: [(String, String)]

    public init(level: LogLevel, timeMs: Int64, message: String, label: String, metadata: [(String, String)] = []) {
        self.level = level
        self.timeMs = timeMs
        self.message = message
        self.label = label
        self.metadata = metadata
    }

    public static func == (a: LogRecord, b: LogRecord) -> Bool {
        a.level == b.level && a.timeMs == b.timeMs && a.message == b.message && a.label == b.label
            && a.metadata.elementsEqual(b.metadata, by: { $0 == $1 })
    }
}

/// Renders records as the logs stream's frames: `{"type":"logs","data":{…},"uid":"<node id>"}`,
/// as Directus's logs handler sends them (the `uid` names the process that logged).
///
/// `WEBSOCKETS_LOGS_STYLE` shapes `data` as Directus does: `pretty` (the default) keeps
/// `{"level","time","msg"}` (a request's `msg` is its `GET /path 200 3ms` line); `raw` is the
/// whole pino-like record,
/// `{"level","time","pid","hostname",…metadata,"msg"}` (pino writes `msg` last).
public struct LogFrameRenderer: Sendable {
    public enum Style: String, Sendable { case pretty, raw }

    public let style: Style
    /// Directus: an 8-character id per process.
    public let nodeID: String
    public let pid: Int
    public let hostname: String

    public init(style: Style, nodeID: String, pid: Int, hostname: String) {
        self.style = style
        self.nodeID = nodeID
        self.pid = pid
        self.hostname = hostname
    }

    /// Keys the record's own fields use; metadata never overrides them.
    private static let reserved: Set<String> = ["level", "time", "pid", "hostname", "msg"]

    public func data(_ record: LogRecord) -> JSONValue {
        var data = JSONObject([("level", .int(Int64(record.level.rawValue))), ("time", .int(record.timeMs))])
        if style == .raw {
            data["pid"] = .int(Int64(pid))
            data["hostname"] = .string(hostname)
            data["label"] = .string(record.label)
            for (key, value) in record.metadata where !Self.reserved.contains(key) && key != "label" {
                data[key] = .string(value)
            }
        }
        data["msg"] = .string(style == .pretty ? Self.requestLine(record) ?? record.message : record.message)
        return .object(data)
    }

    /// A request's record in `pretty` style reads `GET /path 200 3ms`, as Directus's HTTP
    /// records do in its logs stream (pino-http's method, url, status and response time).
    static func requestLine(_ record: LogRecord) -> String? {
        var method: String?
        var path: String?
        var status: String?
        var ms: String?
        for (key, value) in record.metadata {
            switch key {
            case "method": method = value
            case "path": path = value
            case "status": status = value
            case "ms": ms = value
            default: break
            }
        }
        guard let method, let path, let status, let ms else { return nil }
        return "\(method) \(path) \(status) \(ms)ms"
    }

    /// The frame's bytes.
    public func frame(_ record: LogRecord) -> [UInt8] {
        RealtimeFrames.object("logs", [("data", data(record))], uid: .string(nodeID))
    }
}
