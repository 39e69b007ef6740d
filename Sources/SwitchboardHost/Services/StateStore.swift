import CSwitchboard
import Dispatch
import Synchronization

/// A per-plugin key-value store behind the `state_*` host functions.
///
/// Calls are synchronous and may block; `StateCall` runs them on a dedicated serial queue so the
/// event loop never waits for the store. An embedded SQLite store under the state directory (the
/// default for the status module, issue #6) and this in-memory store share the protocol.
protocol StateStore: Sendable {
    func get(plugin: String, key: String) throws -> StateResult
    func put(plugin: String, key: String, value: [UInt8]) throws -> StateResult
    func compareAndPut(plugin: String, key: String, expected: [UInt8]?, value: [UInt8]) throws -> StateResult
    func delete(plugin: String, key: String) throws -> StateResult
    func increment(plugin: String, key: String, by delta: Int64) throws -> StateResult
    func list(plugin: String, prefix: String, after: String, limit: Int) throws -> StateResult
}

struct StateError: Error {
    let status: sb_status
}

struct StateResult: Sendable {
    var value: [UInt8] = []
    var number: Int64 = 0
    var entries: [(key: String, value: [UInt8])] = []
}

/// The in-memory store: contents live as long as the process (for tests, and `state.backend: memory`).
final class MemoryStateStore: StateStore {
    private let data = Locked<[String: [String: [UInt8]]]>([:])

    func get(plugin: String, key: String) throws -> StateResult {
        guard let value = data.withLock({ $0[plugin]?[key] }) else { throw StateError(status: SB_ERR_NOT_FOUND) }
        return StateResult(value: value)
    }

    func put(plugin: String, key: String, value: [UInt8]) throws -> StateResult {
        data.withLock { $0[plugin, default: [:]][key] = value }
        return StateResult()
    }

    func compareAndPut(plugin: String, key: String, expected: [UInt8]?, value: [UInt8]) throws -> StateResult {
        let swapped = data.withLock { d -> Bool in
            guard d[plugin]?[key] == expected else { return false }
            d[plugin, default: [:]][key] = value
            return true
        }
        guard swapped else { throw StateError(status: SB_ERR_CONFLICT) }
        return StateResult()
    }

    func delete(plugin: String, key: String) throws -> StateResult {
        let existed = data.withLock { $0[plugin]?.removeValue(forKey: key) != nil }
        guard existed else { throw StateError(status: SB_ERR_NOT_FOUND) }
        return StateResult()
    }

    func increment(plugin: String, key: String, by delta: Int64) throws -> StateResult {
        let result = data.withLock { d -> Int64? in
            let current: Int64
            if let bytes = d[plugin]?[key] {
                guard let parsed = Int64(String(decoding: bytes, as: UTF8.self)) else { return nil }
                current = parsed
            } else {
                current = 0
            }
            let (next, overflow) = current.addingReportingOverflow(delta)
            guard !overflow else { return nil }
            d[plugin, default: [:]][key] = Array(String(next).utf8)
            return next
        }
        guard let result else { throw StateError(status: SB_ERR_INVALID_ARGUMENT) }
        return StateResult(number: result)
    }

    func list(plugin: String, prefix: String, after: String, limit: Int) throws -> StateResult {
        let entries = data.withLock { d in
            (d[plugin] ?? [:]).filter { $0.key.hasPrefix(prefix) && (after.isEmpty || $0.key > after) }
                .sorted { $0.key < $1.key }
                .prefix(limit == 0 ? Int.max : limit)
                .map { (key: $0.key, value: $0.value) }
        }
        return StateResult(entries: Array(entries))
    }
}

/// Runs one state-store call off the event loop and completes it through the plugin's callback.
enum StateCall {
    private static let queue = DispatchQueue(label: "switchboard.state-store")

    static func run(
        _ pluginHandle: OpaquePointer?, _ done: sb_state_done_fn?, _ user: UnsafeMutableRawPointer?,
        _ operation: @escaping @Sendable (any StateStore, String) throws -> StateResult
    ) -> sb_status {
        guard let plugin = PluginInstance.from(pluginHandle), let done else { return SB_ERR_INVALID_ARGUMENT }
        // The callback runs plugin code: hold a lease so the generation stays loaded until then.
        guard plugin.enter() else { return SB_ERR_STATE }
        let store = HostAPI.services.store
        let name = plugin.name
        let context = UnsafeSendable((done, user))
        queue.async {
            defer { plugin.leave() }
            let (done, user) = context.value
            do {
                let result = try operation(store, name)
                complete(done, user, SB_OK, result)
            } catch let error as StateError {
                complete(done, user, error.status, StateResult())
            } catch {
                complete(done, user, SB_ERR_IO, StateResult())
            }
        }
        return SB_OK
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
