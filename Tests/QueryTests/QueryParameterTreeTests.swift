import Query
import SwitchboardCore
import Testing

@Suite struct QueryParameterTreeTests {
    private func tree(_ pairs: [(String, String)]) -> JSONObject {
        (try? QueryParameterTree.build(pairs.map { (name: $0.0, value: $0.1) })) ?? ["error": true]
    }

    @Test func plainAndRepeated() {
        #expect(tree([("a", "1"), ("b", "2"), ("a", "3")]) == ["a": ["1", "3"], "b": "2"])
    }

    @Test func nestedBrackets() {
        #expect(
            tree([("filter[status][_eq]", "x"), ("filter[n][_gt]", "1")])
                == ["filter": ["status": ["_eq": "x"], "n": ["_gt": "1"]]])
    }

    @Test func appendAndIndices() {
        #expect(tree([("f[]", "a"), ("f[]", "b")]) == ["f": ["a", "b"]])
        #expect(
            tree([("x[_and][1][b]", "2"), ("x[_and][0][a]", "1")]) == ["x": ["_and": [["a": "1"], ["b": "2"]]]])
    }

    @Test func malformedNamesAreLiteral() {
        #expect(tree([("a[b", "1"), ("[x]", "2"), ("c[d]e", "3")]) == ["a[b": "1", "[x]": "2", "c[d]e": "3"])
    }

    @Test func keepsFirstAppearanceOrder() {
        #expect(tree([("z", "1"), ("a[x]", "2"), ("m", "3")]).keys == ["z", "a", "m"])
    }
}
