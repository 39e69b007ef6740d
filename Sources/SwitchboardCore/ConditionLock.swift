#if canImport(Glibc)
import Glibc
#endif

/// A value behind a mutex, with a condition variable on that same mutex: a thread waits until the
/// value satisfies a predicate, and every change made through `withLock` wakes the waiters.
///
/// The predicate is evaluated with the mutex held, and a change is made with it held, so no wake-up
/// can fall between a check and the wait (the reason `ConditionLock` replaces a separate lock and
/// condition re-checked on a timer). Like `Locked` it uses `pthread_mutex_t`, which ThreadSanitizer
/// models. A waiting thread blocks: never wait on an event loop or in a Swift task.
public final class ConditionLock<Value>: @unchecked Sendable {  // every access to `value` holds `mutex`
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var value: Value
    /// Threads in `wait` now: a change wakes them only when there are any.
    private var waiters = 0

    /// A lock guarding `value`, with a condition variable whose timed waits use the monotonic
    /// clock.
    public init(_ value: Value) {
        mutex = makeMutex()
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Deadlines are on the monotonic clock: a wall-clock step neither shortens nor stretches them.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        self.value = value
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value, then wakes every waiter to look again.
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock()
        defer { unlockWakingWaiters() }
        return try body(&value)
    }

    /// Blocks until `ready(value)` is true, then runs `body` with the lock still held (so what was
    /// waited for still holds inside it) and returns what it returns.
    public func wait<R>(until ready: (Value) -> Bool, then body: (inout Value) throws -> R) rethrows -> R {
        lock()
        defer { unlockWakingWaiters() }
        waiters += 1
        while !ready(value) { pthread_cond_wait(condition, mutex) }
        waiters -= 1
        return try body(&value)
    }

    /// Blocks until `ready(value)` is true (true), or until `timeout` has passed (false). A
    /// timeout of zero or less only looks; one beyond a day waits a day.
    public func wait(until ready: (Value) -> Bool, timeout: Duration) -> Bool {
        let limit = min(max(timeout, .zero), .seconds(86_400))
        let (seconds, attoseconds) = limit.components
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        lock()
        defer { pthread_mutex_unlock(mutex) }
        waiters += 1
        defer { waiters -= 1 }
        while !ready(value) {
            // Anything but a wake-up (ETIMEDOUT, or an error) ends the wait with one last look.
            if pthread_cond_timedwait(condition, mutex, &deadline) != 0 { return ready(value) }
        }
        return true
    }

    /// Unlocks; a change may have been made, so every waiter looks again.
    private func unlockWakingWaiters() {
        if waiters > 0 { pthread_cond_broadcast(condition) }
        pthread_mutex_unlock(mutex)
    }

    private func lock() {
        let locked = pthread_mutex_lock(mutex)
        precondition(locked == 0, "ConditionLock: the lock is already held by this thread (it is not re-entrant)")
    }
}
