import Foundation
import SwitchboardCore
import Testing

/// `LeaseGate`'s transitions (issue #20): the plugin generation's leases and the SDK's handle use
/// this one gate. Driven as values, then through the atomic shell from several threads.
@Suite struct LeaseGateTests {
    typealias State = LeaseGate.State

    @Test func anOpenGateCountsLeases() {
        var state = State()
        #expect(state.enter() && state.enter())
        #expect(state == State(phase: .open, leases: 2))
        #expect(state.leave() == .none && state.leave() == .none, "returning leases of an open gate does nothing else")
        #expect(state == State(phase: .open, leases: 0))
    }

    @Test func drainingWithNothingOutClosesAtOnce() {
        var state = State()
        #expect(state.drain() == .drained)
        #expect(state.phase == .closed)
        #expect(state.enter() == false, "a drained gate gives no lease")
        #expect(state.drain() == .none && state.close() == .none, "a second drain or close reports nothing")
    }

    @Test func theLastLeaseEndsADrainOnce() {
        var state = State()
        _ = state.enter()
        _ = state.enter()
        #expect(state.drain() == .none)
        #expect(state.phase == .draining)
        #expect(state.enter() == true, "work under way may take more leases while others are out")
        #expect(state.leave() == .none && state.leave() == .none)
        #expect(state.leave() == .drained, "the one whose lease ended the drain is told, once")
        #expect(state == State(phase: .closed, leases: 0))
        #expect(state.enter() == false)
    }

    @Test func closeRefusesAtOnceAndTheLastLeaseReleases() {
        var state = State()
        _ = state.enter()
        #expect(state.close() == .none, "a lease is still out")
        #expect(state.enter() == false, "closed: refused even with a lease out (the SDK's retirement)")
        #expect(state.leave() == .released)
        var idle = State()
        #expect(idle.close() == .released, "nothing out: released at once")
    }

    @Test func closingADrainingGateReleasesInsteadOfDraining() {
        // Shutdown retires a generation still draining: its last lease releases the waiter, and
        // the drain's callback does not run a second retirement.
        var state = State()
        _ = state.enter()
        _ = state.drain()
        #expect(state.close() == .none)
        #expect(state.leave() == .released)
    }

    @Test func theWordRoundTrips() {
        let gate = LeaseGate()
        for _ in 0..<1000 { #expect(gate.enter()) }
        #expect(gate.state == State(phase: .open, leases: 1000))
        #expect(gate.drain() == .none)
        #expect(gate.state == State(phase: .draining, leases: 1000))
    }

    /// Many threads take and return leases while one drains: exactly one `.drained`, every lease
    /// taken before it is counted, none given after it.
    @Test func concurrentLeasesEndADrainExactlyOnce() async {
        for _ in 0..<20 {
            let gate = LeaseGate()
            let drained = Locked(0)
            let refusedAfterDrain = Locked(0)
            _ = gate.enter()  // returned by the drainer, after its drain
            _ = await Blocking.concurrently(5, width: 5) { worker in
                guard worker < 4 else {
                    if gate.drain() == .drained { drained.withLock { $0 += 1 } }
                    if gate.leave() == .drained { drained.withLock { $0 += 1 } }
                    return
                }
                for _ in 0..<2000 {
                    if gate.enter() {
                        if gate.leave() == .drained { drained.withLock { $0 += 1 } }
                    } else {
                        refusedAfterDrain.withLock { $0 += 1 }
                    }
                }
            }
            #expect(drained.withLock { $0 } == 1)
            #expect(gate.state == State(phase: .closed, leases: 0))
            #expect(gate.waitUntilReleased(timeout: .zero))
        }
    }

    @Test func waitingForTheLastLease() async {
        let gate = LeaseGate()
        _ = gate.enter()
        gate.close()
        #expect(!gate.waitUntilReleased(timeout: .milliseconds(20)), "a lease is out")
        // One thread waits while another returns the lease (threads of their own: a blocked wait
        // must not hold the cooperative pool).
        let results = await Blocking.concurrently(2, width: 2) { i -> String in
            if i == 0 { return gate.waitUntilReleased(timeout: .seconds(30)) ? "released" : "timed out" }
            usleep(10_000)
            return "\(gate.leave())"
        }
        #expect(results == ["released", "released"])
    }
}
