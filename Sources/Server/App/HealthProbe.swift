import Messenger
import Realtime
import Store
import SwitchboardCore
import Synchronization

/// The IO behind the health endpoints: a database ping bounded by a short timeout, the
/// messenger's and the relay's state, handed to `HealthReport`, which decides.
struct HealthProbe: Sendable {
    let database: any SQLDatabase
    let messenger: (any Messenger)?
    let relay: EventRelay
    let readiness: Readiness
    let settings: HealthReport.Settings
    /// A ping slower than this counts as no answer: a probe (k8s: 2 s timeout) must hear back in time,
    /// and an exhausted pool must not hold it for the pool's acquire timeout.
    var pingTimeout: Duration = .seconds(1)

    func report() async -> HealthReport {
        let draining = !readiness.isReady
        let database = await Self.ping(database, timeout: pingTimeout)
        let lag = relay.lag
        let usage = self.database.usage
        return HealthReport(
            .init(
                draining: draining, database: database,
                pool: .init(used: usage.inUse, available: max(0, usage.capacity - usage.inUse)),
                messenger: messenger.map { .init(state: $0.state.rawValue, hasSubscribed: $0.hasSubscribed) },
                outboxLag: .init(events: lag.events, behindForMilliseconds: Self.milliseconds(lag.behindFor))),
            settings: settings)
    }

    static func ping(_ database: any SQLDatabase, timeout: Duration) async -> HealthReport.DatabaseProbe {
        let start = ContinuousClock.now
        let answer = FirstAnswer()
        // The ping may ignore cancellation (a pool waiting for a connection): it is left to finish on its own.
        Task { answer.resolve((try? await database.ping()) != nil) }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            answer.resolve(false)
        }
        let answered = await answer.value
        timer.cancel()
        let ms = fractionalMilliseconds(ContinuousClock.now - start)
        return answered ? .answered(milliseconds: ms) : .failed(milliseconds: ms)
    }

    /// Whole milliseconds of `d`.
    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    /// `d` in milliseconds with microsecond precision (a response time).
    static func fractionalMilliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds / 1_000_000_000_000) / 1000
    }
}

/// The first of several racers' answers, for whoever awaits it (before or after it came).
final class FirstAnswer: Sendable {
    private let state = Mutex<(answer: Bool?, waiter: CheckedContinuation<Bool, Never>?)>((nil, nil))

    func resolve(_ value: Bool) {
        let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard s.answer == nil else { return nil }
            s.answer = value
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: value)
    }

    var value: Bool {
        get async {
            await withCheckedContinuation { c in
                let now = state.withLock { s -> Bool? in
                    if let answer = s.answer { return answer }
                    s.waiter = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        }
    }
}
