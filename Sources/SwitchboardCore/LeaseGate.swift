import Synchronization

/// Leases on something that is closed some day (a plugin generation, a plugin's handle on its
/// host): whoever uses it takes a lease first and returns it after, and once it is closed no new
/// lease is given and whoever closed it can wait for the last one to come back.
///
/// Two ways to close: `close()` refuses new leases at once; `drain()` still gives them while
/// others are out (work already under way may take more, as a stream's callbacks do) and closes
/// when the count reaches zero. The word is one atomic `Int`, so taking and returning a lease is
/// one compare-and-swap and never waits; the rules are `State`'s pure transitions, which
/// `LeaseGateTests` drive through every order.
public final class LeaseGate: Sendable {
    /// What the gate is: its phase and how many leases are out. Packed in one word (`rawValue`).
    public struct State: Equatable, Sendable, CustomStringConvertible {
        /// Whether the gate gives leases, and until when.
        public enum Phase: Int, Sendable {
            /// Leases are given.
            case open = 0
            /// Leases are given while any is out; the last one returned closes the gate.
            case draining = 1
            /// No lease is given.
            case closed = 2
        }

        /// What the caller must do after a transition.
        public enum Action: Equatable, Sendable {
            case none
            /// A drain has completed, on this call: the leased thing may now be retired (once).
            case drained
            /// The gate is closed and no lease is out any more: wake whoever waits for that.
            case released
        }

        /// Whether new leases are given: open, draining or closed.
        public private(set) var phase: Phase
        /// How many leases are out: taken with `enter`, not yet returned with `leave`.
        public private(set) var leases: Int

        /// A state as given; the defaults are a new gate's: open, no lease out.
        public init(phase: Phase = .open, leases: Int = 0) {
            self.phase = phase
            self.leases = leases
        }

        init(rawValue: Int) {
            phase = Phase(rawValue: rawValue & 3)!
            leases = rawValue >> 2
        }

        var rawValue: Int { leases << 2 | phase.rawValue }

        /// Takes a lease; false (and no change) once closed. A draining gate always has one out.
        public mutating func enter() -> Bool {
            guard phase != .closed else { return false }
            leases += 1
            return true
        }

        /// Returns a lease taken with `enter`.
        public mutating func leave() -> Action {
            // A lease returned twice is a bug of the caller: caught in debug builds; in release
            // the count only never goes below zero (while others are out, one of theirs is lost).
            assert(leases > 0, "LeaseGate: a lease returned that was never taken")
            guard leases > 0 else { return .none }
            leases -= 1
            guard leases == 0 else { return .none }
            switch phase {
            case .open: return .none
            case .draining:
                phase = .closed
                return .drained
            case .closed: return .released
            }
        }

        /// Closes once no lease is out: at once (`.drained`) when none is.
        public mutating func drain() -> Action {
            guard phase == .open else { return .none }
            if leases == 0 {
                phase = .closed
                return .drained
            }
            phase = .draining
            return .none
        }

        /// Refuses every new lease from now on; `.released` when none is out.
        public mutating func close() -> Action {
            guard phase != .closed else { return .none }
            phase = .closed
            return leases == 0 ? .released : .none
        }

        /// `open with 2 lease(s)`, for logs and test failures.
        public var description: String { "\(phase) with \(leases) lease(s)" }
    }

    private let word = Atomic<Int>(0)
    /// Set once the gate is closed with no lease out; `waitUntilReleased` waits on it.
    private let released = ConditionLock(false)

    /// An open gate with no lease out.
    public init() {}

    /// The state now (a snapshot: other threads may change it at once).
    public var state: State { State(rawValue: word.load(ordering: .acquiring)) }

    /// Takes a lease: the caller may use what the gate guards until it calls `leave()`. False once
    /// the gate is closed.
    public func enter() -> Bool {
        var action = false
        transition { state in action = state.enter() }
        return action
    }

    /// Returns a lease. `.drained` is returned to exactly one caller: the one whose lease ended a
    /// drain.
    @discardableResult
    public func leave() -> State.Action { transition { $0.leave() } }

    /// See `State.drain()`. `.drained` when nothing was out.
    @discardableResult
    public func drain() -> State.Action { transition { $0.drain() } }

    /// See `State.close()`.
    @discardableResult
    public func close() -> State.Action { transition { $0.close() } }

    /// Blocks until the gate is closed with no lease out (true), or `timeout` passed (false).
    public func waitUntilReleased(timeout: Duration) -> Bool {
        released.wait(until: { $0 }, timeout: timeout)
    }

    private func transition<A>(_ step: (inout State) -> A) -> A {
        var current = word.load(ordering: .relaxed)
        while true {
            var next = State(rawValue: current)
            let action = step(&next)
            let (exchanged, original) = word.compareExchange(
                expected: current, desired: next.rawValue, ordering: .acquiringAndReleasing)
            if exchanged {
                if next.phase == .closed, next.leases == 0, State(rawValue: current) != next {
                    released.withLock { $0 = true }
                }
                return action
            }
            current = original
        }
    }
}
