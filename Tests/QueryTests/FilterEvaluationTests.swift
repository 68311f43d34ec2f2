import Query
import SwitchboardCore
import Testing

@Suite struct FilterEvaluationTests {
    /// (filter, row, expected)
    @Test(arguments: [
        // _eq / _neq with loose numeric, boolean and null semantics
        (#"{"n":{"_eq":5}}"#, #"{"n":5}"#, true),
        (#"{"n":{"_eq":5}}"#, #"{"n":5.0}"#, true),
        (#"{"n":{"_eq":"5"}}"#, #"{"n":5}"#, true),
        (#"{"n":{"_eq":5}}"#, #"{"n":"5"}"#, true),
        (#"{"n":{"_eq":5}}"#, #"{"n":6}"#, false),
        (#"{"s":{"_eq":"a"}}"#, #"{"s":"A"}"#, false),
        (#"{"b":{"_eq":true}}"#, #"{"b":true}"#, true),
        (#"{"b":{"_eq":"true"}}"#, #"{"b":true}"#, true),
        (#"{"b":{"_eq":1}}"#, #"{"b":true}"#, true),
        (#"{"b":{"_eq":"false"}}"#, #"{"b":true}"#, false),
        (#"{"n":{"_eq":null}}"#, #"{"n":null}"#, true),
        (#"{"n":{"_eq":null}}"#, #"{}"#, true),
        (#"{"n":{"_eq":null}}"#, #"{"n":0}"#, false),
        (#"{"n":{"_eq":0}}"#, #"{"n":null}"#, false),
        (#"{"n":{"_neq":5}}"#, #"{"n":6}"#, true),
        (#"{"n":{"_neq":5}}"#, #"{"n":"5"}"#, false),
        (#"{"n":{"_neq":5}}"#, #"{"n":null}"#, false),
        (#"{"n":{"_neq":null}}"#, #"{"n":null}"#, false),
        (#"{"n":{"_neq":null}}"#, #"{"n":1}"#, true),
        // ordering
        (#"{"n":{"_lt":10}}"#, #"{"n":9}"#, true),
        (#"{"n":{"_lt":10}}"#, #"{"n":10}"#, false),
        (#"{"n":{"_lte":10}}"#, #"{"n":10}"#, true),
        (#"{"n":{"_gt":"9"}}"#, #"{"n":10}"#, true),
        (#"{"n":{"_gte":2.5}}"#, #"{"n":2}"#, false),
        (#"{"n":{"_gt":1}}"#, #"{"n":null}"#, false),
        (#"{"n":{"_lt":1}}"#, #"{"n":"abc"}"#, false),
        (#"{"s":{"_gt":"apple"}}"#, #"{"s":"banana"}"#, true),
        (#"{"s":{"_lt":"B"}}"#, #"{"s":"a"}"#, false),
        // membership
        (#"{"n":{"_in":[1,2,3]}}"#, #"{"n":2}"#, true),
        (#"{"n":{"_in":"1,2,3"}}"#, #"{"n":2}"#, true),
        (#"{"n":{"_in":[1,2,3]}}"#, #"{"n":4}"#, false),
        (#"{"n":{"_in":[1,2]}}"#, #"{"n":null}"#, false),
        (#"{"n":{"_nin":[1,2]}}"#, #"{"n":3}"#, true),
        (#"{"n":{"_nin":[1,2]}}"#, #"{"n":1}"#, false),
        (#"{"n":{"_nin":[1,2]}}"#, #"{"n":null}"#, false),
        // null and empty families
        (#"{"n":{"_null":true}}"#, #"{}"#, true),
        (#"{"n":{"_null":true}}"#, #"{"n":0}"#, false),
        (#"{"n":{"_null":false}}"#, #"{"n":0}"#, true),
        (#"{"n":{"_nnull":true}}"#, #"{"n":0}"#, true),
        (#"{"n":{"_nnull":true}}"#, #"{"n":null}"#, false),
        (#"{"n":{"_nnull":false}}"#, #"{"n":null}"#, true),
        (#"{"s":{"_empty":true}}"#, #"{"s":""}"#, true),
        (#"{"s":{"_empty":true}}"#, #"{"s":null}"#, true),
        (#"{"s":{"_empty":true}}"#, #"{"s":[]}"#, true),
        (#"{"s":{"_empty":true}}"#, #"{"s":"x"}"#, false),
        (#"{"s":{"_empty":false}}"#, #"{"s":"x"}"#, true),
        (#"{"s":{"_nempty":true}}"#, #"{"s":"x"}"#, true),
        (#"{"s":{"_nempty":true}}"#, #"{"s":""}"#, false),
        (#"{"s":{"_nempty":true}}"#, #"{}"#, false),
        // text
        (#"{"s":{"_contains":"ell"}}"#, #"{"s":"Hello"}"#, true),
        (#"{"s":{"_contains":"ELL"}}"#, #"{"s":"Hello"}"#, false),
        (#"{"s":{"_icontains":"ELL"}}"#, #"{"s":"Hello"}"#, true),
        (#"{"s":{"_ncontains":"xyz"}}"#, #"{"s":"Hello"}"#, true),
        (#"{"s":{"_ncontains":"ell"}}"#, #"{"s":"Hello"}"#, false),
        (#"{"s":{"_ncontains":"x"}}"#, #"{"s":null}"#, false),
        (#"{"s":{"_nicontains":"HELLO"}}"#, #"{"s":"hello"}"#, false),
        (#"{"tags":{"_contains":"b"}}"#, #"{"tags":["a","b"]}"#, true),
        (#"{"tags":{"_contains":"c"}}"#, #"{"tags":["a","b"]}"#, false),
        (#"{"tags":{"_icontains":"B"}}"#, #"{"tags":["a","b"]}"#, true),
        (#"{"tags":{"_ncontains":"c"}}"#, #"{"tags":["a","b"]}"#, true),
        (#"{"s":{"_starts_with":"He"}}"#, #"{"s":"Hello"}"#, true),
        (#"{"s":{"_starts_with":"he"}}"#, #"{"s":"Hello"}"#, false),
        (#"{"s":{"_istarts_with":"he"}}"#, #"{"s":"Hello"}"#, true),
        (#"{"s":{"_nstarts_with":"He"}}"#, #"{"s":"Hello"}"#, false),
        (#"{"s":{"_nistarts_with":"x"}}"#, #"{"s":"Hello"}"#, true),
        (#"{"s":{"_ends_with":"lo"}}"#, #"{"s":"Hello"}"#, true),
        (#"{"s":{"_iends_with":"LO"}}"#, #"{"s":"Hello"}"#, true),
        (#"{"s":{"_nends_with":"lo"}}"#, #"{"s":"Hello"}"#, false),
        (#"{"s":{"_niends_with":"LO"}}"#, #"{"s":"Hello"}"#, false),
        (#"{"s":{"_starts_with":"x"}}"#, #"{}"#, false),
        (#"{"n":{"_contains":"2"}}"#, #"{"n":123}"#, true),
        // between
        (#"{"n":{"_between":[1,5]}}"#, #"{"n":1}"#, true),
        (#"{"n":{"_between":[1,5]}}"#, #"{"n":5}"#, true),
        (#"{"n":{"_between":"1,5"}}"#, #"{"n":3}"#, true),
        (#"{"n":{"_between":[1,5]}}"#, #"{"n":6}"#, false),
        (#"{"n":{"_nbetween":[1,5]}}"#, #"{"n":6}"#, true),
        (#"{"n":{"_nbetween":[1,5]}}"#, #"{"n":3}"#, false),
        (#"{"n":{"_nbetween":[1,5]}}"#, #"{"n":null}"#, false),
    ])
    func operatorSemantics(filterJSON: String, rowJSON: String, expected: Bool) throws {
        #expect(try matches(filterJSON, rowJSON) == expected)
    }

    /// Directus compiles negated operators to plain SQL `NOT …` / `<>` / `NOT IN`, which a NULL
    /// field never satisfies; `_neq: null` is `IS NOT NULL`.
    @Test(arguments: [
        (#"{"n":{"_neq":5}}"#, #"{"n":null}"#),
        (#"{"n":{"_neq":"x"}}"#, #"{}"#),
        (#"{"n":{"_nin":[1,2]}}"#, #"{"n":null}"#),
        (#"{"s":{"_ncontains":"x"}}"#, #"{"s":null}"#),
        (#"{"s":{"_nicontains":"x"}}"#, #"{"s":null}"#),
        (#"{"s":{"_nstarts_with":"x"}}"#, #"{"s":null}"#),
        (#"{"s":{"_nistarts_with":"x"}}"#, #"{"s":null}"#),
        (#"{"s":{"_nends_with":"x"}}"#, #"{"s":null}"#),
        (#"{"s":{"_niends_with":"x"}}"#, #"{"s":null}"#),
        (#"{"n":{"_nbetween":[1,5]}}"#, #"{"n":null}"#),
        (#"{"n":{"_neq":null}}"#, #"{"n":null}"#),
    ])
    func negatedOperatorsNeverMatchNull(filterJSON: String, rowJSON: String) throws {
        #expect(try !matches(filterJSON, rowJSON))
    }

    /// Payload validation is Joi's in Directus: `_neq` / `_nin` refuse only the listed values.
    @Test func validationLetsNullPassNegatedEqualityAndMembership() throws {
        #expect(try filter(#"{"s":{"_neq":"archived"}}"#).validates(object(#"{"s":null}"#)))
        #expect(try filter(#"{"s":{"_neq":"archived"}}"#).validates(object("{}")))
        #expect(try !filter(#"{"s":{"_neq":"archived"}}"#).validates(object(#"{"s":"archived"}"#)))
        #expect(try filter(#"{"n":{"_nin":[1,2]}}"#).validates(object(#"{"n":null}"#)))
        #expect(try !filter(#"{"n":{"_nin":[1,null]}}"#).validates(object(#"{"n":null}"#)))
        #expect(try !filter(#"{"s":{"_neq":null}}"#).validates(object(#"{"s":null}"#)))
        // Everything else validates as it matches.
        #expect(try !filter(#"{"s":{"_ncontains":"x"}}"#).validates(object(#"{"s":null}"#)))
    }

    @Test func emptyNotInListMatchesEveryRowNullIncluded() throws {
        #expect(try matches(#"{"n":{"_nin":[]}}"#, #"{"n":null}"#))
        #expect(try matches(#"{"n":{"_nin":[]}}"#, #"{"n":1}"#))
        #expect(try !matches(#"{"n":{"_in":[]}}"#, #"{"n":1}"#))
    }

    /// `x NOT IN (1, NULL)` is never true in SQL, and Directus sends the list as it is.
    @Test func notInListWithNullMatchesNoRow() throws {
        #expect(try !matches(#"{"n":{"_nin":[1,null]}}"#, #"{"n":3}"#))
        #expect(try !matches(#"{"n":{"_nin":[1,null]}}"#, #"{"n":null}"#))
        #expect(try !matches(#"{"n":{"_nin":[null]}}"#, #"{"n":3}"#))
    }

    /// `x IN (1, NULL)` ignores the NULL: it never selects a NULL field.
    @Test func inListNullSelectsNoNullRow() throws {
        #expect(try !matches(#"{"n":{"_in":[null]}}"#, #"{"n":null}"#))
        #expect(try !matches(#"{"n":{"_in":[1,null]}}"#, #"{}"#))
        #expect(try matches(#"{"n":{"_in":[1,null]}}"#, #"{"n":1}"#))
    }

    /// The `i` operators fold ASCII letters only, as SQL `lower()` does in SQLite.
    @Test func caseInsensitiveOperatorsFoldASCIIOnly() throws {
        #expect(try matches(#"{"s":{"_icontains":"hello"}}"#, #"{"s":"HELLO"}"#))
        #expect(try !matches(#"{"s":{"_icontains":"é"}}"#, #"{"s":"HÉLLO"}"#))
        #expect(try matches(#"{"s":{"_nistarts_with":"hé"}}"#, #"{"s":"HÉLLO"}"#))
        #expect(try matches(#"{"s":{"_iends_with":"LO"}}"#, #"{"s":"héllo"}"#))
    }

    /// A date-only field meets a timestamp operand by calendar day (UTC), as a DATE column does.
    @Test func dateOnlyFieldComparesByDay() throws {
        #expect(try matches(#"{"d":{"_eq":"2024-01-01T10:00:00Z"}}"#, #"{"d":"2024-01-01"}"#))
        #expect(try !matches(#"{"d":{"_lt":"2024-01-01T10:00:00Z"}}"#, #"{"d":"2024-01-01"}"#))
        #expect(try matches(#"{"d":{"_lt":"2024-01-02T00:00:00Z"}}"#, #"{"d":"2024-01-01"}"#))
        #expect(try matches(#"{"d":{"_gte":"2024-01-01T23:59:59.999Z"}}"#, #"{"d":"2024-01-01"}"#))
    }

    @Test(arguments: [
        (#"{"d":{"_gt":"2026-11-24"}}"#, #"{"d":"2026-11-24T00:00:01Z"}"#, true),
        (#"{"d":{"_eq":"2026-11-24T00:00:00Z"}}"#, #"{"d":"2026-11-24"}"#, true),
        (#"{"d":{"_eq":"2026-11-24T23:05:41"}}"#, #"{"d":"2026-11-24 23:05:41"}"#, true),
        (#"{"d":{"_eq":"2026-11-24T23:05:41.000Z"}}"#, #"{"d":"2026-11-24T23:05:41Z"}"#, true),
        (#"{"d":{"_eq":"2026-11-25T01:05:41+02:00"}}"#, #"{"d":"2026-11-24T23:05:41Z"}"#, true),
        (#"{"d":{"_lt":"2026-11-24T22:00:00-02:00"}}"#, #"{"d":"2026-11-24T23:59:59Z"}"#, true),
        (#"{"d":{"_gt":"2026-11-24T23:05:41.123Z"}}"#, #"{"d":"2026-11-24T23:05:41.124Z"}"#, true),
        (#"{"d":{"_between":["2026-01-01","2026-12-31"]}}"#, #"{"d":"2026-06-15 12:00:00"}"#, true),
        (#"{"d":{"_lt":"2027-01-01"}}"#, #"{"d":"2026-12-31T23:59:59.999+00:00"}"#, true),
    ])
    func datesCompareAsInstants(filterJSON: String, rowJSON: String, expected: Bool) throws {
        #expect(try matches(filterJSON, rowJSON) == expected)
    }

    @Test func largeIntegersCompareExactly() throws {
        #expect(try !matches(#"{"id":{"_eq":9007199254740993}}"#, #"{"id":9007199254740992}"#))
        #expect(try matches(#"{"id":{"_gt":9007199254740992}}"#, #"{"id":9007199254740993}"#))
    }

    @Test func manyToOnePath() throws {
        let f = #"{"author":{"email":{"_eq":"a@x.io"}}}"#
        #expect(try matches(f, #"{"author":{"id":1,"email":"a@x.io"}}"#))
        #expect(try !matches(f, #"{"author":{"id":1,"email":"b@x.io"}}"#))
        #expect(try !matches(f, #"{"author":null}"#))
        #expect(try matches(#"{"author":{"email":{"_null":true}}}"#, #"{"author":null}"#))
    }

    @Test func oneToManyPathHoldsForSomeElement() throws {
        let f = #"{"comments":{"rating":{"_gte":4}}}"#
        #expect(try matches(f, #"{"comments":[{"rating":1},{"rating":5}]}"#))
        #expect(try !matches(f, #"{"comments":[{"rating":1},{"rating":2}]}"#))
        #expect(try !matches(f, #"{"comments":[]}"#))
    }

    @Test func nestedOneToManyThroughManyToOne() throws {
        let f = #"{"post":{"comments":{"user":{"name":{"_eq":"ann"}}}}}"#
        #expect(try matches(f, #"{"post":{"comments":[{"user":{"name":"bob"}},{"user":{"name":"ann"}}]}}"#))
        #expect(try !matches(f, #"{"post":{"comments":[{"user":null}]}}"#))
    }

    @Test func someAndNoneOnOneToMany() throws {
        let some = #"{"comments":{"_some":{"approved":{"_eq":true},"rating":{"_gt":3}}}}"#
        let none = #"{"comments":{"_none":{"approved":{"_eq":false}}}}"#
        // `_some` needs one element to satisfy the whole nested filter.
        #expect(try !matches(some, #"{"comments":[{"approved":true,"rating":1},{"approved":false,"rating":5}]}"#))
        #expect(try matches(some, #"{"comments":[{"approved":true,"rating":4}]}"#))
        #expect(try !matches(some, #"{"comments":[]}"#))
        #expect(try matches(none, #"{"comments":[{"approved":true}]}"#))
        #expect(try !matches(none, #"{"comments":[{"approved":true},{"approved":false}]}"#))
        #expect(try matches(none, #"{"comments":null}"#))
        #expect(try matches(none, #"{}"#))
    }

    @Test func logicalCombinations() throws {
        let f = #"{"_or":[{"status":{"_eq":"live"}},{"_and":[{"owner":{"_eq":1}},{"status":{"_eq":"draft"}}]}]}"#
        #expect(try matches(f, #"{"status":"live","owner":2}"#))
        #expect(try matches(f, #"{"status":"draft","owner":1}"#))
        #expect(try !matches(f, #"{"status":"draft","owner":2}"#))
        #expect(!Filter.or([]).matches(object("{}")))
    }
}
