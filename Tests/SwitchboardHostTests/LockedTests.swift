import Dispatch
import SwitchboardCore
import Testing

/// `Locked`, the pthread-mutex lock the host and the SDK use so ThreadSanitizer sees every
/// hand-over.
@Suite struct LockedTests {
    @Test func withLockIfAvailableRunsOnlyWhenNoOtherThreadHoldsTheLock() {
        let locked = Locked(0)
        #expect(locked.withLockIfAvailable { value -> Int in value += 1; return value } == 1)

        // Another thread holds the lock until told to let go.
        let held = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            locked.withLock { value in
                value += 10
                held.signal()
                release.wait()
            }
            finished.signal()
        }
        held.wait()
        var ran = false
        #expect(locked.withLockIfAvailable { _ in ran = true } == nil)
        #expect(!ran)
        release.signal()
        finished.wait()
        #expect(locked.withLockIfAvailable { $0 } == 11)
    }
}
