import GraphQL
import Store
import SwitchboardCore

/// The GraphQL scalar a Directus field is exposed as, with Directus's mapping
/// (`api/src/utils/get-graphql-type.ts`): uuid → `ID`, bigInteger → `GraphQLBigInt`,
/// json → `JSON`, dates and times → `Date`, concealed values → `Hash`, csv → `[String]`.
/// One place decides both the schema's type and how a row's value is rendered,
/// so HTTP answers and subscription payloads agree.
enum FieldScalar: Sendable, Hashable {
    case id, string, int, float, boolean, bigInt, json, date, hash, stringList

    init(_ field: FieldSchema) {
        if field.isPrimaryKey {
            self = .id
            return
        }
        if field.has("conceal") {
            self = .hash
            return
        }
        switch field.type {
        case .boolean: self = .boolean
        case .bigInteger: self = .bigInt
        case .integer: self = .int
        case .decimal, .float: self = .float
        case .csv: self = .stringList
        case .json: self = .json
        case .time, .timestamp, .dateTime, .date: self = .date
        case .hash: self = .hash
        case .uuid: self = .id
        case .string, .text, .alias: self = .string
        }
    }

    /// The operators a `<collection>_filter` offers for a field of this scalar.
    var filterFamily: FilterFamily {
        switch self {
        case .id: return .id
        case .string, .stringList: return .string
        case .int, .float: return .number
        case .boolean: return .boolean
        case .bigInt: return .bigInt
        case .json: return .json
        case .date: return .date
        case .hash: return .hash
        }
    }

    /// The output type (nullable form).
    var outputType: any GraphQLOutputType & GraphQLNullableType {
        switch self {
        case .id: return GraphQLID
        case .string: return GraphQLString
        case .int: return GraphQLInt
        case .float: return GraphQLFloat
        case .boolean: return GraphQLBoolean
        case .bigInt: return GraphQLScalars.bigInt
        case .json: return GraphQLScalars.json
        case .date: return GraphQLScalars.date
        case .hash: return GraphQLScalars.hash
        case .stringList: return GraphQLList(GraphQLString)
        }
    }

    /// A stored value as GraphQL renders it: IDs and big integers as strings
    /// (as graphql-js and Directus do), numbers and booleans coerced from their
    /// stored forms, anything that cannot be represented as null.
    func render(_ value: JSONValue) -> JSONValue {
        if value.isNull { return .null }
        switch self {
        case .id, .string, .date, .hash:
            if case .string = value { return value }
            return value.textValue.map(JSONValue.string) ?? .string(value.jsonString)
        case .bigInt:
            if let i = value.intValue { return .string(String(i)) }
            return value.textValue.map(JSONValue.string) ?? .null
        case .int:
            if let i = value.intValue, i >= Int64(Int32.min), i <= Int64(Int32.max) { return .int(i) }
            if let text = value.stringValue, let i = Int32(text) { return .int(Int64(i)) }
            if let b = value.boolValue { return .int(b ? 1 : 0) }
            return .null
        case .float:
            if let d = value.doubleValue { return value.intValue.map(JSONValue.int) ?? .double(d) }
            if let text = value.stringValue, let d = Double(text), d.isFinite { return .double(d) }
            return .null
        case .boolean:
            if let b = value.boolValue { return .bool(b) }
            if let i = value.intValue { return .bool(i != 0) }
            if let text = value.stringValue { return .bool(text == "true" || text == "1") }
            return .null
        case .json:
            return value
        case .stringList:
            if case .array(let items) = value {
                return .array(items.map { $0.isNull ? .null : .string($0.textValue ?? $0.jsonString) })
            }
            if let text = value.stringValue {
                return .array(text.split(separator: ",", omittingEmptySubsequences: false).map { .string(String($0)) })
            }
            return .null
        }
    }
}

/// The scalars Directus adds to GraphQL's own, under Directus's names.
enum GraphQLScalars {
    /// Any JSON value, passed through (`JSON`).
    static let json = scalar("JSON", "Any JSON value: object, array, string, number, boolean or null.") { $0 }

    /// ISO 8601 dates, times and timestamps, as strings (`Date`).
    static let date = stringScalar("Date", "ISO8601 Date values")

    /// Concealed values such as password hashes (`Hash`).
    static let hash = stringScalar("Hash", "Hashed string values")

    /// 64-bit integers, written as strings so no client loses precision (`GraphQLBigInt`).
    static let bigInt = scalar("GraphQLBigInt", "BigInt value") { value throws in
        switch value {
        case .string(let text):
            guard let i = Int64(text) else { throw GraphQLError(message: "Invalid GraphQLBigInt: \"\(text)\"") }
            return .number(Number(i))
        case .number(let number) where number.storageType == .int: return value
        default: throw GraphQLError(message: "GraphQLBigInt must be a String, got \(value.typeDescription)")
        }
    }

    /// A number or a string, so number filters also take dynamic variables like `$NOW` (`GraphQLStringOrFloat`).
    static let stringOrFloat = scalar("GraphQLStringOrFloat", "A Float or a String") { value throws in
        switch value {
        case .string, .number: return value
        default: throw GraphQLError(message: "Value must be either a String or a Float, got \(value.typeDescription)")
        }
    }

    /// The placeholder field's type when the caller can read nothing (`Void`).
    static let void = scalar("Void", "Represents NULL values") { _ in .null }

    /// A scalar whose input (variables and literals) goes through `coerce`; output is the resolver's `Map`.
    private static func scalar(
        _ name: String, _ description: String, coerce: @escaping @Sendable (Map) throws -> Map
    ) -> GraphQLScalarType {
        do {
            return try GraphQLScalarType(
                name: name, description: description,
                serialize: { value in (value as? Map) ?? .null },
                parseValue: coerce,
                parseLiteral: { ast in try coerce(try valueFromASTUntyped(valueAST: ast)) })
        } catch {
            // The names are constant and valid; GraphQL only throws for invalid names.
            preconditionFailure("invalid scalar name \(name)")
        }
    }

    private static func stringScalar(_ name: String, _ description: String) -> GraphQLScalarType {
        scalar(name, description) { value throws in
            guard case .string = value else {
                throw GraphQLError(message: "\(name) cannot represent a non-string value: \(value.typeDescription)")
            }
            return value
        }
    }
}
