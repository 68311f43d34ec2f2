import Hummingbird
import NIOCore
import SwitchboardCore

/// The demo chat page (`DEMO_ENABLED`): `GET /` and its script and style. The files live in
/// `Sources/Server/Demo/` and are compiled into the binary (`.embedInCode` in Package.swift),
/// so a copied binary serves them without the source tree.
struct DemoRoutes: Sendable {
    /// What the page must know about this server, written into it as JSON.
    struct PageSettings: Sendable {
        /// `WEBSOCKETS_REST_PATH`.
        var realtimePath: String
        /// `WEBSOCKETS_REST_AUTH`: a guest can chat only in `public` mode.
        var authMode: String
        /// `WEBSOCKETS_HEARTBEAT_PERIOD` when heartbeats are on: a socket silent for two periods is dead.
        var heartbeatSeconds: Int?
        /// `PUBLIC_URL`, the fleet's address: where a page opened at one replica's own address
        /// reconnects when that replica is gone.
        var publicURL: String?
        /// `PUBLIC_URL`'s origin, which the page may connect to besides its own.
        var publicOrigin: String?

        init(_ config: SwitchboardConfig) {
            realtimePath = config.websocketsRestPath
            authMode = config.websocketsRestAuth.rawValue
            heartbeatSeconds = config.websocketsHeartbeatEnabled ? config.websocketsHeartbeatPeriodSeconds : nil
            publicURL = config.publicURL
            publicOrigin = config.publicOrigin
        }

        var json: JSONValue {
            [
                "realtimePath": .string(realtimePath), "authMode": .string(authMode),
                "heartbeatSeconds": heartbeatSeconds.map { .int(Int64($0)) } ?? .null,
                "publicURL": publicURL.map(JSONValue.string) ?? .null,
            ]
        }
    }

    /// Where the page template takes its settings.
    static let settingsMarker = "<!-- demo settings -->"

    let settings: PageSettings

    func register(on router: Router<SwitchboardRequestContext>) {
        let page = Self.page(settings)
        let policy = Self.contentSecurityPolicy(settings)
        let script = ByteBuffer(bytes: PackageResources.chat_js)
        let style = ByteBuffer(bytes: PackageResources.chat_css)
        router.get("/") { _, _ in HTTPSupport.staticAsset(page, type: "text/html; charset=utf-8", policy: policy) }
        router.get("demo/chat.js") { _, _ in
            HTTPSupport.staticAsset(script, type: "text/javascript; charset=utf-8", policy: policy)
        }
        router.get("demo/chat.css") { _, _ in HTTPSupport.staticAsset(style, type: "text/css; charset=utf-8", policy: policy) }
    }

    /// The HTML with the settings in a JSON script block (`<` escaped, so no value can end the block).
    static func page(_ settings: PageSettings) -> ByteBuffer {
        let json = settings.json.jsonString.replacing("<", with: "\\u003c")
        let block = #"<script type="application/json" id="demo-settings">"# + json + "</script>"
        let html = String(decoding: PackageResources.index_html, as: UTF8.self).replacing(settingsMarker, with: block)
        return ByteBuffer(string: html)
    }

    /// Scripts and styles from this server only; sockets to this server or, after a failover, to `PUBLIC_URL`.
    static func contentSecurityPolicy(_ settings: PageSettings) -> String {
        let connect = ["'self' ws: wss:", settings.publicOrigin].compactMap { $0 }.joined(separator: " ")
        return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src \(connect); "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }
}
