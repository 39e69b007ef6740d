import class SwitchboardSDK.Locked
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
final class StreamWriter: Drainable, @unchecked Sendable {
    typealias Callback = (fn: sb_stream_event_fn, user: UnsafeMutableRawPointer?)

    let exchange: Exchange
    let highWatermark: Int
    let lowWatermark: Int

    private struct State {
        var queue = Deque<ByteBuffer>()
        var queuedBytes = 0
        var finished = false
        var closed = false
        /// Closed by the host before the plugin finished, what was queued still sent.
        var cutShort = false
        var consumer: CheckedContinuation<Void, Never>? = nil
        var onWritable: [Callback] = []
        var onClose: [Callback] = []
        var blockedWriters = 0
        /// The response body has started to be sent: before that (while the handler that began
        /// the stream still runs) nothing drains the queue.
        var consuming = false
        /// Threads running this stream's callbacks right now: `finish` from another thread waits
        /// for them, so no callback runs after `stream_finish` returns.
        var delivering: [pthread_t] = []
    }
    private let state = Locked(State())
    /// Wakes producers blocked by SB_WRITE_WAIT.
    private let writableSignal = ConditionSignal()

    /// The thread that began the stream (response_stream_begin): the handler's.
    private let beganOn = pthread_self()

    init(exchange: Exchange, highWatermark: Int = 256 * 1024, lowWatermark: Int = 64 * 1024) {
        self.exchange = exchange
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
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
        while true {
            enum Step { case done(sb_status), wait }
            let (step, consumer) = state.withLock { s -> (Step, CheckedContinuation<Void, Never>?) in
                if s.finished { return (.done(SB_ERR_STATE), nil) }
                if s.closed { return (.done(SB_ERR_CLOSED), nil) }
                if s.queuedBytes >= highWatermark {
                    // The host sends the head and body once the handler returns: the handler
                    // that began the stream would wait for itself, forever.
                    if wait && !s.consuming && pthread_equal(beganOn, pthread_self()) != 0 { return (.done(SB_ERR_STATE), nil) }
                    if wait { s.blockedWriters += 1; return (.wait, nil) }
                    return (.done(SB_ERR_WOULD_BLOCK), nil)
                }
                if data.count > 0 {
                    var buffer = ByteBufferAllocator().buffer(capacity: data.count)
                    buffer.writeBytes(data)
                    s.queue.append(buffer)
                    s.queuedBytes += data.count
                }
                defer { s.consumer = nil }
                return (.done(SB_OK), s.consumer)
            }
            switch step {
            case .done(let status):
                consumer?.resume()
                return status
            case .wait:
                writableSignal.wait { self.state.withLock { $0.queuedBytes < self.lowWatermark || $0.closed } }
                state.withLock { $0.blockedWriters -= 1 }
            }
        }
    }

    /// A callback whose event has already happened runs at once, on this thread, counted as a
    /// delivery: a `finish()` on another thread meanwhile waits for it (rule 8).
    func onWritable(_ callback: Callback) -> sb_status {
        let fireNow = state.withLock { s -> Bool in
            if s.finished { return false }
            if s.closed || s.queuedBytes < lowWatermark {
                s.delivering.append(pthread_self())
                return true
            }
            s.onWritable.append(callback)
            return false
        }
        if fireNow { deliver([callback]) }
        return SB_OK
    }

    func onClose(_ callback: Callback) -> sb_status {
        let fireNow = state.withLock { s -> Bool in
            if s.finished { return false }
            if s.closed {
                s.delivering.append(pthread_self())
                return true
            }
            s.onClose.append(callback)
            return false
        }
        if fireNow { deliver([callback]) }
        return SB_OK
    }

    /// The plugin is done. Releases the plugin's retain. If the host is running close callbacks on
    /// another thread, waits for them first: after this returns none runs (the plugin may free
    /// what they use).
    func finish() -> sb_status {
        // Marked finished only while no other thread delivers callbacks, in one step: a close()
        // between a wait and the mark would otherwise run on_close after this returns.
        var outcome: (status: sb_status, consumer: CheckedContinuation<Void, Never>?)? = nil
        while outcome == nil {
            outcome = state.withLock { s -> (sb_status, CheckedContinuation<Void, Never>?)? in
                if s.finished { return (SB_ERR_STATE, nil) }
                guard s.delivering.allSatisfy({ pthread_equal($0, pthread_self()) != 0 }) else { return nil }
                s.finished = true
                s.onWritable = []
                s.onClose = []
                defer { s.consumer = nil }
                return (SB_OK, s.consumer)
            }
            if outcome == nil {
                writableSignal.wait {
                    self.state.withLock { s in s.delivering.allSatisfy { pthread_equal($0, pthread_self()) != 0 } }
                }
            }
        }
        let (status, consumer) = outcome!
        guard status == SB_OK else { return status }
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
        let (callbacks, consumer) = state.withLock { s -> ([Callback], CheckedContinuation<Void, Never>?) in
            guard !s.closed, !s.finished else { return ([], nil) }
            s.closed = true
            s.cutShort = !discardQueued
            if discardQueued {
                s.queue.removeAll()
                s.queuedBytes = 0
            }
            defer { s.onClose = []; s.onWritable = []; s.consumer = nil }
            if !s.onClose.isEmpty || !s.onWritable.isEmpty { s.delivering.append(pthread_self()) }
            return (s.onClose + s.onWritable, s.consumer)
        }
        exchange.route.plugin.untrack(self)
        consumer?.resume()
        writableSignal.broadcast()
        deliver(callbacks)
    }

    func endForDrain() { close(discardQueued: false) }

    /// The body of the HTTP response: drains the queue until the plugin finishes. Adds
    /// `Connection: close` to `headers` when the response is the connection's last.
    func makeBody(headers: inout HTTPFields) -> ResponseBody {
        let eventStream = headers[.contentType].map { $0.lowercased().hasPrefix("text/event-stream") } ?? false
        // An event stream may sit idle for a long time, so no write would tell that its client
        // left: the host watches the connection's inbound side instead, so no further request
        // can be read from it: the response says the connection closes after it (RFC 9112 §9.6).
        // Other streams learn it at their next write. A route that reads its request body as a
        // stream is not watched (the plugin consumes that side).
        let watchInbound = eventStream && !exchange.route.streamsBody
        if watchInbound { headers[.connection] = "close" }
        let request = exchange.request
        // Hummingbird's inbound watch reads the request's parts from where the body ended; when
        // the host has already read a body (even an empty one, `Content-Length: 0`), a client that
        // then leaves ends that read without finishing its stream, which traps the process. Such
        // a connection is watched through its close instead (the host reads no more requests from
        // it: the response closes it).
        let bodyWasRead = request.headers[.contentLength] != nil || request.headers[.transferEncoding] != nil
        if watchInbound && bodyWasRead {
            exchange.connectionClosed?.whenComplete { _ in self.close() }
        }
        return ResponseBody { writer in
            do {
                try await withTaskCancellationHandler {
                    try await withGracefulShutdownHandler {
                        if watchInbound && !bodyWasRead {
                            try await request.body.consumeWithInboundCloseHandler { _ in
                                try await self.pump(into: &writer)
                            } onInboundClosed: {
                                self.close()
                            }
                        } else {
                            try await self.pump(into: &writer)
                        }
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
            drained(chunks.reduce(0) { $0 + $1.readableBytes })
        }
    }

    /// The next batch of queued buffers; nil once the plugin has finished and the queue is empty,
    /// or the stream was closed.
    private func next() async -> [ByteBuffer]? {
        while true {
            enum Step { case chunks([ByteBuffer]), end, wait }
            let step = state.withLock { s -> Step in
                s.consuming = true
                if !s.queue.isEmpty {
                    let chunks = Array(s.queue)
                    s.queue.removeAll(keepingCapacity: true)
                    return .chunks(chunks)
                }
                return s.finished || s.closed ? .end : .wait
            }
            switch step {
            case .chunks(let chunks): return chunks
            case .end: return nil
            case .wait:
                await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { s -> Bool in
                        if s.closed || s.finished || !s.queue.isEmpty { return true }
                        s.consumer = waiter
                        return false
                    }
                    if ready { waiter.resume() }
                }
            }
        }
    }

    private func drained(_ bytes: Int) {
        let (callbacks, wakeWriters) = state.withLock { s -> ([Callback], Bool) in
            s.queuedBytes -= bytes
            guard s.queuedBytes < lowWatermark else { return ([], false) }
            defer { s.onWritable = [] }
            if !s.onWritable.isEmpty { s.delivering.append(pthread_self()) }
            return (s.onWritable, s.blockedWriters > 0)
        }
        if wakeWriters { writableSignal.broadcast() }
        deliver(callbacks)
    }

    /// Runs callbacks taken out under the lock (which registered this thread in `delivering`).
    /// A callback may finish the stream (on_close usually does): the rest are then dropped, as
    /// `finish` promises. Another thread's `finish` waits for this one, so checking between
    /// callbacks is enough.
    private func deliver(_ callbacks: [Callback]) {
        guard !callbacks.isEmpty else { return }
        for callback in callbacks {
            if state.withLock({ $0.finished }) { break }
            invoke(callback)
        }
        state.withLock { s in
            if let i = s.delivering.firstIndex(where: { pthread_equal($0, pthread_self()) != 0 }) { s.delivering.remove(at: i) }
        }
        writableSignal.broadcast()
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

/// A condition variable for threads that may block (blocking handlers, plugin threads).
final class ConditionSignal: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    /// Blocks until `ready()` is true, re-checking at each broadcast (and every 50 ms, so a
    /// broadcast that races the check is never lost for long).
    func wait(until ready: () -> Bool) {
        pthread_mutex_lock(&mutex)
        while !ready() {
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            deadline.tv_nsec += 50_000_000
            if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
            pthread_cond_timedwait(&cond, &mutex, &deadline)
        }
        pthread_mutex_unlock(&mutex)
    }

    func broadcast() {
        pthread_mutex_lock(&mutex)
        pthread_cond_broadcast(&cond)
        pthread_mutex_unlock(&mutex)
    }
}
#if canImport(Glibc)
import Glibc
#endif
