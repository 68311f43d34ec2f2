import Hummingbird

/// The realtime path over plain HTTP. Upgrades never get here (`SwitchboardChannel`
/// routes them to the realtime engine before Hummingbird sees them); a GET without
/// one, or an upgrade on a connection that already served REST requests, gets the
/// answer Directus gives.
struct RealtimeRoutes: Sendable {
    let path: String

    func register(on router: Router<SwitchboardRequestContext>) {
        router.get(RouterPath(path)) { _, _ in
            HTTPSupport.text("Expected a WebSocket upgrade request.", status: .badRequest)
        }
    }
}
