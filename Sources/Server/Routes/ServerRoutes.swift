import Hummingbird
import Store
import SwitchboardCore

/// `/server/ping`, `/server/health`, `/server/info`.
struct ServerRoutes {
    let store: Store
    let callers: CallerResolver
    let version: String
    let queryLimitDefault: Int
    let queryLimitMax: Int?
    /// `websocket` of `/server/info` (`false` when realtime is off), as Directus reports it.
    let websocketInfo: JSONValue
    let isReady: @Sendable () -> Bool
    /// The Redis messenger's state in cluster mode (`nil` on a single node).
    let messengerState: @Sendable () -> String?

    func register(on router: Router<SwitchboardRequestContext>) {
        router.get("server/ping") { _, _ in HTTPSupport.text("pong") }
        router.get("server/health") { _, _ in
            var healthy = isReady()
            if healthy {
                do { try await store.database.ping() } catch { healthy = false }
            }
            var body: JSONObject = ["status": healthy ? "ok" : "error"]
            if let state = messengerState() {
                // Local fan-out goes on while Redis is away; the replica stays ready but says so.
                if healthy && state != "connected" { body["status"] = "warn" }
                body["checks"] = [
                    "messenger:redis": [["status": state == "connected" ? "ok" : "warn", "observedValue": .string(state)]]
                ]
            }
            return HTTPSupport.json(
                .object(body), status: healthy ? .ok : .serviceUnavailable, contentType: "application/health+json; charset=utf-8")
        }
        router.get("server/info") { request, context in
            let accountability = try await callers.accountability(request, context)
            var data: JSONObject = [
                "project": [
                    "project_name": "Switchboard", "project_descriptor": "Realtime data server",
                    "default_language": "en-US", "public_registration": false,
                ]
            ]
            if accountability.userID != nil {
                data["version"] = .string(version)
                data["queryLimit"] = ["default": .int(Int64(queryLimitDefault)), "max": .int(Int64(queryLimitMax ?? -1))]
                data["websocket"] = websocketInfo
            }
            return HTTPSupport.data(.object(data))
        }
    }

    /// What `/server/info` says of the realtime endpoints: each enabled one's auth mode and path,
    /// the heartbeat period.
    static func websocketInfo(_ config: SwitchboardConfig) -> JSONValue {
        guard config.websocketsEnabled else { return false }
        func endpoint(_ enabled: Bool, _ auth: SwitchboardConfig.WebSocketAuthMode, _ path: String) -> JSONValue {
            enabled ? ["authentication": .string(auth.rawValue), "path": .string(path)] : false
        }
        return [
            "rest": endpoint(config.websocketsRestEnabled, config.websocketsRestAuth, config.websocketsRestPath),
            "graphql": endpoint(config.websocketsGraphQLEnabled, config.websocketsGraphQLAuth, config.websocketsGraphQLPath),
            "heartbeat": config.websocketsHeartbeatEnabled ? .int(Int64(config.websocketsHeartbeatPeriodSeconds)) : false,
        ]
    }
}
