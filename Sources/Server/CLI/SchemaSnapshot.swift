import Access
import Query
import Store
import SwitchboardCore

/// Directus-format schema snapshots, plus Switchboard's `policies` /
/// `permissions` sections (policies referenced by name; the public policy as
/// `$t:public_label`).
enum SchemaSnapshot {
    struct Summary: CustomStringConvertible {
        var collections = 0
        var fields = 0
        var relations = 0
        var policies = 0
        var permissions = 0

        var description: String {
            if collections + fields + relations + policies + permissions == 0 { return "Schema is up to date; nothing to apply." }
            return
                "Applied: \(collections) collection(s), \(fields) field(s), \(relations) relation(s), \(policies) policy(ies), \(permissions) permission(s)."
        }
    }

    static func make(_ store: Store) -> JSONObject {
        let userCollections = store.allCollectionsJSON().filter {
            !SystemCollections.isSystem($0["collection"]?.stringValue ?? "")
        }
        let names = userCollections.compactMap { $0["collection"]?.stringValue }
        return [
            "version": 1, "directus": "11.0.0", "vendor": .string(store.dialect == .sqlite ? "sqlite" : "postgres"),
            "collections": .array(userCollections.map(JSONValue.object)),
            "fields": .array(names.flatMap { store.fieldsJSON($0) }.map(JSONValue.object)),
            "relations": .array(names.flatMap { store.relationsJSON($0) }.map(JSONValue.object)),
        ]
    }

    static func apply(_ snapshot: JSONObject, to store: Store) async throws -> Summary {
        var summary = Summary()
        let collections = snapshot["collections"]?.arrayValue?.compactMap(\.objectValue) ?? []
        let fields = snapshot["fields"]?.arrayValue?.compactMap(\.objectValue) ?? []
        let relations = snapshot["relations"]?.arrayValue?.compactMap(\.objectValue) ?? []
        for c in collections {
            guard let name = c["collection"]?.stringValue, store.schema.collection(name) == nil else { continue }
            var draft = c
            draft["fields"] = .array(fields.filter { $0["collection"]?.stringValue == name }.map(JSONValue.object))
            let payload = draft
            _ = try await store.changeSchema { editor in try await editor.createCollection(payload) }
            summary.collections += 1
            summary.fields += fields.filter { $0["collection"]?.stringValue == name }.count
        }
        for f in fields {
            guard let collection = f["collection"]?.stringValue, let name = f["field"]?.stringValue,
                let existing = store.schema.collection(collection), !existing.isSystem, existing.field(name) == nil
            else { continue }
            _ = try await store.changeSchema { editor in try await editor.createField(collection, f) }
            summary.fields += 1
        }
        for r in relations {
            guard let many = r["collection"]?.stringValue, let field = r["field"]?.stringValue,
                r["related_collection"]?.stringValue != nil, store.schema.manyToOne(many, field) == nil
            else { continue }
            try await store.changeSchema { editor in try await editor.createRelation(r) }
            summary.relations += 1
        }
        try await applyAccess(snapshot, store, &summary)
        return summary
    }

    /// `public: true`: the policy applies to unauthenticated callers, through an access row with
    /// no role and no user (how Directus 11 finds the public's policies). Whether a row was added.
    private static func attachToPublic(_ policyID: String, _ store: Store) async throws -> Bool {
        var query = ItemQuery()
        query.limit = 1
        query.fields = ["id"]
        query.filter = .and([
            .condition(path: ["policy"], op: ._eq, value: .string(policyID)),
            .condition(path: ["role"], op: ._null, value: true),
            .condition(path: ["user"], op: ._null, value: true),
        ])
        guard try await store.readItems(SystemCollections.access, query: query, context: .system).data.isEmpty else {
            return false
        }
        _ = try await store.createItems(SystemCollections.access, [["policy": .string(policyID)]], context: .system)
        return true
    }

    private static func applyAccess(_ snapshot: JSONObject, _ store: Store, _ summary: inout Summary) async throws {
        var policyIDs: [String: String] = [
            Bootstrapper.publicPolicyName: Bootstrapper.publicPolicyID, "Public": Bootstrapper.publicPolicyID,
        ]
        let existing = try await store.readItems(
            SystemCollections.policies,
            query: {
                var q = ItemQuery(); q.limit = -1; q.fields = ["id", "name"]; return q
            }(),
            context: .system)
        for p in existing.data { if let n = p["name"]?.stringValue, let id = p["id"]?.stringValue { policyIDs[n] = id } }
        for policy in snapshot["policies"]?.arrayValue?.compactMap(\.objectValue) ?? [] {
            guard let name = policy["name"]?.stringValue else { continue }
            if policyIDs[name] == nil {
                var payload = JSONObject()
                for key in ["name", "icon", "description", "admin_access", "app_access", "ip_access", "enforce_tfa"] {
                    if let v = policy[key] { payload[key] = v }
                }
                let keys = try await store.createItems(SystemCollections.policies, [payload], context: .system)
                policyIDs[name] = keys.first?.stringValue
                summary.policies += 1
            }
            if policy["public"]?.boolValue == true, let id = policyIDs[name], try await attachToPublic(id, store) {
                summary.policies += 1
            }
        }
        for permission in snapshot["permissions"]?.arrayValue?.compactMap(\.objectValue) ?? [] {
            guard let policyName = permission["policy"]?.stringValue, let collection = permission["collection"]?.stringValue,
                let action = permission["action"]?.stringValue
            else { throw SwitchboardError.invalidPayload("Each permission needs \"policy\", \"collection\" and \"action\".") }
            guard let policyID = policyIDs[policyName] else {
                throw SwitchboardError.invalidPayload("Permission refers to unknown policy \"\(policyName)\".")
            }
            var payload: JSONObject = ["policy": .string(policyID), "collection": .string(collection), "action": .string(action)]
            for key in ["fields", "permissions", "validation", "presets"] { payload[key] = permission[key] ?? .null }
            var query = ItemQuery()
            query.limit = -1
            query.filter = .and([
                .condition(path: ["policy"], op: ._eq, value: .string(policyID)),
                .condition(path: ["collection"], op: ._eq, value: .string(collection)),
                .condition(path: ["action"], op: ._eq, value: .string(action)),
            ])
            let current = try await store.readItems(SystemCollections.permissions, query: query, context: .system).data
            if let row = current.first, let id = row["id"] {
                var unchanged = true
                for (k, v) in payload where row[k] != v { unchanged = false }
                if unchanged { continue }
                _ = try await store.updateItems(SystemCollections.permissions, keys: [id], data: payload, context: .system)
            } else {
                _ = try await store.createItems(SystemCollections.permissions, [payload], context: .system)
            }
            summary.permissions += 1
        }
    }
}
