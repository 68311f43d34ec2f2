import Query
import SwitchboardCore

/// What the store needs from outside that it must not implement itself:
/// password hashing (Access owns it), key generation and this replica's id.
public struct StoreEnvironment: Sendable {
    public var replicaID: String
    public var hashPassword: @Sendable (String) throws -> String
    public var newUUID: @Sendable () -> String
    public var limits: QueryLimits

    public init(
        replicaID: String, limits: QueryLimits, hashPassword: @escaping @Sendable (String) throws -> String,
        newUUID: @escaping @Sendable () -> String
    ) {
        self.replicaID = replicaID
        self.limits = limits
        self.hashPassword = hashPassword
        self.newUUID = newUUID
    }
}
