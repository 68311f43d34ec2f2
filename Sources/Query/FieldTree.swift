import SwitchboardCore

/// A Directus `fields` list as a tree: `["*", "author.email", "comments.*"]`
/// says which fields to return at each level and which relations to expand.
public struct FieldTree: Sendable, Hashable {
    /// Deeper paths are refused, bounding the work a request can ask for.
    public static let maxDepth = 10

    /// `*` at this level.
    public var includesAll: Bool
    /// Explicit plain names at this level, in request order, without duplicates.
    public var names: [String]
    /// Sub-trees of relational fields: `author.email` gives `nested["author"].names == ["email"]`.
    public var nested: [String: FieldTree]
    /// The keys of `nested` in order of first appearance.
    public var nestedOrder: [String]
    // Stored in an array because a struct cannot contain an optional of itself.
    private var allNestedStorage: [FieldTree]

    /// `*.*` or `*.id`: applies to every relational field at this level.
    public var allNested: FieldTree? {
        get { allNestedStorage.first }
        set { allNestedStorage = newValue.map { [$0] } ?? [] }
    }

    /// A tree from its parts; `FieldTree()` selects nothing.
    public init(
        includesAll: Bool = false, names: [String] = [], nested: [String: FieldTree] = [:], nestedOrder: [String] = [],
        allNested: FieldTree? = nil
    ) {
        self.includesAll = includesAll
        self.names = names
        self.nested = nested
        self.nestedOrder = nestedOrder
        self.allNestedStorage = allNested.map { [$0] } ?? []
    }

    /// Parses a `fields` list; entries may be comma-joined. An empty list means
    /// `["*"]`. Throws `.invalidQuery` for empty or malformed segments or paths
    /// deeper than `maxDepth`.
    public static func parse(_ fields: [String]) throws(SwitchboardError) -> FieldTree {
        let entries = fields.flatMap(QuerySyntax.commaSeparated)
        var tree = FieldTree()
        for entry in entries.isEmpty ? ["*"] : entries {
            let segments = entry.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard segments.count <= maxDepth else {
                throw .invalidQuery("Invalid fields: \"\(entry)\" is nested deeper than \(maxDepth) levels")
            }
            // A function (`year(date_created)`, `author.count(posts)`) may end a path.
            for (i, segment) in segments.enumerated()
            where segment != "*" && !QuerySyntax.isValidName(segment)
                && !(i == segments.count - 1 && FieldFunction(segment) != nil)
            {
                throw .invalidQuery("Invalid fields: \"\(entry)\" is not a valid field path")
            }
            tree.insert(segments[...])
        }
        return tree
    }

    /// The tree for relational field `name`: its explicit sub-fields merged with
    /// the `*.…` entries; nil when the request does not expand that field.
    public func subtree(for name: String) -> FieldTree? {
        guard var tree = nested[name] else { return allNested }
        if let all = allNested { tree.merge(all) }
        return tree
    }

    private mutating func insert(_ path: ArraySlice<String>) {
        guard let head = path.first else { return }
        let rest = path.dropFirst()
        if rest.isEmpty {
            if head == "*" {
                includesAll = true
            } else if !names.contains(head) {
                names.append(head)
            }
        } else if head == "*" {
            var tree = allNested ?? FieldTree()
            tree.insert(rest)
            allNested = tree
        } else {
            if nested[head] == nil { nestedOrder.append(head) }
            nested[head, default: FieldTree()].insert(rest)
        }
    }

    private mutating func merge(_ other: FieldTree) {
        includesAll = includesAll || other.includesAll
        for name in other.names where !names.contains(name) { names.append(name) }
        for key in other.nestedOrder {
            guard let tree = other.nested[key] else { continue }
            if var existing = nested[key] {
                existing.merge(tree)
                nested[key] = existing
            } else {
                nested[key] = tree
                nestedOrder.append(key)
            }
        }
        if let all = other.allNested {
            var mine = allNested ?? FieldTree()
            mine.merge(all)
            allNested = mine
        }
    }
}
