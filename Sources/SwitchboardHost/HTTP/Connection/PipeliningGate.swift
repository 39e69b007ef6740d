import NIOCore
import NIOHTTPTypes

/// Hands the connection's task (Hummingbird's request loop, through `NIOAsyncChannel`) one
/// request at a time: what a client pipelines behind the request the task is answering waits
/// here until the task has written that response's `.end`, and the socket is not read while
/// anything waits. NIO's `HTTPServerPipelineHandler` does the same for a whole connection; this
/// one sits at the tail, after `EventLoopResponder`, so it holds only what the task answers, and
/// it leaves refusals and timeouts to the `ConnectionGuard`.
///
/// Why: the task writes from its own thread, so each write reaches the channel as a task on the
/// event loop, and the channel's writability (which the task's writer waits on) lags behind what
/// the task has written. With pipelined requests already read, the task could answer hundreds
/// of them meanwhile: a client that pipelined 2,000 requests for 64 KiB answered by the task and
/// never read grew the server by 36–39 MiB in 2 of 5 runs (debug build;
/// `EdgeTests.aClientThatSendsWithoutReadingIsHeldBack`). Here the task gets the next request
/// only after the loop has taken its last response, when the writability it waits on is current.
///
/// Order is kept: a request's parts, and any inbound event or error that came after them, pass
/// on in the order they arrived, until the channel goes inactive (what waits is then dropped).
/// A request that is not pipelined passes at once.
///
/// When the `ConnectionGuard` says the connection answers nothing more (`LastResponse`: its last
/// response was written, or it is open-ended), the requests pipelined behind it are dropped
/// unprocessed, as RFC 9112 §9.6 asks of a server that closes (a graceful shutdown would
/// otherwise run a pipelined POST whose answer can no longer be sent), and reads are no longer
/// held back: what the client sends is dropped.
final class PipeliningGate: ChannelDuplexHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// The task has no request: the next head passes.
        case idle
        /// The task has a request. Its remaining parts pass until its `.end` has
        /// (`requestEnded`); the next request passes once that has happened and the task has
        /// written its response's `.end` (`responded`), in either order.
        case answering(requestEnded: Bool, responded: Bool)
        /// The connection answers nothing more: the rest of the task's request passes (until
        /// `requestEnded`), every later request is dropped, and reads are not held back.
        case closing(requestEnded: Bool)
    }

    /// What arrived behind the task's request, in order: at most what one read event of the
    /// socket held (NIO's `maxMessagesPerRead` reads of up to its allocator's buffer size, 4 ×
    /// 64 KiB by default), since nothing more is read while it is not empty.
    private enum Waiting {
        case part(HTTPRequestPart)
        case event(Any)
        case error(any Error)
    }

    private var state = State.idle
    private var waiting = CircularBuffer<Waiting>()
    /// A read was asked for while something waited: it is made once nothing does.
    private var readPending = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if waiting.isEmpty, passes(part) {
            pass(part, context: context)
        } else if case .closing = state {
            return  // a request the connection will not answer: not processed
        } else {
            waiting.append(.part(part))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ConnectionGuard.LastResponse {
            close(context: context)
            return
        }
        // The client closing its side must not overtake the requests it sent before.
        if waiting.isEmpty { context.fireUserInboundEventTriggered(event) } else { waiting.append(.event(event)) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if waiting.isEmpty { context.fireErrorCaught(error) } else { waiting.append(.error(error)) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // No response can reach the client now: what waits is dropped.
        waiting.removeAll()
        readPending = false
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if waiting.isEmpty {
            context.read()
        } else {
            readPending = true
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ends: Bool
        if case .end = unwrapOutboundIn(data) { ends = true } else { ends = false }
        context.write(data, promise: promise)
        // A last response has made the guard say `LastResponse` during that write: the state is
        // `.closing` then, and nothing is released.
        guard ends, case .answering(let requestEnded, _) = state else { return }
        if requestEnded {
            state = .idle
            release(context: context)
        } else {
            // Answered before its body ended: the rest of the body still goes to the task.
            state = .answering(requestEnded: false, responded: true)
        }
    }

    /// Whether `part` may go on to the task now: a new request when it has none, or more of the
    /// one it has.
    private func passes(_ part: HTTPRequestPart) -> Bool {
        switch state {
        case .idle: true
        case .answering(let requestEnded, _), .closing(let requestEnded): !requestEnded
        }
    }

    private func pass(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head:
            state = .answering(requestEnded: false, responded: false)
        case .body:
            break
        case .end:
            switch state {
            case .answering(_, let responded): state = responded ? .idle : .answering(requestEnded: true, responded: false)
            case .closing: state = .closing(requestEnded: true)
            case .idle: break
            }
        }
        context.fireChannelRead(wrapInboundOut(part))
    }

    /// The connection answers nothing more: what waits is dropped but for its events and errors,
    /// which pass in order, and a read held back is made.
    private func close(context: ChannelHandlerContext) {
        switch state {
        case .idle: state = .closing(requestEnded: true)
        case .answering(let requestEnded, _): state = .closing(requestEnded: requestEnded)
        case .closing: return
        }
        while let next = waiting.popFirst() {
            switch next {
            case .part: continue
            case .event(let event): context.fireUserInboundEventTriggered(event)
            case .error(let error): context.fireErrorCaught(error)
            }
        }
        if readPending {
            readPending = false
            context.read()
        }
    }

    /// Passes on what waited, up to the next request the task cannot take yet, then reads again
    /// if a read was asked for meanwhile.
    private func release(context: ChannelHandlerContext) {
        var passedParts = false
        loop: while let next = waiting.first {
            switch next {
            case .part(let part):
                guard passes(part) else { break loop }
                waiting.removeFirst()
                pass(part, context: context)
                passedParts = true
            case .event(let event):
                waiting.removeFirst()
                context.fireUserInboundEventTriggered(event)
            case .error(let error):
                waiting.removeFirst()
                context.fireErrorCaught(error)
            }
        }
        // NIOAsyncChannel hands its task what was read when a read completes: outside a read,
        // this is that moment.
        if passedParts { context.fireChannelReadComplete() }
        if waiting.isEmpty, readPending {
            readPending = false
            context.read()
        }
    }
}
