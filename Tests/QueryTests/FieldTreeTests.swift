import Query
import SwitchboardCore
import Testing

@Suite struct FieldTreeTests {
    @Test func emptyListMeansEverything() throws {
        let tree = try FieldTree.parse([])
        #expect(tree.includesAll && tree.names.isEmpty && tree.nested.isEmpty && tree.allNested == nil)
    }

    @Test func plainAndNestedFields() throws {
        let tree = try FieldTree.parse(["title", "author.email", "author.name", "id", "title"])
        #expect(!tree.includesAll)
        #expect(tree.names == ["title", "id"])
        #expect(tree.nestedOrder == ["author"])
        #expect(tree.nested["author"]?.names == ["email", "name"])
    }

    @Test func commaJoinedEntriesAreSplitAndTrimmed() throws {
        let tree = try FieldTree.parse(["id, title ,comments.*", "comments.user.name"])
        #expect(tree.names == ["id", "title"])
        let comments = try #require(tree.nested["comments"])
        #expect(comments.includesAll)
        #expect(comments.nested["user"]?.names == ["name"])
    }

    @Test func wildcardNesting() throws {
        let tree = try FieldTree.parse(["*", "*.*", "tags.name"])
        #expect(tree.includesAll)
        #expect(tree.allNested?.includesAll == true)
        #expect(tree.nestedOrder == ["tags"])
        let idOnly = try FieldTree.parse(["*.id"])
        #expect(idOnly.allNested?.names == ["id"])
        #expect(!idOnly.includesAll)
    }

    @Test func subtreeMergesWildcardEntries() throws {
        let tree = try FieldTree.parse(["*.id", "author.name"])
        #expect(tree.subtree(for: "author")?.names == ["name", "id"])
        #expect(tree.subtree(for: "editor")?.names == ["id"])
        #expect(try FieldTree.parse(["title"]).subtree(for: "author") == nil)
    }

    @Test(arguments: ["a..b", "a,,b", "", ".a", "a.", "a b", "a;b", "a*", "author.(x)"])
    func rejectsMalformedEntries(entry: String) {
        let error = parseError { () throws(SwitchboardError) in try FieldTree.parse([entry]) }
        #expect(error?.code == .invalidQuery)
    }

    @Test func limitsDepth() throws {
        let ten = Array(repeating: "a", count: 10).joined(separator: ".")
        #expect(try FieldTree.parse([ten]).nested["a"] != nil)
        let error = parseError { () throws(SwitchboardError) in try FieldTree.parse([ten + ".b"]) }
        #expect(error?.message.contains("deeper than 10") == true)
    }
}
