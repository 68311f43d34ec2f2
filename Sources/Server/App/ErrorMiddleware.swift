import Hummingbird
import Logging
import Store
import SwitchboardCore

/// Turns every failure into Directus's `{"errors":[…]}` shape with the right
/// status, and logs the unexpected ones.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = SwitchboardRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as SwitchboardError {
            return HTTPSupport.error(error)
        } catch let error as SQLError {
            let mapped = error.clientError()
            if mapped.code == .internalError {
                context.logger.error("database error", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            return HTTPSupport.error(mapped)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                return HTTPSupport.error(SwitchboardError(.routeNotFound, "Route \(request.uri.path) doesn't exist."))
            case .methodNotAllowed:
                return HTTPSupport.error(SwitchboardError(.routeNotFound, "Route \(request.uri.path) doesn't exist."))
            case .contentTooLarge:
                return HTTPSupport.error(.invalidPayload("request entity too large"))
            default:
                return HTTPSupport.error(SwitchboardError(.invalidPayload, error.body ?? "\(error.status.reasonPhrase)"))
            }
        } catch {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return HTTPSupport.error(.internalError())
        }
    }
}
