import struct SwitchboardCore.Locked
import CSwitchboard

/// The backend boundary of the state store: one transaction's reads and writes. Every operation a
/// plugin can ask for (`StateOperation`) is written once on top of it, so a backend (memory,
/// SQLite, later PostgreSQL for several hosts) implements these five and nothing else.
///
/// Keys are compared as bytes (UTF-8), so a listing is in byte order whatever the backend.
protocol StateTransaction {
    /// The value at `key`; nil when absent.
    func get(_ plugin: String, _ key: String) throws -> [UInt8]?
    func put(_ plugin: String, _ key: String, _ value: [UInt8]) throws
    /// Removes `key`; false when it was absent.
    func delete(_ plugin: String, _ key: String) throws -> Bool
    /// Up to `limit` entries (0: all) whose key starts with `prefix` and sorts after `after`,
    /// past the first `skip` of them, in key order; and how many keys start with `prefix` in all.
    func list(_ plugin: String, prefix: String, after: String, skip: Int, limit: Int) throws -> (entries: [(key: String, value: [UInt8])], count: Int)
    /// Runs `body`; when it throws, whatever it changed is undone (a savepoint) and the error
    /// propagates, while the enclosing transaction goes on.
    func atomically<R>(_ body: () throws -> R) throws -> R
}

/// A place the state lives.
protocol StateStorage: Sendable {
    /// Runs `body` as one transaction and commits it before returning: for a durable backend, its
    /// changes are on stable storage by then. `writes` false promises `body` only reads (a
    /// backend may then take no write lock). Throws when the transaction cannot begin or commit:
    /// nothing of it is kept then.
    func transaction<R>(writes: Bool, _ body: (any StateTransaction) throws -> R) throws -> R
    /// Whether another process (a worker being replaced, a second host, `sqlite3`) has committed
    /// to the storage since the last time this was asked: what this process remembers of it may
    /// be out of date then. Called only by the store's holder (no transaction runs meanwhile),
    /// one call at a time (`StateStore` makes each under its remembered values' lock).
    func othersCommitted() -> Bool
}

/// Why a state operation did not apply: a status for the plugin's completion, and the result it
/// comes with (state_transaction's failing index in `number`).
struct StateError: Error {
    let status: sb_status
    var result = StateResult()
}

struct StateResult: Sendable {
    var value: [UInt8] = []
    var number: Int64 = 0
    var entries: [(key: String, value: [UInt8])] = []
}

/// One step of a state transaction (`sb_state_op`).
enum StateStep: Sendable {
    case put(String, [UInt8])
    case delete(String)
    case expect(String, [UInt8])
    case expectAbsent(String)
}

/// What a plugin can ask the store for, each on one transaction. The compare-and-set forms read
/// and write inside it, so no other call comes between.
enum StateOperation: Sendable {
    case get(String)
    case put(String, [UInt8])
    case compareAndPut(String, expected: [UInt8]?, [UInt8])
    case delete(String)
    case compareAndDelete(String, expected: [UInt8])
    case increment(String, Int64)
    case list(prefix: String, after: String, skip: Int, limit: Int)
    case transaction([StateStep])

    /// Whether it may change anything.
    var writes: Bool {
        switch self {
        case .get, .list: false
        default: true
        }
    }

    /// Applies it for `plugin`. Throws `StateError` for an outcome the plugin is told
    /// (SB_ERR_NOT_FOUND, SB_ERR_CONFLICT, SB_ERR_INVALID_ARGUMENT), anything else for a store
    /// failure (SB_ERR_IO).
    func apply(_ tx: any StateTransaction, plugin: String) throws -> StateResult {
        switch self {
        case .get(let key):
            guard let value = try tx.get(plugin, key) else { throw StateError(status: SB_ERR_NOT_FOUND) }
            return StateResult(value: value)
        case .put(let key, let value):
            try tx.put(plugin, key, value)
        case .compareAndPut(let key, let expected, let value):
            guard try tx.get(plugin, key) == expected else { throw StateError(status: SB_ERR_CONFLICT) }
            try tx.put(plugin, key, value)
        case .delete(let key):
            guard try tx.delete(plugin, key) else { throw StateError(status: SB_ERR_NOT_FOUND) }
        case .compareAndDelete(let key, let expected):
            guard let current = try tx.get(plugin, key) else { throw StateError(status: SB_ERR_NOT_FOUND) }
            guard current == expected else { throw StateError(status: SB_ERR_CONFLICT) }
            _ = try tx.delete(plugin, key)
        case .increment(let key, let delta):
            var current: Int64 = 0
            if let bytes = try tx.get(plugin, key) {
                guard let parsed = Int64(String(decoding: bytes, as: UTF8.self)) else { throw StateError(status: SB_ERR_INVALID_ARGUMENT) }
                current = parsed
            }
            let (next, overflow) = current.addingReportingOverflow(delta)
            guard !overflow else { throw StateError(status: SB_ERR_INVALID_ARGUMENT) }
            try tx.put(plugin, key, Array(String(next).utf8))
            return StateResult(number: next)
        case .list(let prefix, let after, let skip, let limit):
            let (entries, count) = try tx.list(plugin, prefix: prefix, after: after, skip: skip, limit: limit)
            return StateResult(number: Int64(count), entries: entries)
        case .transaction(let steps):
            for (index, step) in steps.enumerated() {
                switch step {
                case .put(let key, let value):
                    try tx.put(plugin, key, value)
                case .delete(let key):
                    _ = try tx.delete(plugin, key)
                case .expect(let key, let value):
                    guard try tx.get(plugin, key) == value else { throw StateError(status: SB_ERR_CONFLICT, result: StateResult(number: Int64(index))) }
                case .expectAbsent(let key):
                    guard try tx.get(plugin, key) == nil else { throw StateError(status: SB_ERR_CONFLICT, result: StateResult(number: Int64(index))) }
                }
            }
        }
        return StateResult()
    }
}

/// The host's state store: a backend, the transactions calls are grouped into, and the values
/// lately read or written (`cached`), from which a get can be answered without a transaction.
final class StateStore: Sendable {
    let storage: any StateStorage
    private let recent = Locked(RecentValues())

    /// A store kept in memory only (`state.backend: memory`, tests).
    init() {
        storage = MemoryStateStorage()
    }

    /// The SQLite store in `directory` (`state.backend: sqlite`), created on first use; a
    /// `state.log` of earlier versions there is imported once (`SQLiteStateStorage`).
    init(directory: String) throws {
        storage = try SQLiteStateStorage(directory: directory)
    }

    /// Applies `operations` in order as one transaction, each all or nothing on its own: a step
    /// that fails leaves the others standing. Every result is known only once the transaction has
    /// committed (group commit: one sync for them all). When the commit fails, every operation
    /// fails with SB_ERR_IO.
    func apply(_ operations: [(operation: StateOperation, plugin: String)]) -> [Result<StateResult, StateError>] {
        let writes = operations.contains { $0.operation.writes }
        let outcomes: [Result<StateResult, StateError>]
        do {
            outcomes = try storage.transaction(writes: writes) { tx in
                operations.map { call in
                    do {
                        return .success(try tx.atomically { try call.operation.apply(tx, plugin: call.plugin) })
                    } catch let error as StateError {
                        return .failure(error)
                    } catch {
                        return .failure(StateError(status: SB_ERR_IO))
                    }
                }
            }
        } catch {
            // Nothing was kept, so what is cached still holds.
            return operations.map { _ in .failure(StateError(status: SB_ERR_IO)) }
        }
        // Committed: before anyone is told, so a get answered from the cache never reads older
        // than a change whose caller has been answered. Then, if another process has committed
        // meanwhile (before or after this transaction), nothing remembered is trusted.
        recent.withLock { recent in
            for (call, outcome) in zip(operations, outcomes) { recent.record(call.operation, outcome, plugin: call.plugin) }
            if storage.othersCommitted() { recent.clear() }
        }
        return outcomes
    }

    /// The value at `key` as last committed, when it is at hand; nil when it is not (ask the
    /// storage), which is also the answer once another process has committed. Exact only for a
    /// caller that holds the store (no transaction runs meanwhile): `StateCalls` answers
    /// `state_get_inline` and `state_get_now` with it only then, from any number of threads at
    /// once. Whether another process has committed is asked and acted on under the values' lock,
    /// as one step: of two threads checking at once, the one that finds the commit has emptied
    /// the values before the other, which finds it already seen, looks one up.
    func cached(_ key: String, plugin: String) -> RecentValues.Value? {
        var key = key
        return key.withUTF8 { cached(keyBytes: UnsafeRawBufferPointer($0), plugin: plugin) }
    }

    /// `cached(_:plugin:)` for a key given as its UTF-8 bytes (read, not kept).
    func cached(keyBytes key: UnsafeRawBufferPointer, plugin: String) -> RecentValues.Value? {
        recent.withLock { recent in
            if storage.othersCommitted() {
                recent.clear()
                return nil
            }
            return recent.value(plugin: plugin, key: key)
        }
    }

    /// One operation on its own transaction (tests, and callers outside a plugin).
    func apply(_ operation: StateOperation, plugin: String) throws(StateError) -> StateResult {
        try apply([(operation, plugin)])[0].get()
    }
}

/// Values lately read or written, by plugin and key (compared as UTF-8 bytes, as the storage
/// compares them), as committed: each a value or known absent. Bounded: past `budget` bytes
/// (keys, values and `entryOverhead` each) it starts again empty (a miss costs one transaction
/// on the store thread).
struct RecentValues {
    enum Value: Equatable {
        case present([UInt8])
        case absent
    }

    /// Bytes held at most, as counted.
    static let budget = 16 << 20
    /// What an entry costs beyond its bytes: two array headers and the dictionary's slot.
    static let entryOverhead = 96
    private var values: [Slot: Value] = [:]
    private var bytes = 0

    /// A lookup's slot is written here, so looking a value up allocates nothing: the slot holds
    /// the only other reference while the dictionary reads it, and none once it has.
    private var lookupBytes: [UInt8] = []

    /// The plugin's name, a NUL, the key: one array, made in one allocation, hashed as one run of
    /// bytes (an array of bytes hashes them one at a time).
    private struct Slot: Hashable {
        let bytes: [UInt8]
        var count: Int { bytes.count }

        init(bytes: [UInt8]) { self.bytes = bytes }

        init(_ plugin: String, _ key: String) {
            var key = key
            self = key.withUTF8 { Slot(plugin, UnsafeRawBufferPointer($0)) }
        }

        init(_ plugin: String, _ key: UnsafeRawBufferPointer) {
            var slot: [UInt8] = []
            slot.reserveCapacity(plugin.utf8.count + 1 + key.count)
            Self.write(plugin, key, to: &slot)
            bytes = slot
        }

        /// Appends a slot's bytes to `bytes`: the plugin's name, a NUL, the key.
        static func write(_ plugin: String, _ key: UnsafeRawBufferPointer, to bytes: inout [UInt8]) {
            bytes += plugin.utf8
            bytes.append(0)
            bytes += key
        }

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    /// What is remembered of `key` (UTF-8, read, not kept) for `plugin`; nil: nothing.
    mutating func value(plugin: String, key: UnsafeRawBufferPointer) -> Value? {
        // Kept only while small: one long key does not hold its size here for good.
        lookupBytes.removeAll(keepingCapacity: lookupBytes.capacity <= 4096)
        Slot.write(plugin, key, to: &lookupBytes)
        return values[Slot(bytes: lookupBytes)]
    }

    /// Learns from one committed operation's outcome: what it read, wrote or found absent.
    mutating func record(_ operation: StateOperation, _ outcome: Result<StateResult, StateError>, plugin: String) {
        switch outcome {
        case .success:
            break
        case .failure(let error):
            switch (error.status, operation) {
            // A get or a delete that found nothing has learnt that the key is absent.
            case (SB_ERR_NOT_FOUND, .get(let key)), (SB_ERR_NOT_FOUND, .delete(let key)):
                set(plugin, key, .absent)
            // A compare that failed read something else than the caller expected: whatever is
            // remembered of those keys is not trusted further.
            case (SB_ERR_CONFLICT, .compareAndPut(let key, _, _)), (_, .compareAndDelete(let key, _)):
                forget(plugin, key)
            case (SB_ERR_CONFLICT, .transaction(let steps)):
                for step in steps {
                    switch step {
                    case .put(let key, _), .delete(let key), .expect(let key, _), .expectAbsent(let key): forget(plugin, key)
                    }
                }
            default:
                break
            }
            return
        }
        switch operation {
        case .get(let key):
            if case .success(let result) = outcome { set(plugin, key, .present(result.value)) }
        case .put(let key, let value), .compareAndPut(let key, _, let value):
            set(plugin, key, .present(value))
        case .delete(let key), .compareAndDelete(let key, _):
            set(plugin, key, .absent)
        case .increment(let key, _):
            if case .success(let result) = outcome { set(plugin, key, .present(Array(String(result.number).utf8))) }
        case .list:
            break
        case .transaction(let steps):
            for step in steps {
                switch step {
                case .put(let key, let value), .expect(let key, let value): set(plugin, key, .present(value))
                case .delete(let key), .expectAbsent(let key): set(plugin, key, .absent)
                }
            }
        }
    }

    mutating func clear() {
        values = [:]
        bytes = 0
    }

    private mutating func forget(_ plugin: String, _ key: String) {
        let slot = Slot(plugin, key)
        if let old = values.removeValue(forKey: slot) { bytes -= slot.count + Self.entryOverhead + Self.size(old) }
    }

    private static func size(_ value: Value) -> Int {
        if case .present(let bytes) = value { bytes.count } else { 0 }
    }

    private mutating func set(_ plugin: String, _ key: String, _ value: Value) {
        let slot = Slot(plugin, key)
        if let old = values.updateValue(value, forKey: slot) {
            bytes += Self.size(value) - Self.size(old)
        } else {
            bytes += slot.count + Self.entryOverhead + Self.size(value)
        }
        if bytes > Self.budget {
            values = [:]
            bytes = 0
        }
    }
}
