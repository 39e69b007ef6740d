import struct SwitchboardCore.Locked
import CSwitchboardHostSupport
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Watches the threads that must never block — the event loops and the Swift concurrency pool
/// that runs request handlers — and names the plugin code that holds one when it stops
/// answering; at shutdown, ends the process when the grace period passes even if plugin code
/// never returns.
///
/// It runs on a thread of its own (a stuck pool cannot stop it). Every `stallThreshold / 4` it
/// sends each event loop, and the concurrency pool, a probe that records when it ran; a probe
/// older than `stallThreshold` is a stall. A stall is logged once when found (with every plugin
/// call that has held its thread at least that long: plugin, route or callback, for how long)
/// and once when it clears, and counted in `switchboard_event_loop_stalls_total`. A single plugin
/// call that passes `stallThreshold` is logged as well, once, even when the other threads keep
/// things running.
public final class Watchdog: Sendable {
    /// The stall threshold and the shutdown grace period.
    public struct Options: Sendable {
        /// How long an event loop or the request pool may go without running before it counts as
        /// stuck (`watchdog.stall_ms`).
        public var stallThreshold: Duration = .milliseconds(2000)
        /// From the first SIGTERM or SIGINT to a forced exit when the graceful shutdown has not
        /// finished (`server.shutdown_grace_ms`).
        public var shutdownGrace: Duration = .seconds(20)
        /// A 2 s stall threshold and a 20 s shutdown grace.
        public init() {}
    }

    private struct Probe {
        var sentAt: Int64 = 0
        var answered = true
        var stalledSince: Int64? = nil
    }

    private let options: Options
    private let logger: Logger
    private let loops: [any EventLoop]
    private let stalls: (@Sendable (_ heldBy: [String]) -> Void)?
    private let cleared: (@Sendable () -> Void)?
    private let ticked: (@Sendable () -> Void)?
    /// One probe per event loop, then one for the concurrency pool.
    private let probes: Locked<[Probe]>
    private let shutdownDeadline = Atomic<Int64>(0)
    /// Long plugin calls already reported (their label's address and start, in ticks).
    private struct LongCall: Hashable {
        var label: Int
        var start: Int64
        /// The same call as seen at another check (its start may round to a neighbouring tick).
        func shifted(_ ticks: Int64) -> LongCall { LongCall(label: label, start: start + ticks) }
    }
    private let longCalls = Locked<Set<LongCall>>([])
    private let running = Atomic<Bool>(false)

    /// `onStall` runs on the watchdog's thread each time a stall is found, with the code tags
    /// (`sbh_code_enter`) of the plugin calls that have held their thread at least as long;
    /// `onClear` when no event loop or pool is stalled any more; `onTick` at every check (every
    /// `stallThreshold / 4`, at least 10 ms: a heartbeat).
    public init(
        options: Options, logger: Logger, group: MultiThreadedEventLoopGroup = .singleton,
        onStall: (@Sendable (_ heldBy: [String]) -> Void)? = nil, onClear: (@Sendable () -> Void)? = nil,
        onTick: (@Sendable () -> Void)? = nil
    ) {
        self.options = options
        self.logger = logger
        self.loops = Array(group.makeIterator())
        self.stalls = onStall
        self.cleared = onClear
        self.ticked = onTick
        self.probes = Locked(Array(repeating: Probe(), count: loops.count + 1))
    }

    /// Starts the watchdog's thread (once).
    public func start() {
        guard running.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        let thread = Thread { [self] in run() }
        thread.start()
    }

    /// Ends the watchdog's thread at its next check (within one tick) and cancels a pending forced exit.
    public func stop() {
        running.store(false, ordering: .relaxed)
        shutdownDeadline.store(0, ordering: .relaxed)
    }

    /// The graceful shutdown began: from now on the process exits within the grace period.
    public func shutdownBegan() {
        let deadline = Int64(monotonicNanoseconds()) + Int64(clamping: options.shutdownGrace.nanoseconds)
        if shutdownDeadline.compareExchange(expected: 0, desired: deadline, ordering: .relaxed).exchanged {
            logger.notice("shutting down: the process exits within \(Int64(clamping: options.shutdownGrace.nanoseconds) / 1_000_000) ms")
        }
    }

    /// The server has stopped serving and plugins now retire (on_deinit): they get a whole grace
    /// period of their own, however long the HTTP drain took.
    public func retirementBegan() {
        shutdownDeadline.store(Int64(monotonicNanoseconds()) + Int64(clamping: options.shutdownGrace.nanoseconds), ordering: .relaxed)
    }

    private func run() {
        let tick = max(Int64(clamping: options.stallThreshold.nanoseconds) / 4, 10_000_000)
        while running.load(ordering: .relaxed) {
            usleep(UInt32(clamping: tick / 1000))
            let now = Int64(monotonicNanoseconds())
            ticked?()
            check(now: now)
            reportLongCalls(tick: tick)
            let deadline = shutdownDeadline.load(ordering: .relaxed)
            if deadline != 0, now >= deadline, running.load(ordering: .relaxed), shutdownDeadline.load(ordering: .relaxed) != 0 {
                forceExit()
            }
        }
    }

    private func check(now: Int64) {
        let threshold = Int64(clamping: options.stallThreshold.nanoseconds)
        var toSend: [Int] = []
        var found: [(Int, Int64)] = []
        var cleared: [(Int, Int64)] = []
        probes.withLock { probes in
            for i in probes.indices {
                if probes[i].answered {
                    if let since = probes[i].stalledSince {
                        cleared.append((i, now - since))
                        probes[i].stalledSince = nil
                    }
                    probes[i].answered = false
                    probes[i].sentAt = now
                    toSend.append(i)
                } else if now - probes[i].sentAt >= threshold, probes[i].stalledSince == nil {
                    probes[i].stalledSince = probes[i].sentAt
                    found.append((i, now - probes[i].sentAt))
                }
            }
        }
        for i in toSend { send(i) }
        for (i, age) in found {
            stalls?(Self.busyTags(olderThan: threshold))
            logger.error(
                "\(name(i)) has not run for \(age / 1_000_000) ms; plugin calls running at least that long are listed in held_by",
                metadata: ["held_by": "\(Self.busy(olderThan: threshold))"])
        }
        for (i, age) in cleared {
            logger.warning("\(name(i)) runs again after a stall of at least \(age / 1_000_000) ms")
        }
        if !cleared.isEmpty, probes.withLock({ $0.allSatisfy { $0.stalledSince == nil } }) { self.cleared?() }
    }

    /// One call that holds a thread which must not block, even while the others keep the loop or
    /// pool running (one spinning handler among idle threads): logged once, at the first check
    /// that finds it past the threshold (a call is known by its label and start, to the tick).
    private func reportLongCalls(tick: Int64) {
        let calls = Self.busyCalls(olderThan: Int64(clamping: options.stallThreshold.nanoseconds))
        let now = Int64(monotonicNanoseconds())
        let current = calls.map { LongCall(label: Int(bitPattern: $0.label), start: (now - $0.age) / tick) }
        let fresh = longCalls.withLock { known in
            defer { known = Set(current) }
            return calls.indices.filter { i in [0, -1, 1].allSatisfy { !known.contains(current[i].shifted($0)) } }
        }
        for i in fresh {
            logger.warning(
                "a plugin call has held a thread that must not block for \(calls[i].age / 1_000_000) ms",
                metadata: ["call": "\(calls[i].label.map { String(cString: $0) } ?? "a plugin callback")"])
        }
    }

    private func name(_ index: Int) -> String {
        index < loops.count ? "event loop \(index)" : "the request pool (Swift concurrency)"
    }

    private func send(_ index: Int) {
        let answer: @Sendable () -> Void = { [self] in probes.withLock { $0[index].answered = true } }
        if index < loops.count {
            loops[index].execute(answer)
        } else {
            Task.detached(operation: answer)
        }
    }

    /// The outermost plugin calls that have held a thread that must not block for at least
    /// `nanoseconds` (at most 64): each one's label and code tag (interned for the life of the
    /// process; nil when the call gave none) and age, in nanoseconds.
    static func busyCalls(olderThan nanoseconds: Int64) -> [(label: UnsafePointer<CChar>?, tag: UnsafePointer<CChar>?, age: Int64)] {
        var labels = [UnsafePointer<CChar>?](repeating: nil, count: 64)
        var tags = [UnsafePointer<CChar>?](repeating: nil, count: 64)
        var ages = [Int64](repeating: 0, count: 64)
        let count = labels.withUnsafeMutableBufferPointer { l in
            tags.withUnsafeMutableBufferPointer { t in
                ages.withUnsafeMutableBufferPointer { a in sbh_busy_threads(nanoseconds, l.baseAddress, t.baseAddress, a.baseAddress, 64) }
            }
        }
        return (0..<count).map { (labels[$0], tags[$0], ages[$0]) }
    }

    /// Plugin calls that have held their thread for at least `nanoseconds`, as "label (N ms)".
    static func busy(olderThan nanoseconds: Int64) -> String {
        let calls = busyCalls(olderThan: nanoseconds)
        guard !calls.isEmpty else { return "no plugin call (host code)" }
        return calls.map { "\($0.label.map { String(cString: $0) } ?? "a plugin callback") (\($0.age / 1_000_000) ms)" }.joined(separator: "; ")
    }

    /// The code tags of the plugin calls that have held their thread for at least `nanoseconds`.
    static func busyTags(olderThan nanoseconds: Int64) -> [String] {
        Array(Set(busyCalls(olderThan: nanoseconds).compactMap { $0.tag.map { String(cString: $0) } })).sorted()
    }

    private func forceExit() {
        logger.critical(
            "graceful shutdown did not finish within \(Int64(clamping: options.shutdownGrace.nanoseconds) / 1_000_000) ms; exiting now",
            metadata: ["held_by": "\(Self.busy(olderThan: 0))"])
        // The state store syncs every change before answering: nothing acknowledged is lost.
        _exit(1)
    }
}

/// Labels for plugin code, interned once and never freed, for the watchdog's thread records
/// (`sbh_enter_nonblocking_as`). Bounded by the routes and plugins ever loaded.
enum ActivityLabel {
    private static let table = Locked<[String: UnsafePointer<CChar>]>([:])

    static func intern(_ text: String) -> UnsafePointer<CChar> {
        table.withLock { table in
            if let existing = table[text] { return existing }
            let copy = UnsafePointer(strdup(text)!)
            table[text] = copy
            return copy
        }
    }
}
