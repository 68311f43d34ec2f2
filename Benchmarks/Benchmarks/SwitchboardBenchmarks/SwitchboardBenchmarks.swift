import Benchmark
import Query
import Realtime
import RealtimeProtocol
import SwitchboardCore

// Micro-benchmarks of the pure pieces of the realtime path: parsing a client frame,
// reading a change event from Redis, rendering an event once per query class and
// splicing each subscriber's uid, and one connection's protocol state machine from
// `auth` to a live subscription. Everything runs in process, with no sockets and no
// database. Fan-out end to end (matching, one hop per event loop, one flush per socket)
// is measured over real sockets by `switchboard-bench` (README "Performance").
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        // No cpuTotal by default: on Linux it is read from the OS in 10 ms ticks and
        // allocates while sampling, which would show up in mallocCountTotal.
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 100,
        maxDuration: .seconds(1),
        maxIterations: 200_000)

    // MARK: Parse: a client frame as the socket's state machine receives it

    Benchmark("Parse subscribe frame") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(ClientMessage.parse(Frames.subscribe))
        }
    }

    Benchmark("Parse items create frame") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(ClientMessage.parse(Frames.itemsCreate))
        }
    }

    Benchmark("Decode change event (messenger wire)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Frames.decodeChangeEvent(Frames.changeEventWire))
        }
    }

    // MARK: Serialization per class: render once, splice the uid per subscriber

    Benchmark("Serialize event frame once (RenderedEvent)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RenderedEvent(event: "create", data: Frames.shapedData, meta: nil, seq: 42))
        }
    }

    for subscribers in [10, 10_000] {
        let uids = (0..<subscribers).map { "s\($0)" }
        Benchmark(
            "Serialize once + uid splice x\(subscribers)",
            configuration: .init(
                warmupIterations: subscribers > 100 ? 5 : 100, maxIterations: subscribers > 100 ? 2_000 : 100_000)
        ) { benchmark in
            for _ in benchmark.scaledIterations {
                let rendered = RenderedEvent(event: "create", data: Frames.shapedData, meta: nil, seq: 42)
                for uid in uids { blackHole(rendered.frame(uid: uid)) }
            }
        }
    }

    // MARK: Per event and query class: the filter on the changed row, then its projection

    for (name, filter) in EventRows.filters {
        // As fan-out does per event: variables resolved (the clock read once), then matched.
        let variables = DynamicVariables(userID: "9f3c1b2e-5d4a-4c1e-9b7a-2f6e8d0c4a11")
        Benchmark("Filter: \(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(filter.resolvingVariables(variables).matches(EventRows.row))
            }
        }
    }

    for (name, projection) in EventRows.projections {
        Benchmark("Project row: \(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(projection.apply(EventRows.row))
            }
        }
    }

    // MARK: The connection protocol: one socket from `auth` to a live subscription

    let settings = ConnectionStateMachine.Settings()
    let authOK = RealtimeFrames.object("auth", [("status", "ok")], uid: nil)
    let initFrame = RenderedEvent(event: "init", data: Frames.shapedData, meta: nil, seq: nil).frame(uid: "1")
    Benchmark("Connection state machine: auth, subscribe, init") { benchmark in
        for _ in benchmark.scaledIterations {
            var machine = ConnectionStateMachine(settings: settings, now: 0, upgradeToken: nil)
            blackHole(machine.received(Frames.auth, now: 1))
            blackHole(machine.authenticated(expiresAt: nil, reply: authOK, now: 2))
            blackHole(machine.received(Frames.subscribe, now: 3))
            blackHole(machine.subscribed(key: "1", frames: [initFrame]))
            blackHole(machine.tick(now: 30_000))
        }
    }
}
