import Hummingbird
import NIOCore
import SwitchboardCore

/// The admin view of the realtime fleet: `GET /admin/realtime` and its script and style
/// (`Sources/Server/Admin/`, compiled into the binary like the demo page). The page holds no
/// data: it signs in over REST and reads everything from the realtime socket, where the
/// `switchboard_replicas` virtual collection is admins' only.
struct AdminRoutes: Sendable {
    /// What the page must know about this server, written into it as JSON.
    struct PageSettings: Sendable {
        /// `WEBSOCKETS_REST_PATH`.
        var realtimePath: String
        /// `WEBSOCKETS_REST_AUTH`: in strict mode the token goes with the upgrade.
        var authMode: String

        init(_ config: SwitchboardConfig) {
            realtimePath = config.websocketsRestPath
            authMode = config.websocketsRestAuth.rawValue
        }

        var json: JSONValue { ["realtimePath": .string(realtimePath), "authMode": .string(authMode)] }
    }

    /// Where the page template takes its settings.
    static let settingsMarker = "<!-- admin settings -->"

    /// Scripts, styles and sockets from this server only.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    let settings: PageSettings

    func register(on router: Router<SwitchboardRequestContext>) {
        let page = Self.page(settings)
        let script = ByteBuffer(bytes: PackageResources.realtime_js)
        let style = ByteBuffer(bytes: PackageResources.realtime_css)
        let policy = Self.contentSecurityPolicy
        router.get("admin/realtime") { _, _ in
            HTTPSupport.staticAsset(page, type: "text/html; charset=utf-8", policy: policy)
        }
        router.get("admin/realtime.js") { _, _ in
            HTTPSupport.staticAsset(script, type: "text/javascript; charset=utf-8", policy: policy)
        }
        router.get("admin/realtime.css") { _, _ in
            HTTPSupport.staticAsset(style, type: "text/css; charset=utf-8", policy: policy)
        }
    }

    /// The HTML with the settings in a JSON script block (`<` escaped, so no value can end the block).
    static func page(_ settings: PageSettings) -> ByteBuffer {
        let json = settings.json.jsonString.replacing("<", with: "\\u003c")
        let block = #"<script type="application/json" id="admin-settings">"# + json + "</script>"
        let html = String(decoding: PackageResources.realtime_html, as: UTF8.self).replacing(settingsMarker, with: block)
        return ByteBuffer(string: html)
    }
}
