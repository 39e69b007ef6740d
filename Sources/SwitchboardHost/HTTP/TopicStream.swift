import struct SwitchboardCore.CodePointKey
import struct SwitchboardCore.Locked
import enum SwitchboardCore.JSON
import enum SwitchboardCore.EventStreamFormat
import CSwitchboard
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOPosix
import ServiceLifecycle

/// One client of an event stream the host feeds from a topic (`response_topic_stream`).
///
/// No task and no plugin code runs for it per message: a publish encodes the event once, already
/// framed as an HTTP/1.1 chunk (`TopicHub.publish`), and makes one call per event loop that has
/// clients (`TopicStreamBucket.deliver`), which writes that one buffer to each of its connections
/// below the response encoder (`TopicChunkWriter`): one pipeline step and one `writev` each. The
/// response body's task only waits for the end: the client leaving (`ConnectionGuard` closes the
/// connection when its input closes), the client falling `lagLimit` messages behind (it is told,
/// then dropped), graceful shutdown, the drain deadline of the generation it started on, or its
/// request being cancelled. Then the task writes the body's end.
///
/// Its state moves `ready` → `subscribed` → `ended` under a lock; what it writes, and its place in
/// its bucket, are touched only on `loop`.
final class TopicStreamClient: Drainable, @unchecked Sendable {  // mutable state is Locked or confined to `loop`
    struct Options: Sendable {
        /// The topic's key in the hub: plugin name, NUL, topic, compared by code points.
        var key: CodePointKey
        /// The `event:` field of each message; empty: none.
        var event: String
        /// A comment sent before any message; empty: none.
        var comment: String
        /// Nanoseconds between `: ping` comments; 0: none.
        var keepaliveNanoseconds: UInt64
        /// Messages published while the connection takes nothing before the client is dropped.
        var lagLimit: Int
    }

    let exchange: Exchange
    let options: Options
    let hub: TopicHub
    /// The connection's loop, or (without a connection) any: deliveries to this client run here.
    let loop: any EventLoop

    private enum State {
        case ready
        /// `resume` ends the body task's wait (nil: the body drains `inbox` instead).
        case subscribed(bucket: TopicStreamBucket, resume: CheckedContinuation<Void, Never>?)
        case ended
    }
    private let state = Locked(State.ready)

    // Confined to `loop`.
    private var lag = 0
    private var dropping = false
    /// Where frames go once the client is in its bucket: below the response encoder as chunks, or
    /// (an HTTP/1.0 response, which is not chunked) through the pipeline as body parts.
    private var chunks: TopicChunkWriter? = nil

    /// Without a connection (the in-process test host) frames go through this to the body writer.
    private let inbox: (stream: AsyncStream<ByteBuffer>, continuation: AsyncStream<ByteBuffer>.Continuation)?

    init(exchange: Exchange, options: Options, hub: TopicHub) {
        self.exchange = exchange
        self.options = options
        self.hub = hub
        self.loop = exchange.eventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        // Room for `lagLimit` frames waiting, and for the last one that says why it was dropped.
        self.inbox = exchange.channel == nil ? AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(options.lagLimit + 2)) : nil
    }

    /// The response body: subscribed from here until the stream ends, then the body's end.
    func makeBody() -> ResponseBody {
        ResponseBody { writer in
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    if let inbox = self.inbox {
                        self.subscribe(resume: nil)
                        do {
                            for await frame in inbox.stream { try await writer.write(frame) }
                        } catch {
                            self.end()
                            throw error
                        }
                    } else {
                        await withCheckedContinuation { self.subscribe(resume: $0) }
                    }
                } onGracefulShutdown: {
                    self.end()
                }
            } onCancel: {
                self.end()
            }
            try await writer.finish(nil)
        }
    }

    private func subscribe(resume: CheckedContinuation<Void, Never>?) {
        let bucket = hub.attach(self)
        exchange.route.plugin.track(self)
        let subscribed = state.withLock { s -> Bool in
            guard case .ready = s else { return false }
            s = .subscribed(bucket: bucket, resume: resume)
            return true
        }
        guard subscribed else {
            exchange.route.plugin.untrack(self)
            hub.detach(self, from: bucket)
            inbox?.continuation.finish()
            resume?.resume()
            return
        }
        // After the response head on this loop (the body runs once Hummingbird has handed it on),
        // and before any message for this client.
        loop.execute {
            guard self.isSubscribed else { return }
            if let channel = self.exchange.channel {
                channel.closeFuture.whenComplete { _ in self.end() }
                // A route that streams its request body leaves the inbound side to the plugin
                // (as `StreamWriter` does): its client is noticed leaving when a write fails.
                if !self.exchange.route.streamsBody {
                    channel.triggerUserOutboundEvent(ConnectionGuard.CloseWhenInputCloses(), promise: nil)
                }
                self.chunks = TopicChunkWriter.install(on: channel)
            }
            bucket.add(self)
            if !self.options.comment.isEmpty { self.send(EventFrame.comment(self.options.comment)) }
        }
    }

    private var isSubscribed: Bool {
        state.withLock { if case .subscribed = $0 { true } else { false } }
    }

    /// On `loop`: writes one frame (shared with every other client of the publish).
    func send(_ frame: EventFrame) {
        guard !dropping else { return }
        if let channel = exchange.channel {
            guard channel.isActive else { return }  // closing: its closeFuture ends this client
            if channel.isWritable {
                lag = 0
            } else {
                lag += 1
                if lag > options.lagLimit { return drop() }
            }
            write(frame, to: channel)
        } else if let inbox {
            if case .enqueued(let room) = inbox.continuation.yield(frame.bytes), room > 1 { return }
            drop()
        }
    }

    private func write(_ frame: EventFrame, to channel: any Channel) {
        if let chunks {
            chunks.writeAndFlush(frame.chunk)
        } else {
            channel.writeAndFlush(HTTPResponsePart.body(frame.bytes), promise: nil)
        }
    }

    private func drop() {
        dropping = true
        let reason = "this client read too slowly; \(options.lagLimit) messages were waiting"
        end(last: EventFrame.event(JSON.quote(reason).utf8, event: "dropped"))
    }

    func endForDrain() { end() }

    /// Ends the stream (once, whatever ended it: the client leaving or lagging, shutdown, the
    /// drain deadline, cancellation): unsubscribed on `loop`, `last` written there, then the body
    /// task resumes and writes the body's end after it.
    func end(last: EventFrame? = nil) {
        let subscribed = state.withLock { s -> (bucket: TopicStreamBucket, resume: CheckedContinuation<Void, Never>?)? in
            defer { s = .ended }
            guard case .subscribed(let bucket, let resume) = s else { return nil }
            return (bucket, resume)
        }
        guard let (bucket, resume) = subscribed else { return }
        loop.execute {
            bucket.remove(self)
            self.hub.detach(self, from: bucket)
            self.exchange.route.plugin.untrack(self)
            if let last {
                if let channel = self.exchange.channel {
                    if channel.isActive { self.write(last, to: channel) }
                } else {
                    self.inbox?.continuation.yield(last.bytes)
                }
            }
            self.inbox?.continuation.finish()
            resume?.resume()
        }
    }
}

/// The clients of one topic on one event loop with the same event name and keepalive: what one
/// publish reaches with one call. Touched only on `loop` (but for its immutable properties).
final class TopicStreamBucket: @unchecked Sendable {  // mutable state is confined to `loop`
    let loop: any EventLoop
    let event: String
    let keepaliveNanoseconds: UInt64
    private var clients: [ObjectIdentifier: TopicStreamClient] = [:]
    /// One `: ping` for all of them, while there are any.
    private var pinger: RepeatedTask? = nil

    init(loop: any EventLoop, event: String, keepaliveNanoseconds: UInt64) {
        self.loop = loop
        self.event = event
        self.keepaliveNanoseconds = keepaliveNanoseconds
    }

    func add(_ client: TopicStreamClient) {
        clients[ObjectIdentifier(client)] = client
        if pinger == nil, keepaliveNanoseconds > 0 {
            let every = TimeAmount.nanoseconds(Int64(clamping: keepaliveNanoseconds))
            pinger = loop.scheduleRepeatedTask(initialDelay: every, delay: every) { _ in self.deliver(EventFrame.ping) }
        }
    }

    func remove(_ client: TopicStreamClient) {
        clients[ObjectIdentifier(client)] = nil
        if clients.isEmpty {
            pinger?.cancel()
            pinger = nil
        }
    }

    /// The same frame to every client.
    func deliver(_ frame: EventFrame) {
        for client in clients.values { client.send(frame) }
    }
}

/// A handler just below the response encoder (`ConnectionGuard`) of a topic stream's connection:
/// the host writes events there that it has framed as chunks itself, past the encoder (which
/// would frame each client's copy again, in three writes). What the handlers above write passes
/// through.
final class TopicChunkWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private var context: ChannelHandlerContext? = nil

    /// On the channel's loop, once the response head has gone out: a writer when the response is
    /// chunked (an HTTP/1.1 one; the host removed any Content-Length), nil otherwise (its frames
    /// then go through the encoder). It goes just below the encoder, so a handler that transforms
    /// bytes below that (TLS) would still see what it writes.
    static func install(on channel: any Channel) -> TopicChunkWriter? {
        let pipeline = channel.pipeline.syncOperations
        guard let encoder = try? pipeline.handler(type: ConnectionGuard.self), encoder.respondsChunked else { return nil }
        let writer = TopicChunkWriter()
        guard (try? pipeline.addHandler(writer, position: .before(encoder))) != nil else { return nil }
        return writer
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func writeAndFlush(_ chunk: ByteBuffer) {
        context?.writeAndFlush(wrapOutboundOut(.byteBuffer(chunk)), promise: nil)
    }
}

/// A Server-Sent Event (WHATWG HTML §9.2.6, "Interpreting an event stream") as the host writes it,
/// encoded once for every client: `bytes` alone (an HTTP/1.0 response's body, or what the
/// in-process test host reads), and `chunk`, the same as one HTTP/1.1 chunk (RFC 9112 §7.1).
struct EventFrame: Sendable {
    let bytes: ByteBuffer
    let chunk: ByteBuffer

    init(_ bytes: ByteBuffer) {
        self.bytes = bytes
        var chunk = ByteBuffer()
        chunk.reserveCapacity(bytes.readableBytes + 20)
        chunk.writeString(String(bytes.readableBytes, radix: 16))
        chunk.writeStaticString("\r\n")
        chunk.writeImmutableBuffer(bytes)
        chunk.writeStaticString("\r\n")
        self.chunk = chunk
    }

    /// One event of `message` (`EventStreamFormat.appendEvent`): `event: <event>` when not
    /// empty, one `data:` line per line of the message.
    static func event(_ message: some Collection<UInt8>, event: String) -> EventFrame {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(message.count + event.utf8.count + 16)
        EventStreamFormat.appendEvent(data: message, event: event.isEmpty ? nil : event, to: &bytes)
        return EventFrame(ByteBuffer(bytes: bytes))
    }

    /// `: <text>` and a blank line: ignored by the client, it keeps the connection in use.
    static func comment(_ text: String) -> EventFrame {
        var bytes: [UInt8] = []
        EventStreamFormat.appendComment(text, to: &bytes)
        return EventFrame(ByteBuffer(bytes: bytes))
    }

    static let ping = comment("ping")
}
