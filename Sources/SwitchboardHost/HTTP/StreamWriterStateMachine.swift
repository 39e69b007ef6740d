import DequeModule
import NIOCore

/// The rules of a streamed response body (`StreamWriter`), as a value: what each event does to the
/// queue, the registered callbacks and whoever waits, and what its shell must do after. It holds
/// no lock, runs no callback and resumes no one: the shell calls it under its lock and acts on the
/// returned action outside it. `StreamWriterStateMachineTests` drive it through every order,
/// including those of past crashes (a close racing a finish, a callback that finishes its stream).
///
/// Parties: producers (any plugin thread) write; one consumer (the response body task) takes
/// batches; the host closes (client gone, HEAD, shutdown, drain deadline); the plugin finishes.
/// `Waiter` is how the consumer waits, `Callback` a registered `on_writable` or `on_close`, and
/// `Thread` identifies a thread delivering callbacks (so `finish` from inside a callback does not
/// wait for itself).
struct StreamWriterStateMachine<Waiter, Callback, Thread: Equatable> {
    enum Phase: Equatable {
        /// The plugin writes; the host sends.
        case streaming
        /// The host ended the stream before the plugin finished: writes fail with SB_ERR_CLOSED.
        case closed
        /// The plugin called `stream_finish` while another thread runs this stream's callbacks: no
        /// further callback starts, and the finish completes when those have returned.
        case finishing
        /// The plugin's `stream_finish` has completed (perhaps after a close): nothing is called back again.
        case finished
    }

    let highWatermark: Int
    let lowWatermark: Int
    private(set) var phase = Phase.streaming
    /// Closed by the host with what was queued still sent (the drain deadline): the body then ends
    /// without its last chunk, unless it is an event stream.
    private(set) var cutShort = false
    /// The host closed the stream (before any finish): the body ends once the queue is sent, even
    /// while a finish waits for another thread's callbacks.
    private(set) var closedByHost = false
    private(set) var queue = Deque<ByteBuffer>()
    /// Bytes written and not yet taken by the consumer's sends (`drained`).
    private(set) var queuedBytes = 0
    private var consumer: Waiter? = nil
    private var onWritable: [Callback] = []
    private var onClose: [Callback] = []
    private(set) var blockedWriters = 0
    /// The consumer has asked for data: before that (while the handler that began the stream still
    /// runs) nothing drains the queue.
    private(set) var consuming = false
    /// Threads delivering this stream's callbacks now, once per delivery in progress.
    private(set) var delivering: [Thread] = []

    init(highWatermark: Int, lowWatermark: Int) {
        precondition(lowWatermark <= highWatermark)
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    // MARK: Producer

    enum WriteAction {
        /// Queued (or empty): resume the consumer if one is given.
        case accepted(resume: Waiter?)
        /// Refused with this status: SB_ERR_STATE (finished, or a wait that could never end),
        /// SB_ERR_CLOSED, SB_ERR_WOULD_BLOCK.
        case refused(WriteRefusal)
        /// Full, and the writer may block: wait until `writerMayRetry`, then call `writerWoke()`
        /// and write again.
        case block
    }

    enum WriteRefusal: Equatable { case finished, closed, full, waitOnSelf }

    /// A write of `data`. `wait`: the producer may block until there is room. `onBeganThread`: it
    /// is the thread that began the stream, whose handler has not returned while no one consumes.
    mutating func write(_ data: ByteBuffer, wait: Bool, onBeganThread: Bool) -> WriteAction {
        switch phase {
        case .finishing, .finished: return .refused(.finished)
        case .closed: return .refused(.closed)
        case .streaming: break
        }
        if queuedBytes >= highWatermark {
            // The host sends the head and body once the handler returns: the handler that began
            // the stream would wait for itself, forever.
            guard wait else { return .refused(.full) }
            if !consuming && onBeganThread { return .refused(.waitOnSelf) }
            blockedWriters += 1
            return .block
        }
        if data.readableBytes > 0 {
            queue.append(data)
            queuedBytes += data.readableBytes
        }
        defer { consumer = nil }
        return .accepted(resume: consumer)
    }

    /// Whether a blocked writer should look again: there is room, or the stream ended.
    var writerMayRetry: Bool { queuedBytes < lowWatermark || phase != .streaming }

    mutating func writerWoke() {
        precondition(blockedWriters > 0)
        blockedWriters -= 1
    }

    // MARK: Callbacks

    enum RegisterAction: Equatable {
        /// Kept until its event.
        case registered
        /// Its event has happened: deliver it now, on this thread (counted in `delivering`; call
        /// `deliveryEnded` after).
        case deliverNow
        /// The stream is finished: never called.
        case ignored
    }

    enum Event: Equatable {
        /// `on_writable`: the queue has drained below the low watermark (or the stream closed).
        case writable
        /// `on_close`: the host ended the stream.
        case close
    }

    /// Registers `callback` for `event`; a callback whose event has happened already is delivered
    /// at once (and both kinds run at a close, so a producer waiting for room learns of it).
    mutating func register(_ callback: Callback, for event: Event, thread: Thread) -> RegisterAction {
        switch phase {
        case .finishing, .finished: return .ignored
        case .closed:
            delivering.append(thread)
            return .deliverNow
        case .streaming:
            switch event {
            case .writable where queuedBytes < lowWatermark:
                delivering.append(thread)
                return .deliverNow
            case .writable: onWritable.append(callback)
            case .close: onClose.append(callback)
            }
            return .registered
        }
    }

    /// Checked between callbacks of one delivery: a callback may have finished the stream.
    var mayDeliver: Bool { phase == .streaming || phase == .closed }

    /// A delivery on `thread` (counted when it began) has ended.
    mutating func deliveryEnded(thread: Thread) {
        guard let index = delivering.firstIndex(of: thread) else {
            preconditionFailure("StreamWriterStateMachine: a delivery ended that never began")
        }
        delivering.remove(at: index)
    }

    // MARK: Plugin finishes

    enum FinishAction {
        /// Finished: resume the consumer if given, and give back the plugin's reference.
        case finished(resume: Waiter?)
        /// Finished already, or another thread is finishing it: SB_ERR_STATE, at once.
        case alreadyFinished
        /// Other threads run this stream's callbacks: none starts any more; wait until
        /// `finishMayComplete(thread:)`, then call `completeFinish()`.
        case waitForDeliveries
    }

    /// The plugin calls `stream_finish` on `thread`. After it returns no callback may run, so it
    /// completes only once no other thread delivers one. A second finish (say from a callback on
    /// the thread the first one waits for) is refused at once instead of waiting in turn.
    mutating func finish(thread: Thread) -> FinishAction {
        guard phase == .streaming || phase == .closed else { return .alreadyFinished }
        phase = .finishing
        onWritable = []
        onClose = []
        guard finishMayComplete(thread: thread) else { return .waitForDeliveries }
        return .finished(resume: completeFinish())
    }

    /// Whether a finish waiting on `thread` may complete: no other thread delivers a callback.
    func finishMayComplete(thread: Thread) -> Bool { delivering.allSatisfy { $0 == thread } }

    /// Completes a finish that waited; returns the consumer to resume.
    mutating func completeFinish() -> Waiter? {
        precondition(phase == .finishing)
        phase = .finished
        defer { consumer = nil }
        return consumer
    }

    // MARK: Host closes

    struct CloseAction {
        /// Deliver these (close callbacks first) on the closing thread, counted in `delivering`
        /// when not empty.
        var callbacks: [Callback] = []
        var resume: Waiter? = nil
        /// Wake blocked writers.
        var wakeWriters = false
    }

    /// The host ends the stream: `discardQueued: false` still sends what was written (the drain
    /// deadline). Nothing when it was closed or finished already.
    mutating func close(discardQueued: Bool, thread: Thread) -> CloseAction {
        guard phase == .streaming else { return CloseAction() }
        phase = .closed
        closedByHost = true
        cutShort = !discardQueued
        if discardQueued {
            queue.removeAll()
            queuedBytes = 0
        }
        let action = CloseAction(callbacks: onClose + onWritable, resume: consumer, wakeWriters: blockedWriters > 0)
        onClose = []
        onWritable = []
        consumer = nil
        if !action.callbacks.isEmpty { delivering.append(thread) }
        return action
    }

    // MARK: Consumer

    enum NextAction {
        case send([ByteBuffer])
        /// Nothing more will come: end the body.
        case end
        /// Nothing queued yet: park with `park(_:)`.
        case wait
    }

    /// The consumer asks for the next batch: everything queued, in order.
    mutating func next() -> NextAction {
        consuming = true
        if !queue.isEmpty {
            defer { queue.removeAll(keepingCapacity: true) }
            return .send(Array(queue))
        }
        return mayWait ? .wait : .end
    }

    /// Whether more may still be written: the consumer waits for it.
    private var mayWait: Bool { phase == .streaming || (phase == .finishing && !closedByHost) }

    /// Parks the consumer; returns it back when there is already something to look at (resume it
    /// at once).
    mutating func park(_ waiter: Waiter) -> Waiter? {
        guard mayWait, queue.isEmpty else { return waiter }
        consumer = waiter
        return nil
    }

    struct DrainedAction {
        /// `on_writable` callbacks to deliver on this thread (counted in `delivering` when not empty).
        var callbacks: [Callback] = []
        var wakeWriters = false
    }

    /// The consumer has sent `bytes` of what it took.
    mutating func drained(_ bytes: Int, thread: Thread) -> DrainedAction {
        // After a close that discarded the queue, a send in flight still reports its bytes.
        queuedBytes = max(0, queuedBytes - bytes)
        guard queuedBytes < lowWatermark else { return DrainedAction() }
        let action = DrainedAction(callbacks: onWritable, wakeWriters: blockedWriters > 0)
        onWritable = []
        if !action.callbacks.isEmpty { delivering.append(thread) }
        return action
    }
}
