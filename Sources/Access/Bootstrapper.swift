import Store
import SwitchboardCore

/// Creates the tables, the public policy and the first administrator.
/// Safe to run on every start: it only adds what is missing.
public struct Bootstrapper: Sendable {
    /// Directus 11's fixed id for the public policy, so imported projects keep working.
    public static let publicPolicyID = "abf8a154-5b1c-4a46-ac9c-7300570f4f17"
    public static let publicPolicyName = "$t:public_label"

    public struct Report: Sendable {
        /// Set when an administrator was created.
        public var adminEmail: String?
        /// The generated password, when none was configured (shown once).
        public var generatedPassword: String?
        public var createdPublicPolicy: Bool
    }

    let store: Store

    public init(store: Store) { self.store = store }

    public func run(adminEmail: String, adminPassword: String?, adminToken: String?) async throws -> Report {
        try await store.migrate()
        var report = Report(createdPublicPolicy: false)
        let system = ItemsContext.system
        let publicPolicy = try await store.database.read { db in
            try await db.query("SELECT id FROM directus_policies WHERE id = ?", [.text(Self.publicPolicyID)])
        }
        if publicPolicy.isEmpty {
            _ = try await store.write(context: system) { tx in
                _ = try await tx.create(
                    SystemCollections.policies,
                    [
                        [
                            "id": .string(Self.publicPolicyID), "name": .string(Self.publicPolicyName), "icon": "public",
                            "description": "$t:public_description", "admin_access": false, "app_access": false,
                        ]
                    ])
                return try await tx.create(SystemCollections.access, [["policy": .string(Self.publicPolicyID)]])
            }
            report.createdPublicPolicy = true
        }
        let users = try await store.database.read { db in try await db.query("SELECT COUNT(*) FROM directus_users") }
        if (users.first?[0].int ?? 0) == 0 {
            let password = adminPassword ?? SecureRandom.token(bytes: 12)
            let roleID = SecureRandom.uuidV4()
            let policyID = SecureRandom.uuidV4()
            var user: JSONObject = [
                "email": .string(adminEmail), "password": .string(password), "role": .string(roleID),
                "first_name": "Admin", "last_name": "User", "status": "active",
            ]
            if let adminToken { user["token"] = .string(adminToken) }
            let admin = user
            _ = try await store.write(context: system) { tx in
                _ = try await tx.create(
                    SystemCollections.roles,
                    [
                        [
                            "id": .string(roleID), "name": "Administrator", "icon": "verified",
                            "description": "$t:admin_description",
                        ]
                    ])
                _ = try await tx.create(
                    SystemCollections.policies,
                    [
                        [
                            "id": .string(policyID), "name": "Administrator", "icon": "verified",
                            "description": "$t:admin_description", "admin_access": true, "app_access": true,
                        ]
                    ])
                _ = try await tx.create(SystemCollections.access, [["role": .string(roleID), "policy": .string(policyID)]])
                return try await tx.create(SystemCollections.users, [admin])
            }
            report.adminEmail = adminEmail
            if adminPassword == nil { report.generatedPassword = password }
        }
        return report
    }
}
