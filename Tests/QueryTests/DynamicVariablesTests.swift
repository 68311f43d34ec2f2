import Query
import SwitchboardCore
import Testing

@Suite struct DynamicVariablesTests {
    /// 2026-11-24T23:05:41.123Z
    let now = 1_795_561_541.123

    @Test func nowFormatsAsISOWithMilliseconds() {
        let vars = DynamicVariables(now: now)
        #expect(vars.resolve("$NOW") == "2026-11-24T23:05:41.123Z")
        #expect(DynamicVariables(now: 0).resolve("$NOW") == "1970-01-01T00:00:00.000Z")
        #expect(DynamicVariables(now: -1.5).resolve("$NOW") == "1969-12-31T23:59:58.500Z")
    }

    @Test(arguments: [
        ("$NOW(-7 days)", "2026-11-17T23:05:41.123Z"),
        ("$NOW(+1 hour)", "2026-11-25T00:05:41.123Z"),
        ("$NOW(-5 minutes)", "2026-11-24T23:00:41.123Z"),
        ("$NOW(30 seconds)", "2026-11-24T23:06:11.123Z"),
        ("$NOW(-1 second)", "2026-11-24T23:05:40.123Z"),
        ("$NOW(+2 weeks)", "2026-12-08T23:05:41.123Z"),
        ("$NOW(-1 month)", "2026-10-24T23:05:41.123Z"),
        ("$NOW(+2 months)", "2027-01-24T23:05:41.123Z"),
        ("$NOW(-1 year)", "2025-11-24T23:05:41.123Z"),
        ("$NOW(-3d)", "2026-11-21T23:05:41.123Z"),
        ("$NOW( +1 day )", "2026-11-25T23:05:41.123Z"),
    ])
    func nowAdjustments(variable: String, expected: String) {
        #expect(DynamicVariables(now: now).resolve(.string(variable)) == .string(expected))
    }

    @Test func monthAdjustmentRollsOverLikeJavaScript() {
        // 2026-01-31T12:00:00Z + 1 month → 2026-03-03 (February has 28 days).
        #expect(DynamicVariables(now: 1_769_860_800).resolve("$NOW(+1 month)") == "2026-03-03T12:00:00.000Z")
    }

    @Test func malformedVariablesStayAsText() {
        let vars = DynamicVariables(now: now)
        #expect(vars.resolve("$NOW(soon)") == "$NOW(soon)")
        #expect(vars.resolve("$NOW(-1 fortnight)") == "$NOW(-1 fortnight)")
        #expect(vars.resolve("$OTHER") == "$OTHER")
    }

    @Test func userAndRoleVariables() {
        let vars = DynamicVariables(userID: "u1", roleID: "r1", roles: ["r1", "r2"], policies: ["p1"], now: now)
        #expect(vars.resolve("$CURRENT_USER") == "u1")
        #expect(vars.resolve("$CURRENT_ROLE") == "r1")
        #expect(vars.resolve("$CURRENT_ROLES") == ["r1", "r2"])
        #expect(vars.resolve("$CURRENT_POLICIES") == ["p1"])
        // List variables splice into lists; objects (presets) resolve too.
        #expect(vars.resolve(["x", "$CURRENT_ROLES"]) == ["x", "r1", "r2"])
        #expect(vars.resolve(["owner": "$CURRENT_USER"]) == ["owner": "u1"])
    }

    @Test func unauthenticatedUserIsNull() throws {
        let f = try filter(#"{"owner":{"_eq":"$CURRENT_USER"}}"#).resolvingVariables(DynamicVariables(now: now))
        #expect(f == .condition(path: ["owner"], op: ._eq, value: .null))
        #expect(f.matches(object(#"{"owner":null}"#)))
        #expect(!f.matches(object(#"{"owner":"u1"}"#)))
    }

    @Test func currentUserMatchesOwner() throws {
        let vars = DynamicVariables(userID: "u1")
        #expect(try matches(#"{"owner":{"_eq":"$CURRENT_USER"}}"#, #"{"owner":"u1"}"#, vars))
        #expect(try !matches(#"{"owner":{"_eq":"$CURRENT_USER"}}"#, #"{"owner":"u2"}"#, vars))
    }

    @Test func currentRolesInMembership() throws {
        let vars = DynamicVariables(roles: ["r1", "r2"])
        #expect(try matches(#"{"role":{"_in":"$CURRENT_ROLES"}}"#, #"{"role":"r2"}"#, vars))
        #expect(try matches(#"{"role":{"_in":["$CURRENT_ROLES"]}}"#, #"{"role":"r1"}"#, vars))
        #expect(try !matches(#"{"role":{"_in":["$CURRENT_ROLES"]}}"#, #"{"role":"r3"}"#, vars))
    }

    @Test func recentWindowAgainstRowTimestamps() throws {
        let vars = DynamicVariables(now: now)
        let f = #"{"date_created":{"_gte":"$NOW(-5 minutes)"}}"#
        #expect(try matches(f, #"{"date_created":"2026-11-24T23:02:00.000Z"}"#, vars))
        #expect(try matches(f, #"{"date_created":"2026-11-24 23:00:41.123"}"#, vars))
        #expect(try !matches(f, #"{"date_created":"2026-11-24T23:00:41.122Z"}"#, vars))
        // A date-only field compares by day, as a DATE column does in SQL: today is in the window.
        #expect(try matches(f, #"{"date_created":"2026-11-24"}"#, vars))
        #expect(try !matches(f, #"{"date_created":"2026-11-23"}"#, vars))
    }

    @Test func resolvesInsideNestedFilters() throws {
        let f = try filter(
            #"{"_or":[{"c":{"_some":{"u":{"_eq":"$CURRENT_USER"}}}},{"d":{"_between":["$NOW(-1 day)","$NOW"]}}]}"#)
        let resolved = f.resolvingVariables(DynamicVariables(userID: 7, now: now))
        #expect(
            resolved
                == .or([
                    .some(path: ["c"], .condition(path: ["u"], op: ._eq, value: 7)),
                    .condition(
                        path: ["d"], op: ._between, value: ["2026-11-23T23:05:41.123Z", "2026-11-24T23:05:41.123Z"]),
                ]))
        #expect(!resolved.containsNowVariable)
    }

    @Test func defaultNowIsCurrentTime() {
        let vars = DynamicVariables()
        // Any time after this code was written and before 2100.
        #expect(vars.now > 1_700_000_000 && vars.now < 4_102_444_800)
        #expect(vars.userID == .null && vars.roles.isEmpty)
    }
}
