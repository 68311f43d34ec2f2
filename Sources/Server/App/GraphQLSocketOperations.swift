import GraphQLAPI
import Realtime
import RealtimeProtocol
import Store
import SwitchboardCore

/// The GraphQL schema service as the subscription socket uses it: documents
/// planned into subscriptions fan-out serves, and queries run once.
struct GraphQLSocketOperations: GraphQLOperations {
    let service: GraphQLService

    func plan(_ request: GraphQLTransportStateMachine.OperationRequest, context: ItemsContext) -> GraphQLOperationPlan {
        switch service.planOperation(
            query: request.query, variables: request.variables, operationName: request.operationName, context: context)
        {
        case .subscription(let plan):
            return .subscription(
                GraphQLSubscription(
                    collection: plan.collection, event: plan.event, query: plan.query, shape: GraphQLShapeKey(plan)
                ) { event, key, item in
                    plan.payload(event: event, key: key, item: item)
                })
        case .query:
            // Not a subscription, but the socket runs it once (as graphql-ws servers do).
            return .query
        case .failed(let failure):
            return .failed(errors: failure.errors)
        }
    }

    func execute(_ request: GraphQLTransportStateMachine.OperationRequest, context: ItemsContext) async
        -> GraphQLExecution
    {
        let response = await service.execute(
            GraphQLRequest(query: request.query, variables: request.variables, operationName: request.operationName),
            method: .post, context: context)
        // 4xx: refused before running (validation, variables); otherwise the result, field errors included.
        if (400..<500).contains(response.status), let errors = response.body["errors"] { return .failed(errors: errors) }
        return .result(response.body)
    }
}
