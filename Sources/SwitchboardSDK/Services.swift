public import CSwitchboard
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The handle of something the host holds a callback for (a timer, a subscription) and whether it
/// was cancelled. The handle is stored here after the call that starts it returns (the host
/// writes it to the SDK's local before any callback runs, switchboard.h rule 8), and the callback
/// may cancel before that: whoever comes second completes the cancel.
final class CancellableHandle: Sendable {
    private let state = Locked<(handle: UInt, cancelled: Bool)>((0, false))

    /// Marks cancelled; the handle to cancel if it had arrived and this is the first cancel.
    func claimCancel() -> OpaquePointer? {
        let bits = state.withLock { s -> UInt in
            guard !s.cancelled else { return 0 }
            s.cancelled = true
            return s.handle
        }
        return OpaquePointer(bitPattern: bits)
    }

    /// Stores the handle; false when already cancelled (the caller then completes the cancel).
    func attach(_ handle: OpaquePointer) -> Bool {
        state.withLock { s in
            s.handle = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
            return !s.cancelled
        }
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }
}

// MARK: Timers

/// A host timer. Cancel it when done; a one-shot timer cancels itself after firing.
public final class Timer: Sendable {
    let app: App
    private let callback: @Sendable (Timer) -> Void
    private let repeating: Bool
    let registration = CancellableHandle()

    init(app: App, repeating: Bool, callback: @escaping @Sendable (Timer) -> Void) {
        self.app = app
        self.repeating = repeating
        self.callback = callback
    }

    /// Stops the timer; its callback will not start again. Safe from the callback itself, and
    /// more than once.
    public func cancel() {
        guard let handle = registration.claimCancel() else { return }
        // After retirement the host cancels the timer itself and never calls it again.
        _ = app.withLiveHandle { _ in app.api.timer_cancel(handle) }
        Unmanaged.passUnretained(self).release()  // the host's reference
    }

    fileprivate func fire() {
        guard !registration.isCancelled else { return }
        callback(self)
        if !repeating { cancel() }
    }
}

private func timerFired(_ user: UnsafeMutableRawPointer?, _ handle: OpaquePointer?) {
    guard let user else { return }
    Unmanaged<Timer>.fromOpaque(user).takeUnretainedValue().fire()
}

extension App {
    /// Calls `callback` after `delay`, then every `interval` if given. Runs on an event loop: do
    /// not block in it.
    @discardableResult
    public func timer(after delay: Duration, every interval: Duration? = nil, _ callback: @escaping @Sendable (Timer) -> Void) -> Timer? {
        // An interval of zero (or less) is no interval: the host fires once.
        let timer = Timer(app: self, repeating: (interval?.nanosecondsClamped ?? 0) > 0, callback: callback)
        let user = Unmanaged.passRetained(timer).toOpaque()
        var timerHandle: OpaquePointer? = nil
        let status = withLiveHandle { handle in
            api.timer_start(handle, delay.nanosecondsClamped, interval?.nanosecondsClamped ?? 0, timerFired, user, &timerHandle)
        } ?? SB_ERR_STATE
        guard status == SB_OK, let timerHandle else {
            Unmanaged<Timer>.fromOpaque(user).release()
            log(.error, "timer_start failed with status \(status)")
            return nil
        }
        if !timer.registration.attach(timerHandle) {
            // Cancelled (or a one-shot fired) before the handle was stored: finish the cancel here.
            _ = api.timer_cancel(timerHandle)
            Unmanaged<Timer>.fromOpaque(user).release()
        }
        return timer
    }
}

extension Duration {
    /// Whole nanoseconds; 0 for zero or negative durations, UInt64.max past it.
    var nanosecondsClamped: UInt64 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        let (ns, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : ns &+ UInt64(attoseconds / 1_000_000_000)
    }
}

// MARK: Publish/subscribe

/// A subscription to a topic. Cancel it when done (a stream's `onClose` is the usual place).
public final class Subscription: Sendable {
    let app: App
    fileprivate let callback: @Sendable (Result<[UInt8], SubscriptionDropped>) -> Void
    let registration = CancellableHandle()

    init(app: App, callback: @escaping @Sendable (Result<[UInt8], SubscriptionDropped>) -> Void) {
        self.app = app
        self.callback = callback
    }

    /// Stops delivery: once it returns the callback does not start again (a call from another
    /// thread waits for a running one). Safe to call more than once.
    public func cancel() {
        guard let handle = registration.claimCancel() else { return }
        _ = app.withLiveHandle { _ in app.api.subscription_cancel(handle) }
        Unmanaged.passUnretained(self).release()  // the host's reference
    }
}

/// The subscriber fell behind its queue limit and was dropped; no more messages follow.
public struct SubscriptionDropped: Error, Sendable {}

private func messageArrived(_ user: UnsafeMutableRawPointer?, _ sub: OpaquePointer?, _ status: sb_status, _ message: sb_bytes) {
    guard let user else { return }
    let subscription = Unmanaged<Subscription>.fromOpaque(user).takeUnretainedValue()
    subscription.callback(status == SB_OK ? .success(message.array) : .failure(SubscriptionDropped()))
}

extension App {
    /// Delivers `message` to every subscriber of `topic` (per plugin name; survives reloads).
    /// Returns how many got it.
    @discardableResult
    public func publish(_ topic: String, _ message: some Collection<UInt8>) -> Int {
        var delivered = 0
        _ = withLiveHandle { handle in withSBStr(topic) { t in withSBBytes(message) { api.topic_publish(handle, t, $0, &delivered) } } }
        return delivered
    }

    /// Publishes `text` as UTF-8; how many subscribers got it.
    @discardableResult
    public func publish(_ topic: String, _ text: String) -> Int { publish(topic, Array(text.utf8)) }

    /// Subscribes with a bounded queue (`queueLimit` messages; 0: the host default). `callback`
    /// runs on a host thread and must not block.
    public func subscribe(
        _ topic: String, queueLimit: Int = 0, _ callback: @escaping @Sendable (Result<[UInt8], SubscriptionDropped>) -> Void
    ) -> Subscription? {
        let subscription = Subscription(app: self, callback: callback)
        let user = Unmanaged.passRetained(subscription).toOpaque()
        var handle: OpaquePointer? = nil
        let status = withLiveHandle { plugin in
            withSBStr(topic) { api.topic_subscribe(plugin, $0, UInt32(clamping: queueLimit), messageArrived, user, &handle) }
        } ?? SB_ERR_STATE
        guard status == SB_OK, let handle else {
            Unmanaged<Subscription>.fromOpaque(user).release()
            return nil
        }
        if !subscription.registration.attach(handle) {
            _ = api.subscription_cancel(handle)
            Unmanaged<Subscription>.fromOpaque(user).release()
        }
        return subscription
    }
}

// MARK: State store

/// The host's key-value store for this plugin name: survives reloads, and restarts when the host
/// keeps it on disk (`state.backend: sqlite`, the default). Each change is durable before its call
/// returns.
public struct StateStore: Sendable {
    let app: App

    /// Why a store call failed: a struct over the host's status, so new reasons can come without
    /// breaking a `switch` (compare with the constants: `catch .conflict`, `== .notFound`).
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// The host's `sb_status` (`SB_ERR_*`).
        public let status: sb_status

        init(_ status: sb_status) { self.status = status }

        /// The key is absent (SB_ERR_NOT_FOUND).
        public static let notFound = Failure(SB_ERR_NOT_FOUND)
        /// An expectation did not hold: another value, or a key present (SB_ERR_CONFLICT).
        public static let conflict = Failure(SB_ERR_CONFLICT)
        /// The store could not read or write durably (SB_ERR_IO).
        public static let io = Failure(SB_ERR_IO)
        /// Any other status, such as SB_ERR_STATE from a retired generation.
        public static func other(_ status: sb_status) -> Failure { Failure(status) }

        /// `not found`, `conflict`, `I/O error`, or `status N` for another status.
        public var description: String {
            switch status {
            case SB_ERR_NOT_FOUND: "not found"
            case SB_ERR_CONFLICT: "conflict"
            case SB_ERR_IO: "I/O error"
            default: "status \(status)"
            }
        }
    }

    /// What a completed operation returns (copied out of the host's borrowed result).
    public struct Outcome: Sendable {
        /// `get`: the value.
        public var value: [UInt8] = []
        /// `increment`: the new value; `list`: how many keys have the prefix in all.
        public var number: Int64 = 0
        /// `list`: the entries, in byte order of their keys.
        public var entries: [(key: String, value: [UInt8])] = []
    }

    /// The value at `key`; nil when absent. When the host has the value at hand it answers at once
    /// (`lookup`, `state_get_now`): no hop to the store thread, and the caller does not suspend.
    /// - Throws: `.io` when the store fails; `.other(SB_ERR_STATE)` once the generation is retired.
    public func get(_ key: String) async throws(Failure) -> [UInt8]? {
        switch lookup(key) {
        case .value(let value): return value
        case .pending(let read): return try await read.value
        case .failed(let failure): throw failure
        }
    }

    /// Stores `value` at `key`, replacing any; durable when it returns.
    /// - Throws: `.io` when the store fails; `.other(SB_ERR_STATE)` once the generation is retired.
    public func put(_ key: String, _ value: [UInt8]) async throws(Failure) {
        _ = try await run { api, plugin, done, user in withSBStr(key) { k in withSBBytes(value) { api.state_put(plugin, k, $0, done, user) } } }
    }

    /// Writes only if the current value is `expected` (nil: only if absent); `.conflict` otherwise.
    public func compareAndPut(_ key: String, expected: [UInt8]?, _ value: [UInt8]) async throws(Failure) {
        _ = try await run { api, plugin, done, user in
            withSBStr(key) { k in
                withSBBytes(expected ?? []) { e in
                    withSBBytes(value) { api.state_compare_and_put(plugin, k, expected == nil ? 0 : 1, e, $0, done, user) }
                }
            }
        }
    }

    /// Removes `key`; false when it was absent.
    @discardableResult
    public func delete(_ key: String) async throws(Failure) -> Bool {
        do {
            _ = try await run { api, plugin, done, user in withSBStr(key) { api.state_delete(plugin, $0, done, user) } }
            return true
        } catch .notFound {
            return false
        }
    }

    /// Removes `key` only if its value is `expected`: `.conflict` when it holds another value,
    /// `.notFound` when it is absent (ABI 1.4).
    public func compareAndDelete(_ key: String, expected: [UInt8]) async throws(Failure) {
        _ = try await run { api, plugin, done, user in
            withSBStr(key) { k in withSBBytes(expected) { api.state_compare_and_delete(plugin, k, $0, done, user) } }
        }
    }

    /// Adds `delta` atomically (absent counts as 0); the new value.
    public func increment(_ key: String, by delta: Int64 = 1) async throws(Failure) -> Int64 {
        try await run { api, plugin, done, user in withSBStr(key) { api.state_increment(plugin, $0, delta, done, user) } }.number
    }

    /// Up to `limit` entries whose key starts with `prefix` and sorts after `after`, in key order.
    public func list(prefix: String, after: String = "", limit: Int = 1000) async throws(Failure) -> [(key: String, value: [UInt8])] {
        try await page(prefix: prefix, after: after, limit: limit).entries
    }

    /// A page of entries (as `list`; none for a `limit` of 0) and how many keys have the prefix
    /// in all (nil on a host older than ABI 1.2, which does not count).
    public func page(prefix: String, after: String = "", limit: Int = 1000) async throws(Failure) -> (entries: [(key: String, value: [UInt8])], total: Int?) {
        let outcome = try await run { api, plugin, done, user in
            withSBStr(prefix) { p in withSBStr(after) { api.state_list(plugin, p, $0, UInt32(clamping: max(limit, 1)), done, user) } }
        }
        let counts = app.hostABI.major > 1 || app.hostABI.minor >= 2
        return (limit <= 0 ? [] : outcome.entries, counts ? Int(outcome.number) : nil)
    }

    /// A page past the first `skip` entries with the prefix (after `after`), and how many keys
    /// have the prefix in all: `?skip=5000&limit=10` costs the plugin ten entries (ABI 1.6).
    public func page(prefix: String, after: String = "", skip: Int, limit: Int = 1000) async throws(Failure) -> (entries: [(key: String, value: [UInt8])], total: Int) {
        let outcome = try await run { api, plugin, done, user in
            withSBStr(prefix) { p in
                withSBStr(after) { api.state_list_page(plugin, p, $0, UInt64(max(skip, 0)), UInt32(clamping: max(limit, 1)), done, user) }
            }
        }
        return (limit <= 0 ? [] : outcome.entries, Int(outcome.number))
    }

    /// One step of a `transaction`.
    public enum Step: Sendable {
        /// Store the value at the key.
        case put(String, [UInt8])
        /// Remove the key (absent: nothing to do).
        case delete(String)
        /// The key must hold this value, or nothing applies.
        case expect(String, [UInt8])
        /// The key must be absent, or nothing applies.
        case expectAbsent(String)
    }

    /// Applies `steps` (1 to 1024) in order as one transaction: all of them, or none when an
    /// `expect` does not hold (`.conflict`). Durable when it returns (ABI 1.6).
    public func transaction(_ steps: [Step]) async throws(Failure) {
        var kinds: [UInt32] = []
        var keys: [[UInt8]] = []
        var values: [[UInt8]] = []
        for step in steps {
            let (kind, key, value): (Int32, String, [UInt8]) =
                switch step {
                case .put(let key, let value): (SB_STATE_OP_PUT, key, value)
                case .delete(let key): (SB_STATE_OP_DELETE, key, [])
                case .expect(let key, let value): (SB_STATE_OP_EXPECT, key, value)
                case .expectAbsent(let key): (SB_STATE_OP_EXPECT_ABSENT, key, [])
                }
            kinds.append(UInt32(kind))
            keys.append(Array(key.utf8))
            values.append(value)
        }
        // One buffer for every key and value, borrowed for the call (the host copies them).
        let bytes = zip(keys, values).reduce(into: [UInt8]()) { $0 += $1.0 + $1.1 }
        _ = try await run { api, plugin, done, user in
            bytes.withUnsafeBufferPointer { all in
                var offset = 0
                var ops: [sb_state_op] = []
                for i in 0..<kinds.count {
                    let key = all.baseAddress.map { UnsafeRawPointer($0 + offset).assumingMemoryBound(to: CChar.self) }
                    offset += keys[i].count
                    let value = all.baseAddress.map { $0 + offset }
                    offset += values[i].count
                    ops.append(sb_state_op(
                        struct_size: UInt32(MemoryLayout<sb_state_op>.size), kind: kinds[i], key: sb_str(ptr: key, len: keys[i].count),
                        value: sb_bytes(ptr: value, len: values[i].count)))
                }
                return ops.withUnsafeBufferPointer { api.state_transaction(plugin, $0.baseAddress, $0.count, done, user) }
            }
        }
    }

    private typealias Call = (sb_host_api, OpaquePointer, sb_state_done_fn, UnsafeMutableRawPointer) -> sb_status

    private func run(_ call: Call) async throws(Failure) -> Outcome {
        let result: Result<Outcome, Failure> = await withCheckedContinuation { continuation in
            let box = Unmanaged.passRetained(StateWaiter(continuation)).toOpaque()
            let status = app.withLiveHandle { call(app.api, $0, stateDone, box) } ?? SB_ERR_STATE
            if status != SB_OK {
                Unmanaged<StateWaiter>.fromOpaque(box).takeRetainedValue().continuation.resume(returning: .failure(Failure(status)))
            }
        }
        return try result.get()
    }
}

private final class StateWaiter: Sendable {
    let continuation: CheckedContinuation<Result<StateStore.Outcome, StateStore.Failure>, Never>
    init(_ continuation: CheckedContinuation<Result<StateStore.Outcome, StateStore.Failure>, Never>) { self.continuation = continuation }
}

private func stateDone(_ user: UnsafeMutableRawPointer?, _ status: sb_status, _ result: UnsafePointer<sb_state_result>?) {
    guard let user else { return }
    let waiter = Unmanaged<StateWaiter>.fromOpaque(user).takeRetainedValue()
    guard status == SB_OK else { return waiter.continuation.resume(returning: .failure(StateStore.Failure(status))) }
    var outcome = StateStore.Outcome()
    if let r = result?.pointee {
        outcome.value = r.value.array
        outcome.number = r.number
        if let entries = r.entries {
            outcome.entries = (0..<r.entry_count).map { (entries[$0].key.text, entries[$0].value.array) }
        }
    }
    waiter.continuation.resume(returning: .success(outcome))
}

// MARK: Reads without a task

extension StateStore {
    /// What `lookup` found: the value, answered inside the call, or the read the host queued.
    public enum Lookup: Sendable {
        /// The host had it at hand and answered inside the call: the value, nil when the key is
        /// absent.
        case value([UInt8]?)
        /// The host queued the read (the value was not at hand, or a state call was ahead of it):
        /// its value arrives on the store thread; await `PendingRead.value`.
        case pending(PendingRead)
        /// Answered inside the call with a failure: `.other(SB_ERR_STATE)` once the generation is
        /// retired, `.other(SB_ERR_INVALID_ARGUMENT)` for a key the host refuses, `.io` when the
        /// store failed.
        case failed(Failure)
    }

    /// A read `lookup` queued. Any number of tasks may await `value`; each gets the same outcome.
    public final class PendingRead: Sendable {
        fileprivate let box: ReadBox
        fileprivate init(_ box: ReadBox) { self.box = box }

        /// The value (nil: absent), once the store thread has read it. Waits for it even when the
        /// awaiting task is cancelled (the read is already on its way).
        /// - Throws: as `get` does: `.io` when the store fails.
        public var value: [UInt8]? {
            get async throws(Failure) { try await box.wait().get() }
        }
    }

    /// `get` without suspending, for a synchronous handler: `state_get_now`, answered inside this
    /// call when the host has the value at hand (a read-mostly route's common case), so the
    /// handler answers with no task, no continuation and no hop; otherwise the read is queued
    /// (`state_get`) and `.pending` carries it (answer with `Response.later(task:)` and await it
    /// there).
    ///
    ///     app.get("/notes/{id}", params: [id]) { req in
    ///         switch app.state.lookup("notes/\(try req[id])") {
    ///         case .value(let note?): return .bytes(note, contentType: "text/plain")
    ///         case .value(nil): throw HTTPError(404, detail: "No such note")
    ///         case .pending(let read): return .later(task: { _ in … try await read.value … })
    ///         case .failed(let failure): throw HTTPError(503, detail: "the store failed: \(failure)", headers: [("retry-after", "1")])
    ///         }
    ///     }
    public func lookup(_ key: String) -> Lookup {
        var found: [UInt8]? = nil
        let status = app.withLiveHandle { plugin in
            withSBStr(key) { key in withUnsafeMutablePointer(to: &found) { app.api.state_get_now(plugin, key, copyFound, $0) } }
        } ?? SB_ERR_STATE
        switch status {
        case SB_OK: return .value(found ?? [])
        case SB_ERR_NOT_FOUND: return .value(nil)
        case SB_ERR_WOULD_BLOCK: break
        default: return .failed(Failure(status))
        }
        // Not at hand: queued, and answered on the store thread (a read the store thread has
        // answered already, as it may have by now, is still `.pending`: `.value` means "at hand").
        let box = ReadBox()
        let user = Unmanaged.passRetained(box).toOpaque()
        let queued = app.withLiveHandle { plugin in withSBStr(key) { app.api.state_get(plugin, $0, readDone, user) } } ?? SB_ERR_STATE
        guard queued == SB_OK else {
            Unmanaged<ReadBox>.fromOpaque(user).release()
            return .failed(Failure(queued))
        }
        return .pending(PendingRead(box))
    }
}

/// `state_get_now`'s visit: copies the borrowed value into the `[UInt8]?` that `user` points at.
private func copyFound(_ user: UnsafeMutableRawPointer?, _ value: sb_bytes) {
    user?.assumingMemoryBound(to: [UInt8]?.self).pointee = value.array
}

/// A queued `lookup`'s outcome: set once by its completion, on the store thread.
private final class ReadBox: Sendable {
    typealias Outcome = Result<[UInt8]?, StateStore.Failure>
    private enum State {
        case waiting([CheckedContinuation<Outcome, Never>])
        case done(Outcome)
    }
    private let state = Locked(State.waiting([]))  // not `Mutex`: ThreadSanitizer sees a pthread mutex (`Locked`)

    func finish(_ outcome: Outcome) {
        let waiting = state.withLock { state -> [CheckedContinuation<Outcome, Never>] in
            guard case .waiting(let continuations) = state else { return [] }
            state = .done(outcome)
            return continuations
        }
        for continuation in waiting { continuation.resume(returning: outcome) }
    }

    func wait() async -> Outcome {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Outcome? in
                switch state {
                case .done(let outcome): return outcome
                case .waiting(let continuations):
                    state = .waiting(continuations + [continuation])
                    return nil
                }
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}

private func readDone(_ user: UnsafeMutableRawPointer?, _ status: sb_status, _ result: UnsafePointer<sb_state_result>?) {
    guard let user else { return }
    let box = Unmanaged<ReadBox>.fromOpaque(user).takeRetainedValue()
    switch status {
    case SB_OK: box.finish(.success(result?.pointee.value.array ?? []))
    case SB_ERR_NOT_FOUND: box.finish(.success(nil))
    default: box.finish(.failure(StateStore.Failure(status)))
    }
}

extension App {
    /// The state store (per plugin name; survives reloads).
    public var state: StateStore { StateStore(app: self) }
}
