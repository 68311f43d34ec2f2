import Access
import Logging
import NIOCore
import NIOWebSocket
import Query
import RealtimeProtocol
import Store
import SwitchboardCore

/// One `graphql-transport-ws` connection on its event loop: feeds frames,
/// results and deadlines to its `GraphQLTransportStateMachine` and carries out
/// the actions. Subscriptions are members of fan-out's query classes like the
/// Directus protocol's, framed per key as `next` messages; the shard, its timer
/// and its one flush per hop are the same. No task, timer or queue of its own.
final class GraphQLSocket: ChannelDuplexHandler, RemovableChannelHandler, ShardSocket {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A running (or joining) subscription.
    struct Binding {
        let operation: String
        let request: GraphQLTransportStateMachine.OperationRequest
        var framing: GraphQLFraming
        var key: QueryClassKey
        /// Set once fan-out's shard holds the membership.
        var classID: UInt64?
    }

    let id: UInt64
    let shard: LoopShard
    let endpoint: GraphQLEndpoint
    private(set) var context: ItemsContext
    var accountability: Accountability { context.accountability }

    var authState: SocketAuthState {
        switch machine.phase {
        case .awaitingInit, .authenticating: .pending
        case .ready: accountability.userID == nil ? .public : .user
        }
    }
    private let client: ClientInfo
    /// The client offered `graphql-transport-ws`; if not it is closed with 4406 at once.
    private let subprotocolAgreed: Bool
    private var machine: GraphQLTransportStateMachine
    private var inbound: WebSocketInbound
    private var bindings: [Binding] = []
    private let writer = SocketWriter()
    var deadlineGeneration: UInt32 { writer.deadlineGeneration }
    private var closing: Bool { writer.closing }
    private var finished = false
    /// Results answered without leaving the loop, fed back once the actions that asked for them are done.
    private var completed: [Completion] = []

    private enum Completion {
        case authenticated(ItemsContext, expiresAt: Int64?)
        case authFailed
    }

    private var engine: RealtimeEngine { endpoint.engine }

    init(
        id: UInt64, shard: LoopShard, endpoint: GraphQLEndpoint, context: ItemsContext, client: ClientInfo,
        upgradeToken: ConnectionStateMachine.UpgradeToken?, subprotocolAgreed: Bool
    ) {
        self.id = id
        self.shard = shard
        self.endpoint = endpoint
        self.context = context
        self.client = client
        self.subprotocolAgreed = subprotocolAgreed
        machine = GraphQLTransportStateMachine(
            settings: endpoint.settings.connection, now: Clock.nowMs(), upgradeToken: upgradeToken)
        inbound = WebSocketInbound(maxMessageSize: endpoint.engine.settings.maxMessageSize)
    }

    var allocator: ByteBufferAllocator { writer.allocator }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        writer.attach(context)
        shard.register(self)
        guard subprotocolAgreed else { return closeSoon(.graphQLSubprotocolNotAcceptable, "Subprotocol not acceptable") }
        rescheduleDeadline()
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
        writer.detach()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch inbound.take(unwrapInboundIn(data)) {
        case .text(let buffer):
            perform(machine.received(Array(buffer.readableBytesView), now: Clock.nowMs()))
        case .binary:
            perform(machine.receivedBinary())
        case .ping(let data):
            writer.write(WebSocketWire.pongFrame(data, allocator: context.channel.allocator), flush: true)
        case .peerClosed(let code):
            perform(machine.close(code.flatMap(CloseCode.init(rawValue:)) ?? .normal, ""))
        case .violation(let code, let reason):
            perform(machine.close(code, reason))
        case .nothing:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        engine.logger.debug("graphql socket error", metadata: ["socket": "\(id)", "error": "\(error)"])
        let (code, reason) = WebSocketInbound.violation(for: error)
        perform(machine.close(code, reason))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !context.channel.isWritable { tooSlow() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: From the shard

    func enqueueEvent(_ frame: ByteBuffer) -> Bool { writer.writeEvent(frame) }

    func flushEvents() { writer.flushEvents() }

    func tick(now: Int64) {
        perform(machine.tick(now: now))
    }

    func close(_ code: CloseCode, _ reason: String) {
        perform(machine.close(code == .internalError ? .graphQLInternalError : code, reason))
    }

    func revoke() {
        close(.graphQLForbidden, "Forbidden")
    }

    func bind(_ subscription: String, to classID: UInt64, key: QueryClassKey) -> Bool {
        guard !closing, let index = bindings.firstIndex(where: { $0.operation == subscription }),
            bindings[index].key == key
        else { return false }
        bindings[index].classID = classID
        return true
    }

    func boundClasses() -> [(String, UInt64)] {
        bindings.compactMap { binding in binding.classID.map { (binding.operation, $0) } }
    }

    /// A new identity: each subscription is planned again against the schema of its permissions;
    /// one the new schema refuses ends with an `error`, the others move to their new classes.
    func adopt(_ newContext: ItemsContext) -> [Fanout.Move] {
        context = newContext
        var moves: [Fanout.Move] = []
        var ended: [(String, JSONValue)] = []
        for index in bindings.indices {
            let binding = bindings[index]
            switch subscription(binding.operation, binding.request) {
            case .failure(let errors):
                ended.append((binding.operation, errors.value))
            case .success(let (request, framing)):
                let wanted = QueryClassKey(request: request, context: newContext)
                bindings[index].framing = framing
                guard wanted != binding.key else { continue }
                bindings[index].key = wanted
                if let from = binding.classID {
                    moves.append(
                        Fanout.Move(
                            socket: id, subscription: binding.operation, from: from, to: wanted, context: newContext,
                            framing: .graphQL(framing)))
                }
            }
        }
        for (operation, errors) in ended { perform(machine.operationEnded(id: operation, errors: errors)) }
        return moves
    }

    // MARK: Actions

    private func perform(_ actions: [GraphQLTransportStateMachine.Action]) {
        var flush = false
        for action in actions {
            switch action {
            case .send(let bytes):
                writer.writeText(bytes)
                flush = true
            case .close(let code, let reason):
                closeChannel(code, reason)
                return
            case .authenticate(let token):
                startAuthentication(token)
            case .start(let operation, let request):
                start(operation, request)
            case .stop(let operation):
                drop(operation)
            }
        }
        if flush { writer.flush() }
        rescheduleDeadline()
        while !completed.isEmpty, !closing {
            switch completed.removeFirst() {
            case .authenticated(let context, let expiresAt): authenticated(context, expiresAt: expiresAt)
            case .authFailed: perform(machine.authFailed())
            }
        }
    }

    private func closeChannel(_ code: CloseCode, _ reason: String) {
        guard writer.close(code, reason, socket: id, logger: engine.logger) else { return }
        finish()
    }

    private func tooSlow() {
        guard !closing else { return }
        engine.noteSlowConsumer()
        perform(machine.close(.tryAgainLater, "Client is too slow: outbound buffer full."))
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        writer.stop()
        machine.peerClosed()
        completed = []
        shard.unregister(self)
        bindings = []
        endpoint.socketClosed()
    }

    private func drop(_ operation: String) {
        guard let index = bindings.firstIndex(where: { $0.operation == operation }) else { return }
        let binding = bindings.remove(at: index)
        if let classID = binding.classID {
            shard.removeMember(classID, LoopShard.MemberKey(socket: id, subscription: operation))
        }
    }

    private func rescheduleDeadline() { writer.schedule(machine.nextDeadline, socket: id, in: shard) }

    // MARK: Requests (database work off the loop, results back as inputs)

    private var bound: NIOLoopBound<GraphQLSocket> { NIOLoopBound(self, eventLoop: shard.eventLoop) }

    private func startAuthentication(_ token: String?) {
        let (services, client, me, loop) = (engine.services, client, bound, shard.eventLoop)
        guard let token else {
            if let known = services.publicContextAtOnce(client: client) {
                completed.append(.authenticated(known, expiresAt: nil))
                return
            }
            Task {
                let publicContext = await services.publicContext(client: client)
                loop.execute {
                    guard let publicContext else {
                        return me.value.close(.graphQLInternalError, "Could not resolve the public policy.")
                    }
                    me.value.authenticated(publicContext, expiresAt: nil)
                }
            }
            return
        }
        switch services.authenticateAtOnce(.accessToken(token), uid: nil, client: client) {
        case .ok(let context, let expiresAt, _)?:
            completed.append(.authenticated(context, expiresAt: expiresAt))
        case .failed?:
            completed.append(.authFailed)
        case nil:
            Task {
                let outcome = await services.authenticate(.accessToken(token), uid: nil, client: client)
                loop.execute {
                    switch outcome {
                    case .ok(let context, let expiresAt, _): me.value.authenticated(context, expiresAt: expiresAt)
                    case .failed: me.value.perform(me.value.machine.authFailed())
                    }
                }
            }
        }
    }

    private func authenticated(_ newContext: ItemsContext, expiresAt: Int64?) {
        guard !closing else { return }
        context = newContext
        perform(machine.authenticated(expiresAt: expiresAt, now: Clock.nowMs()))
    }

    /// What fan-out serves `request` with under the current identity, or its errors.
    private func subscription(_ operation: String, _ request: GraphQLTransportStateMachine.OperationRequest)
        -> Result<(SubscriptionRequest, GraphQLFraming), GraphQLErrors>
    {
        switch endpoint.operations.plan(request, context: context) {
        case .failed(let errors):
            return .failure(GraphQLErrors(errors))
        case .query:
            return .failure(
                GraphQLErrors(GraphQLTransportFrames.errors("Expected a subscription.", code: "GRAPHQL_VALIDATION")))
        case .subscription(let plan):
            return subscription(operation, plan)
        }
    }

    private func subscription(_ operation: String, _ plan: GraphQLSubscription)
        -> Result<(SubscriptionRequest, GraphQLFraming), GraphQLErrors>
    {
        guard let collection = engine.store.schema.collection(plan.collection),
            context.permissions.permission(.read, plan.collection) != nil
        else {
            return .failure(
                GraphQLErrors(
                    GraphQLTransportFrames.errors(
                        "You don't have permission to access collection \"\(plan.collection)\".", code: "FORBIDDEN")))
        }
        var query = plan.query
        // Each row's key is read from it: the primary key is always among the fields.
        if var fields = query.fields, !fields.contains("*"), !fields.contains(collection.primaryKey) {
            fields.append(collection.primaryKey)
            query.fields = fields
        }
        let request = SubscriptionRequest(collection: plan.collection, query: query, event: plan.event, item: nil)
        return .success((request, GraphQLFraming(id: operation, plan: plan, primaryKey: collection.primaryKey)))
    }

    /// Plans the document off the loop (parsing, validating and, the first time for a set of
    /// permissions, building their schema are CPU work the loop's other sockets should not wait
    /// for), then runs it as a query or joins fan-out with it.
    private func start(_ operation: String, _ request: GraphQLTransportStateMachine.OperationRequest) {
        let (operations, context, me, loop) = (endpoint.operations, context, bound, shard.eventLoop)
        let services = engine.services
        Task {
            var plan = operations.plan(request, context: context)
            var planContext = context
            // `$CURRENT_USER.<path>` in the subscription's filter: its rows are read here, off the loop.
            if case .subscription(let subscription) = plan,
                ConnectionServices.needsVariableRows(subscription.query.filter, context),
                let filter = subscription.query.filter
            {
                switch await services.context(context, reading: filter) {
                case .success(let enriched): planContext = enriched
                case .failure(let e):
                    plan = .failed(errors: GraphQLTransportFrames.errors(e.message, code: e.code.rawValue))
                }
            }
            let (finalPlan, finalContext) = (plan, planContext)
            loop.execute { me.value.planned(operation, request, finalPlan, for: finalContext) }
        }
    }

    private func planned(
        _ operation: String, _ request: GraphQLTransportStateMachine.OperationRequest, _ plan: GraphQLOperationPlan,
        for planContext: ItemsContext
    ) {
        guard !closing else { return }
        guard machine.operations[operation] == false else {
            return perform(machine.operationStarted(id: operation))  // completed meanwhile: undone there
        }
        // The identity changed while it was being planned: planned again for the new one.
        let sameIdentity = planContext.permissions == context.permissions && planContext.accountability == context.accountability
        // Rows read for the filter's variables while planning: the socket keeps the superset.
        if sameIdentity, context.variableRows.loaded.subtracting(planContext.variableRows.loaded).isEmpty {
            context.variableRows = planContext.variableRows
        }
        let plan = sameIdentity ? plan : endpoint.operations.plan(request, context: context)
        let planned: Result<(SubscriptionRequest, GraphQLFraming), GraphQLErrors>
        switch plan {
        case .query:
            let (operations, context, me, loop) = (endpoint.operations, context, bound, shard.eventLoop)
            Task {
                let outcome = await operations.execute(request, context: context)
                loop.execute {
                    let socket = me.value
                    switch outcome {
                    case .result(let result): socket.perform(socket.machine.operationFinished(id: operation, result: result))
                    case .failed(let errors): socket.perform(socket.machine.operationFailed(id: operation, errors: errors))
                    }
                }
            }
            return
        case .failed(let errors):
            planned = .failure(GraphQLErrors(errors))
        case .subscription(let subscription):
            planned = self.subscription(operation, subscription)
        }
        let (subscriptionRequest, framing): (SubscriptionRequest, GraphQLFraming)
        switch planned {
        case .failure(let errors):
            return perform(machine.operationFailed(id: operation, errors: errors.value))
        case .success(let parts):
            (subscriptionRequest, framing) = parts
        }
        if ConnectionServices.needsVariableRows(subscriptionRequest.query.filter, context) {
            return perform(
                machine.operationFailed(
                    id: operation,
                    errors: GraphQLTransportFrames.errors(
                        "The identity changed while the filter's variables were read; subscribe again.", code: "INVALID_QUERY")))
        }
        let classKey = QueryClassKey(request: subscriptionRequest, context: context)
        bindings.append(Binding(operation: operation, request: request, framing: framing, key: classKey, classID: nil))
        let join = Fanout.Join(
            key: classKey, context: context, shard: shard.index,
            member: Fanout.Member(socket: id, subscription: operation, framing: .graphQL(framing), minSeq: 0))
        if let (classID, boundary) = shard.fanout.joinAtOnce(join) {
            var member = join.member
            member.minSeq = boundary
            shard.add(classID, key: classKey, member: member)
            return perform(machine.operationStarted(id: operation))
        }
        let (services, me, loop, logger) = (engine.services, bound, shard.eventLoop, engine.logger)
        Task {
            do {
                _ = try await services.join(join)
                loop.execute { me.value.perform(me.value.machine.operationStarted(id: operation)) }
            } catch {
                logger.warning("could not start a graphql subscription", metadata: ["error": "\(error)"])
                let errors = GraphQLTransportFrames.errors("Service unavailable, try again.", code: "SERVICE_UNAVAILABLE")
                loop.execute {
                    me.value.drop(operation)
                    me.value.perform(me.value.machine.operationFailed(id: operation, errors: errors))
                }
            }
        }
    }
}

/// A GraphQL errors array, as a failure.
struct GraphQLErrors: Error {
    let value: JSONValue

    init(_ value: JSONValue) { self.value = value }
}
