import Foundation
import SwitchboardCore
import Testing

@Suite struct JSONReaderTests {
    // MARK: Values

    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue(parsing: #"{"n":null,"t":true,"f":false,"i":42,"d":1.5,"s":"x","a":[1,"2"],"o":{"k":[]}}"#)
        #expect(
            value
                == [
                    "n": nil, "t": true, "f": false, "i": 42, "d": 1.5, "s": "x", "a": [1, "2"],
                    "o": ["k": []],
                ])
    }

    @Test func toleratesWhitespaceAroundTokens() throws {
        let value = try JSONValue(parsing: " \t\r\n{ \"a\" :\n[ 1 , 2 ]\t}\r\n ")
        #expect(value == ["a": [1, 2]])
    }

    @Test(arguments: [
        ("0", JSONValue.int(0)),
        ("-7", .int(-7)),
        ("9223372036854775807", .int(Int64.max)),
        ("-9223372036854775808", .int(Int64.min)),
        ("9223372036854775808", .double(9_223_372_036_854_775_808.0)),
        ("12345678901234567890", .double(12_345_678_901_234_567_890.0)),
        ("1.0", .double(1.0)),
        ("1e3", .double(1000)),
        ("1E+3", .double(1000)),
        ("2.5e-3", .double(0.0025)),
        ("1e300", .double(1e300)),
        ("-1.5", .double(-1.5)),
    ])
    func keepsIntegersApartFromDoubles(_ text: String, _ expected: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == expected)
    }

    /// `JSON.parse("-0")` is negative zero, which `JSON.stringify` prints as `0`; the
    /// reader keeps it as the integer 0, so the written form is the same.
    @Test func negativeZeroReadsAsZero() throws {
        let value = try JSONValue(parsing: "-0")
        #expect(value.doubleValue == 0)
        #expect(value.jsonString == "0")
        let negativeDouble = try JSONValue(parsing: "-0.0")
        #expect(negativeDouble.doubleValue == 0)
        #expect(negativeDouble.jsonString == "0")
    }

    @Test func preservesObjectKeyOrder() throws {
        let value = try JSONValue(parsing: #"{"zeta":1,"alpha":2,"mid":3,"beta":4}"#)
        #expect(value.objectValue?.keys == ["zeta", "alpha", "mid", "beta"])
        #expect(value.jsonString == #"{"zeta":1,"alpha":2,"mid":3,"beta":4}"#)
    }

    /// `JSON.parse('{"a":1,"b":2,"a":3}')` gives `{a: 3, b: 2}`: the last value wins
    /// and the key keeps the place of its first occurrence.
    @Test func duplicateKeysKeepTheLastValue() throws {
        let value = try JSONValue(parsing: #"{"a":1,"b":2,"a":3}"#)
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == 3)
        #expect(value.jsonString == #"{"a":3,"b":2}"#)
        let toNull = try JSONValue(parsing: #"{"a":1,"a":null}"#)
        #expect(toNull.objectValue?.count == 1)
        #expect(toNull["a"] == .null)
    }

    // MARK: Strings

    @Test(arguments: [
        (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{08}\u{0C}\n\r\t"),
        (#""\u0041\u00e9\u4E2D""#, "Aé中"),
        (#""\u0000""#, "\u{0}"),
        (#""\u001f""#, "\u{1F}"),
        (#""\ud83d\ude00""#, "😀"),
        (#""\uD834\uDD1E clef""#, "𝄞 clef"),
        (#""a\ud83d\ude00b""#, "a😀b"),
        ("\"héllo wörld ✓ 😀\"", "héllo wörld ✓ 😀"),
        (#""\u2028\u2029""#, "\u{2028}\u{2029}"),
        (#""""#, ""),
    ])
    func decodesStringEscapes(_ text: String, _ expected: String) throws {
        #expect(try JSONValue(parsing: text) == .string(expected))
    }

    @Test func decodesRawUTF8Bytes() throws {
        let bytes: [UInt8] = [0x22, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0x22]
        #expect(try JSONValue(parsing: bytes) == "é😀")
    }

    @Test func stringsSurviveAWriteAndReadRoundTrip() throws {
        var controls = ""
        for scalar in 0..<0x20 { controls.unicodeScalars.append(Unicode.Scalar(UInt8(scalar))) }
        let samples = [
            controls, "quote \" backslash \\ slash /", "日本語テキスト", "emoji 👩‍👩‍👧‍👦 and 🏳️‍🌈",
            "\u{7F}\u{80}\u{FFFF}\u{10FFFF}", "e\u{301} vs é", "\u{2028}\u{2029}",
        ]
        for sample in samples {
            let value = JSONValue.array([.string(sample), ["key \(sample)": .string(sample)]])
            #expect(try JSONValue(parsing: value.jsonString) == value, "round trip of \(sample.debugDescription)")
        }
    }

    @Test func deeplyNestedDocumentRoundTrips() throws {
        var value: JSONValue = ["leaf": [1, 2.5, "three", nil, true]]
        for i in 0..<60 { value = i.isMultiple(of: 2) ? [value] : ["level\(i)": value, "n": .int(Int64(i))] }
        #expect(try JSONValue(parsing: value.jsonString) == value)
    }

    @Test func numbersRoundTripThroughText() throws {
        let numbers: [JSONValue] = [
            .int(0), .int(-1), .int(Int64.max), .int(Int64.min), .double(1.5), .double(-2.25), .double(1e300),
            .double(1.7976931348623157e308), .double(.leastNonzeroMagnitude), .double(0.1), .double(123.456),
        ]
        for number in numbers {
            let parsed = try JSONValue(parsing: number.jsonString)
            #expect(parsed.doubleValue == number.doubleValue, "\(number) written as \(number.jsonString)")
        }
    }

    // MARK: Errors

    @Test(arguments: [
        ("", "empty input"),
        ("   ", "only whitespace"),
        ("{} x", "trailing garbage"),
        ("[1] [2]", "two documents"),
        ("1 2", "two numbers"),
        ("\"abc", "unterminated string"),
        ("\"abc\\", "unterminated escape"),
        ("\"abc\\\"", "escaped quote leaves the string open"),
        (#""\x41""#, "unknown escape"),
        (#""\u12""#, "short unicode escape"),
        (#""\u12G4""#, "non-hex unicode escape"),
        (#""\ud83d""#, "lone high surrogate"),
        (#""\ud83d x""#, "high surrogate followed by text"),
        (#""\ud83d\u0041""#, "high surrogate followed by a non-surrogate"),
        (#""\ud83d\ud83d""#, "two high surrogates"),
        (#""\ude00""#, "lone low surrogate"),
        ("\"a\nb\"", "raw newline in string"),
        ("\"a\tb\"", "raw tab in string"),
        ("\"\u{1}\"", "raw control character in string"),
        ("01", "leading zero"),
        ("-01", "negative leading zero"),
        ("00", "double zero"),
        ("+1", "leading plus"),
        (".5", "missing integer part"),
        ("1.", "missing fraction digits"),
        ("1e", "missing exponent digits"),
        ("1e+", "missing signed exponent digits"),
        ("-", "lone minus"),
        ("0x10", "hex number"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("tru", "truncated true"),
        ("nul", "truncated null"),
        ("True", "capitalized literal"),
        ("nulls", "literal with suffix"),
        ("[1,]", "trailing comma in array"),
        ("{\"a\":1,}", "trailing comma in object"),
        ("[1 2]", "missing comma"),
        ("{\"a\" 1}", "missing colon"),
        ("{a:1}", "unquoted key"),
        ("{'a':1}", "single quotes"),
        ("{1:1}", "number key"),
        ("[", "unclosed array"),
        ("{\"a\":1", "unclosed object"),
        ("]", "stray bracket"),
        ("\u{FEFF}{}", "byte order mark"),
        ("/* c */ {}", "comment"),
    ])
    func rejectsMalformedText(_ text: String, _ why: String) {
        #expect(throws: JSONReader.ParseError.self, "\(why)") { try JSONValue(parsing: text) }
    }

    @Test(
        arguments: [
            ([0x22, 0xFF, 0x22], "invalid byte"),
            ([0x22, 0xC3, 0x22], "truncated two-byte sequence"),
            ([0x22, 0xC0, 0xAF, 0x22], "overlong encoding"),
            ([0x22, 0xED, 0xA0, 0x80, 0x22], "encoded surrogate"),
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], "beyond U+10FFFF"),
            ([0x22, 0x5C, 0x6E, 0xFF, 0x22], "invalid byte after an escape"),
            ([0x5B, 0xFF, 0x5D], "invalid byte outside a string"),
        ] as [([UInt8], String)])
    func rejectsInvalidUTF8(_ bytes: [UInt8], _ why: String) {
        #expect(throws: JSONReader.ParseError.self, "\(why)") { try JSONValue(parsing: bytes) }
    }

    @Test func errorsReportTheOffendingByteOffset() {
        do {
            _ = try JSONValue(parsing: "[1, 2, x]")
            Issue.record("expected a parse error")
        } catch {
            #expect(error.offset == 7)
            #expect(error.description.contains("byte 7"))
        }
    }

    @Test func acceptsNestingUpToTheDepthLimit() throws {
        let depth = JSONReader.maxDepth
        #expect(depth == 128)
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(throws: Never.self) { try JSONValue(parsing: arrays) }
        let objects = String(repeating: "{\"a\":", count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
        #expect(throws: Never.self) { try JSONValue(parsing: objects) }
    }

    @Test func refusesNestingBeyondTheDepthLimit() {
        let depth = JSONReader.maxDepth + 1
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(throws: JSONReader.ParseError.self) { try JSONValue(parsing: arrays) }
        let objects = String(repeating: "{\"a\":", count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
        #expect(throws: JSONReader.ParseError.self) { try JSONValue(parsing: objects) }
        let mixed = String(repeating: "[{\"k\":", count: 65) + "1" + String(repeating: "}]", count: 65)
        #expect(throws: JSONReader.ParseError.self) { try JSONValue(parsing: mixed) }
        // Hostile input far beyond the limit fails cleanly instead of exhausting the stack.
        let hostile = String(repeating: "[", count: 100_000)
        #expect(throws: JSONReader.ParseError.self) { try JSONValue(parsing: hostile) }
    }

    // MARK: Agreement with Foundation

    static let sampleDocuments = [
        #"{"id":1,"title":"Hello","tags":["a","b"],"published":true,"rating":4.5,"author":null}"#,
        #"[{"a":{"b":{"c":[1,[2,[3,[4]]]]}}}]"#,
        #"{"unicode":"\u00e9\u4e2d\ud83d\ude00","raw":"é中😀","esc":"\"\\\/\b\f\n\r\t"}"#,
        #"{"big":9223372036854775807,"small":-9223372036854775808,"huge":12345678901234567890,"exp":1e300,"tiny":1e-300}"#,
        #"{"neg":-0,"zero":0,"frac":0.1,"sci":6.02e23,"minus":-1.25E-2}"#,
        #"[]"#, #"{}"#, #"[[],{},"",0,false,null]"#,
        #"{"nested":{"empty":{},"list":[{},{"x":[null]}]},"key with spaces":"v","":"empty key"}"#,
        #"{"dup":1,"dup":2}"#,
        "\"top-level string\"", "42", "true", "null",
    ]

    @Test(arguments: sampleDocuments)
    func agreesWithFoundationOnSampleDocuments(_ text: String) throws {
        let ours = try JSONValue(parsing: text)
        let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        #expect(Canonical(ours) == Canonical(foundation: theirs))
        // What we write reads back the same in Foundation too.
        let rewritten = try JSONSerialization.jsonObject(with: Data(ours.jsonBytes), options: [.fragmentsAllowed])
        #expect(Canonical(foundation: rewritten) == Canonical(ours))
    }

    @Test(arguments: ["01", "\"\\ud800\"", "{\"a\"}", "[1] x", "\"\\q\""])
    func rejectsWhatFoundationRejects(_ text: String) {
        #expect(throws: (any Error).self) {
            try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        }
        #expect(throws: JSONReader.ParseError.self) { try JSONValue(parsing: text) }
    }

    /// Found by FuzzJSON: `3e308` read as infinity, which the writer can only write as null.
    @Test func numbersBeyondDoubleAreRefusedNotTurnedIntoInfinity() {
        #expect(throws: JSONReader.ParseError.self) { try JSONReader.parse(Array("[3e308, -0.308, -34567890123456]".utf8)) }
        #expect(throws: JSONReader.ParseError.self) { try JSONReader.parse(Array("-1e999".utf8)) }
        #expect((try? JSONReader.parse(Array("1.7e308".utf8))) == .double(1.7e308))
    }

    /// Found by FuzzJSON: `-3e2` reads as a double and writes as `-300`, which reads as an integer;
    /// JSON numbers are equal by value, as in JavaScript.
    @Test func numbersAreEqualByValueAcrossIntegerAndDouble() throws {
        for text in ["-3e2", "-0.0", "2.0", "1e3"] {
            let value = try JSONReader.parse(Array(text.utf8))
            #expect(try JSONReader.parse(value.jsonBytes) == value)
        }
        #expect(JSONValue.int(3) == .double(3.0) && JSONValue.double(-0.0) == .int(0) && JSONValue.int(3) != .double(3.5))
        #expect(Set<JSONValue>([.int(3), .double(3.0), .double(3.5)]).count == 2)
    }

    /// A hostile body with many keys parses in linear time (a key table past 16 keys), and keeps order and last-wins.
    @Test func objectsWithManyKeysParseFastAndKeepOrder() throws {
        let n = 100_000
        var text = "{"
        for i in 0..<n { text += "\"k\(i)\":\(i)," }
        text += "\"k7\":\"again\"}"
        let start = ContinuousClock.now
        guard case .object(let object) = try JSONReader.parse(Array(text.utf8)) else { throw CancellationError() }
        #expect(ContinuousClock.now - start < .seconds(5))  // quadratic would take minutes; this guards the algorithm
        #expect(object.count == n)
        #expect(object["k99999"] == .int(99_999))
        #expect(object["k7"] == "again")
        #expect(object.keys.prefix(3) == ["k0", "k1", "k2"])
        var copy = object
        copy.removeValue(forKey: "k1")
        #expect(copy["k2"] == .int(2) && copy["k1"] == nil && copy.count == n - 1)
        #expect(copy != object)
    }
}

/// A JSON value compared by meaning: numbers by value, objects without key order.
enum Canonical: Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([Canonical])
    case object([String: Canonical])

    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .number(Double(i))
        case .double(let d): self = .number(d)
        case .string(let s): self = .string(s)
        case .array(let items): self = .array(items.map(Canonical.init))
        case .object(let object):
            var out: [String: Canonical] = [:]
            for (k, v) in object { out[k] = Canonical(v) }
            self = .object(out)
        }
    }

    init(foundation value: Any) {
        switch value {
        case is NSNull: self = .null
        case let s as String: self = .string(s)
        case let n as NSNumber:
            // Foundation marks JSON booleans with the Objective-C type "c".
            if String(cString: n.objCType) == "c" { self = .bool(n.boolValue) } else { self = .number(n.doubleValue) }
        case let a as [Any]: self = .array(a.map { Canonical(foundation: $0) })
        case let d as [String: Any]: self = .object(d.mapValues { Canonical(foundation: $0) })
        default: self = .string("unexpected \(type(of: value))")
        }
    }
}
