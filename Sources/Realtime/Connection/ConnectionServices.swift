import Access
import Logging
import Query
import RealtimeProtocol
import Store
import SwitchboardCore

/// The database work a connection's requests need, run off the event loop;
/// each answers with what the state machine takes back as an input.
struct ConnectionServices: Sendable {
    let store: Store
    let auth: AuthService
    let fanout: Fanout
    let logger: Logger
    let initCache = InitCache()

    // MARK: auth

    enum AuthOutcome: Sendable {
        /// The new identity, its token's expiry (epoch seconds) and the `auth` / `ok` frame.
        case ok(ItemsContext, expiresAt: Int64?, reply: [UInt8])
        case failed
    }

    func authenticate(_ credentials: ClientMessage.AuthCredentials?, uid: JSONValue?, client: ClientInfo) async
        -> AuthOutcome
    {
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
                return .failed
            }
            accountability.ip = client.ip
            accountability.userAgent = client.userAgent
            accountability.origin = client.origin
            let context = try await auth.resolver.context(for: accountability)
            return .ok(context, expiresAt: expiresAt, reply: RealtimeFrames.authOK(uid: uid, refreshToken: refreshToken))
        } catch {
            return .failed
        }
    }

    /// `authenticate` for an access token whose identity and permissions are cached, answered on
    /// the event loop without a task; nil when a lookup is needed.
    func authenticateAtOnce(_ credentials: ClientMessage.AuthCredentials?, uid: JSONValue?, client: ClientInfo)
        -> AuthOutcome?
    {
        guard case .accessToken(let token)? = credentials else { return nil }
        switch auth.authenticateAtOnce(token: token, client: client) {
        case .refused:
            return .failed
        case .needsLookup:
            return nil
        case .accepted(let accountability):
            guard let context = auth.resolver.cachedContext(for: accountability) else { return nil }
            return .ok(context, expiresAt: auth.expiry(ofToken: token), reply: RealtimeFrames.authOK(uid: uid, refreshToken: nil))
        }
    }

    /// The public policy's context for this client (after a failed `auth` or an expired token).
    func publicContext(client: ClientInfo) async -> ItemsContext? {
        if let known = publicContextAtOnce(client: client) { return known }
        do {
            return try await auth.resolver.context(
                for: try await auth.resolver.publicAccountability(
                    ip: client.ip, userAgent: client.userAgent, origin: client.origin))
        } catch {
            logger.warning("could not resolve the public policy for a connection", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The public policy's context when it is cached; nil when a lookup is needed.
    func publicContextAtOnce(client: ClientInfo) -> ItemsContext? {
        auth.resolver.cachedPublicAccountability(ip: client.ip, userAgent: client.userAgent, origin: client.origin)
            .flatMap(auth.resolver.cachedContext(for:))
    }

    // MARK: subscribe

    struct SubscribeJob: Sendable {
        var request: SubscriptionRequest
        var classKey: QueryClassKey
        var context: ItemsContext
        var after: Int64?
        var uid: JSONValue?
        var shard: Int
        var member: Fanout.Member
    }

    enum SubscribeOutcome: Sendable {
        /// `init` (or the resume's `init` + replay), to be sent before any event.
        case ready([[UInt8]])
        case failed([UInt8])
    }

    /// Joins the class (in order with fan-out), then reads `init` or the replay up to the join's boundary.
    func subscribe(_ job: SubscribeJob) async -> SubscribeOutcome {
        do {
            let boundary = try await join(
                Fanout.Join(key: job.classKey, context: job.context, shard: job.shard, member: job.member))
            return await initial(job, boundary: boundary)
        } catch {
            return failure(error, job: job)
        }
    }

    /// Joins a class in order with fan-out; answers the seq its member receives events above. A
    /// collection fan-out already follows needs no database seq: the boundary is the last event it
    /// took. A new one starts from the database's seq (an `init` covers up to there).
    func join(_ join: Fanout.Join) async throws -> Int64 {
        var join = join
        if !fanout.isInterested(in: join.key.request.collection) {
            join.member.minSeq = try await store.outbox.currentSeq(join.key.request.collection)
        }
        // Related collections nothing follows yet are followed from before the `init` read.
        for reached in fanout.reach(join.key, context: join.context).collections.sorted()
        where !fanout.isInterested(in: reached) {
            join.related[reached] = try await store.outbox.currentSeq(reached)
        }
        return await fanout.join(join)
    }

    /// A joined subscription's `init` answered on the event loop, nil when it must be read: an
    /// `event` subscription's (no rows) once its probe passed for the class, or another's from the
    /// cache (what the next identical subscribes after a read share).
    func initialAtOnce(_ job: SubscribeJob, boundary: Int64) -> SubscribeOutcome? {
        guard job.after == nil else { return nil }
        if job.request.event != nil {
            guard
                Self.probe(job.request, after: nil) == nil
                    || initCache.probePassed(job.classKey, schema: store.schemaGeneration)
            else { return nil }
            return .ready([Self.eventInit.frame(uid: job.uid?.textValue)])
        }
        guard InitCache.cacheable(job.classKey, schema: store.schema),
            let cached = initCache.lookup(job.classKey, seq: boundary, schema: store.schemaGeneration)
        else { return nil }
        return .ready([cached.frame(uid: job.uid?.textValue)])
    }

    /// The `init` of an `event` subscription: no rows.
    static let eventInit = RenderedEvent(event: "init", data: nil, meta: nil, seq: nil)

    /// The read that checks a subscription whose `init` reads no rows (an `event` one, or a
    /// resume): it runs the filter (and any field functions, in `fields` or `sort`) once in SQL, so
    /// that a value the field's type refuses (`Invalid numeric value`, `year(title)`, a
    /// `count(comments)` of unreadable rows) fails the subscribe, as it fails REST and `init`.
    /// Its outcome depends on the query, the permissions and the schema, not on the rows: nil when
    /// there is nothing to check.
    static func probe(_ request: SubscriptionRequest, after: Int64?) -> ItemQuery? {
        let functions = request.query.fields?.filter { $0.contains("(") } ?? []
        let sortedByFunctions = request.query.sort.filter { $0.path.last.map { FieldFunction($0) != nil } ?? false }
        guard after != nil || request.event != nil,
            request.query.filter != nil || !functions.isEmpty || !sortedByFunctions.isEmpty
        else { return nil }
        var probe = request.query
        probe.fields = functions.isEmpty ? nil : functions
        probe.limit = 0
        probe.meta = []
        probe.aggregate = []
        probe.groupBy = []
        probe.deep = [:]
        probe.sort = sortedByFunctions
        return probe
    }

    /// The `init` (or the resume's replay) of a subscription that joined at `boundary`.
    func initial(_ job: SubscribeJob, boundary: Int64) async -> SubscribeOutcome {
        let request = job.request
        let uidText = job.uid?.textValue
        do {
            if let probe = Self.probe(request, after: job.after) {
                let schema = store.schemaGeneration
                _ = try await store.readItems(request.collection, query: probe, context: job.context)
                initCache.noteProbePassed(job.classKey, schema: schema)
            }
            // A class whose rows reach other collections through relations got changes there without
            // a seq of its own: a resume cannot replay them, so it is a fresh `init` (`resumed: false`).
            if let after = job.after, fanout.reach(job.classKey, context: job.context).isEmpty,
                let replay = try await resume(after: after, upTo: boundary, job: job)
            {
                return .ready(replay)
            }
            if let cached = initialAtOnce(job, boundary: boundary) { return cached }
            let shared = job.after == nil && InitCache.cacheable(job.classKey, schema: store.schema)
            let schema = store.schemaGeneration
            let resumedFlag: [(String, JSONValue)] = job.after != nil ? [("resumed", false)] : []
            let initFrame: RenderedEvent
            if request.event != nil {
                initFrame = RenderedEvent(event: "init", data: nil, meta: nil, seq: nil, extra: resumedFlag)
            } else if let item = request.item {
                let window = windowRead(job)
                let row = try await store.readItem(
                    request.collection, key: item, query: window?.query(request.query) ?? request.query, context: job.context)
                if let window { fanout.introduce(job.classKey, rows: window.seen([row]), boundary: boundary) }
                initFrame = RenderedEvent(
                    event: "init", data: .object(window?.strip(row) ?? row), meta: nil, seq: nil, extra: resumedFlag)
            } else {
                let window = windowRead(job)
                let result = try await store.readItems(
                    request.collection, query: window?.query(request.query) ?? request.query, context: job.context)
                var rows = result.data
                if let window {
                    fanout.introduce(job.classKey, rows: window.seen(rows), boundary: boundary)
                    rows = rows.map(window.strip)
                }
                initFrame = RenderedEvent(
                    event: "init", data: .array(rows.map(JSONValue.object)), meta: result.meta, seq: nil, extra: resumedFlag)
            }
            if shared { initCache.store(job.classKey, seq: boundary, schema: schema, frame: initFrame) }
            return .ready([initFrame.frame(uid: uidText)])
        } catch {
            return failure(error, job: job)
        }
    }

    /// [extension] `live` with `$NOW` windows: the `init` read also reads the primary key and the
    /// windows' fields, so that fan-out can time the rows' exits; they are left out of the frame again.
    struct WindowRead {
        /// The primary key and the windows' fields.
        let names: [String]
        /// Those the query's `fields` lacked.
        let added: [String]

        func query(_ query: ItemQuery) -> ItemQuery {
            guard !added.isEmpty else { return query }
            var q = query
            q.fields = (q.fields ?? ["*"]) + added
            return q
        }

        func seen(_ rows: [JSONObject]) -> [JSONObject] {
            rows.map { row in JSONObject(names.compactMap { name in row[name].map { (name, $0) } }) }
        }

        func strip(_ row: JSONObject) -> JSONObject {
            var out = row
            for name in added { _ = out.removeValue(forKey: name) }
            return out
        }
    }

    /// nil when the subscription has no window exits to time, or its role may not read the fields they need.
    func windowRead(_ job: SubscribeJob) -> WindowRead? {
        let request = job.request
        guard let collection = store.schema.collection(request.collection),
            let permission = job.context.permissions.permission(.read, request.collection)
        else { return nil }
        let windows = WindowExits.windows(
            for: job.classKey, permissionFilter: permission.rowFilter(fields: request.query.fields, in: collection))
        guard !windows.isEmpty else { return nil }
        var names = [collection.primaryKey]
        for w in windows where !names.contains(w.field) { names.append(w.field) }
        guard names.allSatisfy({ permission.allows(field: $0) && collection.field($0) != nil }) else { return nil }
        let fields = request.query.fields ?? ["*"]
        return WindowRead(names: names, added: fields.contains("*") ? [] : names.filter { !fields.contains($0) })
    }

    /// The context with the rows read that `filter`'s `$CURRENT_USER.<path>` variables need (the
    /// resolver keeps reading them for this identity); the error frame when they can't be read.
    func context(_ context: ItemsContext, reading filter: Filter) async -> Result<ItemsContext, SwitchboardError> {
        do {
            let enriched = try await auth.resolver.context(for: context.accountability, variablesFor: [filter])
            guard filter.variablePaths.subtracting(enriched.variableRows.loaded).isEmpty else {
                return .failure(.invalidQuery("The filter's $CURRENT_* variables could not be read."))
            }
            return .success(enriched)
        } catch {
            return .failure(SwitchboardError.client(error))
        }
    }

    /// Whether `filter` uses `$CURRENT_USER.<path>` variables (or kin) that `context` has not read.
    static func needsVariableRows(_ filter: Filter?, _ context: ItemsContext) -> Bool {
        guard let filter else { return false }
        return !filter.variablePaths.subtracting(context.variableRows.loaded).isEmpty
    }

    private func failure(_ error: any Error, job: SubscribeJob) -> SubscribeOutcome {
        let e = SwitchboardError.client(error)
        // The subscribed collection itself refused is Directus's INVALID_COLLECTION; a related one
        // (`category.name` without read access to categories) stays FORBIDDEN, as in REST.
        let collectionRefused =
            e.code == .forbidden && e.message == SwitchboardError.forbiddenCollection(job.request.collection).message
        return .failed(
            RealtimeFrames.error("subscribe", collectionRefused ? "INVALID_COLLECTION" : e.code.rawValue, e.message, uid: job.uid)
        )
    }

    /// [extension] `after`: the matching events with seq in (after, upTo] from the outbox instead of `init`;
    /// nil (a normal `init` with `resumed: false` follows) when the outbox no longer holds them all.
    private func resume(after: Int64, upTo seq: Int64, job: SubscribeJob) async throws -> [[UInt8]]? {
        guard after <= seq else { return nil }
        var replay: [ChangeEvent] = []
        if after < seq {
            replay = try await store.outbox.events(job.request.collection, after: after, limit: 10_000).filter { $0.seq <= seq }
            // Resumable only if nothing between `after` and `seq` was trimmed away.
            guard replay.first?.seq == after + 1, replay.last?.seq == seq, replay.count == Int(seq - after) else { return nil }
        }
        let uid = job.uid?.textValue
        var frames = [RenderedEvent(event: "init", data: nil, meta: nil, seq: nil, extra: [("resumed", true)]).frame(uid: uid)]
        let renderer = EventRenderer(store: store, stats: fanout.aggregateStats)
        let cls = QueryClass(key: job.classKey, context: job.context)
        // An aggregate replay reads its counts once and applies the rest.
        var tally: AggregateTally?
        for event in replay {
            for frame in try await renderer.render(event, for: cls, tally: &tally) { frames.append(frame.frame(uid: uid)) }
        }
        return frames
    }

    // MARK: items

    /// Runs an items request with the same rules as REST; answers the `items` frame or its error frame.
    func items(_ request: ItemsRequest, uid: JSONValue?, context: ItemsContext) async -> [UInt8] {
        do {
            let (data, meta) = try await ItemsOverSocket(store: store, context: context)
                .perform(request.action.rawValue, collection: request.collection, message: request.message, query: request.query)
            var fields: [(String, JSONValue)] = [("data", data)]
            if let meta { fields.append(("meta", .object(meta))) }
            return RealtimeFrames.object("items", fields, uid: uid)
        } catch {
            let e = SwitchboardError.client(error)
            if e.code == .internalError { logger.error("items request failed", metadata: ["error": "\(error)"]) }
            return RealtimeFrames.error("items", e, uid: uid)
        }
    }
}
