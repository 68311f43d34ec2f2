import Hummingbird
import Logging
import Store
import SwitchboardCore

/// Turns every failure into Directus's `{"errors":[…]}` shape with the right
/// status, and logs the unexpected ones and requests slower than `slow`.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = SwitchboardRequestContext

    /// Requests taking longer are logged (a warning) with their path, status and time.
    static let slow = Duration.seconds(2)

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        let start = ContinuousClock.now
        let response = await respond(request, context: context, next: next)
        let took = ContinuousClock.now - start
        // The path only: a query string can carry `access_token`.
        let metadata: Logger.Metadata = [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
            "ms": "\(took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000)",
        ]
        if took > Self.slow {
            context.logger.warning("slow request", metadata: metadata)
        } else {
            context.logger.debug("request", metadata: metadata)
        }
        return response
    }

    private func respond(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async
        -> Response
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
