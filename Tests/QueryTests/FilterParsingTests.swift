import Query
import SwitchboardCore
import Testing

@Suite struct FilterParsingTests {
    @Test func simpleCondition() throws {
        #expect(
            try filter(#"{"status":{"_eq":"published"}}"#) == .condition(path: ["status"], op: ._eq, value: "published")
        )
    }

    @Test func nestedRelationalPath() throws {
        #expect(
            try filter(#"{"author":{"email":{"_eq":"x@y.z"}}}"#)
                == .condition(path: ["author", "email"], op: ._eq, value: "x@y.z"))
    }

    @Test func severalKeysAreAnded() throws {
        #expect(
            try filter(#"{"a":{"_eq":1},"b":{"_gt":2,"_lt":5}}"#)
                == .and([
                    .condition(path: ["a"], op: ._eq, value: 1),
                    .and([.condition(path: ["b"], op: ._gt, value: 2), .condition(path: ["b"], op: ._lt, value: 5)]),
                ]))
    }

    @Test func logicalGroups() throws {
        #expect(
            try filter(#"{"_or":[{"a":{"_eq":1}},{"_and":[{"b":{"_null":true}}]}]}"#)
                == .or([
                    .condition(path: ["a"], op: ._eq, value: 1),
                    .and([.condition(path: ["b"], op: ._null, value: true)]),
                ]))
    }

    @Test func emptyObjectMatchesAll() throws {
        let f = try filter("{}")
        #expect(f == .and([]))
        #expect(f.matches(object(#"{"a":1}"#)))
    }

    @Test func emptyOrMatchesAllLikeDirectus() throws {
        #expect(try filter(#"{"_or":[]}"#) == .and([]))
    }

    @Test func someAndNone() throws {
        #expect(
            try filter(#"{"comments":{"_some":{"approved":{"_eq":true}}}}"#)
                == .some(path: ["comments"], .condition(path: ["approved"], op: ._eq, value: true)))
        #expect(
            try filter(#"{"post":{"tags":{"_none":{"name":{"_eq":"x"}}}}}"#)
                == .none(path: ["post", "tags"], .condition(path: ["name"], op: ._eq, value: "x")))
    }

    @Test func logicalGroupInsideField() throws {
        #expect(
            try filter(#"{"author":{"_or":[{"name":{"_eq":"a"}},{"name":{"_eq":"b"}}]}}"#)
                == .or([
                    .condition(path: ["author", "name"], op: ._eq, value: "a"),
                    .condition(path: ["author", "name"], op: ._eq, value: "b"),
                ]))
    }

    @Test func inAcceptsCommaSeparatedString() throws {
        #expect(try filter(#"{"id":{"_in":"1, 2,3"}}"#) == .condition(path: ["id"], op: ._in, value: ["1", "2", "3"]))
        #expect(try filter(#"{"id":{"_nin":[1,2]}}"#) == .condition(path: ["id"], op: ._nin, value: [1, 2]))
    }

    @Test func betweenAcceptsStringPair() throws {
        #expect(try filter(#"{"n":{"_between":"1,5"}}"#) == .condition(path: ["n"], op: ._between, value: ["1", "5"]))
    }

    @Test func nullFamilyNormalizesBooleans() throws {
        #expect(try filter(#"{"a":{"_null":"true"}}"#) == .condition(path: ["a"], op: ._null, value: true))
        #expect(try filter(#"{"a":{"_nnull":"false"}}"#) == .condition(path: ["a"], op: ._nnull, value: false))
        #expect(try filter(#"{"a":{"_empty":true}}"#) == .condition(path: ["a"], op: ._empty, value: true))
    }

    @Test(arguments: [
        (#"[1]"#, "expected an object"),
        (#"{"a":{"_foo":1}}"#, "unknown operator \"_foo\""),
        (#"{"a":{"_in":5}}"#, "\"_in\" on \"a\" expects an array"),
        (#"{"a":{"_between":[1]}}"#, "expects exactly 2 values"),
        (#"{"a":{"_between":"1,2,3"}}"#, "expects exactly 2 values"),
        (#"{"a":{"_null":"maybe"}}"#, "expects a boolean"),
        (#"{"a":1}"#, "field \"a\": expected an object of operators"),
        (#"{"a":{"b":"x"}}"#, "field \"a.b\""),
        (#"{"_and":{"a":{"_eq":1}}}"#, "\"_and\" expects an array"),
        (#"{"_or":[1]}"#, "items must be objects"),
        (#"{"_eq":1}"#, "needs a field"),
        (#"{"_some":{}}"#, "needs a relational field"),
        (#"{"a":{"_gt":[1,2]}}"#, "expects a single value"),
        (#"{"a b":{"_eq":1}}"#, "invalid field"),
    ])
    func rejectsBadShapes(input: String, message: String) {
        let error = parseError { () throws(SwitchboardError) in try Filter.parse(json(input)) }
        #expect(error?.code == .invalidQuery)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
    }

    @Test func referencedPaths() throws {
        let f = try filter(
            #"{"a":{"_eq":1},"author":{"name":{"_eq":"x"}},"comments":{"_some":{"user":{"id":{"_eq":1}}}}}"#)
        #expect(f.referencedPaths == [["a"], ["author", "name"], ["comments"], ["comments", "user", "id"]])
    }

    @Test func conjunctionFlattensAndSkipsNil() throws {
        let a = Filter.condition(path: ["a"], op: ._eq, value: 1)
        let b = Filter.condition(path: ["b"], op: ._eq, value: 2)
        let c = Filter.condition(path: ["c"], op: ._eq, value: 3)
        #expect(Filter.conjunction([nil, nil]) == nil)
        #expect(Filter.conjunction([a, nil]) == a)
        #expect(Filter.conjunction([.and([a, b]), nil, c]) == .and([a, b, c]))
        #expect(Filter.disjunction([.or([a, b]), c]) == .or([a, b, c]))
        #expect(Filter.disjunction([.and([a, b]), c]) == .or([.and([a, b]), c]))
        #expect(Filter.disjunction([]) == nil)
    }

    @Test func topLevelEqualitiesFollowAndChainsOnly() throws {
        let f = try filter(
            #"{"_and":[{"status":{"_eq":"live"}},{"org":{"_eq":7}},{"_or":[{"x":{"_eq":1}},{"y":{"_eq":2}}]}],"author":{"id":{"_eq":3}},"n":{"_gt":1}}"#
        )
        let pairs = f.topLevelEqualities
        #expect(pairs.map(\.field) == ["status", "org"])
        #expect(pairs.map(\.value) == ["live", 7])
    }

    @Test func containsNowVariable() throws {
        #expect(try filter(#"{"d":{"_gt":"$NOW(-1 day)"}}"#).containsNowVariable)
        #expect(try filter(#"{"c":{"_some":{"d":{"_between":["$NOW","2030-01-01"]}}}}"#).containsNowVariable)
        #expect(try !filter(#"{"u":{"_eq":"$CURRENT_USER"}}"#).containsNowVariable)
    }

    @Test func everyOperatorParses() throws {
        for op in FilterOperator.readOperators {
            let value: String
            switch op {
            case ._in, ._nin: value = "[1]"
            case ._between, ._nbetween: value = "[1,2]"
            case ._null, ._nnull, ._empty, ._nempty: value = "true"
            default: value = "1"
            }
            let parsed = try filter(#"{"f":{"\#(op.rawValue)":\#(value)}}"#)
            guard case .condition(_, let parsedOp, _) = parsed else {
                Issue.record("\(op) did not parse to a condition")
                continue
            }
            #expect(parsedOp == op)
        }
    }
}
