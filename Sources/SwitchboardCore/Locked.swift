#if canImport(Glibc)
import Glibc
#endif

/// A value behind a lock: a `pthread_mutex_t`, so ThreadSanitizer sees every hand-over.
///
/// Use it instead of `Synchronization.Mutex` in plugins and in the host: on Linux `Mutex` waits
/// with futex system calls that ThreadSanitizer does not model, so every access it guards is
/// reported as a data race (measured with Swift 6.3.1), and a sanitizer run that must be clean
/// would drown in them. The closure runs with the lock held: keep it short, and never call back
/// into the host from it.
///
/// A reference to one heap object (`LockedStorage`) holding the value and the mutex together:
/// one allocation per lock (a request makes one for its exchange, a state read one for its
/// outcome), as SwiftNIO's `NIOLockedValueBox` is laid out. Copies share the lock.
public struct Locked<Value>: @unchecked Sendable {  // every access to the value holds the mutex
    @usableFromInline let storage: LockedStorage<Value>

    /// A lock guarding `value`; the mutex is destroyed with the last reference.
    public init(_ value: Value) {
        storage = LockedStorage.make(value)
    }

    /// Runs `body` with exclusive access to the value; returns what it returns.
    @inlinable
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try storage.withUnsafeMutablePointers { value, mutex in
            let locked = pthread_mutex_lock(mutex)
            precondition(locked == 0, "Locked.withLock: the lock is already held by this thread (withLock is not re-entrant)")
            defer { pthread_mutex_unlock(mutex) }
            return try body(&value.pointee)
        }
    }
}

/// `Locked`'s object: the value as the header, the mutex as the one tail element (a stable
/// address for the object's life, as pthread requires).
@usableFromInline final class LockedStorage<Value>: ManagedBuffer<Value, pthread_mutex_t> {
    @usableFromInline static func make(_ value: Value) -> LockedStorage<Value> {
        let storage = unsafeDowncast(create(minimumCapacity: 1) { _ in value }, to: LockedStorage<Value>.self)
        storage.withUnsafeMutablePointerToElements { initializeMutex($0) }
        return storage
    }

    deinit {
        // The header (the value) is destroyed by ManagedBuffer; the mutex is plain memory.
        withUnsafeMutablePointerToElements { _ = pthread_mutex_destroy($0) }
    }
}

/// A turn one thread at a time takes, and only when no other thread has it: a
/// `pthread_mutex_t` guarding no value, so ThreadSanitizer sees every hand-over (as `Locked`).
/// Not re-entrant: a thread that has the turn does not get it again (`takeIfFree` gives nil).
///
/// A `Locked<Void>` would do the same, but ThreadSanitizer reported the zero-sized value's access
/// under the lock as racing with a read outside it that shares its address (Swift 6.3.1, when
/// `Locked` was an object with the value as a stored property; now the empty header would share
/// the mutex's address).
public final class Turn: @unchecked Sendable {  // the mutex is the only state
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() { mutex = makeMutex() }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` holding the turn if no thread holds it now (`pthread_mutex_trylock`): what
    /// `body` returns, or nil, without waiting, when the turn is taken. Traps on any other
    /// trylock error (an invalid mutex: a bug, not a condition).
    @inlinable
    public func takeIfFree<R>(_ body: () throws -> R) rethrows -> R? {
        let locked = pthread_mutex_trylock(mutex)
        guard locked == 0 else {
            precondition(locked == EBUSY, "Turn.takeIfFree: pthread_mutex_trylock failed (\(locked))")
            return nil
        }
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A new mutex. Debug builds make it error-checking, so a re-entrant lock (which would deadlock)
/// traps instead of hanging. Destroy and deallocate it when done.
func makeMutex() -> UnsafeMutablePointer<pthread_mutex_t> {
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    initializeMutex(mutex)
    return mutex
}

/// Makes the (allocated, not yet initialized) memory at `mutex` a mutex, as `makeMutex` does.
func initializeMutex(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
    mutex.initialize(to: pthread_mutex_t())
    #if DEBUG
    var attributes = pthread_mutexattr_t()
    pthread_mutexattr_init(&attributes)
    pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
    pthread_mutex_init(mutex, &attributes)
    pthread_mutexattr_destroy(&attributes)
    #else
    pthread_mutex_init(mutex, nil)
    #endif
}
