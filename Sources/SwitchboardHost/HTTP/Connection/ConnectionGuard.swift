import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import enum SwitchboardCore.JSON

/// Applies `ConnectionStateMachine` to one connection, and is its response encoder: inbound,
/// between NIO's HTTP/1 decoder and the conversion to HTTP types, where the request's version and
/// every header line are still seen; outbound, it writes the responses' bytes
/// (`HTTP1ResponseEncoding`).
///
/// It passes well-formed requests on and answers the rest itself (400, 408, 417, 431, 503 with
/// a JSON body, then closes), frames each response as the machine decides (the request's version,
/// a length or chunks, no content to HEAD, `Connection: close` when it is the last, `Date` and
/// `Server`), sends `100 Continue` when the server starts reading a body
/// (`ConnectionGuard.SendContinue`), enforces the header, idle, body and send timeouts, and
/// closes with a short linger so a client still sending sees the response instead of a reset.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = IOData

    /// An outbound user event: the server is about to read the current request's body, so an
    /// `Expect: 100-continue` is answered now (at most once; nothing if no interim response is due).
    struct SendContinue: Sendable {}

    /// An outbound user event: the response being sent is open-ended (a topic stream), so the
    /// client closing its side means it left. The connection is closed then (at once if the
    /// client already has), which completes its `closeFuture`: one watch that costs no task.
    struct CloseWhenInputCloses: Sendable {}

    /// An inbound user event: the connection answers nothing more. Its last response has been
    /// written (it closes after it), or the response being sent is open-ended
    /// (`CloseWhenInputCloses`). Requests pipelined behind it must not be processed (RFC 9112
    /// §9.6); `PipeliningGate` drops them.
    struct LastResponse: Sendable {}

    private var machine: ConnectionStateMachine
    private let metrics: ConnectionMetrics
    private let server: ServerFields
    /// How the response being written is framed (from its head until its end).
    private var sending: ResponseFraming? = nil
    /// Of a response with a `Content-Length`, the bytes still to send: body parts past it are cut
    /// off, and one that ends short or was cut ends the connection.
    private var remaining = 0
    /// Refuse this connection at once (more are open than `maxConnections`).
    private let overCapacity: Bool
    private var timer: Scheduled<Void>? = nil
    private var armedFor: NIODeadline? = nil
    /// Parts of the current request are passed on (false after a request that was held or refused).
    private var forwarding = true
    /// The decoder produced something since the last read completed.
    private var decoded = false
    /// What the client closing its side means: the end of a lingering close, or (after
    /// `CloseWhenInputCloses`) that it left; or, while neither, that it already has.
    private var input = InputWatch.unwatched
    private enum InputWatch { case unwatched, closeWhenClosed, closed }

    init(limits: ConnectionLimits, metrics: ConnectionMetrics, server: ServerFields, overCapacity: Bool) {
        self.machine = ConnectionStateMachine(limits: limits, now: .now())
        self.metrics = metrics
        self.server = server
        self.overCapacity = overCapacity
    }

    /// On the event loop: the response being sent is framed in chunks and has content (an
    /// HTTP/1.1 response without a Content-Length, not to HEAD), so bytes framed as chunks
    /// may be written below this handler (`TopicChunkWriter`).
    var respondsChunked: Bool {
        guard let sending else { return false }
        return sending.delimiting == .chunked && sending.sendsContent
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        if overCapacity {
            reject(.init(status: .serviceUnavailable, detail: "The server has too many connections open; retry shortly"), context: context)
            return
        }
        rearm(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        machine.closed()
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoded = true
        switch machine.phase {
        case .lingering, .closed: return  // read only to be dropped
        case .waiting, .open: break
        }
        let now = NIODeadline.now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            switch machine.head(head, now: now) {
            case .forward(let head):
                forwarding = true
                context.fireChannelRead(wrapInboundOut(.head(head)))
            case .hold:
                forwarding = false
            case .reject(let rejection):
                forwarding = false
                reject(rejection, context: context)
            }
        case .body:
            machine.bodyArrived(now: now)
            if forwarding { context.fireChannelRead(data) }
        case .end:
            machine.requestEnded(now: now)
            if forwarding { context.fireChannelRead(data) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !decoded { machine.bytesArrived(now: .now()) }
        decoded = false
        if case .lingering = machine.phase { context.read() }
        rearm(context: context)
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        // After a request to switch protocols NIO's decoder parses nothing more: reading on would
        // only pile bytes up in it.
        guard !machine.readsSuspended else { return }
        machine.readRequested(now: .now())
        rearm(context: context)
        context.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        let (propagate, action) = machine.parseError(error)
        forwarding = propagate
        if propagate { context.fireErrorCaught(error) }
        if case .reject(let rejection) = action { reject(rejection, context: context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            machine.quiesce(now: .now())
            rearm(context: context)  // an idle connection now waits only quiesceGrace
            return
        }
        if case ChannelEvent.inputClosed = event {
            if case .lingering = machine.phase {
                // The client has read the last response and closed its side: the linger is over.
                machine.closed()
                context.close(promise: nil)
                return
            }
            if case .closeWhenClosed = input {
                context.close(promise: nil)
                return
            }
            input = .closed
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        machine.writabilityChanged(writable: context.channel.isWritable, now: .now())
        rearm(context: context)
        context.fireChannelWritabilityChanged()
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch machine.phase {
        case .lingering, .closed:
            // The connection has answered its last response (or given up): nothing more goes out.
            promise?.fail(ChannelError.outputClosed)
            return
        case .waiting, .open:
            break
        }
        switch unwrapOutboundIn(data) {
        case .head(let head):
            let framing = machine.responseHead(status: head.status, fields: head.headerFields)
            if framing.isFinal {
                sending = framing
                if case .contentLength(let length) = framing.delimiting { remaining = length }
            }
            var buffer = context.channel.allocator.buffer(capacity: 256)
            HTTP1ResponseEncoding.writeHead(
                status: head.status, fields: head.headerFields, framing: framing, date: self.server.date, server: self.server.name, into: &buffer)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .body(let bytes):
            guard let sending else {
                // No response has begun: bytes here could only be read as the next response.
                promise?.fail(HTTP1ResponseEncoding.BodyOutsideResponse())
                return
            }
            guard sending.sendsContent, sending.delimiting != .chunked || bytes.readableBytes > 0 else {
                // A response to HEAD, or one without content, sends none; an empty chunk would be
                // the last. Its promise completes after what was written before it.
                if let promise { context.write(wrapOutboundOut(.byteBuffer(ByteBuffer())), promise: promise) }
                return
            }
            switch sending.delimiting {
            case .contentLength:
                guard bytes.readableBytes <= remaining else {
                    // More than the head declared: what fits goes out, and the connection ends.
                    machine.responseMiscounted()
                    let fits = bytes.getSlice(at: bytes.readerIndex, length: remaining) ?? ByteBuffer()
                    remaining = 0
                    context.write(wrapOutboundOut(.byteBuffer(fits)), promise: promise)
                    return
                }
                remaining -= bytes.readableBytes
                context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
                return
            case .connectionClose, .none:
                context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
                return
            case .chunked:
                break
            }
            context.write(wrapOutboundOut(.byteBuffer(HTTP1ResponseEncoding.chunkSizeLine(bytes.readableBytes, allocator: context.channel.allocator))), promise: nil)
            context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: nil)
            context.write(wrapOutboundOut(.byteBuffer(HTTP1ResponseEncoding.crlf)), promise: promise)
        case .end(let trailers):
            let framing = sending
            sending = nil
            if let framing, framing.sendsContent, case .contentLength = framing.delimiting, remaining > 0 {
                machine.responseMiscounted()  // short: the client is still waiting for the rest
            }
            remaining = 0
            if let framing, framing.delimiting == .chunked, framing.sendsContent {
                context.write(wrapOutboundOut(.byteBuffer(HTTP1ResponseEncoding.lastChunk(trailers: trailers, allocator: context.channel.allocator))), promise: promise)
            } else if let promise {
                // Completes once what was written before it has been.
                context.write(wrapOutboundOut(.byteBuffer(ByteBuffer())), promise: promise)
            }
            switch machine.responseEnded(now: .now()) {
            case .keepOpen:
                rearm(context: context)
            case .close(let linger):
                close(context: context, linger: linger)
            case .reject(let rejection):
                reject(rejection, context: context)
            }
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is CloseWhenInputCloses {
            promise?.succeed()
            context.fireUserInboundEventTriggered(LastResponse())
            if case .closed = input { context.close(promise: nil) } else { input = .closeWhenClosed }
            return
        }
        guard event is SendContinue else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if let version = machine.continueRequested(now: .now()) {
            var buffer = context.channel.allocator.buffer(capacity: 32)
            HTTP1ResponseEncoding.writeStatusLine(version: version, status: .continue, into: &buffer)
            buffer.writeStaticString("\r\n")
            context.writeAndFlush(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
            rearm(context: context)  // the body timeout starts now
        } else {
            promise?.succeed()
        }
    }

    // MARK: Answering and closing

    /// Writes a JSON error response the connection makes itself, then closes with a linger.
    private func reject(_ rejection: ConnectionStateMachine.Rejection, context: ChannelHandlerContext) {
        machine.rejected(now: .now())
        metrics.rejected(rejection.status.code)
        let body = "{\"detail\":" + JSON.quote(rejection.detail) + "}"
        let fields: HTTPFields = [.contentType: "application/json"]
        let framing = ResponseFraming(
            version: .http1_1, delimiting: .contentLength(body.utf8.count), sendsContent: !rejection.toHead, connection: .close, isFinal: true)
        var buffer = context.channel.allocator.buffer(capacity: 256 + body.utf8.count)
        HTTP1ResponseEncoding.writeHead(
            status: HTTPResponse.Status(code: Int(rejection.status.code), reasonPhrase: rejection.status.reasonPhrase), fields: fields,
            framing: framing, date: server.date, server: server.name, into: &buffer)
        if framing.sendsContent { buffer.writeString(body) }
        context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
        close(context: context, linger: true)
    }

    /// Closes gracefully: shuts the output once everything written has been sent (a full close
    /// now would drop what is still queued for a slow reader), then, with `linger`, reads and
    /// drops input until the client closes or the linger passes (unread bytes would otherwise
    /// make the kernel reset the connection, and the client could lose the response); without,
    /// closes at once. The send timeout bounds the wait for the output.
    private func close(context: ChannelHandlerContext, linger: Bool) {
        context.fireUserInboundEventTriggered(LastResponse())
        context.flush()
        let shut = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: shut)
        shut.futureResult.assumeIsolated().whenComplete { [self] result in
            guard case .success = result, linger else {
                context.close(promise: nil)
                return
            }
            machine.outputClosed(now: .now())
            rearm(context: context)
            context.read()
        }
        rearm(context: context)
    }

    /// Makes sure a timer fires no later than the machine's next deadline. A timer set for an
    /// earlier moment is kept (when it fires the machine finds nothing due, and the timer is set
    /// again), so a connection serving request after request schedules almost nothing.
    private func rearm(context: ChannelHandlerContext) {
        guard let deadline = machine.deadline else { return }
        if let armedFor, armedFor <= deadline { return }
        timer?.cancel()
        armedFor = deadline
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            armedFor = nil
            switch machine.timeout(now: .now()) {
            case .none:
                rearm(context: context)
            case .close(let timeout):
                if let timeout { metrics.timedOut(timeout) }
                context.close(promise: nil)
            case .reject(let rejection, let timeout):
                metrics.timedOut(timeout)
                reject(rejection, context: context)
            }
        }
    }
}
