import struct SwitchboardCore.Locked
import CSwitchboard
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchboardRouting
import Synchronization

/// One HTTP exchange as a plugin sees it: the `sb_request` handle.
///
/// Its rules (one response call succeeds; who is resumed; when the handle's reference and the
/// generation's lease go back) are `ExchangeStateMachine`'s; this class holds it under a lock and
/// does what it returns. Strings lent to the plugin live in `arena` and stay put until the exchange
/// is deallocated, which happens only after the response is complete: the responder holds the
/// exchange while it waits, a stream holds it until `stream_finish`, and a topic stream until it
/// ends. The lease on the plugin
/// generation (taken by the responder before creating the exchange) goes back when the exchange is
/// deallocated, or earlier at a drain deadline.
final class Exchange: Drainable, Sendable {
    let request: Request
    let route: RouteEntry
    /// Percent-encoded path parameter values, in template order.
    let rawParameters: [Substring]
    let body: ByteBuffer?
    /// The validated values of the route's declared parameters, in declaration order.
    let parameterValues: [ParameterValue?]
    /// The connection the request arrived on; nil for a request that came through none (the
    /// in-process test host). A topic stream writes to it from its event loop.
    let channel: (any Channel)?
    /// The connection's event loop (nil without a channel): body writers pace themselves on it.
    var eventLoop: (any EventLoop)? { channel?.eventLoop }
    /// Completes when the connection has closed (nil without a channel).
    var connectionClosed: EventLoopFuture<Void>? { channel?.closeFuture }

    typealias StateMachine = ExchangeStateMachine<HostResponse, CheckedContinuation<HostResponse, Never>>
    private struct State {
        var machine = StateMachine()
        /// Allocated on the first string lent: most handlers borrow nothing.
        var arena: BorrowArena? = nil
        var queryItems: [(name: Substring, value: Substring)]? = nil
    }
    private let state: Locked<State>
    private let bodyClaimed = Atomic<Bool>(false)

    init(
        request: Request, route: RouteEntry, rawParameters: [Substring], body: ByteBuffer?,
        parameterValues: [ParameterValue?] = [], queryItems: [(name: Substring, value: Substring)]? = nil,
        channel: (any Channel)? = nil
    ) {
        self.channel = channel
        self.request = request
        self.route = route
        self.rawParameters = rawParameters
        self.body = body
        self.parameterValues = parameterValues
        self.state = Locked(State(queryItems: queryItems))
    }

    deinit {
        if state.withLock({ $0.machine.leaseHeld }) { route.plugin.leave() }
    }

    /// Called once by the responder before the handler runs: the handle's own reference.
    func lendHandle() {
        _ = Unmanaged.passRetained(self)
    }

    /// Drops the handle's reference, once: when the state machine says so.
    private func releaseHandle() {
        Unmanaged.passUnretained(self).release()
    }

    var handle: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ handle: OpaquePointer?) -> Exchange? {
        guard let handle else { return nil }
        return Unmanaged<Exchange>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    // MARK: Request access

    /// Copies `text` into the arena and returns the borrowed copy.
    func lend(_ text: some StringProtocol) -> sb_str {
        var copy = String(text)
        return copy.withUTF8 { utf8 in lend(bytes: UnsafeRawBufferPointer(utf8)) }
    }

    func lend(bytes: UnsafeRawBufferPointer) -> sb_str {
        state.withLock { s in
            if s.arena == nil { s.arena = BorrowArena.make() }
            return s.arena!.copy(bytes)
        }
    }

    var path: String { request.uri.path }

    var query: Substring { request.uri.query.map { $0[...] } ?? "" }

    /// The percent-decoded value of the path parameter whose name is `name`'s UTF-8 bytes
    /// (borrowed for the call), compared without decoding them; nil when the route has none by
    /// that name or its value does not decode (`Substring.percentDecoded`).
    func pathParameter(named name: UnsafeRawBufferPointer) -> String? {
        guard let index = route.pathParameterNames.firstIndex(where: { $0.hasSameCodePoints(asUTF8: name) }) else { return nil }
        return rawParameters[index].percentDecoded()
    }

    /// The form-decoded value of the `index`-th query pair (0 is the first) whose name decodes to
    /// `name`'s UTF-8 bytes (borrowed for the call), or nil. The pairs are split once per request.
    func queryParameter(named name: UnsafeRawBufferPointer, index: Int) -> String? {
        let items = state.withLock { s in
            if let items = s.queryItems { return items }
            let parsed = QueryString.items(query)
            s.queryItems = parsed
            return parsed
        }
        // Decoded as validation reads it (`Substring.formDecoded`).
        return QueryString.value(items, namedUTF8: name, at: index)
    }

    /// The validated value of the declared parameter whose name is `name`'s UTF-8 bytes (borrowed
    /// for the call), compared without decoding them.
    func parameterValue(named name: UnsafeRawBufferPointer) -> ParameterValue? {
        guard let index = route.validation.specs.firstIndex(where: { $0.name.hasSameCodePoints(asUTF8: name) }) else { return nil }
        return parameterValues[index]
    }

    /// True once: the first caller may read the streamed body.
    func claimBodyStream() -> Bool {
        bodyClaimed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }

    /// Proactive negotiation of the response's media type (`request_negotiate`): the index of
    /// the offered type to send, nil when none is acceptable. Either way the response will carry
    /// `Vary: Accept`. Fails with SB_ERR_STATE after the response call.
    func negotiate(offeredCount: Int, offered: (Int) -> UnsafeBufferPointer<UInt8>) -> Result<Int?, NegotiationFailure> {
        // Refused before any work when the response call has been made.
        guard state.withLock({ $0.machine.mayRespond }) else { return .failure(.responded) }
        let outcome = Result { () throws(ProactiveNegotiation.OfferError) in
            try ProactiveNegotiation.choose(acceptLines: request.headers[values: .accept], offeredCount: offeredCount, offered: offered)
        }
        switch outcome {
        case .failure(let error):
            return .failure(.offer(error))
        case .success(let index):
            return state.withLock { $0.machine.negotiate() } ? .success(index) : .failure(.responded)
        }
    }

    /// Whether the plugin negotiated: a response the host makes in its stead (a 500 for a
    /// handler that failed after negotiating) also varies by Accept.
    var negotiated: Bool { state.withLock { $0.machine.negotiated } }

    enum NegotiationFailure: Error {
        case offer(ProactiveNegotiation.OfferError)
        case responded
    }

    // MARK: Responding

    /// Adds a response field: SB_ERR_INVALID_ARGUMENT unless `name` is a token (RFC 9110 §5.1)
    /// and `value` a valid field value (§5.5), SB_ERR_STATE once the response call has been made.
    func addHeader(name: String, value: String) -> sb_status {
        guard let fieldName = HTTPField.Name(name), HTTPField.isValidValue(value) else {
            return SB_ERR_INVALID_ARGUMENT
        }
        return addHeader(HTTPField(name: fieldName, value: value))
    }

    /// `response_header_add`: as `addHeader(name:value:)`, from the plugin's bytes (borrowed for
    /// the call); a value must also be UTF-8, as every string a plugin passes. The field is made
    /// from the bytes: one string for the value (what the field keeps), one for the name (stored
    /// inline for names up to 15 bytes).
    func addHeader(name: sb_str, value: sb_str) -> sb_status {
        guard let field = HTTPField(pluginName: name.bytes, value: value.bytes) else { return SB_ERR_INVALID_ARGUMENT }
        return addHeader(field)
    }

    private func addHeader(_ field: HTTPField) -> sb_status {
        state.withLock { $0.machine.addHeader(field) } ? SB_OK : SB_ERR_STATE
    }

    /// Records the one response. `body` runs (with the response's headers, which it may add to)
    /// only if this is the first response call; `Vary: Accept` is added after it when the plugin
    /// negotiated.
    func respond(status: UInt16, body: (inout HTTPFields) -> HostResponse.Body) -> sb_status {
        // 1xx is interim (RFC 9110 §15.2): sent as the final answer it would leave the client
        // waiting for another, and the next response on the connection answering the wrong request.
        guard (200...999).contains(status) else { return SB_ERR_INVALID_ARGUMENT }
        let action = state.withLock { s in
            s.machine.respond { (headers: consuming HTTPFields, negotiated) in
                let responseBody = body(&headers)
                // After `body`, which may add the plugin's own fields (response_send_fields): a
                // Vary among them gains Accept instead of being joined by a second one.
                if negotiated { headers.addVary("Accept") }
                if responseBody.contentLength != 0, !headers.contains(.contentType) {
                    headers[.contentType] = "application/octet-stream"
                }
                return HostResponse(status: .init(code: Int(status)), headers: consume headers, body: responseBody)
            }
        }
        if let (waiter, response) = action.resume { waiter.resume(returning: response) }
        if action.releaseHandle { releaseHandle() }
        return action.accepted ? SB_OK : SB_ERR_STATE
    }

    /// The drain deadline passed while the handler was still pending: the host answers 503 and the
    /// plugin's own late response is refused with SB_ERR_STATE.
    func endForDrain() {
        let action = state.withLock { s in
            s.machine.endForDrain { negotiated in
                var unavailable = JSONError.make(.serviceUnavailable, detail: "The plugin was unloaded before it answered; retry the request")
                if negotiated { unavailable.headers.addVary("Accept") }
                return unavailable
            }
        }
        if let (waiter, response) = action.resume { waiter.resume(returning: response) }
        // The plugin may still answer late (and is refused); the generation need not wait.
        if action.returnLease { route.plugin.leave() }
    }

    /// After the handler returned `status` (not SB_PENDING): its response, or nil when it
    /// failed without one; the handle is invalid from then on.
    func response(afterHandlerReturned status: sb_status) -> HostResponse? {
        precondition(status != SB_PENDING, "a pending handler's response is awaited (laterResponse)")
        let action = state.withLock { $0.machine.handlerReturned() }
        if action.releaseHandle { releaseHandle() }
        return action.response
    }

    /// After the handler returned SB_PENDING: the response it makes later, from any thread (or
    /// the 503 of a drain deadline).
    func laterResponse() async -> HostResponse {
        route.plugin.track(self)
        defer { route.plugin.untrack(self) }
        return await withCheckedContinuation { (waiter: CheckedContinuation<HostResponse, Never>) in
            // Taken out, not copied: a stream's body refers back to this exchange.
            if let ready = state.withLock({ $0.machine.awaitResponse(waiter) }) { waiter.resume(returning: ready) }
        }
    }
}

/// Writes to a response body, waiting now and then until the connection's event loop has taken
/// what was written.
///
/// The async writer holds a producer back only once the channel reports itself unwritable, and
/// only the event loop reports that: a producer on another thread (the file reader, a plugin's
/// stream) that outruns a busy event loop would otherwise queue without bound. After every
/// `interval` bytes the writer makes a round trip through the event loop, so at most that much
/// plus one write is ever in flight; small writes (events, lines) rarely pay for the hop.
struct PacedWriter {
    let eventLoop: (any EventLoop)?
    var interval = 64 * 1024
    private var unpaced = 0

    init(eventLoop: (any EventLoop)?) { self.eventLoop = eventLoop }

    mutating func write(_ buffers: [ByteBuffer], to writer: inout any ResponseBodyWriter) async throws {
        try await writer.write(contentsOf: buffers)
        guard let eventLoop else { return }
        for buffer in buffers { unpaced += buffer.readableBytes }
        if unpaced >= interval {
            unpaced = 0
            try await eventLoop.submit {}.get()
        }
    }
}

extension HTTPField {
    /// A field from a plugin's bytes (read, not kept): nil unless `name` is a token (RFC 9110
    /// §5.1; a byte that is not UTF-8 decodes to U+FFFD, which no token has) and `value` is UTF-8
    /// and a valid field value (§5.5). The value is made a string here, once: HTTP types' init from
    /// bytes would make one through the standard library's generic UTF-8 check.
    /// A value the host holds as a string already is not made again: `commonValues`.
    init?(pluginName name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard let fieldName = HTTPField.Name(String(decoding: name, as: UTF8.self)), HTTPField.isValidValue(value),
            let text = Self.commonValue(value) ?? String(utf8Bytes: value)
        else { return nil }
        self.init(name: fieldName, value: text)
    }

    /// Values most responses carry that are too long for a string's inline storage (15 bytes),
    /// so each would be a heap allocation and a copy per response: the common media types.
    private static let commonValues: [String] = [
        "application/json", "text/plain; charset=utf-8", "text/html; charset=utf-8", "application/octet-stream",
        "application/rss+xml", "application/problem+json", "text/csv; charset=utf-8",
    ]

    /// The shared string for `value` when it is one of `commonValues`, byte for byte.
    private static func commonValue(_ value: UnsafeRawBufferPointer) -> String? {
        guard value.count > 15 else { return nil }
        for common in commonValues where common.utf8.count == value.count {
            if common.utf8.withContiguousStorageIfAvailable({ $0.elementsEqual(value) }) == true { return common }
        }
        return nil
    }
}
