import Hummingbird
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Answers requests to plugin routes on the connection's event loop, without the connection's
/// task, when it can: a request with no body, not to a host path, whose response is ready when
/// the handler returns and is one buffer (what most routes answer). The rest goes on to the task
/// (Hummingbird's request loop) as before.
///
/// It sits after the conversion to HTTP types, so the `ConnectionGuard` below sees every request
/// and response either way (limits, timeouts, keep-alive, quiescing). Responses leave in request
/// order: a request is answered here only when the task has no response still to end; while it
/// has, every part is passed on. A request started here whose answer is not ready (a body to
/// stream, a file, a coded body, a handler on the thread pool or answering later) is passed on
/// with what it started as (`Handover`), and the task finishes it: its handler runs once.
///
/// Measured (bench/run.sh, RESULTS.md): the text route's requests per second went from 0.4–0.5
/// of a bare SwiftNIO server to … .
final class EventLoopDispatch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let responder: ConnectionResponder
    private let handover: Handover
    private var state = State.idle

    private enum State {
        /// No response is owed: the next request may be answered here.
        case idle
        /// A request without a body, held until its end is parsed.
        case holding(HTTPRequest)
        /// The task owes `responses` responses (each ends with `.end`); every part is passed on.
        case passing(responses: Int)
    }

    init(responder: ConnectionResponder, handover: Handover) {
        self.responder = responder
        self.handover = handover
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch state {
        case .idle:
            if case .head(let head) = part, mayAnswer(head) {
                state = .holding(head)
            } else {
                if case .head = part { state = .passing(responses: 1) }
                context.fireChannelRead(data)
            }
        case .holding(let head):
            if case .end = part {
                state = .idle
                answer(head, context: context)
            } else {
                // Not expected (nothing declared a body), but the task reads it as it came.
                state = .passing(responses: 1)
                context.fireChannelRead(wrapInboundOut(.head(head)))
                context.fireChannelRead(data)
            }
        case .passing(let responses):
            if case .head = part { state = .passing(responses: responses + 1) }
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), case .passing(let responses) = state {
            state = responses > 1 ? .passing(responses: responses - 1) : .idle
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A parse error the guard passes on: the task answers it, before any request held here.
        if case .holding = state { state = .passing(responses: 0) }
        context.fireErrorCaught(error)
    }

    /// A request without a body to a path that is not the host's.
    private func mayAnswer(_ head: HTTPRequest) -> Bool {
        guard let path = head.path, !head.headerFields.declaresBody else { return false }
        return !responder.responder.isHostPath(path)
    }

    private func answer(_ head: HTTPRequest, context: ChannelHandlerContext) {
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
        let started = responder.responder.start(request, channel: context.channel)
        guard case .answered(var response) = started, case .bytes(let bytes) = response.body else {
            handover.put(started)
            state = .passing(responses: 1)
            context.fireChannelRead(wrapInboundOut(.head(head)))
            context.fireChannelRead(wrapInboundOut(.end(nil)))
            return
        }
        responder.stamp(&response.headers)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: response.status, headerFields: response.headers))), promise: nil)
        if bytes.readableBytes > 0 { context.write(wrapOutboundOut(.body(bytes)), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// A request `EventLoopDispatch` started and passed on to the connection's task, which finishes it
/// (`ConnectionResponder.answer`): at most one at a time, taken by the next request the task reads.
final class Handover: Sendable {
    private let started = Mutex<PluginResponder.Started?>(nil)

    func put(_ started: PluginResponder.Started) {
        self.started.withLock { $0 = started }
    }

    func take() -> PluginResponder.Started? {
        started.withLock { $0.take() }
    }
}
