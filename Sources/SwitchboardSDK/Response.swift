import CSwitchboard

/// What a handler answers: a status, headers and a body, sent by the SDK through the host.
public struct Response: Sendable {
    /// The HTTP status code; the host refuses one outside 200…999 (the send fails: a 1xx
    /// is interim, never a final response).
    public var status: Int
    /// Header fields, sent in order; a name that is not a token, or a value with CR, LF or NUL,
    /// fails the send (logged).
    public var headers: [(name: String, value: String)]
    var body: Body

    enum Body: Sendable {
        case bytes([UInt8])
        case file(path: String, contentType: String, downloadName: String, attachment: Bool)
        case stream(@Sendable (ResponseStream) -> Void)
        case topicStream(TopicStream)
        case later(@Sendable (Responder) -> Void)
    }

    struct TopicStream: Sendable {
        var topic: String
        var event: String
        var comment: String
        var keepalive: Duration?
        var lagLimit: Int
    }

    /// A response whose `body` the host copies when it is sent; without a `content-type` header the
    /// host sends `application/octet-stream` (none for an empty body).
    public init(status: Int = 200, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = .bytes(body)
    }

    init(status: Int, headers: [(name: String, value: String)], _ body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The same response with one more header.
    public func header(_ name: String, _ value: String) -> Response {
        var copy = self
        copy.headers.append((name, value))
        return copy
    }

    // MARK: Bodies

    /// `text` as UTF-8, `text/plain; charset=utf-8`.
    public static func text(_ text: String, status: Int = 200) -> Response {
        Response(status: status, headers: [("content-type", "text/plain; charset=utf-8")], body: Array(text.utf8))
    }

    /// `html` as UTF-8, `text/html; charset=utf-8`.
    public static func html(_ html: String, status: Int = 200) -> Response {
        Response(status: status, headers: [("content-type", "text/html; charset=utf-8")], body: Array(html.utf8))
    }

    /// XML; pass "application/rss+xml" or "application/atom+xml" for feeds.
    public static func xml(_ xml: String, status: Int = 200, contentType: String = "application/xml") -> Response {
        Response(status: status, headers: [("content-type", contentType)], body: Array(xml.utf8))
    }

    /// `value` as JSON (`JSONEncoding`): compact, keys in declaration order, unless `options`
    /// say pretty, camelCase or sorted. Throws `JSONWriter.NonFiniteNumber` for NaN or infinity,
    /// `ISO8601.OutOfRange` for a date outside years 1 to 9999, an `EncodingError` from the value's
    /// own `encode(to:)`; the route answers each with a 500 and a JSON body.
    public static func json(_ value: some Encodable, options: JSONOptions = .compact, status: Int = 200) throws -> Response {
        jsonBytes(try JSONEncoding.encode(value, options: options), status: status)
    }

    /// `value` as JSON written by its own `write(to:)` (`JSONWritable`, the fast path): the same
    /// options as the `Encodable` form. Throws what `write(to:)` throws (a `NonFiniteNumber`
    /// here names no coding path), and `JSONEncoding.MalformedDocument` when it did not write
    /// exactly one complete value; the route answers 500 with a JSON body.
    @inlinable
    public static func json(_ value: some JSONWritable, options: JSONOptions = .compact, status: Int = 200) throws -> Response {
        jsonBytes(try JSONEncoding.encode(value, options: options), status: status)
    }

    /// A value that is both `JSONWritable` and `Encodable` is written by `write(to:)`.
    @inlinable
    public static func json(_ value: some JSONWritable & Encodable, options: JSONOptions = .compact, status: Int = 200) throws -> Response {
        jsonBytes(try JSONEncoding.encode(value, options: options), status: status)
    }

    /// JSON bytes already written, as `application/json`.
    @usableFromInline
    static func jsonBytes(_ body: [UInt8], status: Int) -> Response {
        Response(status: status, headers: [("content-type", "application/json")], body: body)
    }

    /// JSON text the plugin already serialised.
    public static func json(raw: String, status: Int = 200) -> Response {
        jsonBytes(Array(raw.utf8), status: status)
    }

    /// `bytes` as given, labelled `contentType`.
    public static func bytes(_ bytes: [UInt8], contentType: String = "application/octet-stream", status: Int = 200) -> Response {
        Response(status: status, headers: [("content-type", contentType)], body: bytes)
    }

    /// A status with no body (204, 304, …).
    public static func empty(status: Int = 204) -> Response {
        Response(status: status)
    }

    /// A file the host serves (Range, conditional requests and HEAD are the host's job). `path`
    /// must be absolute and already checked to be inside the directory the plugin serves from.
    public static func file(_ path: String, contentType: String = "", downloadName: String = "", attachment: Bool = false) -> Response {
        Response(status: 200, headers: [], .file(path: path, contentType: contentType, downloadName: downloadName, attachment: attachment))
    }

    /// A chunked response written by `producer`, which must eventually call `finish()` — from any
    /// thread, typically from timers or `onWritable`.
    public static func stream(status: Int = 200, contentType: String = "application/octet-stream", _ producer: @escaping @Sendable (ResponseStream) -> Void) -> Response {
        Response(status: status, headers: [("content-type", contentType)], .stream(producer))
    }

    /// A Server-Sent Events stream: `text/event-stream`, no caching, no proxy buffering, and a
    /// `: ping` comment every `keepalive` (nil: none) so proxies and clients do not time it out.
    /// The host ends it cleanly at graceful shutdown and at a swap's drain deadline (the client
    /// reconnects with `Last-Event-ID`): `onClose` tells the producer.
    public static func eventStream(keepalive: Duration? = .seconds(15), _ producer: @escaping @Sendable (EventStream) -> Void) -> Response {
        Response(
            status: 200,
            headers: [("content-type", "text/event-stream"), ("cache-control", "no-cache"), ("x-accel-buffering", "no")],
            .stream { stream in
                let events = EventStream(stream)
                if let keepalive { stream.keepAlive(every: keepalive) { events.comment("ping") } }
                producer(events)
            })
    }

    /// A chunked response written by an async `body`, in its own task once the handler has
    /// returned: `try await writer.write(…)` waits while the connection's queue is full. The
    /// response ends when `body` returns (or throws: logged, and the body ends there). When the
    /// client leaves, the task is cancelled and writes throw `ResponseStream.WriteError.closed`.
    public static func stream(
        status: Int = 200, contentType: String = "application/octet-stream",
        _ body: @escaping @Sendable (ResponseBodyWriter) async throws -> Void
    ) -> Response {
        .stream(status: status, contentType: contentType) { (stream: ResponseStream) in AsyncStreamDriver(stream: stream).start(body) }
    }

    /// A Server-Sent Events stream (as `eventStream(keepalive:_:)`) written by an async `body`:
    /// `try await events.send(…)` waits for room; the task is cancelled when the client leaves.
    public static func eventStream(
        keepalive: Duration? = .seconds(15), _ body: @escaping @Sendable (EventStreamWriter) async throws -> Void
    ) -> Response {
        .eventStream(keepalive: keepalive) { (events: EventStream) in
            AsyncStreamDriver(stream: events.stream).start { writer in try await body(EventStreamWriter(writer: writer)) }
        }
    }

    /// A Server-Sent Events stream of `events`, each sent as the connection takes it; the response
    /// ends when the sequence does (or throws). Make one sequence per response: an `AsyncStream`
    /// has one consumer, and iterating it from two responses at once is a fatal error. Its
    /// iterator should end when its task is cancelled (the client left), as `AsyncStream`'s does.
    public static func eventStream<Events: AsyncSequence & Sendable>(keepalive: Duration? = .seconds(15), events: Events) -> Response
    where Events.Element == ServerSentEvent {
        .eventStream(keepalive: keepalive) { (writer: EventStreamWriter) in
            for try await event in events { try await writer.send(event) }
        }
    }

    /// A Server-Sent Events stream the host feeds from `topic` (`App.publish`): each message
    /// published to it from now on reaches this client as one event (`event: <event>` if given,
    /// a `data:` line per line of the message), encoded once for all such clients and written by
    /// the host; no code of the plugin runs per client or per message. `comment` goes first, and a
    /// client that has read it gets every later message. A `: ping` comment every `keepalive`
    /// (nil: none). A client whose connection takes nothing while `lagLimit` messages are
    /// published is sent `event: dropped` (a JSON string saying why) and its response ends. Ends
    /// cleanly at graceful shutdown and at a swap's drain deadline, so EventSource reconnects.
    /// `event` and `comment` must not hold CR, LF or NUL, and `topic` must not be empty (else the
    /// send fails: SB_ERR_INVALID_ARGUMENT, logged, and the route answers 500). ABI 1.7.
    public static func topicEventStream(
        topic: String, event: String = "", comment: String = "", keepalive: Duration? = .seconds(15), lagLimit: Int = 256
    ) -> Response {
        Response(
            status: 200, headers: [],
            .topicStream(TopicStream(topic: topic, event: event, comment: comment, keepalive: keepalive, lagLimit: lagLimit)))
    }

    /// Answers later, from any thread: `start` gets a responder to call exactly once.
    public static func later(_ start: @escaping @Sendable (Responder) -> Void) -> Response {
        Response(status: 0, headers: [], .later(start))
    }

    /// Answers later from a task, as an `async` handler answers: `body` gets the request (valid
    /// until it returns) and returns the response; what it throws becomes one as a handler's
    /// error does (an `HTTPError` as it says, anything else a logged 500). For a synchronous
    /// handler that can answer most requests at once and must wait on some (`StateStore.lookup`'s
    /// `.pending`). The task is not cancelled when the client goes away; its send then fails
    /// (logged).
    public static func later(task body: @escaping @Sendable (Request) async throws -> Response) -> Response {
        .later { responder in
            Task {
                let request = responder.req
                let response: Response
                do {
                    response = try await body(request)
                } catch {
                    response = Response(error: error, app: request.app)
                }
                if !responder.send(response) { request.app.log(.error, "a later response could not be sent") }
            }
        }
    }

    // MARK: Sending

    /// The response for an error a handler threw: an `HTTPError` as it says, anything else 500.
    init(error: any Error, app: App) {
        if let error = error as? HTTPError {
            self = error.response
        } else {
            app.log(.error, "handler failed: \(error)")
            self = HTTPError(500, detail: "Internal Server Error").response
        }
    }

    /// Lends `headers` as `sb_field`s for the duration of `body`: their bytes copied into one
    /// temporary buffer (on the stack when small), so any number is lent in one call.
    private static func withFields(_ headers: [(name: String, value: String)], _ body: (UnsafeBufferPointer<sb_field>) -> sb_status) -> sb_status {
        var total = 0
        for (name, value) in headers { total += name.utf8.count + value.utf8.count }
        return withUnsafeTemporaryAllocation(of: sb_field.self, capacity: headers.count) { fields in
            withUnsafeTemporaryAllocation(byteCount: max(total, 1), alignment: 1) { text in
                var offset = 0
                func lend(_ string: String) -> sb_str {
                    let count = string.utf8.count
                    let slice = UnsafeMutableRawBufferPointer(rebasing: text[offset..<offset + count])
                    slice.copyBytes(from: string.utf8)
                    offset += count
                    return sb_str(ptr: slice.baseAddress?.assumingMemoryBound(to: CChar.self), len: count)
                }
                for (i, (name, value)) in headers.enumerated() {
                    fields.initializeElement(
                        at: i, to: sb_field(struct_size: UInt32(MemoryLayout<sb_field>.size), reserved: 0, name: lend(name), value: lend(value)))
                }
                defer { _ = fields.deinitialize() }
                return body(UnsafeBufferPointer(fields))
            }
        }
    }

    /// Whether the host takes `name: value` as a field (RFC 9110 §5.1, §5.5: a token, and a value
    /// of visible characters, spaces and tabs, not starting or ending with either), for the log
    /// line that names the field a refused response call had wrong.
    private static func isValidField(_ name: String, _ value: String) -> Bool {
        let space: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        return name.utf8.isHTTPToken
            && !value.utf8.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
            && !(value.utf8.first.map(space) ?? false) && !(value.utf8.last.map(space) ?? false)
    }

    /// Sends through the host; the status a handler returns.
    func send(_ request: Request) -> sb_status {
        let api = request.app.api
        let handle = request.handle
        if case .later(let start) = body {
            start(Responder(request))
            return SB_PENDING
        }
        // One host call for the fields, status and body (ABI 1.8, which every host that loads
        // this SDK's plugins speaks), where it would be one per field and one more.
        if case .bytes(let bytes) = body {
            let code = UInt16(clamping: status)
            let status = Self.withFields(headers) { fields in
                withSBBytes(bytes) { api.response_send_fields(handle, code, fields.baseAddress, fields.count, $0) }
            }
            if status == SB_ERR_INVALID_ARGUMENT {
                if let (name, _) = headers.first(where: { !Self.isValidField($0.name, $0.value) }) {
                    request.app.log(.error, "invalid response header \"\(name)\" (status \(status))")
                } else {
                    request.app.log(.error, "the host refused the response (status \(status)): its status code \(self.status) or a field")
                }
            }
            return status
        }
        for (name, value) in headers {
            let status = withSBStr(name) { n in withSBStr(value) { v in api.response_header_add(handle, n, v) } }
            if status != SB_OK {
                request.app.log(.error, "invalid response header \"\(name)\" (status \(status))")
                return status
            }
        }
        let code = UInt16(clamping: status)
        switch body {
        case .bytes(let bytes):
            return withSBBytes(bytes) { api.response_send(handle, code, $0) }
        case .file(let path, let contentType, let downloadName, let attachment):
            let status = CStrings.scope { strings -> sb_status in
                var spec = sb_file_spec(
                    struct_size: UInt32(MemoryLayout<sb_file_spec>.size), flags: attachment ? UInt32(SB_FILE_ATTACHMENT) : 0,
                    path: strings.str(path), content_type: strings.str(contentType), download_name: strings.str(downloadName))
                return api.response_file(handle, &spec)
            }
            switch status {
            case SB_OK: return SB_OK
            case SB_ERR_NOT_FOUND: return HTTPError(404, detail: "File not found").response.send(request)
            case SB_ERR_UNSUPPORTED: return HTTPError(501, detail: "This host cannot serve files yet").response.send(request)
            default: return status
            }
        case .stream(let producer):
            var stream: OpaquePointer? = nil
            let status = api.response_stream_begin(handle, code, &stream)
            guard status == SB_OK, let stream else { return status }
            producer(ResponseStream(app: request.app, handle: stream))
            return SB_OK
        case .topicStream(let stream):
            let status = CStrings.scope { strings -> sb_status in
                var spec = sb_topic_stream_spec(
                    struct_size: UInt32(MemoryLayout<sb_topic_stream_spec>.size), lag_limit: UInt32(clamping: max(1, stream.lagLimit)),
                    topic: strings.str(stream.topic), event: strings.str(stream.event), comment: strings.str(stream.comment),
                    keepalive_ns: stream.keepalive?.nanosecondsClamped ?? 0)
                return api.response_topic_stream(handle, code, &spec)
            }
            if status != SB_OK { request.app.log(.error, "topic event stream refused (status \(status)): check its topic, event and comment") }
            return status
        case .later:
            return SB_ERR_INTERNAL
        }
    }
}

/// Answers a request later (`Response.later`). Call `send` exactly once, from any thread.
public struct Responder: Sendable {
    let request: Request

    init(_ request: Request) { self.request = request }

    /// The request being answered (valid until `send`).
    public var req: Request { request }

    /// Sends `response`; true when the host took it. Call it once: the request is invalid after
    /// its response call.
    @discardableResult
    public func send(_ response: Response) -> Bool {
        let status = response.send(request)
        return status == SB_OK || status == SB_PENDING
    }
}

/// An error that becomes a response: a status and a FastAPI-shaped body `{"detail": …}`.
///
///     throw HTTPError(404, detail: "Item not found")
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status code, e.g. 404.
    public var status: Int
    /// Header fields sent after `content-type: application/json`.
    public var headers: [(name: String, value: String)]
    /// The JSON body, serialised.
    public var body: String

    /// An error whose body is `{"detail": detail}`, `detail` escaped as a JSON string.
    public init(_ status: Int, detail: String, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.headers = headers
        self.body = "{\"detail\":\(JSON.quote(detail))}"
    }

    /// An error whose JSON body is `body` as given (e.g. the chapter's `{code, message, details}`).
    public init(_ status: Int, json body: String, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The error as a response: `status`, `content-type: application/json`, then `headers`, and
    /// `body` as UTF-8.
    public var response: Response {
        Response(status: status, headers: [("content-type", "application/json")] + headers, body: Array(body.utf8))
    }

    /// `HTTP 404: {"detail":…}`, for logs.
    public var description: String { "HTTP \(status): \(body)" }
}
