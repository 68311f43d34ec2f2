/// A `meta` value: which counts a list response carries besides `data`.
public enum MetaField: String, Sendable, Hashable, CaseIterable {
    case totalCount = "total_count"
    case filterCount = "filter_count"
}
