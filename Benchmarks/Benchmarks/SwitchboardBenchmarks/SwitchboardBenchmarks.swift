import Benchmark
import Realtime
import SwitchboardCore

// Micro-benchmarks for the realtime path (issue: "message decode, event fan-out
// to 10k in-process subscriptions of one class and of 1k classes, serialization
// per class"). Everything runs in process: no sockets, no network. The fan-out
// fixtures use a SQLite file in a temporary directory for the schema and the
// subscribers' `init` reads; the measured regions never touch the database.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        // No cpuTotal by default: on Linux it is read from the OS in 10 ms ticks and
        // allocates while sampling, which would show up in mallocCountTotal.
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 100,
        maxDuration: .seconds(1),
        maxIterations: 200_000)

    // MARK: 1. Decode: a client frame into what RealtimeSession works with

    Benchmark("Decode subscribe frame") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Frames.decodeSubscribe(Frames.subscribe))
        }
    }

    Benchmark("Decode items create frame") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Frames.decodeItems(Frames.itemsCreate))
        }
    }

    Benchmark("Decode change event (messenger wire)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try Frames.decodeChangeEvent(Frames.changeEventWire))
        }
    }

    // MARK: 3. Serialization per class: render once, splice the uid per subscriber

    Benchmark("Serialize event frame once (RenderedEvent)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RenderedEvent(event: "create", data: Frames.shapedData, meta: nil, seq: 42))
        }
    }

    for subscribers in [10, 10_000] {
        let uids = (0..<subscribers).map { "s\($0)" }
        Benchmark(
            "Serialize once + uid splice x\(subscribers)",
            configuration: .init(warmupIterations: subscribers > 100 ? 5 : 100, maxIterations: subscribers > 100 ? 2_000 : 100_000)
        ) { benchmark in
            for _ in benchmark.scaledIterations {
                let rendered = RenderedEvent(event: "create", data: Frames.shapedData, meta: nil, seq: 42)
                for uid in uids { blackHole(rendered.frame(uid: uid)) }
            }
        }
    }

    // MARK: 2. Fan-out: one create event through RealtimeHub.dispatch

    for layout in FanOutLayout.allCases {
        // cpuTotal (process CPU time, both cores) only where an event takes tens of
        // milliseconds: it has 10 ms resolution and costs 16 mallocs per sample.
        let fanOut = Benchmark.Configuration(
            metrics: [.wallClock, .throughput, .mallocCountTotal] + (layout.deliveriesPerEvent > 1000 ? [.cpuTotal] : []),
            warmupIterations: 3, maxDuration: .seconds(2), maxIterations: 300)
        // Matching + rendering (once per class) + enqueueing one frame per subscriber.
        // The per-socket writers drain the queues concurrently; the next event is
        // dispatched only after every frame reached the in-process transport.
        Benchmark("Fan-out dispatch: \(layout.label)", configuration: fanOut) { benchmark in
            guard let fixture = await Fixtures.shared.fixture(layout) else { return benchmark.error("no fixture") }
            let event = fixture.nextEvent()
            fixture.transport.expect(fixture.deliveriesPerEvent)
            benchmark.startMeasurement()
            await fixture.hub.dispatch(event)
            benchmark.stopMeasurement()
            if !(await fixture.transport.wait()) { benchmark.error("frames not delivered within \(FanOutFixture.deliveryTimeout)") }
        } setup: {
            try await Fixtures.shared.acquire(layout)
        } teardown: {
            await Fixtures.shared.release(layout)
        }

        // The same, measured until the last frame was handed to the transport
        // (the writer side of every OutboundQueue included).
        Benchmark("Fan-out to transport: \(layout.label)", configuration: fanOut) { benchmark in
            guard let fixture = await Fixtures.shared.fixture(layout) else { return benchmark.error("no fixture") }
            let event = fixture.nextEvent()
            fixture.transport.expect(fixture.deliveriesPerEvent)
            benchmark.startMeasurement()
            await fixture.hub.dispatch(event)
            let delivered = await fixture.transport.wait()
            benchmark.stopMeasurement()
            if !delivered { benchmark.error("frames not delivered within \(FanOutFixture.deliveryTimeout)") }
        } setup: {
            try await Fixtures.shared.acquire(layout)
        } teardown: {
            await Fixtures.shared.release(layout)
        }
    }
}
