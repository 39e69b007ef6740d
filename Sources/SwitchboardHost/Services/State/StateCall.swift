import struct SwitchboardCore.Locked
import class SwitchboardCore.Turn
import CSwitchboard
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs plugins' state-store calls off the event loop, on one store thread, and completes each
/// through its plugin's callback: in the order of the calls, one at a time (switchboard.h,
/// sb_state_done_fn).
///
/// Group commit: the calls that arrived while the store was busy are applied together, in order,
/// as one transaction (`StateStore.apply`), and answered once it has committed. Under load one
/// sync answers many changes; alone, a call waits for nothing but its own commit. A batch holds
/// at most `batchLimit` calls. One per server (`HostServices`).
final class StateCalls: Sendable {
    private let queue = DispatchQueue(label: "switchboard.state-store")
    static let batchLimit = 512
    /// The backend calls are applied to; replaced once, at start, by the configured store.
    let store: Locked<StateStore>

    /// Where each inline read's outcome is counted; nil: nowhere.
    private let inlineReads: InlineReadMetrics?

    init(store: StateStore, inlineReads: InlineReadMetrics? = nil) {
        self.store = Locked(store)
        self.inlineReads = inlineReads
    }

    /// How a `state_get_inline` or `state_get_now` was answered: the label of
    /// `switchboard_state_inline_reads_total` (a `state_get_now` refused with
    /// SB_ERR_WOULD_BLOCK is read with `state_get` next: it counts as queued).
    enum InlineOutcome: String, Sendable {
        /// Inside the call, on the calling thread, from the values at hand.
        case inline
        /// Queued: other calls were queued or draining ahead of it, or it was made from inside a
        /// completion.
        case behindCalls = "queued_behind_calls"
        /// Queued: the value was not at hand (never read here, forgotten, or another process
        /// committed since).
        case notAtHand = "queued_not_at_hand"
        /// Queued: another thread's inline read kept the turn past `turnWait`.
        case turnWait = "queued_turn_wait"
    }

    private struct Pending: @unchecked Sendable {  // the plugin's done function and user pointer go to the store thread, as the ABI allows
        let plugin: PluginInstance
        let operation: StateOperation
        let done: sb_state_done_fn
        let user: UnsafeMutableRawPointer?
    }

    private struct Queue {
        var calls: [Pending] = []
        var phase = Phase.idle
    }

    /// Who has the store: a drain, or inline reads (`answerNow`, `readNow`), never both, so an
    /// inline read never waits behind a commit and completions never overlap.
    private enum Phase {
        case idle
        /// A drain is scheduled or running; calls queue behind it.
        case draining
        /// `count` inline reads are answering; a call queued meanwhile is drained by the last.
        case answering(count: Int)
    }
    private let pending = Locked(Queue())
    /// Inline reads complete one at a time: each holds this while it answers.
    private let answerTurn = Turn()
    /// The thread (`pthread_self`) answering now, 0 when none: a plugin whose completion reads
    /// inline again, from inside it, queues instead of waiting for itself.
    private let answeringThread = Atomic<UInt>(0)

    static func run(_ pluginHandle: OpaquePointer?, _ done: sb_state_done_fn?, _ user: UnsafeMutableRawPointer?, _ operation: StateOperation) -> sb_status {
        guard let plugin = PluginInstance.from(pluginHandle), let done else { return SB_ERR_INVALID_ARGUMENT }
        // The callback runs plugin code: hold a lease so the generation stays loaded until then.
        guard plugin.enter() else { return SB_ERR_STATE }
        return plugin.services.state.enqueue(Pending(plugin: plugin, operation: operation, done: done, user: user))
    }

    /// `state_get_inline`: answered on the calling thread, inside this call, when nothing is
    /// queued or draining ahead of it, it gets its turn among the inline reads of other threads
    /// within `turnWait` (they answer one at a time), and the value is at hand
    /// (`StateStore.cached`); otherwise queued as `state_get` is, in the place it had when it
    /// arrived. `key`: UTF-8 (the caller checked), borrowed for this call: the cache is looked up
    /// by these bytes, and a string is made of them only for a read that is queued.
    static func readInline(_ pluginHandle: OpaquePointer?, _ key: UnsafeRawBufferPointer, _ done: sb_state_done_fn?, _ user: UnsafeMutableRawPointer?) -> sb_status {
        guard let plugin = PluginInstance.from(pluginHandle), let done else { return SB_ERR_INVALID_ARGUMENT }
        guard plugin.enter() else { return SB_ERR_STATE }
        let calls = plugin.services.state
        // Answered: the lease goes back now. Queued: the call holds it until its completion.
        if calls.answerNow(InlineRead(plugin: plugin, key: key, done: done, user: user)) { plugin.leave() }
        return SB_OK
    }

    /// `state_get_now`: when nothing is queued or draining ahead of it and the value is at hand,
    /// `visit` gets it inside this call, on the calling thread (SB_OK), or the key is known
    /// absent (SB_ERR_NOT_FOUND); otherwise SB_ERR_WOULD_BLOCK and nothing is queued. It joins
    /// the inline reads while it looks, so no drain starts meanwhile, but takes no turn among
    /// them: it completes nothing, so there is no order of completions to keep (a read from
    /// inside an inline read's completion is answered too; from a queued one's, the drain holds
    /// the store: SB_ERR_WOULD_BLOCK). `key`: UTF-8 (the caller checked), borrowed for this
    /// call. `visit` runs after the store is let go, under the call's lease.
    static func readNow(_ pluginHandle: OpaquePointer?, _ key: UnsafeRawBufferPointer, _ visit: sb_state_value_fn?, _ user: UnsafeMutableRawPointer?) -> sb_status {
        guard let plugin = PluginInstance.from(pluginHandle), let visit else { return SB_ERR_INVALID_ARGUMENT }
        guard plugin.enter() else { return SB_ERR_STATE }
        defer { plugin.leave() }
        let calls = plugin.services.state
        guard calls.joinInlineReads(refusing: nil) else {
            calls.inlineReads?.record(.behindCalls)
            return SB_ERR_WOULD_BLOCK
        }
        let cached = calls.store.withLock({ $0 }).cached(keyBytes: key, plugin: plugin.name)
        calls.leaveInlineReads(queueing: nil)
        calls.inlineReads?.record(cached == nil ? .notAtHand : .inline)
        switch cached {
        case .present(let value)?:
            withPluginCode(plugin.codeTag) {
                value.withUnsafeBufferPointer { visit(user, sb_bytes(ptr: $0.baseAddress, len: $0.count)) }
            }
            return SB_OK
        case .absent?: return SB_ERR_NOT_FOUND
        case nil: return SB_ERR_WOULD_BLOCK
        }
    }

    /// A `state_get_inline` during its call: what `Pending` holds, with the key still the
    /// plugin's bytes.
    private struct InlineRead {
        let plugin: PluginInstance
        let key: UnsafeRawBufferPointer
        let done: sb_state_done_fn
        let user: UnsafeMutableRawPointer?

        /// The read as `state_get` queues it (the key copied out of the plugin's bytes).
        var queued: Pending { Pending(plugin: plugin, operation: .get(String(decoding: key, as: UTF8.self)), done: done, user: user) }
    }

    /// How long an inline read tries for its turn while another thread's inline read answers (a
    /// cache lookup and a callback: a microsecond or two) before it is queued, in nanoseconds.
    /// Bounded, so a reader never waits on plugin code that may be waiting on it (a lock the
    /// other callback takes, a timer it cancels), and an event loop keeps trying for at most this
    /// long (after its first 64 tries it yields the CPU between tries, so once the wait is over
    /// it may get the CPU back later: the scheduler's time, not its own).
    static let turnWait: UInt64 = 50_000

    /// When nothing is queued or draining, joins the inline reads (so no drain starts meanwhile),
    /// answers from the cache in its turn if it can, and leaves: true when it answered. Otherwise
    /// `call` is queued as it leaves, ahead of anything that arrived after it; the last reader to
    /// leave drains what was queued meanwhile.
    private func answerNow(_ call: InlineRead) -> Bool {
        let thread = UInt(pthread_self())
        // Read again from inside its own completion (that one holds the turn), or behind a
        // queued call: queue.
        guard joinInlineReads(refusing: thread) else {
            inlineReads?.record(.behindCalls)
            _ = enqueue(call.queued)
            return false
        }
        var outcome = InlineOutcome.turnWait
        var giveUpAt: UInt64 = 0
        for attempt in 0... {
            // The clock is read only once the first tries have failed. Then each try first gives
            // the CPU away: the thread with the turn may be waiting for one (preempted, or on
            // the same CPU as this one), and spinning would keep it from finishing until the
            // wait ran out, sending this read, and every read queued behind it (a few dozen at a
            // time under load), to the store thread. The turn is tried once more after the
            // yield before the clock is read: the thread that had it may have run on for longer
            // than the wait, and has long since let go.
            if attempt == 64 { giveUpAt = monotonicNanoseconds() + Self.turnWait }
            if attempt > 64 {
                if monotonicNanoseconds() > giveUpAt { break }
                sched_yield()
            }
            let turn: InlineOutcome? = answerTurn.takeIfFree { () -> InlineOutcome in
                answeringThread.store(thread, ordering: .relaxed)
                defer { answeringThread.store(0, ordering: .relaxed) }
                guard let cached = store.withLock({ $0 }).cached(keyBytes: call.key, plugin: call.plugin.name) else { return .notAtHand }
                withPluginCode(call.plugin.codeTag) {
                    switch cached {
                    case .present(let value): Self.complete(call.done, call.user, SB_OK, StateResult(value: value))
                    case .absent: Self.complete(call.done, call.user, SB_ERR_NOT_FOUND, StateResult())
                    }
                }
                return .inline
            }
            if let turn {
                outcome = turn
                break
            }
        }
        inlineReads?.record(outcome)
        let answered = outcome == .inline
        leaveInlineReads(queueing: answered ? nil : call.queued)  // its key copied before the lock, not under it
        return answered
    }

    /// Joins the inline reads when nothing is queued or draining: true when it joined, and then
    /// `leaveInlineReads` must follow. A read that takes a turn passes its thread, refused while
    /// that thread answers one (its completion reads again, and would wait for its own turn).
    private func joinInlineReads(refusing thread: UInt?) -> Bool {
        pending.withLock { q -> Bool in
            guard q.calls.isEmpty, thread == nil || answeringThread.load(ordering: .relaxed) != thread else { return false }
            switch q.phase {
            case .idle: q.phase = .answering(count: 1)
            case .answering(let count): q.phase = .answering(count: count + 1)
            case .draining: return false
            }
            return true
        }
    }

    /// Leaves the inline reads, queueing `call` first (ahead of anything that arrived after it);
    /// the last to leave drains what was queued meanwhile.
    private func leaveInlineReads(queueing call: Pending?) {
        let drainNext = pending.withLock { q -> Bool in
            guard case .answering(let count) = q.phase else { preconditionFailure("StateCalls: an inline read left a phase it was not in") }
            if let call { q.calls.insert(call, at: 0) }  // nothing queued may pass it: it was first
            if count > 1 {
                q.phase = .answering(count: count - 1)
                return false
            }
            q.phase = q.calls.isEmpty ? .idle : .draining
            return !q.calls.isEmpty
        }
        if drainNext { queue.async { self.drain() } }
    }

    private func enqueue(_ call: Pending) -> sb_status {
        let schedule = pending.withLock { q -> Bool in
            q.calls.append(call)
            guard case .idle = q.phase else { return false }
            q.phase = .draining
            return true
        }
        if schedule { queue.async { self.drain() } }
        return SB_OK
    }

    /// Applies what is queued, batch after batch, until the queue is empty.
    private func drain() {
        while true {
            let batch = pending.withLock { q -> [Pending] in
                let batch = Array(q.calls.prefix(Self.batchLimit))
                q.calls.removeFirst(batch.count)
                if batch.isEmpty { q.phase = .idle }
                return batch
            }
            guard !batch.isEmpty else { return }
            let store = self.store.withLock { $0 }
            let outcomes = store.apply(batch.map { ($0.operation, $0.plugin.name) })
            for (call, outcome) in zip(batch, outcomes) {
                withPluginCode(call.plugin.codeTag) {
                    switch outcome {
                    case .success(let result): Self.complete(call.done, call.user, SB_OK, result)
                    case .failure(let error): Self.complete(call.done, call.user, error.status, error.result)
                    }
                }
                call.plugin.leave()
            }
        }
    }

    private static func complete(_ done: sb_state_done_fn, _ user: UnsafeMutableRawPointer?, _ status: sb_status, _ result: StateResult) {
        // Lent for the callback only: copied (each with a NUL) into one temporary region, on the
        // stack when it is small, as is the entry list.
        var bytes = LendingCursor.size(result.value.count)
        for entry in result.entries { bytes += LendingCursor.size(entry.key.utf8.count) + LendingCursor.size(entry.value.count) }
        withUnsafeTemporaryAllocation(byteCount: bytes, alignment: 1) { region in
            var lent = LendingCursor(region)
            let value = result.value.withUnsafeBytes { lent.copy($0)! }
            withUnsafeTemporaryAllocation(of: sb_state_entry.self, capacity: max(1, result.entries.count)) { list in
                for (i, entry) in result.entries.enumerated() {
                    var name = entry.key
                    let key = name.withUTF8 { lent.copy(UnsafeRawBufferPointer($0))! }
                    let value = entry.value.withUnsafeBytes { lent.copy($0)! }
                    (list.baseAddress! + i).initialize(to: sb_state_entry(key: key, value: sb_bytes(value)))
                }
                defer { _ = list.baseAddress.map { $0.deinitialize(count: result.entries.count) } }
                var out = sb_state_result()
                out.struct_size = UInt32(MemoryLayout<sb_state_result>.size)
                out.value = sb_bytes(value)
                out.number = result.number
                out.entries = UnsafePointer(list.baseAddress)  // never NULL, as before: a list may be empty
                out.entry_count = result.entries.count
                done(user, status, &out)
            }
        }
    }
}
