import Access
import Hummingbird
import Store
import SwitchboardCore

/// Works out who sent a request: a token from `?access_token=`, the
/// `Authorization: Bearer` header or the session cookie, else the public policy.
struct CallerResolver: Sendable {
    let auth: AuthService
    let sessionCookieName: String

    func clientInfo(_ request: Request, _ context: SwitchboardRequestContext) -> ClientInfo {
        ClientInfo(
            ip: context.remoteAddress, userAgent: request.headers[.userAgent], origin: request.headers[.origin])
    }

    /// The token of a request, if any. Two different sources at once is ambiguous: `INVALID_PAYLOAD`, as in Directus.
    func token(_ request: Request) throws -> String? {
        let query = HTTPSupport.queryValue(request, "access_token")
        var header: String?
        if let authorization = request.headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { header = String(parts[1]) }
        }
        if query != nil, header != nil {
            throw SwitchboardError.invalidPayload("The request uses more than one method of including an access token.")
        }
        if let token = query ?? header { return token }
        return request.cookies[sessionCookieName]?.value
    }

    func accountability(_ request: Request, _ context: SwitchboardRequestContext) async throws -> Accountability {
        let client = clientInfo(request, context)
        guard let token = try token(request), !token.isEmpty else {
            return try await auth.resolver.publicAccountability(ip: client.ip, userAgent: client.userAgent, origin: client.origin)
        }
        return try await auth.authenticate(token: token, client: client)
    }

    /// Accountability and permissions for the store.
    func itemsContext(_ request: Request, _ context: SwitchboardRequestContext) async throws -> ItemsContext {
        try await auth.resolver.context(for: try await accountability(request, context))
    }
}
