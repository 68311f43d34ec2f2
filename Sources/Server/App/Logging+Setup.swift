import Foundation
import Logging
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
    /// `request`, realtime sockets `socket`.
    static func bootstrap(_ config: SwitchboardConfig) {
        let level = level(config.logLevel)
        let raw = config.logStyle == .raw
        let replica = Logger.MetadataValue.string(Services.replicaID)
        LoggingSystem.bootstrap { label in
            guard let level else { return SwiftLogNoOpLogHandler() }
            if raw {
                var handler = JSONLinesLogHandler(label: label)
                handler.logLevel = level
                handler.metadata["replica"] = replica
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            handler.metadata["replica"] = replica
            return handler
        }
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
