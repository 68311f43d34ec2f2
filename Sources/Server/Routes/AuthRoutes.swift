import Access
import Hummingbird
import SwitchboardCore

/// `/auth/login`, `/auth/refresh`, `/auth/logout` with Directus's three modes:
/// `json` (tokens in the body), `cookie` (refresh token in an httpOnly cookie)
/// and `session` (the access token itself in an httpOnly cookie).
struct AuthRoutes {
    enum Mode: String {
        case json, cookie, session
    }

    struct CookieSettings: Sendable {
        var refreshName: String
        var sessionName: String
        var secure: Bool
        var sameSite: String
        var domain: String?
        var refreshTTLms: Int64
        var sessionTTLms: Int64
    }

    let auth: AuthService
    let callers: CallerResolver
    let cookies: CookieSettings
    let maxPayload: Int

    func register(on router: Router<SwitchboardRequestContext>) {
        router.post("auth/login") { request, context in
            let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
            guard case .string(let email)? = body["email"], Self.looksLikeEmail(email) else {
                throw SwitchboardError.invalidPayload("\"email\" must be a valid email.")
            }
            guard case .string(let password)? = body["password"], !password.isEmpty else {
                throw SwitchboardError.invalidPayload("\"password\" is required.")
            }
            let mode = try mode(body["mode"], default: .json)
            let tokens = try await auth.login(
                email: email, password: password, session: mode == .session, client: callers.clientInfo(request, context))
            return respond(tokens, mode: mode)
        }
        router.post("auth/refresh") { request, context in
            let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
            let mode = try mode(body["mode"], default: body["refresh_token"] != nil ? .json : .cookie)
            guard let token = try currentToken(request, body, mode: mode) else {
                throw SwitchboardError.invalidPayload("The refresh token is required in either the payload or cookie.")
            }
            let tokens = try await auth.refresh(
                token: token, session: mode == .session, client: callers.clientInfo(request, context))
            return respond(tokens, mode: mode)
        }
        router.post("auth/logout") { request, context in
            let body = try await HTTPSupport.objectBody(request, limit: maxPayload)
            let mode = try mode(
                body["mode"],
                default: body["refresh_token"] != nil ? .json : (request.cookies[cookies.sessionName] != nil ? .session : .cookie)
            )
            guard let token = try currentToken(request, body, mode: mode) else {
                throw SwitchboardError.invalidPayload("The refresh token is required in either the payload or cookie.")
            }
            try await auth.logout(token: token)
            var response = HTTPSupport.noContent()
            if request.cookies[cookies.refreshName] != nil { response.setCookie(expired(cookies.refreshName)) }
            if request.cookies[cookies.sessionName] != nil { response.setCookie(expired(cookies.sessionName)) }
            return response
        }
    }

    /// `local@domain.tld`, the check Directus's login schema makes.
    static func looksLikeEmail(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !s.contains(" ") else { return false }
        let domain = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return domain.count >= 2 && domain.allSatisfy { !$0.isEmpty }
    }

    private func mode(_ value: JSONValue?, default fallback: Mode) throws -> Mode {
        guard let value, !value.isNull else { return fallback }
        guard case .string(let s) = value, let mode = Mode(rawValue: s) else {
            throw SwitchboardError.invalidPayload("\"mode\" must be one of \"json\", \"cookie\", \"session\".")
        }
        return mode
    }

    private func currentToken(_ request: Request, _ body: JSONObject, mode: Mode) throws -> String? {
        switch mode {
        case .json: return body["refresh_token"]?.stringValue ?? request.cookies[cookies.refreshName]?.value
        case .cookie: return request.cookies[cookies.refreshName]?.value ?? body["refresh_token"]?.stringValue
        case .session:
            guard let jwt = request.cookies[cookies.sessionName]?.value else { return nil }
            return try auth.sessionToken(fromAccessToken: jwt)
        }
    }

    private func respond(_ tokens: IssuedTokens, mode: Mode) -> Response {
        switch mode {
        case .json:
            return HTTPSupport.data([
                "access_token": .string(tokens.accessToken), "refresh_token": .string(tokens.refreshToken),
                "expires": .int(tokens.expires),
            ])
        case .cookie:
            var response = HTTPSupport.data(["access_token": .string(tokens.accessToken), "expires": .int(tokens.expires)])
            response.setCookie(cookie(cookies.refreshName, tokens.refreshToken, ttlMs: cookies.refreshTTLms))
            return response
        case .session:
            var response = HTTPSupport.data(["expires": .int(tokens.expires)])
            response.setCookie(cookie(cookies.sessionName, tokens.accessToken, ttlMs: cookies.sessionTTLms))
            return response
        }
    }

    private func cookie(_ name: String, _ value: String, ttlMs: Int64) -> Cookie {
        Cookie(
            name: name, value: value, maxAge: Int(ttlMs / 1000), domain: cookies.domain, path: "/", secure: cookies.secure,
            httpOnly: true, sameSite: sameSite)
    }

    private var sameSite: Cookie.SameSite {
        switch cookies.sameSite.lowercased() {
        case "strict": return .strict
        case "none": return .none
        default: return .lax
        }
    }

    private func expired(_ name: String) -> Cookie {
        Cookie(
            name: name, value: "", maxAge: 0, domain: cookies.domain, path: "/", secure: cookies.secure, httpOnly: true,
            sameSite: sameSite)
    }
}
