import Hummingbird
import RealtimeProtocol
import Store
import SwitchboardCore

/// `/server/ping`, `/server/health` (and its `/live` and `/ready` probes), `/server/info`.
struct ServerRoutes {
    static let healthType = "application/health+json; charset=utf-8"

    let store: Store
    let callers: CallerResolver
    let version: String
    let queryLimitDefault: Int
    let queryLimitMax: Int?
    /// `websocket` of `/server/info` (`false` when realtime is off), as Directus reports it.
    /// What `/server/info` says of the realtime endpoints, to admins and to everyone else.
    let websocketInfo: (admin: JSONValue, others: JSONValue)
    let health: HealthProbe

    func register(on router: Router<SwitchboardRequestContext>) {
        router.get("server/ping") { _, _ in HTTPSupport.text("pong") }
        // Liveness: the process answers. Nothing else, so an outage elsewhere restarts no pod.
        router.get("server/health/live") { _, _ in
            HTTPSupport.json(["status": "ok"], contentType: Self.healthType)
        }
        router.get("server/health/ready") { _, _ in
            let report = await health.report()
            return HTTPSupport.json(
                report.readinessBody, status: report.isReady ? .ok : .serviceUnavailable, contentType: Self.healthType)
        }
        router.get("server/health") { request, context in
            let report = await health.report()
            // A database that did not answer cannot check a token either (it would wait for the pool's
            // acquire timeout): health still answers at once, without checks.
            var admin = false
            if case .answered = report.observed.database, try callers.token(request) != nil {
                admin = try await callers.accountability(request, context).admin
            }
            return HTTPSupport.json(
                report.body(forAdmin: admin), status: report.isUnavailable ? .serviceUnavailable : .ok,
                contentType: Self.healthType)
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
                data["websocket"] = accountability.admin ? websocketInfo.admin : websocketInfo.others
            }
            return HTTPSupport.data(.object(data))
        }
    }

    /// What `/server/info` says of the realtime endpoints: each enabled one's auth mode and path,
    /// the heartbeat period, and (to admins, as Directus) the logs stream's levels.
    static func websocketInfo(_ config: SwitchboardConfig) -> (admin: JSONValue, others: JSONValue) {
        guard config.websocketsEnabled else { return (false, false) }
        func endpoint(_ enabled: Bool, _ auth: SwitchboardConfig.WebSocketAuthMode, _ path: String) -> JSONValue {
            enabled ? ["authentication": .string(auth.rawValue), "path": .string(path)] : false
        }
        var info: JSONObject = [
            "rest": endpoint(config.websocketsRestEnabled, config.websocketsRestAuth, config.websocketsRestPath),
            "graphql": endpoint(config.websocketsGraphQLEnabled, config.websocketsGraphQLAuth, config.websocketsGraphQLPath),
            "heartbeat": config.websocketsHeartbeatEnabled ? .int(Int64(config.websocketsHeartbeatPeriodSeconds)) : false,
            "logs": false,
        ]
        let others = JSONValue.object(info)
        if config.websocketsLogsEnabled, let threshold = LogLevel(name: config.websocketsLogsLevel) {
            let allowed = LogLevel.allCases.filter { $0 >= threshold }.map { ($0.name, JSONValue.int(Int64($0.rawValue))) }
            info["logs"] = ["allowedLogLevels": .object(JSONObject(allowed))]
        }
        return (.object(info), others)
    }
}
