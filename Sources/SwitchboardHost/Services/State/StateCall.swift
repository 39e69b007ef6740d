import class SwitchboardCore.Locked
import CSwitchboard
import Dispatch

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

    init(store: StateStore) { self.store = Locked(store) }

    private struct Pending: @unchecked Sendable {  // the plugin's done function and user pointer go to the store thread, as the ABI allows
        let plugin: PluginInstance
        let operation: StateOperation
        let done: sb_state_done_fn
        let user: UnsafeMutableRawPointer?
    }

    private struct Queue {
        var calls: [Pending] = []
        /// A drain is scheduled or running.
        var draining = false
    }
    private let pending = Locked(Queue())

    static func run(_ pluginHandle: OpaquePointer?, _ done: sb_state_done_fn?, _ user: UnsafeMutableRawPointer?, _ operation: StateOperation) -> sb_status {
        guard let plugin = PluginInstance.from(pluginHandle), let done else { return SB_ERR_INVALID_ARGUMENT }
        // The callback runs plugin code: hold a lease so the generation stays loaded until then.
        guard plugin.enter() else { return SB_ERR_STATE }
        return plugin.services.state.enqueue(Pending(plugin: plugin, operation: operation, done: done, user: user))
    }

    /// `state_get_inline`: answered on the calling thread, inside this call, when the store is
    /// idle (no call queued or running ahead of it, so completions stay in the order of the
    /// calls, one at a time) and the value is at hand (`StateStore.cached`); otherwise queued as
    /// `state_get` is.
    static func readInline(_ pluginHandle: OpaquePointer?, _ key: String, _ done: sb_state_done_fn?, _ user: UnsafeMutableRawPointer?) -> sb_status {
        guard let plugin = PluginInstance.from(pluginHandle), let done else { return SB_ERR_INVALID_ARGUMENT }
        guard plugin.enter() else { return SB_ERR_STATE }
        let calls = plugin.services.state
        if calls.answerNow(plugin, key, done, user) {
            plugin.leave()
            return SB_OK
        }
        return calls.enqueue(Pending(plugin: plugin, operation: .get(key), done: done, user: user))
    }

    /// Holds the store as a drain would (so nothing else runs or completes meanwhile), answers
    /// from the cache if it can, and lets go; a call queued meanwhile gets its drain.
    private func answerNow(_ plugin: PluginInstance, _ key: String, _ done: sb_state_done_fn, _ user: UnsafeMutableRawPointer?) -> Bool {
        let held = pending.withLock { q -> Bool in
            guard q.calls.isEmpty, !q.draining else { return false }
            q.draining = true
            return true
        }
        guard held else { return false }
        let cached = store.withLock { $0 }.cached(key, plugin: plugin.name)
        if let cached {
            withPluginCode(plugin.codeTag) {
                switch cached {
                case .present(let value): Self.complete(done, user, SB_OK, StateResult(value: value))
                case .absent: Self.complete(done, user, SB_ERR_NOT_FOUND, StateResult())
                }
            }
        }
        let drainNext = pending.withLock { q -> Bool in
            if q.calls.isEmpty { q.draining = false }
            return !q.calls.isEmpty
        }
        if drainNext { queue.async { self.drain() } }
        return cached != nil
    }

    private func enqueue(_ call: Pending) -> sb_status {
        let schedule = pending.withLock { q -> Bool in
            q.calls.append(call)
            guard !q.draining else { return false }
            q.draining = true
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
                if batch.isEmpty { q.draining = false }
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
        let arena = BorrowArena()
        let value = result.value.withUnsafeBytes { arena.copy($0) }
        let entries = result.entries.map { entry in
            let key = arena.copy(entry.key)
            let value = entry.value.withUnsafeBytes { arena.copy($0) }
            return sb_state_entry(key: key, value: sb_bytes(ptr: UnsafeRawPointer(value.ptr)?.assumingMemoryBound(to: UInt8.self), len: value.len))
        }
        entries.withUnsafeBufferPointer { list in
            var out = sb_state_result()
            out.struct_size = UInt32(MemoryLayout<sb_state_result>.size)
            out.value = sb_bytes(ptr: UnsafeRawPointer(value.ptr)?.assumingMemoryBound(to: UInt8.self), len: value.len)
            out.number = result.number
            out.entries = list.baseAddress
            out.entry_count = list.count
            done(user, status, &out)
        }
    }
}
