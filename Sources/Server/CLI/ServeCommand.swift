import Access
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Messenger
import NIOCore
import Realtime
import ServiceLifecycle
import Store
import SwitchboardCore
import Synchronization
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the server (the default).")

    func run() async throws {
        let services = try await CommandEnvironment.services(label: "switchboard")
        let config = services.config
        let logger = services.logger
        if config.secretIsGenerated {
            logger.warning(
                "SECRET is not set: using a random secret for this run. Tokens will not survive a restart and replicas will not accept each other's tokens. Set SECRET."
            )
        }
        let report = try await services.bootstrap()
        if let email = report.adminEmail {
            logger.notice("created admin user \(email)")
            if let password = report.generatedPassword {
                CommandEnvironment.print("Generated admin password: \(password)  (for \(email); shown once)")
            }
        }
        try await services.auth.purgeExpiredSessions()
        let readiness = Readiness()
        let app = SwitchboardApp.make(services, readiness: readiness)
        logger.info(
            "listening",
            metadata: [
                "host": "\(config.host)", "port": "\(config.port)", "db": "\(config.dbClient.rawValue)",
                "event_loops": "\(NIOSingletons.groupLoopCountSuggestion)",
            ])
        let group = ServiceGroup(
            configuration: .init(
                // Shut down in reverse order: sockets drain (1001) before the HTTP server stops.
                services: [
                    .init(service: app),
                    .init(
                        service: RealtimeService(
                            realtime: services.realtime, relay: services.relay, messenger: services.messenger,
                            readiness: readiness,
                            drainWindow: .milliseconds(config.shutdownDrainWindowMs))),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        await services.store.database.close()
    }
}

/// Runs the realtime engine; on shutdown fails readiness and closes sockets
/// with 1001, spread over the drain window, so clients reconnect elsewhere.
struct RealtimeService: Service {
    let realtime: RealtimeEngine
    let relay: EventRelay
    let messenger: (any Messenger)?
    let readiness: Readiness
    let drainWindow: Duration

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await realtime.run() }
                    group.addTask { await relay.run() }
                    group.addTask { await realtime.runFleet(publish: relay.publishFleet) }
                    if let messenger { group.addTask { await messenger.run() } }
                    await group.next()
                    group.cancelAll()
                }
            } onCancel: {
                realtime.shutdown()
            }
        } onGracefulShutdown: {
            readiness.markDraining()
            Task {
                await realtime.drain(over: drainWindow)
                await messenger?.shutdown()
                realtime.shutdown()
            }
        }
    }
}
