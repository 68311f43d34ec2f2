import ArgumentParser
import Foundation
import SwitchboardCore
import Synchronization

/// Parent → worker, one JSON object per line on the worker's stdin.
enum WorkerCommand: Codable, Sendable, Equatable {
    case start(Assignment)
    case startWrites(rate: Double)
    case stopWrites
    case finish(Expectation?)
}

/// Worker → parent, one JSON object per line on the worker's stdout.
struct WorkerMessage: Codable, Sendable {
    var progress: Progress?
    /// Name of the command just completed ("start", "startWrites", "stopWrites").
    var done: String?
    var writes: WriteCount?
    var result: FleetResult?
    var error: String?
}

/// Line framing for the pipe protocol.
enum LineCodec {
    static func encode<T: Encodable>(_ value: T) -> Data {
        var data = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
        data.append(0x0A)
        return data
    }

    /// Splits complete lines off the front of `buffer`, leaving a partial line in it.
    static func lines(_ buffer: inout Data) -> [Data] {
        var out: [Data] = []
        while let nl = buffer.firstIndex(of: 0x0A) {
            out.append(buffer[buffer.startIndex..<nl])
            buffer = buffer[(nl + 1)...]
        }
        buffer = Data(buffer)
        return out
    }
}

/// A slice of the run's clients in a child `switchboard-bench worker` process: a process
/// of its own has its own 20,000 open files.
/// `@unchecked`: `process` and the pipes are used by the runner's sequential phase calls;
/// everything the reader thread touches is in `state`.
final class RemoteFleet: Fleet, @unchecked Sendable {
    let assignment: Assignment
    let index: Int
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let state = Mutex(State())

    private struct State {
        var progress = Progress()
        var done: [String: Int] = [:]
        var writes = WriteCount()
        var result: FleetResult?
        var error: String?
        var eof = false
    }

    init(_ assignment: Assignment, index: Int) {
        self.assignment = assignment
        self.index = index
    }

    func start() async throws {
        process.executableURL = URL(fileURLWithPath: Self.executablePath())
        process.arguments = ["worker"]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let handle = output.fileHandleForReading
        let thread = Thread { [self] in
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                for line in LineCodec.lines(&buffer) {
                    guard let m = try? JSONDecoder().decode(WorkerMessage.self, from: line) else { continue }
                    state.withLock { s in
                        if let p = m.progress { s.progress = p }
                        if let d = m.done { s.done[d, default: 0] += 1 }
                        if let w = m.writes { s.writes = w }
                        if let r = m.result { s.result = r }
                        if let e = m.error { s.error = e }
                    }
                }
            }
            state.withLock { $0.eof = true }
        }
        thread.start()
        send(.start(assignment))
        try await awaitDone("start", timeout: 15)
    }

    private func send(_ command: WorkerCommand) {
        try? input.fileHandleForWriting.write(contentsOf: LineCodec.encode(command))
    }

    private func awaitDone(_ name: String, timeout: Double) async throws {
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            let (taken, error, eof) = state.withLock { s -> (Bool, String?, Bool) in
                guard let n = s.done[name], n > 0 else { return (false, s.error, s.eof) }
                s.done[name] = n - 1
                return (true, s.error, s.eof)
            }
            if taken { return }
            if let error { throw BenchError("worker \(index): \(error)") }
            if eof { throw BenchError("worker \(index) exited") }
            try? await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("worker \(index): no answer to \(name) within \(Int(timeout)) s")
    }

    func progress() -> Progress { state.withLock { $0.progress } }

    func startWrites(rate: Double) async {
        send(.startWrites(rate: rate))
        try? await awaitDone("startWrites", timeout: 10)
    }

    func stopWrites() async -> WriteCount {
        send(.stopWrites)
        try? await awaitDone("stopWrites", timeout: 15)
        return state.withLock { $0.writes }
    }

    func finish(_ expectation: Expectation?) async -> FleetResult {
        send(.finish(expectation))
        let deadline = monotonicSeconds() + 30
        var result: FleetResult?
        while monotonicSeconds() < deadline {
            let (r, eof) = state.withLock { ($0.result, $0.eof) }
            result = r
            if r != nil || eof { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? input.fileHandleForWriting.close()
        let exitDeadline = monotonicSeconds() + 5
        while process.isRunning && monotonicSeconds() < exitDeadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning { process.terminate() }
        if let result { return result }
        var tally = Tally()
        tally.errorSamples.append("worker \(index): no result (\(state.withLock { $0.error } ?? "exited or timed out"))")
        return FleetResult(tally: tally, completeness: CompletenessTotals())
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// Writes whole lines to stdout from any task.
final class Emitter: Sendable {
    private let out = Mutex(FileHandle.standardOutput)
    func emit(_ m: WorkerMessage) { out.withLock { try? $0.write(contentsOf: LineCodec.encode(m)) } }
}

/// `switchboard-bench worker`: runs one LocalFleet for a parent run over stdin/stdout.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Internal: one client worker process, driven by a parent run over stdin/stdout.",
        shouldDisplay: false)

    func run() async throws {
        _ = ProcessResources.openFileLimit(raise: true)
        let emitter = Emitter()
        let emit = emitter.emit
        let (commands, continuation) = AsyncStream.makeStream(of: WorkerCommand.self)
        let reader = Thread {
            while let line = readLine() {
                if let c = try? JSONDecoder().decode(WorkerCommand.self, from: Data(line.utf8)) {
                    continuation.yield(c)
                }
            }
            // Parent gone: finish without completeness and exit.
            continuation.yield(.finish(nil))
            continuation.finish()
        }
        reader.start()
        var fleet: LocalFleet?
        var ticker: Task<Void, Never>?
        for await command in commands {
            switch command {
            case .start(let assignment):
                do {
                    let f = try LocalFleet(assignment)
                    try await f.start()
                    fleet = f
                    ticker = Task {
                        while !Task.isCancelled {
                            emit(WorkerMessage(progress: f.progress()))
                            try? await Task.sleep(for: .milliseconds(500))
                        }
                    }
                    let deadline = assignment.deadlineSeconds
                    Task.detached {
                        try? await Task.sleep(for: .seconds(deadline))
                        FileHandle.standardError.write(Data("worker: deadline of \(Int(deadline)) s passed, exiting\n".utf8))
                        Foundation.exit(3)
                    }
                    emit(WorkerMessage(done: "start"))
                } catch {
                    emit(WorkerMessage(error: "\(error)"))
                }
            case .startWrites(let rate):
                await fleet?.startWrites(rate: rate)
                emit(WorkerMessage(done: "startWrites"))
            case .stopWrites:
                let writes = await fleet?.stopWrites() ?? WriteCount()
                emit(WorkerMessage(done: "stopWrites", writes: writes))
            case .finish(let expectation):
                ticker?.cancel()
                if let fleet {
                    emit(WorkerMessage(result: await fleet.finish(expectation)))
                }
                return
            }
        }
    }
}
