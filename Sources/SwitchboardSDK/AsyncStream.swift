/// Async writing of a streamed response, in the shape of Hummingbird's `ResponseBody { writer in }`:
///
///     .stream(contentType: "text/plain") { writer in
///         for i in 0..<10 {
///             try await writer.write("Chunk \(i)\n")
///             try await Task.sleep(for: .milliseconds(500))
///         }
///     }
///
/// The body runs in a task of its own once the handler has returned. A write waits while the
/// host's queue for the connection is full (until its `on_writable`), so a client that reads
/// slowly holds the writer back instead of growing memory. When the client goes away (or the host
/// ends the stream: shutdown, a swap's drain deadline) the task is cancelled and every write
/// throws `ResponseStream.WriteError.closed`. The stream finishes when the body returns or throws.
public struct ResponseBodyWriter: Sendable {
    let driver: AsyncStreamDriver

    /// Queues a copy of `bytes`, waiting for room first when the connection's queue is full.
    /// - Throws: `ResponseStream.WriteError.closed` once the client has gone or the host ended the
    ///   stream; `.failed` when the host refused the write for another reason.
    public func write(_ bytes: some Collection<UInt8>) async throws(ResponseStream.WriteError) {
        try await driver.write(Array(bytes))
    }

    /// Queues `text` as UTF-8.
    public func write(_ text: String) async throws(ResponseStream.WriteError) {
        try await driver.write(Array(text.utf8))
    }

    /// Whether the client has gone or the host ended the stream.
    public var isClosed: Bool { driver.isClosed }
}

/// An event stream written from async code: `send` waits for room as `ResponseBodyWriter.write`.
public struct EventStreamWriter: Sendable {
    let writer: ResponseBodyWriter

    /// Sends `event` (its `encoded` form), waiting for room when the connection's queue is full.
    /// - Throws: `ResponseStream.WriteError.closed` once the client has gone or the host ended the
    ///   stream; `.failed` when the host refused the write for another reason.
    public func send(_ event: ServerSentEvent) async throws(ResponseStream.WriteError) {
        try await writer.write(event.encoded)
    }

    /// A comment line (`: text`), which clients ignore.
    public func comment(_ text: String) async throws(ResponseStream.WriteError) {
        try await writer.write(ServerSentEvent.comment(text))
    }
}

extension ResponseStream {
    /// Why a write did not queue: a struct over a private code, so cases can be added without
    /// breaking callers that compare with the constants.
    public struct WriteError: Error, Hashable, Sendable, CustomStringConvertible {
        private enum Code: Hashable, Sendable {
            case closed
            case failed(Int32)
        }
        private let code: Code

        /// The client went away, or the host ended the stream.
        public static let closed = WriteError(code: .closed)
        /// The host refused the write with `status` (an `sb_status`, a bug in the caller).
        public static func failed(_ status: Int32) -> WriteError { WriteError(code: .failed(status)) }

        /// The reason, with the host's `sb_status` for `.failed`, for the log.
        public var description: String {
            switch code {
            case .closed: "the stream is closed"
            case .failed(let status): "the host refused the write (sb_status \(status))"
            }
        }
    }
}

/// Runs one async body over a callback stream: wakes the writer at `on_writable`, and at
/// `on_close` wakes it, marks the stream closed and cancels the body's task.
final class AsyncStreamDriver: Sendable {
    let stream: ResponseStream
    private struct State {
        var closed = false
        /// Writers waiting for room (a body may write from several child tasks).
        var waiters: [CheckedContinuation<Void, Never>] = []
        var task: Task<Void, Never>? = nil
        /// Bytes written since the body last gave up its thread.
        var unyielded = 0
    }
    /// After this many bytes written without waiting, a writer yields its thread: a fast client
    /// must not keep one body on one of the few cooperative threads for a whole export.
    static let yieldInterval = 256 * 1024
    private let state = Locked(State())

    init(stream: ResponseStream) { self.stream = stream }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Starts `body` in a task; the stream finishes when it returns or throws.
    func start(_ body: @escaping @Sendable (ResponseBodyWriter) async throws -> Void) {
        // Registered before the task starts: a close at any point reaches the body.
        stream.onClose { [self] in closed() }
        let task = Task { [self] in
            do {
                try await body(ResponseBodyWriter(driver: self))
            } catch let error where error is CancellationError || (error as? ResponseStream.WriteError) == .closed {
                // The client left: nothing to report.
            } catch {
                stream.app.log(.error, "stream body failed: \(error)")
            }
            stream.finish()
        }
        let cancelNow = state.withLock { s -> Bool in
            s.task = task
            return s.closed
        }
        if cancelNow { task.cancel() }
    }

    func write(_ bytes: [UInt8]) async throws(ResponseStream.WriteError) {
        while true {
            switch stream.write(bytes) {
            case .ok:
                let yieldNow = state.withLock { s -> Bool in
                    s.unyielded += bytes.count
                    guard s.unyielded >= Self.yieldInterval else { return false }
                    s.unyielded = 0
                    return true
                }
                if yieldNow { await Task.yield() }
                return
            case .closed: throw .closed
            case .failed(let status): throw .failed(status)
            case .wouldBlock:
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                        let stored = state.withLock { s -> Bool in
                            guard !s.closed, !Task.isCancelled else { return false }
                            s.waiters.append(waiter)
                            s.unyielded = 0
                            return true
                        }
                        guard stored else { return waiter.resume() }
                        // May run at once, on this thread (the queue drained meanwhile).
                        stream.onWritable { [self] in wakeAll() }
                    }
                } onCancel: {
                    wakeAll()
                }
                // A body that cancelled this writer itself (a timeout, say) stops waiting here.
                if Task.isCancelled { throw .closed }
            }
        }
    }

    /// Resumes every waiting writer; each writes again (and waits again if there is still no room).
    private func wakeAll() {
        for waiter in state.withLock({ s in defer { s.waiters = [] }; return s.waiters }) { waiter.resume() }
    }

    private func closed() {
        let task = state.withLock { s in
            s.closed = true
            return s.task
        }
        wakeAll()
        task?.cancel()
    }
}
