import Query
import SwitchboardCore
import Testing

/// `$CURRENT_USER.<path>` and its kin, resolved as Directus resolves them (parse-filter.ts:
/// lodash `get` on the rows fetch-dynamic-variable-data.ts reads with the fields filters name).
@Suite struct VariableRowsTests {
    private func variables() -> DynamicVariables {
        var v = DynamicVariables(userID: "u1", roleID: "r1", roles: ["r1", "r0"], policies: ["p1", "p2"], now: 0)
        v.rows.user = json(
            #"{"id":"u1","email":"ada@example.com","team":7,"role":{"id":"r1","name":"Editors"},"teams":[{"id":3},{"id":4}]}"#)
        v.rows.role = json(#"{"id":"r1","name":"Editors"}"#)
        v.rows.roles = json(#"[{"id":"r1","name":"Editors"},{"id":"r0","name":"Staff"}]"#)
        v.rows.policies = json(#"[{"id":"p1","name":"Read"},{"id":"p2","name":"Write"}]"#)
        return v
    }

    @Test func pathsResolveLikeLodashGet() {
        let v = variables()
        #expect(v.resolve("$CURRENT_USER.email") == "ada@example.com")
        #expect(v.resolve("$CURRENT_USER.team") == 7)
        #expect(v.resolve("$CURRENT_USER.role.name") == "Editors")
        #expect(v.resolve("$CURRENT_USER.teams.1.id") == 4)
        #expect(v.resolve("$CURRENT_USER.teams.id") == .null)  // an array has no key `id`
        #expect(v.resolve("$CURRENT_USER.missing") == .null)
        #expect(v.resolve("$CURRENT_ROLE.name") == "Editors")
        #expect(v.resolve("$CURRENT_ROLES.1.name") == "Staff")
        #expect(v.resolve("$CURRENT_POLICIES.0.name") == "Read")
        // the bare variables are unchanged
        #expect(v.resolve("$CURRENT_USER") == "u1")
        #expect(v.resolve("$CURRENT_ROLES") == ["r1", "r0"])
        // not variables: left as they are
        #expect(v.resolve("$CURRENT_USERS.email") == "$CURRENT_USERS.email")
        #expect(v.resolve("$CURRENT_USER.") == "$CURRENT_USER.")
    }

    @Test func aFilterWithPathsResolvesAndMatches() throws {
        let f = try filter(#"{"_and":[{"team":{"_eq":"$CURRENT_USER.team"}},{"owner_email":{"_eq":"$CURRENT_USER.email"}}]}"#)
        let resolved = f.resolvingVariables(variables())
        #expect(resolved.matches(object(#"{"team":7,"owner_email":"ada@example.com"}"#)))
        #expect(!resolved.matches(object(#"{"team":8,"owner_email":"ada@example.com"}"#)))
    }

    @Test func filtersNameTheFieldsToRead() throws {
        let f = try filter(
            #"{"_or":[{"team":{"_eq":"$CURRENT_USER.team"}},{"t":{"_in":["$CURRENT_USER.teams.0.id","$CURRENT_ROLE.name"]}},"#
                + #"{"c":{"_some":{"p":{"_eq":"$CURRENT_POLICIES.0.name"}}}},{"u":{"_eq":"$CURRENT_USER"}}]}"#)
        let paths = f.variablePaths
        #expect(paths.fields(.user) == ["team", "teams.id"])
        #expect(paths.fields(.role) == ["name"])
        #expect(paths.fields(.policies) == ["name"])
        #expect(paths.fields(.roles).isEmpty)
        var loaded = VariablePaths()
        loaded.insert(.user, "team")
        let missing = paths.subtracting(loaded)
        #expect(missing.fields(.user) == ["teams.id"] && missing.fields(.role) == ["name"])
        #expect(try filter(#"{"u":{"_eq":"$CURRENT_USER"}}"#).variablePaths.isEmpty)
    }

    @Test func presetsNameFieldsToo() {
        var paths = VariablePaths()
        paths.collect(json(#"{"team":"$CURRENT_USER.team","tags":["$CURRENT_ROLE.name"],"n":5}"#))
        #expect(paths.fields(.user) == ["team"] && paths.fields(.role) == ["name"])
    }
}
