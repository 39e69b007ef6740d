import NIOConcurrencyHelpers

/// A value behind a lock. Unlike `Mutex`, its closures may return non-Sendable values such as C
/// pointers, which the host hands across the boundary by contract (switchboard.h, rule 4).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NIOLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    @inline(__always)
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
