import Access
import Logging
import Query
import RealtimeProtocol
import Store
import SwitchboardCore
import Synchronization

/// Handles the frames a client sends (PROTOCOL.md): `auth`, `ping`/`pong`,
/// `subscribe`/`unsubscribe` and `items`. One instance per socket; frames of
/// one socket are handled one at a time, in order.
public struct RealtimeSession: Sendable {
    let hub: RealtimeHub
    public let connection: RealtimeConnection

    /// Opens a session for an upgraded socket; `nil` when the connection limit is reached.
    /// `accountability` is the identity from the upgrade request (token or cookie), if any.
    public init?(hub: RealtimeHub, transport: any RealtimeTransport, upgradeIdentity: (Accountability, expiresAt: Int64?)?)
        async throws
    {
        let context: ItemsContext
        let authenticated: Bool
        var expiresAt: Int64?
        if let (accountability, exp) = upgradeIdentity {
            context = try await hub.auth.resolver.context(for: accountability)
            authenticated = true
            expiresAt = exp
        } else {
            context = try await hub.auth.resolver.context(for: try await hub.auth.resolver.publicAccountability())
            authenticated = hub.settings.authMode == .public
        }
        guard
            let connection = hub.open(transport: transport, context: context, authenticated: authenticated, expiresAt: expiresAt)
        else { return nil }
        self.hub = hub
        self.connection = connection
    }

    /// Runs the writer until the socket closes (call concurrently with the reader).
    public func runWriter() async { await connection.runWriter() }

    /// The reader saw the socket close.
    public func closed() { hub.closed(connection) }

    public func close(_ code: CloseCode, _ reason: String) { connection.close(code, reason) }

    // MARK: Inbound

    /// Handles one text frame.
    public func receive(_ bytes: [UInt8]) async {
        let now = Clock.nowMs()
        let (limited, retryAfter) = rateLimit(now)
        if limited {
            connection.send(
                RealtimeFrames.error("server", "REQUESTS_EXCEEDED", "Too many messages, retry after \(retryAfter)ms.", uid: nil))
            return
        }
        guard case .object(let frame)? = try? JSONReader.parse(bytes), let type = ClientMessage.type(of: frame) else {
            connection.send(FrameRejection.unparsable.frame)
            return
        }
        let waitingForHandshake = connection.state.withLock { s -> Bool in
            s.lastInbound = now
            return !s.authenticated && hub.settings.authMode != .public
        }
        if waitingForHandshake && type != "auth" {
            connection.send(RealtimeFrames.handshakeFailed)
            connection.close(.policyViolation, "Authentication handshake failed.")
            return
        }
        switch ClientMessage.parse(frame, limits: hub.store.environment.limits) {
        case .failure(let rejection):
            connection.send(rejection.frame, bypassHold: type == "items")
        case .success(let message):
            switch message {
            case .auth(let credentials, let uid): await authenticate(credentials, uid: uid, handshake: waitingForHandshake)
            case .ping(let uid): connection.send(RealtimeFrames.pong(uid: uid))
            case .pong: break
            case .subscribe(let request, let uid): await subscribe(request, uid: uid)
            case .unsubscribe(let uid): unsubscribe(uid: uid)
            case .items(let request, let uid): await items(request, uid: uid)
            }
        }
    }

    /// Fixed-window counter per socket (`RATE_LIMITER_POINTS` per `RATE_LIMITER_DURATION`).
    private func rateLimit(_ now: Int64) -> (Bool, Int64) {
        guard let limit = hub.settings.rateLimit else { return (false, 0) }
        return connection.state.withLock { s in
            if now - s.rateWindowStart >= limit.durationMs {
                s.rateWindowStart = now
                s.rateCount = 0
            }
            s.rateCount += 1
            return (s.rateCount > limit.points, max(0, s.rateWindowStart + limit.durationMs - now))
        }
    }

    // MARK: auth

    private func authenticate(_ credentials: ClientMessage.AuthCredentials?, uid: JSONValue?, handshake: Bool) async {
        let auth = hub.auth
        let client = ClientInfo(
            ip: connection.context.accountability.ip, userAgent: connection.context.accountability.userAgent,
            origin: connection.context.accountability.origin)
        do {
            var accountability: Accountability
            var expiresAt: Int64?
            var refreshToken: String?
            switch credentials {
            case .accessToken(let token)?:
                accountability = try await auth.authenticate(token: token, client: client)
                expiresAt = auth.expiry(ofToken: token)
            case .login(let email, let password)?:
                let tokens = try await auth.login(email: email, password: password, session: false, client: client)
                accountability = try await auth.authenticate(token: tokens.accessToken, client: client)
                expiresAt = auth.expiry(ofToken: tokens.accessToken)
                refreshToken = tokens.refreshToken
            case .refreshToken(let token)?:
                let tokens = try await auth.refresh(token: token, session: false, client: client)
                accountability = try await auth.authenticate(token: tokens.accessToken, client: client)
                expiresAt = auth.expiry(ofToken: tokens.accessToken)
                refreshToken = tokens.refreshToken
            case nil:
                throw SwitchboardError.invalidPayload("auth needs access_token, email + password, or refresh_token")
            }
            accountability.ip = client.ip
            accountability.userAgent = client.userAgent
            accountability.origin = client.origin
            let context = try await auth.resolver.context(for: accountability)
            connection.state.withLock { s in
                s.context = context
                s.authenticated = true
                s.expiresAt = expiresAt
                s.authDeadline = nil
            }
            await hub.rebind(connection)
            connection.send(RealtimeFrames.authOK(uid: uid, refreshToken: refreshToken))
        } catch {
            if handshake {
                connection.send(RealtimeFrames.handshakeFailed)
                connection.close(.policyViolation, "Authentication handshake failed.")
                return
            }
            connection.send(RealtimeFrames.authFailed(uid: uid))
            if let publicContext = try? await auth.resolver.context(
                for: try await auth.resolver.publicAccountability(
                    ip: client.ip, userAgent: client.userAgent, origin: client.origin))
            {
                connection.state.withLock { s in
                    s.context = publicContext
                    s.expiresAt = nil
                }
                await hub.rebind(connection)
            }
            if hub.settings.authMode != .public { connection.close(.policyViolation, "Authentication failed.") }
        }
    }

    // MARK: subscribe

    private func subscribe(_ subscribe: SubscribeRequest, uid: JSONValue?) async {
        func fail(_ code: String, _ text: String) {
            connection.send(RealtimeFrames.error("subscribe", code, text, uid: uid))
        }
        let collection = subscribe.collection
        let event = subscribe.event.flatMap { ChangeEvent.Action(rawValue: $0.rawValue) }
        let query = subscribe.query
        let item = subscribe.item
        let after = subscribe.after
        let live = subscribe.live
        let context = connection.context
        guard hub.store.schema.collection(collection) != nil, context.permissions.permission(.read, collection) != nil else {
            return fail("INVALID_COLLECTION", "The provided collection does not exists or is not accessible.")
        }
        let uidText = uid?.textValue
        let subscriptionKey =
            uidText
            ?? connection.state.withLock { s -> String in
                s.nextAnonymousSubscription += 1
                return "\u{0}\(s.nextAnonymousSubscription)"
            }
        let replaced = connection.state.withLock { s -> RealtimeConnection.Subscription? in
            s.subscriptions.removeValue(forKey: subscriptionKey)
        }
        if let replaced { hub.removeMember(replaced.classKey, connection: connection.id, subscriptionKey: subscriptionKey) }
        let count = connection.state.withLock { $0.subscriptions.count }
        guard count < hub.settings.maxSubscriptionsPerConnection else {
            return fail(
                "INVALID_PAYLOAD",
                "Too many subscriptions on this connection (limit \(hub.settings.maxSubscriptionsPerConnection), WEBSOCKETS_MAX_SUBSCRIPTIONS)."
            )
        }
        let request = SubscriptionRequest(collection: collection, query: query, event: event, item: item, live: live)
        let classKey = QueryClassKey(request: request, context: context)
        let store = hub.store
        do {
            // Events committed before this seq are part of `init`; hold the socket's
            // event frames until `init` is out so it always comes first.
            let seq = try await store.outbox.currentSeq(collection)
            connection.queue.hold()
            defer { connection.queue.release() }
            connection.state.withLock { s in
                s.subscriptions[subscriptionKey] = .init(uid: uidText, request: request, classKey: classKey)
            }
            // Live events above `boundary` reach this socket; those up to it are in `init` or the replay.
            let boundary = await hub.join(
                classKey, context: context,
                member: ClassMember(connection: connection, subscriptionKey: subscriptionKey, uid: uidText, minSeq: seq))
            if let after,
                try await resume(
                    after: after, upTo: boundary, request: request, classKey: classKey, context: context, uid: uidText)
            {
                return
            }
            var resumedFlag: [(String, JSONValue)] = []
            if after != nil { resumedFlag = [("resumed", false)] }
            let initFrame: RenderedEvent
            if event != nil {
                initFrame = RenderedEvent(event: "init", data: nil, meta: nil, seq: nil, extra: resumedFlag)
            } else if let item {
                let row = try await store.readItem(collection, key: item, query: query, context: context)
                initFrame = RenderedEvent(event: "init", data: .object(row), meta: nil, seq: nil, extra: resumedFlag)
            } else {
                let result = try await store.readItems(collection, query: query, context: context)
                initFrame = RenderedEvent(
                    event: "init", data: .array(result.data.map(JSONValue.object)), meta: result.meta, seq: nil,
                    extra: resumedFlag)
            }
            connection.send(initFrame.frame(uid: uidText), bypassHold: true)
        } catch {
            connection.state.withLock { _ = $0.subscriptions.removeValue(forKey: subscriptionKey) }
            hub.removeMember(classKey, connection: connection.id, subscriptionKey: subscriptionKey)
            let e = SwitchboardError.client(error)
            let collectionRefused = e.code == .forbidden && e.message.hasPrefix("You don't have permission to access collection")
            fail(collectionRefused ? "INVALID_COLLECTION" : e.code.rawValue, e.message)
        }
    }

    /// [extension] `after`: replays the matching events with seq in (after, upTo]
    /// from the outbox instead of sending `init`. Answers false (send a normal
    /// `init` with `resumed: false`) when the outbox no longer holds them all.
    private func resume(
        after: Int64, upTo seq: Int64, request: SubscriptionRequest, classKey: QueryClassKey, context: ItemsContext, uid: String?
    ) async throws -> Bool {
        let store = hub.store
        guard after <= seq else { return false }
        var replay: [ChangeEvent] = []
        if after < seq {
            replay = try await store.outbox.events(request.collection, after: after, limit: 10_000)
            replay = replay.filter { $0.seq <= seq }
            // Resumable only if nothing between `after` and `seq` was trimmed away.
            guard replay.first?.seq == after + 1, replay.last?.seq == seq, replay.count == Int(seq - after) else { return false }
        }
        connection.send(
            RenderedEvent(event: "init", data: nil, meta: nil, seq: nil, extra: [("resumed", true)]).frame(uid: uid),
            bypassHold: true)
        let renderer = EventRenderer(store: store)
        let cls = QueryClass(key: classKey, context: context)
        for event in replay {
            for frame in try await renderer.render(event, for: cls) {
                connection.send(frame.frame(uid: uid), bypassHold: true)
            }
        }
        return true
    }

    private func unsubscribe(uid: JSONValue?) {
        let removed = connection.state.withLock { s -> [(String, RealtimeConnection.Subscription)] in
            if let key = uid?.textValue {
                guard let sub = s.subscriptions.removeValue(forKey: key) else { return [] }
                return [(key, sub)]
            }
            defer { s.subscriptions = [:] }
            return s.subscriptions.map { ($0.key, $0.value) }
        }
        for (key, sub) in removed { hub.removeMember(sub.classKey, connection: connection.id, subscriptionKey: key) }
        connection.send(RealtimeFrames.object("subscription", [("event", "unsubscribe")], uid: uid))
    }

    // MARK: items

    private func items(_ request: ItemsRequest, uid: JSONValue?) async {
        func fail(_ error: SwitchboardError) {
            connection.send(RealtimeFrames.error("items", error, uid: uid), bypassHold: true)
        }
        let collection = request.collection
        guard !SystemCollections.isSystem(collection), hub.store.schema.collection(collection) != nil else {
            return fail(SwitchboardError(.invalidCollection, "The provided collection does not exists or is not accessible."))
        }
        connection.queue.hold()
        defer { connection.queue.release() }
        do {
            let (data, meta) = try await ItemsOverSocket(store: hub.store, context: connection.context)
                .perform(request.action.rawValue, collection: collection, message: request.message, query: request.query)
            var fields: [(String, JSONValue)] = [("data", data)]
            if let meta { fields.append(("meta", .object(meta))) }
            connection.send(RealtimeFrames.object("items", fields, uid: uid), bypassHold: true)
        } catch {
            let e = SwitchboardError.client(error)
            if e.code == .internalError { hub.logger.error("items request failed", metadata: ["error": "\(error)"]) }
            fail(e)
        }
    }
}
