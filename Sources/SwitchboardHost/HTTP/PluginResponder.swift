public import Hummingbird
import Synchronization
import CSwitchboard
import CoreMetrics
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchboardRouting
import enum SwitchboardCore.JSON

/// The host's one responder: dispatches every request through the current route table.
///
/// Errors become responses here, at the edge: an unknown path is 404, a known path with another
/// method 405 with `Allow`, a body over the route's limit 413, and a handler that fails or returns
/// without responding 500 — each with a JSON body, and the 500 logged with the plugin's name.
/// HEAD is answered by the GET route without a body. Paths under `/_switchboard/` and `/metrics`
/// belong to the host (`AdminAPI`).
///
/// A request runs on the generation it was matched to: the responder takes a lease on the route's
/// plugin instance before calling it, and the exchange returns it when the response is complete.
/// If that generation finished draining between the table read and the lease, the table has
/// already moved on, and the request is matched again.
public struct PluginResponder: HTTPResponder {
    /// Hummingbird's request context: its core storage plus the connection's channel.
    public typealias Context = SwitchboardRequestContext

    let registry: PluginRegistry
    let admin: AdminAPI
    let docs: DocsAPI?
    let threadPool: NIOThreadPool
    let logger: Logger
    /// How plugins' responses are compressed (gzip, when the client allows it).
    let compression: CompressionSettings

    init(
        registry: PluginRegistry, admin: AdminAPI, docs: DocsAPI?, threadPool: NIOThreadPool = .singleton,
        compression: CompressionSettings = CompressionSettings(), logger: Logger
    ) {
        self.registry = registry
        self.admin = admin
        self.docs = docs
        self.threadPool = threadPool
        self.compression = compression
        self.logger = logger
    }

    /// Answers one request: host paths first (admin API, `/metrics`, docs), then the plugin route
    /// table; errors become JSON responses, and 503 when the matched generation drained eight times in
    /// a row. Throws only when the thread pool stopped (shutdown) before a blocking handler ran.
    ///
    /// A request to a non-blocking route with no body to read is answered synchronously
    /// (`start`): no async frame is made below this one and nothing suspends, unless the handler
    /// answers later (SB_PENDING). The frames an async call makes stay allocated in the
    /// connection's task for as long as the connection lives, so this also keeps every open
    /// connection (an event stream's, say) small.
    public func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        if isHostPath(path[...]), RequestPath.problem(path[...]) == nil {
            if let docs, path == HostPaths.openAPI || path == HostPaths.docs { return docs.respond(to: request) }
            return try await admin.respond(to: request, context: context)
        }
        switch start(request, channel: context.channel) {
        case .answered(let response): return response.response
        case .waiting(let waiting): return try await finishWaiting(waiting).response
        }
    }

    /// Whether `path` (without its query) is the host's own (admin API, `/metrics`, the docs when
    /// they are on): those are answered in the connection's task.
    func isHostPath(_ path: Substring) -> Bool {
        path.hasPrefix(HostPaths.adminPrefix) || path == HostPaths.metrics || (docs != nil && (path == HostPaths.openAPI || path == HostPaths.docs))
    }

    /// A request that is not to a host path (`isHostPath`), answered as far as it can be without
    /// suspending: a 400 for a malformed path, the route table's 404 and 405, a 503 when the
    /// matched generation drained eight times in a row, or the plugin route's handler called
    /// (`begin`). Runs where its caller does: on the connection's event loop
    /// (`EventLoopResponder`) or in the connection's task.
    func start(_ request: Request, channel: (any Channel)?) -> Started {
        let path = request.uri.path
        if let problem = RequestPath.problem(path[...]) {
            return .answered(JSONError.make(.badRequest, detail: problem))
        }
        for _ in 0..<8 {
            if let started = begin(request, path: path, channel: channel) { return started }
        }
        return .answered(JSONError.make(.serviceUnavailable, detail: "The plugin is being replaced; retry the request"))
    }

    /// How far `start` got.
    enum Started: Sendable {
        case answered(HostResponse)
        /// It waits for its body, for the thread pool, or for a handler that answers later: `finish`.
        case waiting(Waiting)
    }

    /// The response of a request `start` began. Throws only when the thread pool stopped
    /// (shutdown) before a blocking handler ran.
    func finish(_ started: Started) async throws -> HostResponse {
        switch started {
        case .answered(let response): response
        case .waiting(let waiting): try await finishWaiting(waiting)
        }
    }

    /// Gives back what a started request holds when it will never be finished (its connection's
    /// task ended first): the lease, a blocking handler's exchange that never ran, a pending
    /// handler's exchange (answered 503 as at a drain deadline, so the plugin's late response is
    /// refused). A ready response holds nothing more; it is dropped.
    static func abandon(_ started: Started) {
        guard case .waiting(let waiting) = started else { return }
        switch waiting.step {
        case .body: waiting.call.route.plugin.leave()
        case .handler(.threadPool(let exchange)): _ = exchange.response(afterHandlerReturned: SB_ERR_INTERNAL)
        case .handler(.response(let exchange)): exchange.endForDrain()
        }
    }

    /// A request to a plugin route, as far as it got without waiting. It holds the caller's lease
    /// on the generation (in its exchange, or to be given to one): drop it only by finishing it.
    struct Waiting: Sendable {
        enum Step {
            /// The body is read next (up to the route's limit), then the handler called.
            case body
            case handler(HandlerWait)
        }
        let step: Step
        let call: Call
        let askedForCodedTag: Bool
        /// When the request was matched (monotonic nanoseconds), for the route's latency.
        let started: UInt64
    }

    /// What a handler call is made of, once the request's parameters are validated.
    struct Call: Sendable {
        let request: Request
        let route: RouteEntry
        let parameters: [Substring]
        let values: [ParameterValue?]
        let queryItems: [(name: Substring, value: Substring)]?
        let channel: (any Channel)?
    }

    /// Matches and answers what can be answered now; nil when the matched generation drained
    /// before a lease could be taken (match again). On a plugin route the caller's lease on the
    /// generation is taken here; from then on the exchange owns it, or it is returned.
    private func begin(_ request: Request, path: String, channel: (any Channel)?) -> Started? {
        let method = request.method.rawValue
        switch registry.routeTable.match(method: method, path: path) {
        case .notFound:
            registry.metrics.unmatched.increment()
            return .answered(JSONError.make(.notFound, detail: "Not Found"))
        case .methodNotAllowed(let allow):
            if request.method == .options {
                return .answered(HostResponse(status: .noContent, headers: [.allow: allow.joined(separator: ", ")]))
            }
            var response = JSONError.make(.methodNotAllowed, detail: "Method Not Allowed")
            response.headers[.allow] = allow.joined(separator: ", ")
            return .answered(response)
        case .found(let route, let parameters):
            guard route.plugin.enter() else { return nil }
            let started = monotonicNanoseconds()
            // A tag the host gave a gzip-coded representation names the plugin's own tag to the
            // plugin, which knows nothing of the coding.
            var head = request.head
            let askedForCodedTag = ContentCoding.uncodeTags(in: &head.headerFields, settings: compression)
            let request = askedForCodedTag ? Request(head: head, body: request.body) : request
            let outcome = prepare(request, route: route, parameters: parameters, channel: channel)
            switch outcome {
            case .answered(let response):
                return .answered(complete(response, request: request, route: route, askedForCodedTag: askedForCodedTag, started: started))
            case .waiting(let call, let readBody):
                let step: Waiting.Step
                if readBody {
                    step = .body
                } else {
                    switch self.call(call, body: call.route.streamsBody ? nil : ByteBuffer()) {
                    case .answered(let response):
                        return .answered(complete(response, request: request, route: route, askedForCodedTag: askedForCodedTag, started: started))
                    case .waiting(let wait):
                        step = .handler(wait)
                    }
                }
                return .waiting(Waiting(step: step, call: call, askedForCodedTag: askedForCodedTag, started: started))
            }
        }
    }

    /// The rest of a request that waits: its body, the thread pool, or a later answer.
    @inline(never)
    private func finishWaiting(_ waiting: Waiting) async throws -> HostResponse {
        let call = waiting.call
        do {
            let wait: HandlerWait
            switch waiting.step {
            case .handler(let handlerWait):
                wait = handlerWait
            case .body:
                switch await readBody(call) {
                case .answered(let response):
                    return complete(response, request: call.request, route: call.route, askedForCodedTag: waiting.askedForCodedTag, started: waiting.started)
                case .waiting(let handlerWait):
                    wait = handlerWait
                }
            }
            let response: HostResponse
            switch wait {
            case .threadPool(let exchange):
                let status: sb_status
                do {
                    let route = call.route
                    status = try await threadPool.runIfActive { withPluginCode(route.plugin.codeTag) { Self.call(route, exchange) } }
                } catch {
                    // The pool stopped (shutdown) before the handler ran: give back the handle's
                    // reference, so the exchange (and its lease) goes.
                    _ = exchange.response(afterHandlerReturned: SB_ERR_INTERNAL)
                    throw error
                }
                response = status == SB_PENDING ? await exchange.laterResponse() : handlerReturned(status, exchange, call)
            case .response(let exchange):
                response = await exchange.laterResponse()
            }
            return complete(response, request: call.request, route: call.route, askedForCodedTag: waiting.askedForCodedTag, started: waiting.started)
        } catch {
            call.route.instruments?.errors.increment()
            throw error
        }
    }

    /// Counts the response in the route's metrics, answers a conditional GET or HEAD whose
    /// preconditions say so (`ConditionalRead`), then codes it (before a HEAD drops the body, so
    /// HEAD says what GET sends).
    private func complete(_ response: consuming HostResponse, request: Request, route: RouteEntry, askedForCodedTag: Bool, started: UInt64) -> HostResponse {
        if let instruments = route.instruments {
            instruments.requests.increment()
            instruments.latency.recordNanoseconds(Int64(monotonicNanoseconds() &- started))
        }
        // In place: the response is this call's own (consuming), so its fields are not copied.
        // A 304 is decided on the plugin's own tag, before the coding gives it another.
        ConditionalRead.evaluate(&response, request: request, route: route)
        ContentCoding.apply(&response, request: request, settings: compression)
        ContentCoding.notModified(&response, codedTag: askedForCodedTag, settings: compression)
        if request.method == .head { Self.dropBodyForHead(&response) }
        return response
    }

    private enum Prepared {
        /// Answered without calling the handler (422, 412, 413); the lease has been returned.
        case answered(HostResponse)
        /// The handler is to be called, after reading the body when `readBody`.
        case waiting(Call, readBody: Bool)
    }

    /// Validates the declared parameters and the preconditions the host evaluates, and refuses a
    /// body declared over the route's limit before a byte of it is read.
    private func prepare(_ request: Request, route: RouteEntry, parameters: [Substring], channel: (any Channel)?) -> Prepared {
        var values: [ParameterValue?] = []
        var queryItems: [(name: Substring, value: Substring)]? = nil
        if !route.validation.specs.isEmpty {
            let items = QueryString.items(request.uri.query.map { $0[...] } ?? "")
            queryItems = items
            let validated = ParameterValidation.validate(route.validation, pathValues: parameters, query: items, cStrings: route.typedCall != nil) { name in
                request.head.fieldValue(named: name.utf8)
            }
            switch validated {
            case .success(let validated):
                values = validated
            case .failure(let issues):
                route.plugin.leave()
                return .answered(JSONError.make(.unprocessableContent, body: issues.body))
            }
        }
        if route.hostEvaluatesPreconditions,
            RoutePreconditions.failWithoutValidators(method: request.method.rawValue, header: { request.head.fieldList(named: $0.utf8) })
        {
            route.plugin.leave()
            return .answered(JSONError.make(.preconditionFailed, detail: RoutePreconditions.failedDetail))
        }
        let hasBody = request.headers.declaresBody
        if hasBody {
            // A body declared over the limit is refused before a byte of it is read (or, with
            // `Expect: 100-continue`, sent); otherwise the client that waits for it is told to go on.
            if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > route.maxBodyBytes {
                route.plugin.leave()
                return .answered(JSONError.make(.contentTooLarge, detail: "Request body is larger than \(route.maxBodyBytes) bytes"))
            }
            channel?.triggerUserOutboundEvent(ConnectionGuard.SendContinue(), promise: nil)
        }
        let call = Call(request: request, route: route, parameters: parameters, values: values, queryItems: queryItems, channel: channel)
        return .waiting(call, readBody: hasBody && !route.streamsBody)
    }

    /// Reads the request body up to the route's limit, then calls the handler.
    private func readBody(_ call: Call) async -> HandlerCall {
        let route = call.route
        let body: ByteBuffer
        do {
            body = try await call.request.body.collect(upTo: route.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            route.plugin.leave()
            return .answered(JSONError.make(.contentTooLarge, detail: "Request body is larger than \(route.maxBodyBytes) bytes"))
        } catch let error as HTTPParserError {
            // A framing error (RFC 9112 §6): the connection closes after this answer.
            route.plugin.leave()
            return .answered(JSONError.make(.badRequest, detail: "The request body could not be read: its framing is invalid (\(error))"))
        } catch {
            route.plugin.leave()
            return .answered(JSONError.make(.badRequest, detail: "The request body could not be read: \(error)"))
        }
        return self.call(call, body: body)
    }

    private enum HandlerCall {
        case answered(HostResponse)
        case waiting(HandlerWait)
    }

    /// What a handler's answer waits for.
    enum HandlerWait: Sendable {
        /// The handler is called on the thread pool (a blocking route).
        case threadPool(Exchange)
        /// The handler returned SB_PENDING: it answers later, from any thread.
        case response(Exchange)
    }

    /// Makes the exchange and calls a non-blocking handler here; a blocking one is left for the
    /// thread pool. The caller's lease passes to the exchange.
    private func call(_ call: Call, body: ByteBuffer?) -> HandlerCall {
        let route = call.route
        let exchange = Exchange(
            request: call.request, route: route, rawParameters: call.parameters, body: body, parameterValues: call.values,
            queryItems: call.queryItems, channel: call.channel)
        let plugin = route.plugin
        plugin.requestsServed.add(1, ordering: .relaxed)
        exchange.lendHandle()
        if route.isBlocking { return .waiting(.threadPool(exchange)) }
        // Marked as this generation's code (outermost, so the watchdog's record of a non-blocking
        // call names the version too): a crash or a hang in it quarantines that version.
        let status = withPluginCode(plugin.codeTag) { withNonBlockingContext(route.activityLabel) { Self.call(route, exchange) } }
        if status == SB_PENDING { return .waiting(.response(exchange)) }
        return .answered(handlerReturned(status, exchange, call))
    }

    /// The response of a handler that returned `status` (not SB_PENDING): its own, or a 500 when
    /// it failed without one.
    private func handlerReturned(_ status: sb_status, _ exchange: Exchange, _ call: Call) -> HostResponse {
        let plugin = call.route.plugin
        if let response = exchange.response(afterHandlerReturned: status) {
            if status != SB_OK {
                logger.warning(
                    "handler responded, then returned status \(status); the response stands",
                    metadata: ["plugin": "\(plugin.name)", "route": "\(call.route.signature)"])
            }
            return response
        }
        plugin.failures.add(1, ordering: .relaxed)
        call.route.instruments?.errors.increment()
        let why = status == SB_OK ? "returned SB_OK without responding" : "failed with status \(status)"
        logger.error(
            "handler \(why)",
            metadata: ["plugin": "\(plugin.name)", "route": "\(call.route.signature)", "generation": "\(plugin.generation)"])
        var failed = JSONError.make(.internalServerError, detail: "Internal Server Error")
        if exchange.negotiated { failed.headers.addVary("Accept") }
        return failed
    }

    /// Makes `response` the GET response's status and headers without its body. A streamed body keeps no
    /// Content-Length, so the head still says what a GET would send (chunked); NIO suppresses the
    /// body framing of a HEAD response.
    static func dropBodyForHead(_ response: inout HostResponse) {
        response.body = response.body.contentLength == nil ? .writer(ResponseBody(contentLength: nil) { try await $0.finish(nil) }) : .bytes(ByteBuffer())
    }

    private static func call(_ route: RouteEntry, _ exchange: Exchange) -> sb_status {
        let declaration = route.declaration
        if let typed = declaration.typedHandler, let call = route.typedCall {
            return call.invoke(
                typed, handlerData: declaration.handlerData, request: exchange.handle, values: exchange.parameterValues,
                lend: { UnsafePointer(exchange.lend($0).ptr) })
        }
        guard let handler = declaration.handler else { return SB_ERR_UNSUPPORTED }
        return handler(declaration.handlerData, exchange.handle)
    }
}

/// FastAPI-shaped JSON error bodies: `{"detail": "..."}`.
enum JSONError {
    static func make(_ status: HTTPResponse.Status, detail: String) -> HostResponse {
        make(status, body: "{\"detail\":" + JSON.quote(detail) + "}")
    }

    /// A JSON error whose body is already serialised (a 422's `{"detail":[…]}`).
    static func make(_ status: HTTPResponse.Status, body: String) -> HostResponse {
        HostResponse(status: status, headers: [.contentType: "application/json"], body: .bytes(ByteBuffer(string: body)))
    }

    /// `make`'s response as Hummingbird's (the admin API and the docs answer with those).
    static func response(_ status: HTTPResponse.Status, detail: String) -> Response {
        make(status, detail: detail).response
    }
}
