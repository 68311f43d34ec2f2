/// Who is acting: the caller's identity and the policies that apply to it.
/// Built by `Access` from a token; read by the store and the realtime engine.
public struct Accountability: Sendable, Hashable {
    public var userID: String?
    public var roleID: String?
    /// The caller's role and its ancestors (nested roles), nearest first.
    public var roles: [String]
    /// Every policy that applies: the public policy, the roles' and the user's own.
    public var policies: [String]
    public var admin: Bool
    public var app: Bool
    public var sessionID: String?
    public var ip: String?
    public var userAgent: String?
    public var origin: String?

    public init(
        userID: String? = nil, roleID: String? = nil, roles: [String] = [], policies: [String] = [],
        admin: Bool = false, app: Bool = false, sessionID: String? = nil, ip: String? = nil,
        userAgent: String? = nil, origin: String? = nil
    ) {
        self.userID = userID
        self.roleID = roleID
        self.roles = roles
        self.policies = policies
        self.admin = admin
        self.app = app
        self.sessionID = sessionID
        self.ip = ip
        self.userAgent = userAgent
        self.origin = origin
    }

    /// Switchboard itself (bootstrap, CLI): bypasses permissions, records no user.
    public static let system = Accountability(admin: true, app: true)
}
