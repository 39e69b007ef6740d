import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import NIOHTTPTypes
import struct SwitchboardCore.Locked

/// Answers requests to plugin routes on the connection's event loop, without the connection's
/// task, when it can: a request with no body, not to a host path, arriving while the task owes no
/// response and the connection is writable, whose response is ready when the handler returns and
/// is one buffer. Everything else goes on to the task (Hummingbird's request loop) as before.
///
/// It sits after the conversion to HTTP types, so the `ConnectionGuard` below sees every request
/// and response either way (limits, timeouts, keep-alive, quiescing). Responses leave in request
/// order: while the task owes a response, every part is passed on. A request started here whose
/// answer is not ready (a body to stream, a file, a coded body, a handler on the thread pool or
/// answering later) is passed on with what it started as (`Handover`), and the task finishes it:
/// its handler runs once. While the socket is not writable the task answers, so a client that
/// sends without reading stops being answered here; the task takes one request at a time
/// (`PipeliningGate`) and its writer waits while the socket is not writable.
///
/// Measured (bench/ab.sh against the build before it, bench/RESULTS.md): 1.01–1.50× the requests
/// per second on the example plugins' routes; the text route went from 0.4–0.5 of a bare SwiftNIO
/// server to 0.68, and to 0.74–0.76 with `TickFlush`.
final class EventLoopResponder: ChannelDuplexHandler {
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
        /// A request without a body, held until its end is parsed (NIO's decoder sends the end
        /// right after the head).
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
            if case .head(let head) = part, mayAnswer(head, context: context) {
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
                // A body after all: the task reads the request as it came.
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

    /// A request without a body to a path that is not the host's, on a connection that takes writes.
    private func mayAnswer(_ head: HTTPRequest, context: ChannelHandlerContext) -> Bool {
        guard let target = head.path, !head.headerFields.declaresBody, context.channel.isWritable else { return false }
        let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
        return !responder.responder.isHostPath(path)
    }

    private func answer(_ head: HTTPRequest, context: ChannelHandlerContext) {
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
        let started = responder.responder.start(request, channel: context.channel)
        let response: HostResponse
        let bytes: ByteBuffer
        switch consume started {
        case .answered(let answered) where answered.body.bytes != nil:
            response = answered
            bytes = response.body.bytes!
        case let other:
            handover.put(other, for: head)
            state = .passing(responses: 1)
            context.fireChannelRead(wrapInboundOut(.head(head)))
            context.fireChannelRead(wrapInboundOut(.end(nil)))
            return
        }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: response.status, headerFields: response.headers))), promise: nil)
        if bytes.readableBytes > 0 { context.write(wrapOutboundOut(.body(bytes)), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        // Past the write buffer's high-water mark, the kernel decides how much more this client
        // takes: flushed now, as a big response always was.
        if context.channel.isWritable {
            TickFlush.flushSoon(context.channel, on: context.eventLoop)
        } else {
            context.flush()
        }
    }
}

/// Flush consolidation across connections: the responses `EventLoopResponder` writes during one
/// tick of an event loop (the connections one `epoll_wait` returned as readable) are flushed
/// together once the tick's reads are done, instead of each as it is written. The writes then
/// leave back to back (one `writev` per connection, fewer for pipelined requests), so a client
/// that reads many connections (a load balancer, a proxy, `wrk`) is woken once for them rather
/// than once per response: on loopback the sender pays for that wake-up in its own system time.
/// Netty's `FlushConsolidationHandler` does the same within one connection; NIO runs a task
/// queued from its loop after the I/O of the current tick.
///
/// A response waits for the handlers of the rest of its tick's requests (each a non-blocking
/// handler, answered inline) and for the tasks queued on the loop before the flush. Measured
/// (bench/RESULTS.md, "eighth stop"; host on CPU 1, `wrk -t1 -c64` on CPU 0, `GET /hello-c`):
/// 1.3–1.7× the requests per second of flushing each response, system CPU per request about
/// halved, median latency lower.
///
/// One per event loop thread (NIOPosix runs one loop per thread), touched only on that thread. A
/// loop other than the one the thread's batch serves (not NIOPosix's) is flushed at once.
final class TickFlush {
    /// A pthread key: each thread reads and writes only its own value.
    nonisolated(unsafe) private static let current = ThreadSpecificVariable<TickFlush>()
    private let eventLoop: any EventLoop
    /// Channels written to in this tick, in the order of their writes (one written to again
    /// right after itself, as pipelined requests are, is listed once).
    private var pending: [any Channel] = []
    /// The list being flushed (kept to reuse its storage).
    private var flushing: [any Channel] = []

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Flushes `channel` before `eventLoop` (the calling thread's) waits for I/O again.
    static func flushSoon(_ channel: any Channel, on eventLoop: any EventLoop) {
        let batch: TickFlush
        if let existing = current.currentValue {
            guard existing.eventLoop === eventLoop else {
                channel.flush()
                return
            }
            batch = existing
        } else {
            batch = TickFlush(eventLoop: eventLoop)
            current.currentValue = batch
        }
        if batch.pending.isEmpty {
            eventLoop.assumeIsolatedUnsafeUnchecked().execute { batch.flushAll() }
        } else if batch.pending.last === channel {
            return  // pipelined requests: one flush sends them all
        }
        batch.pending.append(channel)
    }

    private func flushAll() {
        // A flush can close a channel and fire events; anything written meanwhile is a new batch.
        swap(&pending, &flushing)
        for channel in flushing { channel.flush() }
        flushing.removeAll(keepingCapacity: true)
    }
}

/// A request `EventLoopResponder` started and passed on to the connection's task, which finishes
/// it (`ConnectionResponder.answer`). At most one at a time: one is put only while the task owes
/// no response, so the next request the task reads is that one.
final class Handover: Sendable {
    /// Boxed: every connection has a slot, few ever hold anything for long, and the task's
    /// frames hold a reference instead of the request.
    final class Handed: Sendable {
        let head: HTTPRequest
        let started: PluginResponder.Started
        init(head: HTTPRequest, started: PluginResponder.Started) {
            self.head = head
            self.started = started
        }
    }
    private let slot = Locked<Handed?>(nil)

    func put(_ started: PluginResponder.Started, for head: HTTPRequest) {
        let handed = Handed(head: head, started: started)
        slot.withLock { $0 = handed }
    }

    /// The started request, when there is one; `head` is the request the task read, which must
    /// be the one that was put.
    func take(for head: HTTPRequest) -> Handed? {
        guard let taken = slot.withLock({ $0.take() }) else { return nil }
        assert(taken.head == head, "the task read another request than the one handed over")
        return taken
    }

    /// One never taken (the connection's task ended first) gives back what it holds.
    deinit {
        if let handed = slot.withLock({ $0.take() }) { PluginResponder.abandon(handed.started) }
    }
}
