import Foundation
import SwitchboardCore
import Testing

@Suite struct JSONWriterTests {
    @Test func writesCompactJSONWithKeysInInsertionOrder() {
        let value: JSONValue = ["z": 1, "a": [true, false, nil], "m": ["inner": "x"], "e": [], "o": [:]]
        #expect(value.jsonString == #"{"z":1,"a":[true,false,null],"m":{"inner":"x"},"e":[],"o":{}}"#)
    }

    @Test func keyOrderFollowsEditsNotAlphabet() {
        var object: JSONObject = ["b": 1, "a": 2]
        object["c"] = 3
        object["b"] = 10  // replacing keeps the key's place
        object.removeValue(forKey: "a")
        object["a"] = 4  // re-adding appends
        #expect(object.jsonString == #"{"b":10,"c":3,"a":4}"#)
    }

    /// Every byte below 0x20 as `JSON.stringify` writes it: the five short escapes,
    /// `\u00XX` with lowercase hex for the rest.
    @Test func escapesControlCharactersLikeJSONStringify() {
        let expected = [
            "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
            "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f",
            "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
            "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
        ]
        for byte in 0..<0x20 {
            let s = String(Unicode.Scalar(UInt8(byte)))
            #expect(JSONValue.string(s).jsonString == "\"" + expected[byte] + "\"", "byte \(byte)")
        }
    }

    @Test(arguments: [
        ("say \"hi\"", #""say \"hi\"""#),
        ("back\\slash", #""back\\slash""#),
        ("a/b", #""a/b""#),
        ("\u{7F}", "\"\u{7F}\""),
        ("é中😀", "\"é中😀\""),
        ("\u{2028}\u{2029}", "\"\u{2028}\u{2029}\""),
        ("<script>&'", "\"<script>&'\""),
        ("", "\"\""),
    ])
    func escapesOnlyWhatJSONStringifyEscapes(_ input: String, _ expected: String) {
        #expect(JSONValue.string(input).jsonString == expected)
    }

    @Test func escapesObjectKeys() {
        let value: JSONValue = ["a\"b\\c\nd": 1]
        #expect(value.jsonString == #"{"a\"b\\c\nd":1}"#)
    }

    @Test(arguments: [
        (1.0, "1"), (-3.0, "-3"), (0.0, "0"), (-0.0, "0"), (100.0, "100"), (123_456_789_012_345.0, "123456789012345"),
        (1.5, "1.5"), (-0.25, "-0.25"), (0.1, "0.1"), (1e21, "1e+21"), (1e300, "1e+300"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ])
    func writesDoublesLikeJSONStringify(_ value: Double, _ expected: String) {
        #expect(JSONValue.double(value).jsonString == expected)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func writesNonFiniteDoublesAsNull(_ value: Double) {
        #expect(JSONValue.double(value).jsonString == "null")
        #expect(JSONValue.array([.double(value)]).jsonString == "[null]")
    }

    /// `JSON.stringify(1e15)` is `"1000000000000000"`; integral doubles must never carry ".0".
    @Test func writesLargeIntegralDoublesWithoutFraction() {
        #expect(JSONValue.double(1e15).jsonString == "1000000000000000")
        #expect(JSONValue.double(-4e15).jsonString == "-4000000000000000")
        #expect(JSONValue.double(9_007_199_254_740_992.0).jsonString == "9007199254740992")
    }

    /// `JSON.stringify(1e-7)` is `"1e-7"` and `JSON.stringify(0.00001)` is `"0.00001"`.
    @Test func writesSmallDoublesLikeJSONStringify() {
        #expect(JSONValue.double(1e-7).jsonString == "1e-7")
        #expect(JSONValue.double(0.00001).jsonString == "0.00001")
    }

    @Test func writesIntegersExactly() {
        #expect(JSONValue.int(Int64.max).jsonString == "9223372036854775807")
        #expect(JSONValue.int(Int64.min).jsonString == "-9223372036854775808")
        #expect(JSONValue.int(-0).jsonString == "0")
    }

    @Test func textValueMatchesJavaScriptString() {
        #expect(JSONValue.double(2.0).textValue == "2")
        #expect(JSONValue.double(2.5).textValue == "2.5")
        #expect(JSONValue.int(7).textValue == "7")
        #expect(JSONValue.bool(true).textValue == "true")
        #expect(JSONValue.null.textValue == nil)
    }

    @Test func bytesAndTextAgree() {
        let value: JSONValue = ["k": ["é", 1, 2.5, nil]]
        #expect(Array(value.jsonString.utf8) == value.jsonBytes)
    }

    @Test func outputIsReadByFoundation() throws {
        let value: JSONValue = [
            "s": "ctl \u{1}\u{1F} quote \" slash \\ nl \n", "i": .int(Int64.max), "d": 0.5, "b": false, "n": nil,
            "a": [[], [:], ["x": [1]]], "u": "😀",
        ]
        let decoded = try JSONSerialization.jsonObject(with: Data(value.jsonBytes), options: [])
        #expect(Canonical(foundation: decoded) == Canonical(value))
    }

    @Test func writeThenReadIsIdentity() throws {
        let value: JSONValue = [
            "string": "tab\tquote\"nul\u{0}", "int": -42, "double": 3.25, "big": 1e300, "bool": true, "null": nil,
            "array": [1, [2, [3]]], "object": ["nested": ["deeper": "yes"]], "emoji": "👩‍💻",
        ]
        let reread = try JSONValue(parsing: value.jsonBytes)
        #expect(reread == value)
        #expect(reread.objectValue?.keys == value.objectValue?.keys)
    }
}
