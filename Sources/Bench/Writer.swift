import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

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
                        let started = monotonicSeconds()
                        let (_, response) = try await session.data(for: request)
                        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                        if (200..<300).contains(status) {
                            recorder.wrote(room: room, latencyMs: (monotonicSeconds() - started) * 1000)
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

/// Writes awaiting their response (shared by the writer's request tasks).
final class InFlight: Sendable {
    private let n = Atomic<Int>(0)
    func add(_ d: Int) { n.add(d, ordering: .relaxed) }
    var count: Int { n.load(ordering: .relaxed) }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

/// Reads one sample from a Prometheus text endpoint (Switchboard's `/metrics`).
enum MetricsScrape {
    static func residentBytes(url: String, authorization: String) async -> Int? {
        guard let u = URL(string: url) else { return nil }
        var request = URLRequest(url: u, timeoutInterval: 5)
        request.setValue(authorization, forHTTPHeaderField: "Authorization")
        guard let (data, response) = try? await URLSession.shared.data(for: request),
            (response as? HTTPURLResponse)?.statusCode == 200
        else { return nil }
        return sample("process_resident_memory_bytes", in: String(decoding: data, as: UTF8.self)).map { Int($0) }
    }

    /// The value of an unlabelled sample `name value` in Prometheus text.
    static func sample(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}

/// `POST /auth/login` for --email/--password.
enum Login {
    /// The access token and its lifetime in milliseconds (`data.expires`).
    static func accessToken(rest: String, email: String, password: String) async throws -> (String, Int?) {
        guard let url = URL(string: rest.trimmingSuffix("/") + "/auth/login") else { throw BenchError("bad --rest URL") }
        var request = URLRequest(url: url, timeoutInterval: 30)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["email": email, "password": password])
        let (body, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        guard status == 200, let data = object?["data"] as? [String: Any], let token = data["access_token"] as? String
        else {
            throw BenchError("login as \(email) failed: HTTP \(status) \(String(decoding: body.prefix(300), as: UTF8.self))")
        }
        return (token, (data["expires"] as? NSNumber)?.intValue)
    }
}
