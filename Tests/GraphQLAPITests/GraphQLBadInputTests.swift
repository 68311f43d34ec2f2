import GraphQLAPI
import Store
import SwitchboardCore
import Testing

/// Mangled documents (bytes dropped, repeated, swapped for GraphQL punctuation)
/// must be refused with a 4xx and codes, never crash, hang or answer 500.
@Suite struct GraphQLBadInputTests {
    static let seeds = [
        #"query Q($f: messages_filter, $n: Int = 2) { messages(filter: $f, limit: $n, sort: ["-id"]) { id text author { name messages(limit: 1) { id } } } }"#,
        #"{ a: authors_by_id(id: 1) { ...F __typename } } fragment F on authors { name rank score tags profile }"#,
        #"subscription S($e: EventEnum) { m: messages_mutated(event: $e, filter: {_or: [{text: {_in: ["a", "b"]}}, {author: {name: {_null: true}}}]}) { key event data { text author { name } } } }"#,
        #"{ __schema { types { name fields(includeDeprecated: true) { name type { kind ofType { kind name } } } } } }"#,
    ]
    static let noise = Array("{}[]()$@!.:,\"\\ \n#=|&abc123_".utf8)

    /// A small deterministic generator (xorshift), so a failure reproduces.
    struct Mangler {
        var state: UInt64

        mutating func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(max(1, bound)))
        }

        mutating func mangle(_ text: String) -> String {
            var bytes = Array(text.utf8)
            for _ in 0..<(1 + next(4)) {
                guard !bytes.isEmpty else { break }
                let i = next(bytes.count)
                switch next(4) {
                case 0: bytes.remove(at: i)
                case 1: bytes[i] = GraphQLBadInputTests.noise[next(GraphQLBadInputTests.noise.count)]
                case 2: bytes.insert(contentsOf: bytes[i..<min(bytes.count, i + 1 + next(12))], at: i)
                default: bytes.insert(GraphQLBadInputTests.noise[next(GraphQLBadInputTests.noise.count)], at: i)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    @Test func mangledDocumentsAreAnsweredWithoutServerErrors() async throws {
        try await withGraph { _, graphql in
            var mangler = Mangler(state: 0x9E37_79B9_7F4A_7C15)
            for round in 0..<600 {
                let document = mangler.mangle(Self.seeds[round % Self.seeds.count])
                let response = await graphql.execute(
                    GraphQLRequest(query: document, variables: ["f": ["text": ["_eq": "x"]], "n": 1]), method: .post,
                    context: chatReader)
                #expect(response.status < 500, "\(document) → \(response.body)")
                if response.status != 200 { #expect(!response.errors.isEmpty, "\(document)") }
                if case .failure(let failure) = graphql.planSubscription(
                    query: document, variables: ["e": "create"], operationName: nil, context: chatReader)
                {
                    #expect(failure.status < 500, "\(document) → \(failure.errors)")
                    #expect(!failure.codes.isEmpty)
                }
            }
        }
    }
}
