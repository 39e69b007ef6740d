public import CSwitchboard
import Synchronization

/// The body writer of a streamed response. Call `finish()` exactly once, also after the client
/// went away (`onClose`); the stream and its request are invalid afterwards.
public final class ResponseStream: @unchecked Sendable {  // the stream handle is a C pointer the ABI lets any thread use until stream_finish
    /// The generation that began the stream.
    public let app: App
    let handle: OpaquePointer
    private let finished = Atomic<Bool>(false)

    init(app: App, handle: OpaquePointer) {
        self.app = app
        self.handle = handle
    }

    /// What `write` did with the data.
    public enum WriteResult: Sendable, Equatable {
        /// Queued.
        case ok
        /// Above the high watermark: nothing was taken; write again from `onWritable`.
        case wouldBlock
        /// The client went away, or the host ended the stream (shutdown, drain deadline).
        case closed
        /// Refused with another status, e.g. `SB_ERR_STATE` for a `wait` that would deadlock.
        case failed(sb_status)
    }

    /// Queues a copy of `bytes`. With `wait`, blocks until taken instead of answering
    /// `.wouldBlock`: only on a blocking route's thread or a thread of your own, and not from the
    /// handler that began the stream once 256 KiB are queued (nothing is sent before it returns:
    /// `.failed(SB_ERR_STATE)`; write the rest from `onWritable`).
    @discardableResult
    public func write(_ bytes: some Collection<UInt8>, wait: Bool = false) -> WriteResult {
        guard !finished.load(ordering: .relaxed) else { return .closed }
        let status = withSBBytes(bytes) { app.api.stream_write(handle, $0, wait ? UInt32(SB_WRITE_WAIT) : 0) }
        switch status {
        case SB_OK: return .ok
        case SB_ERR_WOULD_BLOCK: return .wouldBlock
        case SB_ERR_CLOSED: return .closed
        default: return .failed(status)
        }
    }

    /// Queues a copy of `text`'s UTF-8 bytes; `wait` and the result as for the bytes form.
    @discardableResult
    public func write(_ text: String, wait: Bool = false) -> WriteResult {
        write(Array(text.utf8), wait: wait)
    }

    /// Calls `callback` once when the queue has drained (at once if it already has, or is closed).
    public func onWritable(_ callback: @escaping @Sendable () -> Void) {
        register(callback, with: app.api.stream_on_writable)
    }

    /// Calls `callback` once when the client goes away or the host ends the stream. Not called
    /// after `finish()`: the host then drops it, and the SDK releases it when the stream ends.
    public func onClose(_ callback: @escaping @Sendable () -> Void) {
        register(callback, with: app.api.stream_on_close)
    }

    /// Callbacks the host holds (+1 each, released when fired, or at `finish`: once stream_finish
    /// returns the host runs none of them).
    private let heldBoxes = Locked<[CallbackBox]>([])

    private func register(
        _ callback: @escaping @Sendable () -> Void,
        with call: (OpaquePointer?, sb_stream_event_fn?, UnsafeMutableRawPointer?) -> sb_status
    ) {
        guard !finished.load(ordering: .acquiring) else { return }
        let box = CallbackBox(callback)
        heldBoxes.withLock { $0.append(box) }
        let user = Unmanaged.passRetained(box).toOpaque()
        if call(handle, streamEvent, user) != SB_OK { box.dropIfUnfired() }
    }

    /// A timer writing keepalives (event streams): cancelled by `finish` before the stream ends.
    private let keepaliveTimer = Locked<Timer?>(nil)

    /// Calls `write` every `interval` until the stream finishes.
    func keepAlive(every interval: Duration, _ write: @escaping @Sendable () -> Void) {
        guard interval > .zero, let timer = app.timer(after: interval, every: interval, { _ in write() }) else { return }
        keepaliveTimer.withLock { $0 = timer }
        if finished.load(ordering: .acquiring) { stopKeepalive() }
    }

    private func stopKeepalive() {
        // Cancelling waits for a keepalive being written on another thread.
        keepaliveTimer.withLock { t in defer { t = nil }; return t }?.cancel()
    }

    /// Ends the response after what is queued. Later calls do nothing.
    public func finish() { finish(cancelling: nil) }

    /// Ends the response, and first cancels `timer` (the one that feeds the stream), but only in
    /// the call that actually ends it: the first. Later calls return at once, cancelling nothing.
    ///
    /// Use it wherever both a timer's tick and `onClose` may end the stream. Ending waits for
    /// callbacks running on other threads (the host's rule 8): a tick inside `finish` waits for
    /// a running `onClose`, and an `onClose` inside `timer.cancel()` waits for a running tick —
    /// if each ended the other, both would wait forever. Here only the first ender waits, and a
    /// tick ends itself with `timer.cancel()` (which never waits from the timer's own callback)
    /// then `finish(cancelling: nil)`.
    public func finish(cancelling timer: Timer?) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        timer?.cancel()
        stopKeepalive()
        _ = app.api.stream_finish(handle)
        // A callback not called by now never will be; a box that fired released itself.
        for box in heldBoxes.withLock({ b in defer { b.removeAll() }; return b }) { box.dropIfUnfired() }
    }

    /// Whether `finish` has been called; writes then answer `.closed`.
    public var isFinished: Bool { finished.load(ordering: .relaxed) }
}

extension ResponseStream {
    /// Writes the chunks `next` returns, as fast as the client takes them, then finishes: on
    /// `.wouldBlock` it waits for `onWritable`, so a client that stops reading costs one chunk of
    /// memory, never the whole body. `next` returns a chunk and whether it is the last, or nil
    /// when there is nothing more; it is called one call at a time (never concurrently), first on
    /// this thread, later on the host's. A client that leaves ends it (`onClose`).
    public func produce(_ next: @escaping @Sendable () -> (chunk: [UInt8], isLast: Bool)?) {
        StreamProducer(stream: self, next: next).start()
    }
}

/// The state of one `produce`: the chunk the connection had no room for, held for the next try.
private final class StreamProducer: @unchecked Sendable {  // `held` and `last` are touched only by its stream's callbacks, which never overlap
    let stream: ResponseStream
    let next: @Sendable () -> (chunk: [UInt8], isLast: Bool)?
    private var held: [UInt8]? = nil
    private var last = false

    init(stream: ResponseStream, next: @escaping @Sendable () -> (chunk: [UInt8], isLast: Bool)?) {
        self.stream = stream
        self.next = next
    }

    func start() {
        stream.onClose { [self] in stream.finish() }
        pump()
    }

    private func pump() {
        while true {
            if held == nil {
                guard let (chunk, isLast) = next() else { return stream.finish() }
                held = chunk
                last = isLast
            }
            switch stream.write(held!) {
            case .ok:
                held = nil
                if last { return stream.finish() }
            case .wouldBlock:
                return stream.onWritable { [self] in pump() }
            case .closed, .failed:
                return stream.finish()
            }
        }
    }
}

/// A one-shot callback handed to the host; released once, whether it fired or was dropped.
final class CallbackBox: Sendable {
    private let callback: @Sendable () -> Void
    private let done = Atomic<Bool>(false)

    init(_ callback: @escaping @Sendable () -> Void) { self.callback = callback }

    func fire() {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        callback()
        Unmanaged.passUnretained(self).release()
    }

    func dropIfUnfired() {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Unmanaged.passUnretained(self).release()
    }
}

private func streamEvent(_ user: UnsafeMutableRawPointer?, _ stream: OpaquePointer?) {
    guard let user else { return }
    Unmanaged<CallbackBox>.fromOpaque(user).takeUnretainedValue().fire()
}

/// One Server-Sent Event (the WHATWG `text/event-stream` format).
public struct ServerSentEvent: Sendable {
    /// The payload; each of its lines is sent as a `data:` line, which the client joins with LF.
    public var data: String
    /// The event type (`event:`) the client dispatches by; nil: the client's default, `message`.
    public var event: String?
    /// The event ID (`id:`); a client that reconnects sends the last one as `Last-Event-ID`.
    public var id: String?
    /// Reconnection delay the client should use, in milliseconds.
    public var retry: Int?

    /// An event; nil fields are left out of `encoded`.
    public init(data: String, event: String? = nil, id: String? = nil, retry: Int? = nil) {
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
    }

    /// The wire form (`EventStreamFormat.appendEvent`): one `data:` line per line of `data`, split
    /// at CR LF, LF and CR alike, so nothing in `data` can start a field of its own; `id` and
    /// `event` lose their CR, LF and NUL.
    public var encoded: String {
        var out: [UInt8] = []
        EventStreamFormat.appendEvent(data: data.utf8, event: event, id: id, retry: retry, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A comment's wire form (`: text`; CR, LF and NUL left out).
    static func comment(_ text: String) -> String {
        var out: [UInt8] = []
        EventStreamFormat.appendComment(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// A Server-Sent Events writer over a response stream.
public struct EventStream: Sendable {
    /// The response stream the events are written to.
    public let stream: ResponseStream

    init(_ stream: ResponseStream) { self.stream = stream }

    /// Writes one event (its wire form, `ServerSentEvent.encoded`). A client that reconnects sends
    /// the last `id` it saw as `Last-Event-ID`: read it from the request to resume after it.
    @discardableResult
    public func send(_ event: ServerSentEvent, wait: Bool = false) -> ResponseStream.WriteResult {
        stream.write(event.encoded, wait: wait)
    }

    /// A comment line (": ping"): keeps proxies from timing the connection out.
    @discardableResult
    public func comment(_ text: String = "ping", wait: Bool = false) -> ResponseStream.WriteResult {
        stream.write(ServerSentEvent.comment(text), wait: wait)
    }

    /// Calls `callback` once when the client goes away or the host ends the stream.
    public func onClose(_ callback: @escaping @Sendable () -> Void) { stream.onClose(callback) }
    /// Calls `callback` once when the queue has drained (at once if it already has, or is closed).
    public func onWritable(_ callback: @escaping @Sendable () -> Void) { stream.onWritable(callback) }
    /// Ends the stream after what is queued; later calls do nothing.
    public func finish() { stream.finish() }
    /// See `ResponseStream.finish(cancelling:)`.
    public func finish(cancelling timer: Timer?) { stream.finish(cancelling: timer) }
}
