import SwitchboardCore
import CSwitchboard
import CSwitchboardHostSupport
import DequeModule
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The writer of a streamed response: the `sb_stream` handle.
///
/// Producers (any plugin thread) append copies to a bounded queue; one consumer, the response
/// body task, drains it into the connection. Backpressure: a write that finds `highWatermark`
/// bytes queued is refused with SB_ERR_WOULD_BLOCK (or, with SB_WRITE_WAIT, blocks off the event
/// loop); `on_writable` fires once the consumer has drained below `lowWatermark`.
///
/// Invariants: the handle holds a retain on this object from `response_stream_begin` until
/// `stream_finish`; callbacks are called outside the lock; after `finish` no callback is called.
///
/// An open stream is tracked by its plugin instance: when a draining generation's deadline passes,
/// `endForDrain()` sends what is queued and tells the plugin through on_close. An event stream
/// then ends cleanly (its client reconnects, resuming from its last event id); any other body is
/// cut off without its last chunk, so the client sees an incomplete response rather than a
/// shortened one it would take for whole. At graceful shutdown an event stream ends at once the
/// same way (it never ends by itself); other streams run to their end.
final class StreamWriter: Drainable, Sendable {
    typealias Callback = (fn: sb_stream_event_fn, user: UnsafeMutableRawPointer?)
    /// A thread, as `pthread_self()` gives it.
    struct ThreadID: Equatable {
        let thread: pthread_t
        static var current: ThreadID { ThreadID(thread: pthread_self()) }
        static func == (a: ThreadID, b: ThreadID) -> Bool { pthread_equal(a.thread, b.thread) != 0 }
    }
    typealias StateMachine = StreamWriterStateMachine<CheckedContinuation<Void, Never>, Callback, ThreadID>

    let exchange: Exchange
    /// The rules; blocked writers and a waiting `finish` wait on the same lock (no polling).
    private let state: ConditionLock<StateMachine>
    /// The thread that began the stream (response_stream_begin): the handler's.
    private let beganOn = ThreadID.current

    init(exchange: Exchange, highWatermark: Int = 256 * 1024, lowWatermark: Int = 64 * 1024) {
        self.exchange = exchange
        self.state = ConditionLock(StateMachine(highWatermark: highWatermark, lowWatermark: lowWatermark))
    }

    /// Retains self for the plugin and returns the handle.
    func retainedHandle() -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(self).toOpaque())
    }

    static func from(_ handle: OpaquePointer?) -> StreamWriter? {
        guard let handle else { return nil }
        return Unmanaged<StreamWriter>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    // MARK: Producer side

    func write(_ data: UnsafeRawBufferPointer, flags: UInt32) -> sb_status {
        let wait = flags & SB_WRITE_WAIT != 0
        if wait && sbh_in_nonblocking() != 0 { return SB_ERR_STATE }
        // Copied once, before the lock.
        var buffer = ByteBufferAllocator().buffer(capacity: data.count)
        buffer.writeBytes(data)
        let onBeganThread = beganOn == .current
        while true {
            switch state.withLock({ $0.write(buffer, wait: wait, onBeganThread: onBeganThread) }) {
            case .accepted(let consumer):
                consumer?.resume()
                return SB_OK
            case .refused(let refusal):
                switch refusal {
                case .finished, .waitOnSelf: return SB_ERR_STATE
                case .closed: return SB_ERR_CLOSED
                case .full: return SB_ERR_WOULD_BLOCK
                }
            case .block:
                state.wait(until: \.writerMayRetry) { $0.writerWoke() }
            }
        }
    }

    /// A callback whose event has already happened runs at once, on this thread, counted as a
    /// delivery: a `finish()` on another thread meanwhile waits for it (rule 8).
    func register(_ callback: Callback, for event: StateMachine.Event) -> sb_status {
        if state.withLock({ $0.register(callback, for: event, thread: .current) }) == .deliverNow { deliver([callback]) }
        return SB_OK
    }

    /// The plugin is done. Releases the plugin's retain. If the host is running close callbacks on
    /// another thread, waits for them first: after this returns none runs (the plugin may free
    /// what they use).
    func finish() -> sb_status {
        let thread = ThreadID.current
        let consumer: CheckedContinuation<Void, Never>?
        switch state.withLock({ $0.finish(thread: thread) }) {
        case .alreadyFinished: return SB_ERR_STATE
        case .finished(let resume): consumer = resume
        case .waitForDeliveries:
            // No callback starts any more; the ones running return.
            consumer = state.wait(until: { $0.finishMayComplete(thread: thread) }) { $0.completeFinish() }
        }
        exchange.route.plugin.untrack(self)
        consumer?.resume()
        Unmanaged.passUnretained(self).release()
        return SB_OK
    }

    // MARK: Consumer side

    /// Ends the stream from the host side (client gone, HEAD, shutdown): writes fail with
    /// SB_ERR_CLOSED and the close callbacks run once. `discardQueued: false` still sends what the
    /// plugin already wrote before the body ends (the drain deadline).
    func close(discardQueued: Bool = true) {
        let action = state.withLock { $0.close(discardQueued: discardQueued, thread: .current) }
        exchange.route.plugin.untrack(self)
        action.resume?.resume()
        deliver(action.callbacks)
    }

    func endForDrain() { close(discardQueued: false) }

    /// The body of the HTTP response: drains the queue until the plugin finishes. Adds
    /// `Connection: close` to `headers` when the response is the connection's last.
    func makeBody(headers: inout HTTPFields) -> ResponseBody {
        let eventStream = headers.first { $0.name == .contentType }.map { $0.value.utf8.hasPrefixIgnoringASCIICase("text/event-stream".utf8) } ?? false
        // An event stream may sit idle for a long time, so no write would tell that its client
        // left: the host watches the connection instead. The guard closes it when the client
        // closes its side, and its close ends the stream. So no further request is read from it:
        // the response says the connection closes after it (RFC 9112 §9.6). Other streams learn
        // it at their next write. A route that reads its request body as a stream is not watched
        // (the plugin consumes that side), nor is a request that came through no connection (the
        // in-process test host).
        let watched = eventStream && !exchange.route.streamsBody ? exchange.channel : nil
        if watched != nil { headers[.connection] = "close" }
        return ResponseBody { writer in
            // Watched from when the body starts (not for HEAD), outside the exchange's lock: a
            // connection closed already ends the stream at once, which runs plugin callbacks.
            if let channel = watched {
                channel.closeFuture.whenComplete { _ in self.close() }
                channel.triggerUserOutboundEvent(ConnectionGuard.CloseWhenInputCloses(), promise: nil)
            }
            do {
                try await withTaskCancellationHandler {
                    try await withGracefulShutdownHandler {
                        try await self.pump(into: &writer)
                    } onGracefulShutdown: {
                        if eventStream { self.endForDrain() }
                    }
                    if !eventStream, self.state.withLock({ $0.cutShort }) { throw StreamCutShort() }
                    try await writer.finish(nil)
                } onCancel: {
                    self.close()
                }
            } catch {
                self.close()
                throw error
            }
        }
    }

    private func pump(into writer: inout any ResponseBodyWriter) async throws {
        var paced = PacedWriter(eventLoop: exchange.eventLoop)
        while let chunks = await next() {
            try await paced.write(chunks, to: &writer)
            let action = state.withLock { $0.drained(chunks.reduce(0) { $0 + $1.readableBytes }, thread: .current) }
            deliver(action.callbacks)
        }
    }

    /// The next batch of queued buffers; nil once the plugin has finished and the queue is empty,
    /// or the stream was closed.
    private func next() async -> [ByteBuffer]? {
        while true {
            switch state.withLock({ $0.next() }) {
            case .send(let chunks): return chunks
            case .end: return nil
            case .wait:
                await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                    state.withLock { $0.park(waiter) }?.resume()
                }
            }
        }
    }

    /// Runs callbacks taken out under the lock (which counted this thread in `delivering`).
    /// A callback may finish the stream (on_close usually does): the rest are then dropped, as
    /// `finish` promises. Another thread's `finish` waits for this one, so checking between
    /// callbacks is enough.
    private func deliver(_ callbacks: [Callback]) {
        guard !callbacks.isEmpty else { return }
        for callback in callbacks {
            guard state.withLock({ $0.mayDeliver }) else { break }
            invoke(callback)
        }
        state.withLock { $0.deliveryEnded(thread: .current) }
    }

    private func invoke(_ callback: Callback) {
        // A lease for the callback's duration (the stream's own lease may end inside it).
        let plugin = exchange.route.plugin
        guard plugin.enter() else { return }
        defer { plugin.leave() }
        withPluginCode(plugin.codeTag) {
            withNonBlockingContext(exchange.route.activityLabel) {
                callback.fn(callback.user, OpaquePointer(Unmanaged.passUnretained(self).toOpaque()))
            }
        }
    }
}

/// Ends a stream the host closed before its plugin finished: the connection closes without the
/// body's last chunk.
struct StreamCutShort: Error {}

#if canImport(Glibc)
import Glibc
#endif
