import Hummingbird
import SwitchboardCore

/// CORS as Directus configures it: `CORS_ORIGIN` is `true`/`*` (reflect any
/// origin) or a list of allowed origins; preflights are answered here.
struct CORSPolicyMiddleware: RouterMiddleware {
    typealias Context = SwitchboardRequestContext
    let config: SwitchboardConfig

    func allows(_ origin: String) -> Bool {
        switch config.corsOrigin {
        case .disabled: return false
        case .any: return true
        case .list(let list): return list.contains(origin)
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        guard let origin = request.headers[.origin], allows(origin) else { return try await next(request, context) }
        var response: Response
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            response = Response(status: .noContent)
            response.headers[.accessControlAllowMethods] = config.corsMethods.joined(separator: ", ")
            response.headers[.accessControlAllowHeaders] =
                request.headers[.accessControlRequestHeaders] ?? config.corsAllowedHeaders.joined(separator: ", ")
            response.headers[.accessControlMaxAge] = String(config.corsMaxAge)
        } else {
            response = try await next(request, context)
            if !config.corsExposedHeaders.isEmpty {
                response.headers[.accessControlExposeHeaders] = config.corsExposedHeaders.joined(separator: ", ")
            }
        }
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
        if config.corsCredentials { response.headers[.accessControlAllowCredentials] = "true" }
        return response
    }
}
