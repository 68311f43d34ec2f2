import Query
import RealtimeProtocol
import Store
import SwitchboardCore

/// What the GraphQL socket needs of the GraphQL schema (built elsewhere, from
/// the collections and the caller's permissions): a document turned into a
/// subscription fan-out can serve, and queries run.
public protocol GraphQLOperations: Sendable {
    /// Parses and validates `request` against the schema of `context`'s permissions (no database
    /// work: called on an event loop).
    func plan(_ request: GraphQLTransportStateMachine.OperationRequest, context: ItemsContext) -> GraphQLOperationPlan
    /// Runs a query.
    func execute(_ request: GraphQLTransportStateMachine.OperationRequest, context: ItemsContext) async
        -> GraphQLExecution
}

/// A query's outcome over the socket.
public enum GraphQLExecution: Sendable {
    /// The `next` payload (`{data, errors}`: errors of fields that failed while reading), then `complete`.
    case result(JSONValue)
    /// Refused before running (validation, variables): the errors array of an `error` message.
    case failed(errors: JSONValue)
}

/// What a document asks for.
public enum GraphQLOperationPlan: Sendable {
    case subscription(GraphQLSubscription)
    /// A query: run by `execute`, answered with one `next` and `complete`.
    case query
    /// The GraphQL errors array for the `error` message (syntax, validation, a mutation).
    case failed(errors: JSONValue)
}

/// One `<collection>_mutated` subscription: what fan-out delivers to it, and
/// how each changed key becomes its `next` payload.
public struct GraphQLSubscription: Sendable {
    public var collection: String
    /// nil: every event.
    public var event: ChangeEvent.Action?
    /// The fields its selection needs (Directus field paths) and its `filter` argument.
    public var query: ItemQuery
    /// The payload for one key: `{"data": {<response key>: {key, event, data}}}`; the row is
    /// rendered for `query` (nil for a delete).
    public var payload: @Sendable (ChangeEvent.Action, JSONValue, JSONObject?) -> JSONValue
    /// Equal for subscriptions whose payloads are equal for equal rows (the same document and
    /// variables under the same schema): their frames are made once per event.
    public var shape: GraphQLShapeKey

    public init(
        collection: String, event: ChangeEvent.Action?, query: ItemQuery, shape: GraphQLShapeKey,
        payload: @escaping @Sendable (ChangeEvent.Action, JSONValue, JSONObject?) -> JSONValue
    ) {
        self.collection = collection
        self.event = event
        self.query = query
        self.shape = shape
        self.payload = payload
    }
}

/// What makes two subscriptions' payloads the same (the schema service's plan, as a hashable value).
public struct GraphQLShapeKey: Hashable, Sendable {
    private let plan: any Hashable & Sendable

    public init(_ plan: some Hashable & Sendable) { self.plan = plan }

    public static func == (lhs: Self, rhs: Self) -> Bool { AnyHashable(lhs.plan) == AnyHashable(rhs.plan) }

    public func hash(into hasher: inout Hasher) { plan.hash(into: &hasher) }
}
