import GraphQL
import OrderedCollections
import Query
import Store

/// The functions a field's `<field>_func` offers, as Directus's GraphQL schema has them
/// (`api/src/services/graphql/schema/get-types.ts` and `read.ts`): date parts of dates
/// (`date_functions`), of times (`time_functions`) and of date-times and timestamps
/// (`datetime_functions`), and `count` of JSON fields and o2m aliases (`count_functions`).
/// `f_func { year }` reads the REST field `year(f)`; `f_func: {year: {_eq: 2026}}` in a
/// filter is the REST filter `{"year(f)": {"_eq": 2026}}`.
enum FunctionFamily: String, Sendable, CaseIterable {
    case date, time, dateTime, count

    /// The family of a stored field, nil for a type without functions.
    init?(_ field: FieldSchema) {
        switch field.type {
        case .date: self = .date
        case .time: self = .time
        case .dateTime, .timestamp: self = .dateTime
        case .json: self = .count
        default: return nil
        }
    }

    /// The object type of `<field>_func`.
    var typeName: String {
        switch self {
        case .date: return "date_functions"
        case .time: return "time_functions"
        case .dateTime: return "datetime_functions"
        case .count: return "count_functions"
        }
    }

    /// The input type of `<field>_func` in `<collection>_filter`.
    var filterTypeName: String {
        switch self {
        case .date: return "date_function_filter_operators"
        case .time: return "time_function_filter_operators"
        case .dateTime: return "datetime_function_filter_operators"
        case .count: return "count_function_filter_operators"
        }
    }

    /// The functions, in Directus's field order.
    var kinds: [FieldFunction.Kind] {
        let date: [FieldFunction.Kind] = [.year, .month, .week, .day, .weekday]
        let time: [FieldFunction.Kind] = [.hour, .minute, .second]
        switch self {
        case .date: return date
        case .time: return time
        case .dateTime: return date + time
        case .count: return [.count]
        }
    }

    /// The `<field>_func` key of a field.
    static func key(of field: String) -> String { field + "_func" }

    /// Every type name the families define.
    static var typeNames: [String] { allCases.flatMap { [$0.typeName, $0.filterTypeName] } }

    /// `<family>_functions`: an `Int` per function, read from the row's `<field>_<function>`
    /// (the REST name of `function(field)`), which `ItemResolvers.functions` puts under the function's name.
    func makeObjectType() throws -> GraphQLObjectType {
        var fields = GraphQLFieldMap()
        for kind in kinds {
            fields[kind.rawValue] = GraphQLField(type: GraphQLInt, resolve: ItemResolvers.scalar(kind.rawValue, .int))
        }
        return try GraphQLObjectType(name: typeName, fields: fields)
    }

    /// `<family>_function_filter_operators`: a number filter per function.
    func makeFilterType(numberOperators: GraphQLInputObjectType) throws -> GraphQLInputObjectType {
        var fields = InputObjectFieldMap()
        for kind in kinds { fields[kind.rawValue] = InputObjectField(type: numberOperators) }
        return try GraphQLInputObjectType(name: filterTypeName, fields: fields)
    }
}
