import Hummingbird
import SwitchboardCore

/// `GET /metrics` in the Prometheus text format, when `METRICS_ENABLED` is true. Readable by
/// admins and by `Authorization: Metrics <token>` with a token from `METRICS_TOKENS`, as in
/// Directus. Numbers are this replica's own.
struct MetricsRoutes {
    let metrics: ServerMetrics
    let callers: CallerResolver
    let tokens: [String]

    func register(on router: Router<SwitchboardRequestContext>) {
        router.get("metrics") { request, context in
            try await authorize(request, context)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            headers[.cacheControl] = "no-cache"
            let text = await metrics.scrape()
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }
    }

    private func authorize(_ request: Request, _ context: SwitchboardRequestContext) async throws {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "metrics" {
                guard tokens.contains(String(parts[1])) else { throw SwitchboardError.forbidden() }
                return
            }
        }
        guard try await callers.accountability(request, context).admin else { throw SwitchboardError.forbidden() }
    }
}
