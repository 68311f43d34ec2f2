import Query
import SwitchboardCore
import Testing

/// Validation rules (a permission's or a field's `validation`) as Directus checks payloads with
/// Joi (packages/utils/shared/generate-joi.ts, validate-payload.ts): a field the payload leaves
/// out passes every condition but `_submitted`, and `_regex` / `_submitted` exist only here.
@Suite struct ValidationRuleTests {
    private func rule(_ text: String) throws -> Filter {
        try Filter.parse(try JSONValue(parsing: text), validation: true)
    }

    @Test func aFieldLeftOutPassesEveryConditionButSubmitted() throws {
        #expect(try rule(#"{"status":{"_eq":"draft"}}"#).validates(object("{}")))
        #expect(try rule(#"{"text":{"_nnull":true}}"#).validates(object(#"{"other":1}"#)))
        #expect(try !rule(#"{"text":{"_nnull":true}}"#).validates(object(#"{"text":null}"#)))
        #expect(try !rule(#"{"status":{"_eq":"draft"}}"#).validates(object(#"{"status":"live"}"#)))
        #expect(try !rule(#"{"text":{"_submitted":true}}"#).validates(object("{}")))
        #expect(try rule(#"{"text":{"_submitted":true}}"#).validates(object(#"{"text":null}"#)))
        // Directus requires the field whatever `_submitted` says.
        #expect(try !rule(#"{"text":{"_submitted":false}}"#).validates(object("{}")))
    }

    @Test func regexIsFoundUnanchoredAndSlashesAreDropped() throws {
        let email = try rule(#"{"email":{"_regex":"^[^@\\s]+@[^@\\s]+$"}}"#)
        #expect(email.validates(object(#"{"email":"ada@example.com"}"#)))
        #expect(!email.validates(object(#"{"email":"ada at example.com"}"#)))
        #expect(email.validates(object("{}")))
        // Joi's string(): null and numbers are not strings.
        #expect(!email.validates(object(#"{"email":null}"#)))
        #expect(try !rule(#"{"code":{"_regex":"^[0-9]+$"}}"#).validates(object(#"{"code":42}"#)))
        #expect(try rule(#"{"title":{"_regex":"field"}}"#).validates(object(#"{"title":"a field here"}"#)))
        #expect(try rule(#"{"title":{"_regex":"/.*field$/"}}"#).validates(object(#"{"title":"my field"}"#)))
        #expect(try !rule(#"{"title":{"_regex":"/.*field$/"}}"#).validates(object(#"{"title":"field of mine"}"#)))
        // A null pattern accepts only `true` (Directus: any().equal(true)).
        #expect(try rule(#"{"flag":{"_regex":null}}"#).validates(object(#"{"flag":true}"#)))
        #expect(try !rule(#"{"flag":{"_regex":null}}"#).validates(object(#"{"flag":"x"}"#)))
    }

    @Test func validationOperatorsAreRefusedInReadFilters() {
        for text in [#"{"t":{"_regex":"a"}}"#, #"{"t":{"_submitted":true}}"#, #"{"_or":[{"t":{"_regex":"a"}}]}"#] {
            let error = #expect(throws: SwitchboardError.self) { try filter(text) }
            #expect(error?.code == .invalidQuery)
            #expect(error?.message.contains("validation operator") == true, "\(text): \(error?.message ?? "")")
        }
    }

    @Test func badRegexValuesAreInvalidQueries() {
        for text in [#"{"t":{"_regex":"(unclosed"}}"#, #"{"t":{"_regex":5}}"#, #"{"t":{"_regex":["a"]}}"#] {
            let error = #expect(throws: SwitchboardError.self) { try rule(text) }
            #expect(error?.code == .invalidQuery, "\(text)")
        }
    }

    @Test func theFirstFailingConditionIsReported() throws {
        let r = try rule(#"{"_and":[{"a":{"_gte":1}},{"b":{"_in":["x","y"]}},{"c":{"_submitted":true}}]}"#)
        #expect(r.validationFailure(object(#"{"a":2,"b":"x","c":1}"#)) == nil)
        let failure = try #require(r.validationFailure(object(#"{"a":2,"b":"z","c":1}"#)))
        #expect(failure.path == ["b"] && failure.op == ._in && failure.value == ["x", "y"])
        let missing = try #require(r.validationFailure(object(#"{"a":2}"#)))
        #expect(missing.path == ["c"] && missing.op == ._submitted)
    }

    @Test func orPassesWhenOneBranchDoes() throws {
        let r = try rule(#"{"_or":[{"kind":{"_eq":"a"}},{"score":{"_gt":10}}]}"#)
        #expect(r.validates(object(#"{"kind":"b","score":11}"#)))
        #expect(!r.validates(object(#"{"kind":"b","score":1}"#)))
        #expect(r.validationFailure(object(#"{"kind":"b","score":1}"#))?.path == ["kind"])
    }
}
