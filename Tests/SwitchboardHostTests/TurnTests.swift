import Dispatch
import SwitchboardCore
import Testing

/// `Turn`, the pthread-mutex turn the state store's inline reads take without waiting.
@Suite struct TurnTests {
    @Test func aTurnIsTakenOnlyWhenNoOtherThreadHasIt() {
        let turn = Turn()
        let locked = Locked(0)
        #expect(turn.takeIfFree { locked.withLock { $0 += 1; return $0 } } == 1)

        // Another thread holds the lock until told to let go.
        let held = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            _ = turn.takeIfFree {
                locked.withLock { $0 += 10 }
                held.signal()
                release.wait()
            }
            finished.signal()
        }
        held.wait()
        var ran = false
        #expect(turn.takeIfFree { ran = true } == nil)
        #expect(!ran)
        release.signal()
        finished.wait()
        #expect(turn.takeIfFree { locked.withLock { $0 } } == 11)
    }
}
