import Foundation
import Logging
import NIOWebSocket
import WSClient

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One realtime client: connect, authenticate with a static token, subscribe, and then
/// either hold (recording every `create` event) or, in churn mode, disconnect at once.
struct SubscriberSpec: Sendable {
    var url: String
    var token: String
    var collection: String
    var room: Int?
    var churn: Bool = false
    var nchan: Bool = false
}

enum Client {
    static let logger: Logger = {
        var l = Logger(label: "switchboard-bench")
        l.logLevel = ProcessInfo.processInfo.environment["BENCH_LOG"] == "1" ? .trace : .critical
        return l
    }()

    static func configuration() -> WebSocketClientConfiguration {
        var c = WebSocketClientConfiguration()
        c.maxFrameSize = 1 << 20
        c.closeTimeout = .seconds(3)
        c.autoPing = .disabled
        return c
    }

    static func subscribeFrame(_ spec: SubscriberSpec) -> String {
        var frame: [String: Any] = [
            "type": "subscribe", "collection": spec.collection, "uid": "1", "event": "create",
        ]
        if let room = spec.room {
            frame["query"] = ["filter": ["room": ["_eq": room]]]
        }
        let data = (try? JSONSerialization.data(withJSONObject: frame, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func authFrame(token: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: ["type": "auth", "access_token": token])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs one connection until `stop` fires (or, in churn mode, until subscribed).
    /// Returns true when the connection reached the subscribed state.
    @discardableResult
    static func run(_ spec: SubscriberSpec, recorder: Recorder, stop: StopSignal) async -> Bool {
        recorder.connectStarted()
        let started = monotonicSeconds()
        let result = ResultBox()
        do {
            _ = try await WebSocketClient.connect(
                url: spec.url, configuration: configuration(), logger: logger
            ) { inbound, outbound, _ in
                recorder.connectSucceeded(latencyMs: (monotonicSeconds() - started) * 1000)
                var seqs: [Int] = []
                var ready = false
                if spec.nchan {
                    // nchan: no auth, no subscribe frame; the upgrade is the subscription.
                    ready = true
                    result.set()
                    recorder.becameReady()
                    if spec.churn {
                        recorder.cycleCompleted()
                        try? await outbound.close(.normalClosure, reason: nil)
                    }
                } else {
                    try await outbound.write(.text(authFrame(token: spec.token)))
                }
                defer {
                    recorder.closed(wasReady: ready)
                    if !spec.churn { recorder.finished(stream: ClientStream(room: spec.room, seqs: seqs)) }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await stop.wait()
                        if !Task.isCancelled { try? await outbound.close(.normalClosure, reason: "bench done") }
                    }
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message else { continue }
                        let received = nowMillis()
                        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                            let type = (object["type"] as? String) ?? (spec.nchan ? "" : nil)
                        else {
                            recorder.protocolError("unparseable frame")
                            continue
                        }
                        if spec.nchan {
                            // The frame is the published body: {"seq":n,"sent_at":ms,…}.
                            if let seq = (object["seq"] as? NSNumber)?.intValue { seqs.append(seq) }
                            recorder.delivered(
                                latencyMs: (object["sent_at"] as? NSNumber).map { Swift.max(0, received - $0.doubleValue) })
                            continue
                        }
                        switch type {
                        case "ping":
                            try await outbound.write(.text(#"{"type":"pong"}"#))
                        case "auth":
                            if (object["status"] as? String) == "ok" {
                                try await outbound.write(.text(subscribeFrame(spec)))
                            } else {
                                recorder.protocolError("auth: \(text.prefix(200))")
                                try? await outbound.close(.normalClosure, reason: nil)
                            }
                        case "subscription":
                            let event = object["event"] as? String
                            if event == "init" {
                                if !ready {
                                    ready = true
                                    result.set()
                                    recorder.becameReady()
                                    if spec.churn {
                                        recorder.cycleCompleted()
                                        try? await outbound.close(.normalClosure, reason: nil)
                                    }
                                }
                            } else if event == "create" {
                                if let seq = (object["seq"] as? NSNumber)?.intValue { seqs.append(seq) }
                                let rows = object["data"] as? [[String: Any]] ?? []
                                if rows.isEmpty { recorder.delivered(latencyMs: nil) }
                                for row in rows {
                                    if let sent = (row["sent_at"] as? NSNumber)?.doubleValue {
                                        recorder.delivered(latencyMs: Swift.max(0, received - sent))
                                    } else {
                                        recorder.delivered(latencyMs: nil)
                                    }
                                }
                            }
                        case "subscribe":
                            recorder.protocolError("subscribe: \(text.prefix(200))")
                        default:
                            if (object["status"] as? String) == "error" {
                                recorder.protocolError(String(text.prefix(200)))
                            }
                        }
                    }
                    group.cancelAll()
                }
            }
        } catch {
            if !result.value {
                recorder.connectFailed("\(error)")
            }
        }
        return result.value
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.withLock { flag = true } }
    var value: Bool { lock.withLock { flag } }
}

/// Writes items over REST at a fixed rate; each item carries `sent_at` (client ms).
struct Writer: Sendable {
    var rest: String
    var token: String
    var collection: String
    var rate: Double
    var rooms: Int?  // nil: no room field; otherwise round-robin over 0..<rooms
    var maxInFlight = 64
    var nchan = false  // POST <rest>/pub/<collection> with a client-side seq instead of /items

    func run(duration: Double, recorder: Recorder) async {
        let path = nchan ? "/pub/" : "/items/"
        guard rate > 0, let url = URL(string: rest.trimmingSuffix("/") + path + collection) else { return }
        let session = URLSession(configuration: .ephemeral)
        let interval = 1.0 / rate
        let begin = monotonicSeconds()
        let inFlight = InFlight()
        await withTaskGroup(of: Void.self) { group in
            var i = 0
            while true {
                let due = begin + Double(i) * interval
                if due - begin >= duration { break }
                let wait = due - monotonicSeconds()
                if wait > 0 { try? await Task.sleep(for: .microseconds(Int(wait * 1_000_000))) }
                if inFlight.count >= maxInFlight {
                    recorder.writeFailed("skipped: \(maxInFlight) writes in flight")
                    i += 1
                    continue
                }
                let room = rooms.map { i % Swift.max($0, 1) }
                let n = i
                inFlight.add(1)
                group.addTask {
                    defer { inFlight.add(-1) }
                    var body: [String: Any] = ["text": "bench \(n)", "sent_at": Int64(nowMillis())]
                    if let room { body["room"] = room }
                    if nchan { body["seq"] = n + 1 }
                    var request = URLRequest(url: url)
                    request.httpMethod = "POST"
                    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                    request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
                    request.httpBody = try? JSONSerialization.data(withJSONObject: body)
                    do {
                        let (_, response) = try await session.data(for: request)
                        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                        if (200..<300).contains(status) {
                            recorder.wrote(room: room)
                        } else {
                            recorder.writeFailed("HTTP \(status)")
                        }
                    } catch {
                        recorder.writeFailed("\(error)")
                    }
                }
                i += 1
            }
        }
        session.finishTasksAndInvalidate()
    }
}

final class InFlight: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add(_ d: Int) { lock.withLock { n += d } }
    var count: Int { lock.withLock { n } }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

/// Resident set size of a process from /proc/PID/status (VmRSS), in KiB.
func residentKiB(pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let digits = line.split(separator: " ").compactMap { Int($0) }
        return digits.first
    }
    return nil
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns (soft, hard) after.
func raiseOpenFileLimit() -> (soft: UInt64, hard: UInt64) {
    var rl = rlimit()
    #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
        let resource = RLIMIT_NOFILE
    #endif
    guard getrlimit(resource, &rl) == 0 else { return (0, 0) }
    if rl.rlim_cur < rl.rlim_max {
        var raised = rl
        raised.rlim_cur = rl.rlim_max
        if setrlimit(resource, &raised) == 0 { rl = raised }
    }
    return (UInt64(rl.rlim_cur), UInt64(rl.rlim_max))
}
