import class SwitchboardSDK.Locked
import CSwitchboard
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchboardRouting
import Synchronization

/// One HTTP exchange as a plugin sees it: the `sb_request` handle.
///
/// Invariants:
/// - Exactly one response call succeeds (`respond` or `beginStream`); later ones get SB_ERR_STATE.
/// - Strings lent to the plugin live in `arena` and stay put until the exchange is deallocated,
///   which happens only after the response is complete: the responder holds the exchange while it
///   waits, and a stream holds it until `stream_finish`.
/// - `continuation` is set only while the responder waits for a pending (SB_PENDING) handler.
/// - The exchange holds a lease on its plugin instance (taken by the responder before creating it,
///   returned in `deinit`): the generation it started on stays loaded until it is gone.
final class Exchange: Drainable, @unchecked Sendable {
    let request: Request
    let route: RouteEntry
    /// Percent-encoded path parameter values, in template order.
    let rawParameters: [Substring]
    let body: ByteBuffer?
    /// The validated values of the route's declared parameters, in declaration order.
    let parameterValues: [ParameterValue?]
    /// The connection's event loop (nil for a request without a channel): body writers pace
    /// themselves on it.
    let eventLoop: (any EventLoop)?
    /// Completes when the connection has closed (nil without a channel).
    let connectionClosed: EventLoopFuture<Void>?

    private struct State: @unchecked Sendable {
        /// Allocated on the first string lent: most handlers borrow nothing.
        var arena: BorrowArena? = nil
        var headers = HTTPFields()
        var outcome: Response? = nil
        var responded = false
        /// The handler has returned and the responder no longer accepts a response.
        var sealed = false
        var continuation: CheckedContinuation<Response, Never>? = nil
        /// The plugin's `sb_request` handle keeps the exchange alive until its one response call
        /// (accepted, or refused after a drain deadline) or until its handler failed without one,
        /// so a late call never reaches freed memory.
        var handleHeld = true
        /// The lease was returned early, at a drain deadline.
        var leaseReturned = false
        var queryItems: [(name: Substring, value: Substring)]? = nil
        /// The plugin negotiated the response's media type (request_negotiate): the response
        /// varies by Accept, whatever it turns out to be.
        var negotiated = false
    }
    private let state = Locked(State())
    private let bodyClaimed = Atomic<Bool>(false)

    init(
        request: Request, route: RouteEntry, rawParameters: [Substring], body: ByteBuffer?,
        parameterValues: [ParameterValue?] = [], queryItems: [(name: Substring, value: Substring)]? = nil,
        eventLoop: (any EventLoop)? = nil, connectionClosed: EventLoopFuture<Void>? = nil
    ) {
        self.eventLoop = eventLoop
        self.connectionClosed = connectionClosed
        self.request = request
        self.route = route
        self.rawParameters = rawParameters
        self.body = body
        self.parameterValues = parameterValues
        if let queryItems { state.withLock { $0.queryItems = queryItems } }
    }

    deinit {
        if !state.withLock({ $0.leaseReturned }) { route.plugin.leave() }
    }

    /// Called once by the responder before the handler runs: the handle's own reference.
    func lendHandle() {
        _ = Unmanaged.passRetained(self)
    }

    /// Drops the handle's reference, once; the caller decided under the lock that it is time.
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
            if s.arena == nil { s.arena = BorrowArena() }
            return s.arena!.copy(bytes)
        }
    }

    var path: String { request.uri.path }

    var query: Substring { request.uri.query.map { $0[...] } ?? "" }

    func pathParameter(_ name: String) -> String? {
        guard let index = route.template.parameterNames.firstIndex(of: name) else { return nil }
        return rawParameters[index].percentDecoded()
    }

    func queryParameter(_ name: String, index: Int) -> String? {
        let items = state.withLock { s in
            if let items = s.queryItems { return items }
            let parsed = QueryString.items(query)
            s.queryItems = parsed
            return parsed
        }
        var seen = 0
        for item in items where item.name.percentDecoded(plusIsSpace: true) == name {
            if seen == index { return item.value.percentDecoded(plusIsSpace: true) }
            seen += 1
        }
        return nil
    }

    /// The validated value of the declared parameter `name`.
    func parameterValue(_ name: String) -> ParameterValue? {
        guard let index = route.parameters.firstIndex(where: { $0.name == name }) else { return nil }
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
        guard !state.withLock({ $0.responded }) else { return .failure(.responded) }
        let outcome = Result { () throws(ProactiveNegotiation.OfferError) in
            try ProactiveNegotiation.choose(acceptLines: request.headers[values: .accept], offeredCount: offeredCount, offered: offered)
        }
        switch outcome {
        case .failure(let error):
            return .failure(.offer(error))
        case .success(let index):
            let accepted = state.withLock { s in
                guard !s.responded else { return false }
                s.negotiated = true
                return true
            }
            return accepted ? .success(index) : .failure(.responded)
        }
    }

    /// Whether the plugin negotiated: a response the host makes in its stead (a 500 for a
    /// handler that failed after negotiating) also varies by Accept.
    var negotiated: Bool { state.withLock { $0.negotiated } }

    enum NegotiationFailure: Error {
        case offer(ProactiveNegotiation.OfferError)
        case responded
    }

    // MARK: Responding

    func addHeader(name: String, value: String) -> sb_status {
        guard let fieldName = HTTPField.Name(name), HTTPField.isValidValue(value) else {
            return SB_ERR_INVALID_ARGUMENT
        }
        return state.withLock { s in
            guard !s.responded else { return SB_ERR_STATE }
            s.headers.append(HTTPField(name: fieldName, value: value))
            return SB_OK
        }
    }

    /// Records the one response. `body` runs (with the response's headers, which it may add to)
    /// only if this is the first response call.
    func respond(status: UInt16, body: (inout HTTPFields) -> ResponseBody) -> sb_status {
        guard (100...999).contains(status) else { return SB_ERR_INVALID_ARGUMENT }
        let (result, waiter, response, release) = state.withLock { s -> (sb_status, CheckedContinuation<Response, Never>?, Response?, Bool) in
            let release = s.handleHeld
            s.handleHeld = false
            guard !s.responded, !s.sealed else { return (SB_ERR_STATE, nil, nil, release) }
            s.responded = true
            var headers = s.headers
            if s.negotiated { headers.addVary("Accept") }
            let responseBody = body(&headers)
            if headers[.contentType] == nil, responseBody.contentLength != 0 {
                headers[.contentType] = "application/octet-stream"
            }
            let response = Response(status: .init(code: Int(status)), headers: headers, body: responseBody)
            if let waiter = s.continuation {
                s.continuation = nil
                return (SB_OK, waiter, response, release)
            }
            s.outcome = response
            return (SB_OK, nil, nil, release)
        }
        if let waiter, let response { waiter.resume(returning: response) }
        if release { releaseHandle() }
        return result
    }

    /// The drain deadline passed while the handler was still pending: the host answers 503 and the
    /// plugin's own late response is refused with SB_ERR_STATE.
    func endForDrain() {
        var unavailable = JSONError.response(.serviceUnavailable, detail: "The plugin was unloaded before it answered; retry the request")
        let (ended, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Response, Never>?) in
            guard !s.responded, !s.sealed else { return (false, nil) }
            if s.negotiated { unavailable.headers.addVary("Accept") }
            s.responded = true
            s.sealed = true
            // The plugin may still answer late (and is refused); the generation need not wait.
            s.leaseReturned = true
            guard let waiter = s.continuation else {
                s.outcome = unavailable
                return (true, nil)
            }
            s.continuation = nil
            return (true, waiter)
        }
        guard ended else { return }
        waiter?.resume(returning: unavailable)
        route.plugin.leave()
    }

    /// After the handler returned `status`: the response, waiting for it when the handler is pending.
    /// `nil` means the handler failed without a response; the exchange is then sealed.
    func response(afterHandlerReturned status: sb_status) async -> Response? {
        if status == SB_PENDING {
            route.plugin.track(self)
            defer { route.plugin.untrack(self) }
            return await withCheckedContinuation { (waiter: CheckedContinuation<Response, Never>) in
                let ready = state.withLock { s -> Response? in
                    // Taken out, not copied: a stream's body refers back to this exchange.
                    if let outcome = s.outcome { s.outcome = nil; return outcome }
                    s.continuation = waiter
                    return nil
                }
                if let ready { waiter.resume(returning: ready) }
            }
        }
        let (outcome, release) = state.withLock { s -> (Response?, Bool) in
            // Taken out, not copied: a stream's body refers back to this exchange.
            defer { s.outcome = nil }
            guard s.outcome == nil else { return (s.outcome, false) }
            // Failed without responding: the handle is invalid from here.
            s.sealed = true
            let release = s.handleHeld
            s.handleHeld = false
            return (nil, release)
        }
        if release { releaseHandle() }
        return outcome
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
