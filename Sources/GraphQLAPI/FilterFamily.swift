import GraphQL
import OrderedCollections

/// The operator input types of `<collection>_filter` fields, by kind of value,
/// with Directus's names and operators (`api/src/services/graphql/schema/read.ts`),
/// less those the REST filter language here does not have (geometry, `_json`); `<field>_func`
/// filters are `FunctionFamily`'s. A filter argument's value is the REST filter object (its
/// `_func` keys written as REST function keys), so it goes through the same parser, limits and
/// permission checks as `?filter=`.
enum FilterFamily: String, Sendable, CaseIterable {
    case id, string, boolean, date, number, bigInt, hash, json

    var typeName: String {
        switch self {
        case .id: return "id_filter_operators"
        case .string: return "string_filter_operators"
        case .boolean: return "boolean_filter_operators"
        case .date: return "date_filter_operators"
        case .number: return "number_filter_operators"
        case .bigInt: return "big_int_filter_operators"
        case .hash: return "hash_filter_operators"
        case .json: return "json_filter_operators"
        }
    }

    /// The operators and their operand types.
    var operators: [(String, any GraphQLInputType)] {
        let flags: [(String, any GraphQLInputType)] = [("_null", GraphQLBoolean), ("_nnull", GraphQLBoolean)]
        let emptiness: [(String, any GraphQLInputType)] = [("_empty", GraphQLBoolean), ("_nempty", GraphQLBoolean)]
        func text(_ type: any GraphQLInputType) -> [(String, any GraphQLInputType)] {
            let names = [
                "_eq", "_neq", "_contains", "_icontains", "_ncontains", "_starts_with", "_nstarts_with", "_istarts_with",
                "_nistarts_with", "_ends_with", "_nends_with", "_iends_with", "_niends_with",
            ]
            return names.map { ($0, type) } + [("_in", GraphQLList(type)), ("_nin", GraphQLList(type))] + flags + emptiness
        }
        func ordered(_ type: any GraphQLInputType) -> [(String, any GraphQLInputType)] {
            ["_eq", "_neq"].map { ($0, type) } + [("_in", GraphQLList(type)), ("_nin", GraphQLList(type))]
                + ["_gt", "_gte", "_lt", "_lte"].map { ($0, type) } + flags
                + [("_between", GraphQLList(type)), ("_nbetween", GraphQLList(type))]
        }
        switch self {
        case .id: return text(GraphQLID)
        case .string: return text(GraphQLString)
        case .boolean: return [("_eq", GraphQLBoolean), ("_neq", GraphQLBoolean)] + flags
        case .date:
            return ["_eq", "_neq", "_gt", "_gte", "_lt", "_lte"].map { ($0, GraphQLString) } + flags
                + [("_in", GraphQLList(GraphQLString)), ("_nin", GraphQLList(GraphQLString))]
                + [
                    ("_between", GraphQLList(GraphQLScalars.stringOrFloat)),
                    ("_nbetween", GraphQLList(GraphQLScalars.stringOrFloat)),
                ]
        case .number: return ordered(GraphQLScalars.stringOrFloat)
        case .bigInt: return ordered(GraphQLScalars.bigInt)
        case .hash: return flags + emptiness
        case .json: return flags
        }
    }

    func makeType() throws -> GraphQLInputObjectType {
        var fields = InputObjectFieldMap()
        for (name, type) in operators { fields[name] = InputObjectField(type: type) }
        return try GraphQLInputObjectType(name: typeName, fields: fields)
    }
}
