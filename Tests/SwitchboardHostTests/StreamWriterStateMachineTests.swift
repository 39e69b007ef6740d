import NIOCore
import Testing
@testable import SwitchboardHost

/// `StreamWriterStateMachine` without sockets or threads (issue #20): waiters and callbacks are
/// numbers and strings, threads are names. Includes the orders of the past races: a close racing a
/// finish, a callback that finishes its stream, two finishes waiting on each other.
@Suite struct StreamWriterStateMachineTests {
    typealias Machine = StreamWriterStateMachine<Int, String, String>

    static func bytes(_ count: Int) -> ByteBuffer { ByteBuffer(repeating: 0x61, count: count) }
    static func machine() -> Machine { Machine(highWatermark: 100, lowWatermark: 40) }

    @Test func writesQueueUntilTheHighWatermark() {
        var m = Self.machine()
        guard case .accepted(nil) = m.write(Self.bytes(60), wait: false, onBeganThread: false) else { Issue.record("refused"); return }
        guard case .accepted = m.write(Self.bytes(50), wait: false, onBeganThread: false) else { Issue.record("refused"); return }
        #expect(m.queuedBytes == 110)
        guard case .refused(.full) = m.write(Self.bytes(1), wait: false, onBeganThread: false) else { Issue.record("not full"); return }
        guard case .block = m.write(Self.bytes(1), wait: true, onBeganThread: false) else { Issue.record("no block"); return }
        #expect(m.blockedWriters == 1 && !m.writerMayRetry)
        // The handler that began the stream, before anyone consumes, would wait for itself.
        guard case .refused(.waitOnSelf) = m.write(Self.bytes(1), wait: true, onBeganThread: true) else { Issue.record("waits on itself"); return }
        guard case .send(let chunks) = m.next() else { Issue.record("nothing to send"); return }
        #expect(chunks.map(\.readableBytes) == [60, 50])
        let drained = m.drained(110, thread: "loop")
        #expect(drained.wakeWriters && drained.callbacks.isEmpty && m.writerMayRetry)
        m.writerWoke()
        #expect(m.blockedWriters == 0)
    }

    @Test func theConsumerParksAndIsResumedByAWrite() {
        var m = Self.machine()
        guard case .wait = m.next() else { Issue.record("not waiting"); return }
        #expect(m.park(1) == nil)
        guard case .accepted(let resume) = m.write(Self.bytes(5), wait: false, onBeganThread: false) else { Issue.record("refused"); return }
        #expect(resume == 1)
        guard case .accepted(nil) = m.write(Self.bytes(5), wait: false, onBeganThread: false) else { Issue.record("resumed twice"); return }
        // A park that races a write is handed back at once.
        #expect(m.park(2) == 2)
    }

    @Test func onWritableFiresNowOrAtTheLowWatermark() {
        var m = Self.machine()
        #expect(m.register("w0", for: .writable, thread: "p") == .deliverNow, "below the low watermark already")
        m.deliveryEnded(thread: "p")
        _ = m.write(Self.bytes(90), wait: false, onBeganThread: false)
        #expect(m.register("w1", for: .writable, thread: "p") == .registered)
        guard case .send = m.next() else { Issue.record("nothing to send"); return }
        #expect(m.drained(40, thread: "loop").callbacks.isEmpty, "50 still queued: above 40")
        let drained = m.drained(50, thread: "loop")
        #expect(drained.callbacks == ["w1"] && m.delivering == ["loop"])
        m.deliveryEnded(thread: "loop")
        #expect(m.delivering.isEmpty)
    }

    @Test func closeDeliversCloseCallbacksThenWritableOnesAndEndsTheBody() {
        var m = Self.machine()
        _ = m.write(Self.bytes(120), wait: false, onBeganThread: false)
        _ = m.register("c", for: .close, thread: "p")
        _ = m.register("w", for: .writable, thread: "p")
        _ = m.write(Self.bytes(1), wait: true, onBeganThread: false)
        #expect(m.park(9) == 9, "data is queued: the consumer is not parked")
        let action = m.close(discardQueued: true, thread: "host")
        #expect(action.callbacks == ["c", "w"] && action.wakeWriters && m.delivering == ["host"])
        #expect(m.queuedBytes == 0 && m.writerMayRetry)
        guard case .refused(.closed) = m.write(Self.bytes(1), wait: false, onBeganThread: false) else { Issue.record("accepted after close"); return }
        guard case .end = m.next() else { Issue.record("not ended"); return }
        #expect(m.register("late", for: .close, thread: "p") == .deliverNow, "registered after the close: runs at once")
        #expect(m.close(discardQueued: true, thread: "host").callbacks.isEmpty, "closed once")
    }

    @Test func theDrainDeadlineSendsWhatWasQueuedAndCutsTheBodyShort() {
        var m = Self.machine()
        _ = m.write(Self.bytes(30), wait: false, onBeganThread: false)
        _ = m.close(discardQueued: false, thread: "host")
        #expect(m.cutShort)
        guard case .send(let chunks) = m.next() else { Issue.record("queue dropped"); return }
        #expect(chunks.map(\.readableBytes) == [30])
        guard case .end = m.next() else { Issue.record("not ended"); return }
    }

    @Test func finishFromInsideItsOwnCallback() {
        // on_close usually finishes the stream: the delivering thread must not wait for itself,
        // and the rest of the delivery is dropped.
        var m = Self.machine()
        _ = m.register("c1", for: .close, thread: "p")
        _ = m.register("c2", for: .close, thread: "p")
        #expect(m.park(4) == nil)
        let close = m.close(discardQueued: true, thread: "host")
        #expect(close.callbacks == ["c1", "c2"] && close.resume == 4)
        guard case .finished(nil) = m.finish(thread: "host") else { Issue.record("waited for itself"); return }
        #expect(!m.mayDeliver, "c2 is not called after stream_finish")
        m.deliveryEnded(thread: "host")
        guard case .alreadyFinished = m.finish(thread: "p") else { Issue.record("finished twice"); return }
    }

    @Test func finishWaitsForAnotherThreadsDelivery() {
        // The host runs on_close on its thread while the plugin finishes on another: the finish
        // completes only after that callback returned, and no other callback starts meanwhile.
        var m = Self.machine()
        _ = m.write(Self.bytes(90), wait: false, onBeganThread: false)
        _ = m.register("c", for: .close, thread: "p")
        #expect(m.register("w", for: .writable, thread: "p") == .registered)
        #expect(m.close(discardQueued: true, thread: "host").callbacks == ["c", "w"])
        guard case .waitForDeliveries = m.finish(thread: "plugin") else { Issue.record("did not wait"); return }
        #expect(m.phase == .finishing && !m.mayDeliver)
        #expect(!m.finishMayComplete(thread: "plugin"))
        #expect(m.register("late", for: .close, thread: "x") == .ignored)
        guard case .refused(.finished) = m.write(Self.bytes(1), wait: false, onBeganThread: false) else { Issue.record("write accepted"); return }
        guard case .end = m.next() else { Issue.record("closed by the host: the body ends without waiting for the finish"); return }
        // A second finish, from the callback the first one waits for, is refused at once: waiting
        // in turn would deadlock the two.
        guard case .alreadyFinished = m.finish(thread: "host") else { Issue.record("second finish waited"); return }
        m.deliveryEnded(thread: "host")
        #expect(m.finishMayComplete(thread: "plugin"))
        #expect(m.completeFinish() == nil)
        #expect(m.phase == .finished)
    }

    @Test func finishEndsTheBodyAfterWhatWasQueued() {
        var m = Self.machine()
        _ = m.write(Self.bytes(10), wait: false, onBeganThread: false)
        guard case .finished(nil) = m.finish(thread: "p") else { Issue.record("not finished"); return }
        guard case .send = m.next() else { Issue.record("queue dropped"); return }
        guard case .end = m.next() else { Issue.record("not ended"); return }
        #expect(m.close(discardQueued: true, thread: "host").callbacks.isEmpty, "nothing is called after finish")
    }

    @Test func aParkedConsumerIsResumedByFinishAndByClose() {
        var finished = Self.machine()
        _ = finished.next()
        _ = finished.park(1)
        guard case .finished(let resume) = finished.finish(thread: "p") else { Issue.record("not finished"); return }
        #expect(resume == 1)
        var closed = Self.machine()
        _ = closed.next()
        _ = closed.park(2)
        #expect(closed.close(discardQueued: true, thread: "h").resume == 2)
    }
}
