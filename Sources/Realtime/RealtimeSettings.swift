import SwitchboardCore

/// How the realtime endpoint behaves (PROTOCOL.md: settings).
public struct RealtimeSettings: Sendable {
    public enum AuthMode: String, Sendable { case `public`, handshake, strict }

    public var authMode: AuthMode
    public var authTimeoutMs: Int64
    public var heartbeatEnabled: Bool
    public var heartbeatPeriodMs: Int64
    public var connectionLimit: Int?
    public var rateLimit: (points: Int, durationMs: Int64)?
    /// Subscriptions one socket may hold.
    public var maxSubscriptionsPerConnection: Int
    /// Frames waiting to be written to one socket before it counts as too slow (closed with 1013).
    public var maxQueuedFrames: Int

    public init(
        authMode: AuthMode = .handshake, authTimeoutMs: Int64 = 10_000, heartbeatEnabled: Bool = true,
        heartbeatPeriodMs: Int64 = 30_000, connectionLimit: Int? = nil, rateLimit: (points: Int, durationMs: Int64)? = nil,
        maxSubscriptionsPerConnection: Int = 256, maxQueuedFrames: Int = 4096
    ) {
        self.authMode = authMode
        self.authTimeoutMs = authTimeoutMs
        self.heartbeatEnabled = heartbeatEnabled
        self.heartbeatPeriodMs = heartbeatPeriodMs
        self.connectionLimit = connectionLimit
        self.rateLimit = rateLimit
        self.maxSubscriptionsPerConnection = maxSubscriptionsPerConnection
        self.maxQueuedFrames = maxQueuedFrames
    }
}
