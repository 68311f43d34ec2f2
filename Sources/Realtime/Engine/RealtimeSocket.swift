import Access
import Logging
import NIOCore
import NIOWebSocket
import Query
import RealtimeProtocol
import Store
import SwitchboardCore

/// One realtime connection on its event loop: the NIO handler that feeds
/// WebSocket frames, request results and deadlines to the connection's
/// `ConnectionStateMachine` and carries out its actions. No task, timer or
/// queue of its own: database work runs as a task per request and comes back
/// as an input; deadlines come from the shard's timer; event frames from the
/// shard's fan-out hop.
final class RealtimeSocket: ChannelDuplexHandler, RemovableChannelHandler, ShardSocket {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A subscription and the class it belongs to.
    struct Binding {
        let subscription: String
        var uid: String?
        /// The class it is joining or bound to (its request is the subscription's).
        var key: QueryClassKey
        /// Set once fan-out's shard holds the membership.
        var classID: UInt64?

        var request: SubscriptionRequest { key.request }
    }

    let id: UInt64
    let shard: LoopShard
    let engine: RealtimeEngine
    private(set) var context: ItemsContext
    var accountability: Accountability { context.accountability }

    var authState: SocketAuthState {
        switch machine.identity {
        case .awaitingHandshake: .pending
        case .authenticated: .user
        case .anonymous: .public
        case .expired: .expired
        }
    }
    private let client: ClientInfo
    private var machine: ConnectionStateMachine
    /// A few per socket at most (WEBSOCKETS_MAX_SUBSCRIPTIONS): a list costs less than a dictionary.
    private var bindings: [Binding] = []
    /// Subscriptions to the admin view's virtual collection (`FleetBoard.collection`).
    private var fleetSubscriptions: [FleetSubscription] = []
    private let writer = SocketWriter()
    /// Event frames waiting while a request is in flight.
    private var held: [ByteBuffer] = []
    private var heldBytes = 0
    private var readSuppressed = false
    private var inbound: WebSocketInbound
    var deadlineGeneration: UInt32 { writer.deadlineGeneration }
    private var closing: Bool { writer.closing }
    private var finished = false
    /// A request answered without leaving the loop, fed back once the actions that started it are done.
    private var completed: Completion?

    private struct FleetSubscription {
        let key: String
        let uid: String?
        let event: SubscribeRequest.Event?
        let item: String?
    }

    private enum Completion {
        case authenticated(ConnectionServices.AuthOutcome, uid: JSONValue?)
        case becamePublic(ItemsContext)
        case subscribed(String, ConnectionServices.SubscribeOutcome)
    }

    init(
        id: UInt64, shard: LoopShard, engine: RealtimeEngine, context: ItemsContext, client: ClientInfo,
        upgradeToken: ConnectionStateMachine.UpgradeToken?
    ) {
        self.id = id
        self.shard = shard
        self.engine = engine
        self.context = context
        self.client = client
        machine = ConnectionStateMachine(settings: engine.settings.connection, now: Clock.nowMs(), upgradeToken: upgradeToken)
        inbound = WebSocketInbound(maxMessageSize: engine.settings.maxMessageSize)
    }

    var allocator: ByteBufferAllocator { writer.allocator }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        writer.attach(context)
        shard.register(self)
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
            text(buffer)
        case .binary:
            perform(machine.receivedBinary())
        case .ping(let data):
            write(WebSocketWire.pongFrame(data, allocator: context.channel.allocator), flush: true)
        case .peerClosed(let code):
            // Answer the client's close with its own code, and end the connection.
            perform(machine.close(code.flatMap(CloseCode.init(rawValue:)) ?? .normal, ""))
        case .violation(let code, let reason):
            perform(machine.close(code, reason))
        case .nothing:
            break
        }
    }

    private func text(_ buffer: ByteBuffer) {
        perform(machine.received(Array(buffer.readableBytesView), now: Clock.nowMs()))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        engine.logger.debug("realtime socket error", metadata: ["socket": "\(id)", "error": "\(error)"])
        let (code, reason) = WebSocketInbound.violation(for: error)
        perform(machine.close(code, reason))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // The client read too little for too long: its buffered frames passed the limit.
        if !context.channel.isWritable { tooSlow() }
        context.fireChannelWritabilityChanged()
    }

    /// While a request is in flight no more frames are read (TCP pushes back on the client).
    func read(context: ChannelHandlerContext) {
        if machine.holdsEvents {
            readSuppressed = true
        } else {
            context.read()
        }
    }

    // MARK: From the shard

    /// An event frame; written now, or held while a request is in flight.
    /// Writes (or holds) one event frame; true when it is the first written since the last
    /// flush, so the hop flushes this socket once at its end.
    func enqueueEvent(_ frame: ByteBuffer) -> Bool {
        guard !closing else { return false }
        if machine.holdsEvents {
            heldBytes += frame.readableBytes
            held.append(frame)
            if heldBytes > engine.settings.maxQueuedBytes { tooSlow() }
            return false
        }
        return writer.writeEvent(frame)
    }

    /// The end of a fan-out hop: one flush for everything it wrote.
    func flushEvents() { writer.flushEvents() }

    func tick(now: Int64) {
        perform(machine.tick(now: now))
    }

    func close(_ code: CloseCode, _ reason: String) {
        perform(machine.close(code, reason))
    }

    /// The user is no longer active (identity refresh).
    func revoke() {
        write(
            WebSocketWire.textFrame(
                RealtimeFrames.error("auth", "AUTH_FAILED", "User is no longer active.", uid: nil), allocator: allocator),
            flush: false)
        close(.policyViolation, "User is no longer active.")
    }

    /// Fan-out made this socket a member of `classID` for `subscription`: binds it if the
    /// subscription still wants that class; moves it on if its identity changed meanwhile.
    func bind(_ subscription: String, to classID: UInt64, key: QueryClassKey) -> Bool {
        guard !closing, let index = bindings.firstIndex(where: { $0.subscription == subscription }),
            bindings[index].key == key
        else { return false }
        var binding = bindings[index]
        binding.classID = classID
        let wanted = QueryClassKey(request: binding.request, context: context)
        if wanted != key {
            binding.key = wanted
            shard.fanout.rebind(
                shard: shard.index,
                moves: [
                    Fanout.Move(
                        socket: id, subscription: subscription, from: classID, to: wanted, context: context,
                        framing: .directus(uid: binding.uid))
                ])
        }
        bindings[index] = binding
        return true
    }

    func boundClasses() -> [(String, UInt64)] {
        bindings.compactMap { binding in binding.classID.map { (binding.subscription, $0) } }
    }

    /// A new identity: subscriptions move to the classes of its permissions.
    func adopt(_ newContext: ItemsContext) -> [Fanout.Move] {
        context = newContext
        var moves: [Fanout.Move] = []
        for index in bindings.indices {
            let binding = bindings[index]
            let wanted = QueryClassKey(request: binding.request, context: newContext)
            guard wanted != binding.key else { continue }
            bindings[index].key = wanted
            if let from = binding.classID {
                moves.append(
                    Fanout.Move(
                        socket: id, subscription: binding.subscription, from: from, to: wanted, context: newContext,
                        framing: .directus(uid: binding.uid)))
            }
        }
        return moves
    }

    // MARK: Actions

    private func perform(_ actions: [ConnectionStateMachine.Action]) {
        var flush = false
        for action in actions {
            switch action {
            case .send(let bytes):
                writer.writeText(bytes)
                flush = true
            case .close(let code, let reason):
                closeChannel(code, reason)
                return
            case .authenticate(let credentials, let uid):
                startAuthentication(credentials, uid: uid)
            case .becomePublic:
                becomePublic()
            case .subscribe(let key, let request, let uid):
                startSubscribe(key, request, uid: uid)
            case .unsubscribe(let keys):
                for key in keys { drop(key) }
            case .items(let request, let uid):
                startItems(request, uid: uid)
            case .releaseEvents:
                let frames = held
                held = []
                heldBytes = 0
                for frame in frames { write(frame, flush: false) }
                flush = flush || !frames.isEmpty
                if readSuppressed, !machine.holdsEvents {
                    readSuppressed = false
                    writer.context?.read()
                }
            }
        }
        if flush { writer.flush() }
        rescheduleDeadline()
        if let completion = completed {
            completed = nil
            switch completion {
            case .authenticated(let outcome, let uid): authenticated(outcome, uid: uid)
            case .becamePublic(let context): adoptPublic(context)
            case .subscribed(let key, let outcome): subscribed(key, outcome)
            }
        }
    }

    private func write(_ frame: ByteBuffer, flush: Bool) { writer.write(frame, flush: flush) }

    /// Writes the close frame behind what is already buffered and closes once it is out.
    private func closeChannel(_ code: CloseCode, _ reason: String) {
        guard writer.close(code, reason, socket: id, logger: engine.logger) else { return }
        finish()
    }

    private func tooSlow() {
        guard !closing else { return }
        engine.noteSlowConsumer()
        perform(machine.close(.tryAgainLater, "Client is too slow: outbound buffer full."))
    }

    /// Leaves every class and the shard (once).
    private func finish() {
        guard !finished else { return }
        finished = true
        writer.stop()
        machine.peerClosed()
        completed = nil
        held = []
        heldBytes = 0
        shard.unregister(self)
        bindings = []
        if !fleetSubscriptions.isEmpty {
            fleetSubscriptions = []
            engine.fleet.watch(self, id: id, subscriptions: 0, on: shard.eventLoop)
        }
        engine.socketClosed(self)
    }

    private func drop(_ key: String) {
        if let index = fleetSubscriptions.firstIndex(where: { $0.key == key }) {
            fleetSubscriptions.remove(at: index)
            engine.fleet.watch(self, id: id, subscriptions: fleetSubscriptions.count, on: shard.eventLoop)
            return
        }
        guard let index = bindings.firstIndex(where: { $0.subscription == key }) else { return }
        let binding = bindings.remove(at: index)
        if let classID = binding.classID {
            shard.removeMember(classID, LoopShard.MemberKey(socket: id, subscription: key))
        }
    }

    private func rescheduleDeadline() { writer.schedule(machine.nextDeadline, socket: id, in: shard) }

    // MARK: Requests (database work off the loop, results back as inputs)

    private var bound: NIOLoopBound<RealtimeSocket> { NIOLoopBound(self, eventLoop: shard.eventLoop) }

    private func startAuthentication(_ credentials: ClientMessage.AuthCredentials?, uid: JSONValue?) {
        if let outcome = engine.services.authenticateAtOnce(credentials, uid: uid, client: client) {
            completed = .authenticated(outcome, uid: uid)
            return
        }
        let (services, client, me, loop) = (engine.services, client, bound, shard.eventLoop)
        Task {
            let outcome = await services.authenticate(credentials, uid: uid, client: client)
            loop.execute { me.value.authenticated(outcome, uid: uid) }
        }
    }

    private func authenticated(_ outcome: ConnectionServices.AuthOutcome, uid: JSONValue?) {
        let now = Clock.nowMs()
        switch outcome {
        case .ok(let newContext, let expiresAt, let reply):
            let moves = adopt(newContext)
            shard.fanout.rebind(shard: shard.index, moves: moves)
            perform(machine.authenticated(expiresAt: expiresAt, reply: reply, now: now))
        case .failed:
            perform(machine.authFailed(uid: uid, now: now))
        }
    }

    private func becomePublic() {
        if let known = engine.services.publicContextAtOnce(client: client) {
            completed = .becamePublic(known)
            return
        }
        let (services, client, me, loop) = (engine.services, client, bound, shard.eventLoop)
        Task {
            let publicContext = await services.publicContext(client: client)
            loop.execute {
                let socket = me.value
                guard !socket.closing else { return }
                guard let publicContext else {
                    // Never go on with the identity that was just dropped.
                    return socket.close(.internalError, "Could not switch to the public policy.")
                }
                socket.adoptPublic(publicContext)
            }
        }
    }

    private func adoptPublic(_ publicContext: ItemsContext) {
        shard.fanout.rebind(shard: shard.index, moves: adopt(publicContext))
        perform(machine.becamePublic())
    }

    private func startSubscribe(_ key: String, _ subscribe: SubscribeRequest, uid: JSONValue?) {
        drop(key)  // the same uid again replaces that subscription
        let collection = subscribe.collection
        if collection == FleetBoard.collection { return subscribeToFleet(key, subscribe, uid: uid) }
        guard engine.store.schema.collection(collection) != nil, context.permissions.permission(.read, collection) != nil else {
            return perform(
                machine.subscribeFailed(
                    key: key,
                    reply: RealtimeFrames.error(
                        "subscribe", "INVALID_COLLECTION", "The provided collection does not exists or is not accessible.",
                        uid: uid)))
        }
        let request = SubscriptionRequest(
            collection: collection, query: subscribe.query,
            event: subscribe.event.flatMap { ChangeEvent.Action(rawValue: $0.rawValue) }, item: subscribe.item,
            live: subscribe.live)
        if ConnectionServices.needsVariableRows(request.query.filter, context), let filter = request.query.filter {
            return readVariablesThenSubscribe(key, subscribe, uid: uid, filter: filter)
        }
        let classKey = QueryClassKey(request: request, context: context)
        let uidText = uid?.textValue
        bindings.append(Binding(subscription: key, uid: uidText, key: classKey, classID: nil))
        let member = Fanout.Member(socket: id, subscription: key, framing: .directus(uid: uidText), minSeq: 0)
        let job = ConnectionServices.SubscribeJob(
            request: request, classKey: classKey, context: context, after: subscribe.after, uid: uid, shard: shard.index,
            member: member)
        let (services, me, loop) = (engine.services, bound, shard.eventLoop)
        // A followed collection is joined here and now; a cached `init` then answers without a task.
        if let (classID, boundary) = shard.fanout.joinAtOnce(
            Fanout.Join(key: classKey, context: context, shard: shard.index, member: member))
        {
            var joined = member
            joined.minSeq = boundary
            shard.add(classID, key: classKey, member: joined)
            if let outcome = services.initialAtOnce(job, boundary: boundary) {
                completed = .subscribed(key, outcome)
                return
            }
            Task {
                let outcome = await services.initial(job, boundary: boundary)
                loop.execute { me.value.subscribed(key, outcome) }
            }
            return
        }
        Task {
            let outcome = await services.subscribe(job)
            loop.execute { me.value.subscribed(key, outcome) }
        }
    }

    /// A filter whose `$CURRENT_USER.<path>` variables the context has not read: the rows are read
    /// off the loop (the machine holds later frames meanwhile), then the subscribe goes on.
    private func readVariablesThenSubscribe(_ key: String, _ subscribe: SubscribeRequest, uid: JSONValue?, filter: Filter) {
        let (services, me, loop, context) = (engine.services, bound, shard.eventLoop, context)
        Task {
            let result = await services.context(context, reading: filter)
            loop.execute {
                let socket = me.value
                guard !socket.finished else { return }
                switch result {
                case .success(let enriched):
                    // Same identity and permissions, more rows read: the socket keeps the superset.
                    if enriched.accountability == socket.context.accountability,
                        enriched.permissions == socket.context.permissions
                    {
                        socket.context.variableRows = enriched.variableRows
                    }
                    guard !ConnectionServices.needsVariableRows(filter, socket.context) else {
                        return socket.perform(
                            socket.machine.subscribeFailed(
                                key: key,
                                reply: RealtimeFrames.error(
                                    "subscribe", "INVALID_QUERY", "The identity changed while the filter's variables were read.",
                                    uid: uid)))
                    }
                    socket.startSubscribe(key, subscribe, uid: uid)
                case .failure(let e):
                    socket.perform(
                        socket.machine.subscribeFailed(
                            key: key, reply: RealtimeFrames.error("subscribe", e.code.rawValue, e.message, uid: uid)))
                }
            }
        }
    }

    private func subscribed(_ key: String, _ outcome: ConnectionServices.SubscribeOutcome) {
        switch outcome {
        case .ready(let frames):
            perform(machine.subscribed(key: key, frames: frames))
        case .failed(let reply):
            drop(key)
            perform(machine.subscribeFailed(key: key, reply: reply))
        }
    }

    // MARK: The admin view (`switchboard_replicas`)

    /// Admins only; `init` is the replicas this one knows, then their changes as `create` /
    /// `update` / `delete` (no `seq`: it is no stored collection). `event` and `item` (a replica
    /// id) narrow it as for any collection; `query` is not applied, rows are always whole.
    private func subscribeToFleet(_ key: String, _ subscribe: SubscribeRequest, uid: JSONValue?) {
        guard context.accountability.admin else {
            let reply = RealtimeFrames.error("subscribe", "FORBIDDEN", "You don't have permission to access this.", uid: uid)
            completed = .subscribed(key, .failed(reply))
            return
        }
        let subscription = FleetSubscription(
            key: key, uid: uid?.textValue, event: subscribe.event, item: subscribe.item?.textValue)
        fleetSubscriptions.append(subscription)
        engine.fleet.watch(self, id: id, subscriptions: fleetSubscriptions.count, on: shard.eventLoop)
        let data: JSONValue?
        if subscribe.event != nil {
            data = nil
        } else if let item = subscription.item {
            data = engine.fleet.rows.first { $0.snapshot.replica == item }?.json ?? .null
        } else {
            data = .array(engine.fleet.rows.map(\.json))
        }
        let initFrame = RenderedEvent(event: "init", data: data, meta: nil, seq: nil)
        completed = .subscribed(key, .ready([initFrame.frame(uid: subscription.uid)]))
    }

    /// The admin view changed: each fleet subscription gets the changes it asked for, while
    /// the socket is an admin's (a socket that lost its admin identity keeps the subscription
    /// and gets nothing, as with any permissions change).
    func fleetChanged(_ events: [FleetBoard.Event]) {
        guard !closing, context.accountability.admin else { return }
        for subscription in fleetSubscriptions {
            for event in events {
                if let only = subscription.event, only.rawValue != event.action { continue }
                if let item = subscription.item, item != event.replica { continue }
                let rendered = subscription.item == nil ? event.list : event.single
                _ = enqueueEvent(rendered.webSocketFrame(uid: subscription.uid, allocator: allocator))
            }
        }
        flushEvents()
    }

    private func itemsDone(_ reply: [UInt8]) {
        perform(machine.itemsFinished(reply: reply))
    }

    private func startItems(_ request: ItemsRequest, uid: JSONValue?) {
        guard !SystemCollections.isSystem(request.collection), engine.store.schema.collection(request.collection) != nil else {
            return perform(
                machine.itemsFinished(
                    reply: RealtimeFrames.error(
                        "items", "INVALID_COLLECTION", "The provided collection does not exists or is not accessible.",
                        uid: uid)))
        }
        let (services, context, me, loop) = (engine.services, context, bound, shard.eventLoop)
        Task {
            let reply = await services.items(request, uid: uid, context: context)
            loop.execute { me.value.itemsDone(reply) }
        }
    }
}
