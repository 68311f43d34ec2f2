import Access
import Foundation
import Logging
import Realtime
import RealtimeProtocol
import SwitchboardCore

/// Log output as `LOG_STYLE` asks: readable lines or JSON lines (`raw`).
enum LogSetup {
    static func level(_ name: String) -> Logger.Level? {
        switch name {
        case "trace": return .trace
        case "debug": return .debug
        case "info": return .info
        case "warn": return .warning
        case "error": return .error
        case "fatal": return .critical
        case "silent": return nil
        default: return .info
        }
    }

    /// Every line carries `replica` (which process of the fleet wrote it); request handling adds
    /// `request`, realtime sockets `socket`. With the logs stream on (`WEBSOCKETS_LOGS_*`), every
    /// record down to `WEBSOCKETS_LOGS_LEVEL` also goes to its handler (even with `LOG_LEVEL=silent`,
    /// as Directus), which does nothing while no socket is subscribed. Returns that stream.
    @discardableResult
    static func bootstrap(_ config: SwitchboardConfig) -> LogStream? {
        let level = level(config.logLevel)
        let raw = config.logStyle == .raw
        let replica = Logger.MetadataValue.string(Services.replicaID)
        let stream = logStream(config)
        LoggingSystem.bootstrap { label in
            var console: any LogHandler
            if let level {
                if raw {
                    var handler = JSONLinesLogHandler(label: label)
                    handler.logLevel = level
                    console = handler
                } else {
                    var handler = StreamLogHandler.standardError(label: label)
                    handler.logLevel = level
                    console = handler
                }
            } else {
                console = SwiftLogNoOpLogHandler()
            }
            console.metadata["replica"] = replica
            guard let stream else { return console }
            var streamed = LogStreamHandler(label: label, stream: stream, logLevel: stream.threshold.loggerLevel)
            streamed.metadata["replica"] = replica
            return level == nil ? streamed : MultiplexLogHandler([console, streamed])
        }
        return stream
    }

    /// The logs stream the configuration asks for, if any.
    static func logStream(_ config: SwitchboardConfig) -> LogStream? {
        guard config.websocketsEnabled, config.websocketsLogsEnabled,
            let threshold = RealtimeProtocol.LogLevel(name: config.websocketsLogsLevel)
        else { return nil }
        // Directus names each process with 8 random characters (nanoid).
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
        let nodeID = String(SecureRandom.bytes(8).map { alphabet[Int($0) % alphabet.count] })
        return LogStream(
            settings: LogStream.Settings(threshold: threshold, style: config.websocketsLogsStyle == .raw ? .raw : .pretty),
            nodeID: nodeID, pid: Int(ProcessInfo.processInfo.processIdentifier), hostname: ProcessInfo.processInfo.hostName)
    }
}

/// One JSON object per line on stderr: `{"time","level","label","msg",…metadata}`.
struct JSONLinesLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line: JSONObject = [
            "time": .string(ISOTimestamp.now().iso8601), "level": .string(event.level.rawValue),
            "label": .string(label), "msg": .string(event.message.description),
        ]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { line[k] = .string(v.description) }
        var bytes = JSONValue.object(line).jsonBytes
        bytes.append(0x0A)
        FileHandle.standardError.write(Data(bytes))
    }
}
