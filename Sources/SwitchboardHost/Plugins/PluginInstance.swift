import SwitchboardCore
import CSwitchboard
public import Logging
import Synchronization

/// One loaded generation of a plugin: the `sb_plugin` handle the plugin sees.
///
/// Lifecycle: `initializing` (on_init runs; only now may routes be added) → `active` (its routes
/// are in the served table) → `draining` (replaced or unloaded: no new request reaches it, but the
/// requests and streams that started on it finish on it) → `retired` (on_deinit has run; a C image
/// is unmapped). A plugin refused during init goes straight from `initializing` to `retired`.
///
/// Draining is reference counted. Every exchange (request or stream) holds a lease on the instance
/// it was dispatched to, taken with `enter()` and returned with `leave()`; so does every pending
/// state-store call. `beginDrain()` marks the instance; the lease that brings the count to zero
/// after that runs `onDrained` exactly once. `enter()` fails only after that moment, and the caller
/// then looks again in the current route table, which by then no longer holds this instance.
/// The host passes `Unmanaged.passUnretained(self)` as the handle; the registry keeps the instance
/// alive until it is retired.
public final class PluginInstance: @unchecked Sendable {  // mutable state is Locked or atomic; its C pointers (labels, on_deinit, image) are immutable
    /// Where the generation is in the lifecycle above.
    public enum Phase: String, Sendable { case initializing, active, draining, retired }

    /// The plugin's name from its descriptor, `[a-z0-9][a-z0-9_-]{0,63}`, unique among loaded plugins.
    public let name: String
    /// The descriptor's free-form `version` (empty when NULL).
    public let version: String
    /// The descriptor's `description` (empty when NULL).
    public let summary: String
    /// The Swift compiler version the plugin reports, as `major*10000 + minor*100 + patch`; 0 for C.
    public let swiftVersion: UInt32
    /// The plugin ABI major version the plugin was built against (equal to the host's).
    public let abiMajor: UInt16
    /// The plugin ABI minor version the plugin was built against (at most the host's).
    public let abiMinor: UInt16
    /// The file that was dropped into a plugin directory (never mapped itself).
    public let file: String
    /// The SHA-256 of the loaded image, 64 lower-case hex digits.
    public let sha256: String
    /// This load's number among the loads of this plugin name in this process, from 1. A load
    /// refused at `on_init`, for its routes or for a conflict uses a number too, so numbers may skip.
    public let generation: Int
    /// When this generation was loaded, in seconds since the Unix epoch.
    public let loadedAt: Int64
    /// The host's logger with `plugin` metadata: the plugin's `log` calls, and the host's lines
    /// about this generation.
    public let logger: Logger

    let image: PluginImage
    let onDeinit: sb_on_deinit_fn?
    /// What the watchdog calls this plugin's timer and topic callbacks (interned once).
    let timerLabel: UnsafePointer<CChar>
    let topicLabel: UnsafePointer<CChar>
    /// What a thread running this generation's code is marked with (`withPluginCode`).
    let codeTag: UnsafePointer<CChar>
    private let config: @Sendable (String) -> String?
    /// The server's services this generation's calls reach (topics, state, limits).
    let services: HostServices

    struct Mutable {
        var phase: Phase = .initializing
        var routes: [RouteEntry] = []
        var routeErrors: [String] = []
        var refuseReason: String? = nil
        var state: UnsafeMutableRawPointer? = nil
        var timers: [ObjectIdentifier: HostTimer] = [:]
        var subscriptions: [ObjectIdentifier: Subscription] = [:]
        var configArena = BorrowArena.make()
        /// By key, its code points (as a plugin passes it: `café` spelled two ways is two keys).
        var configCache: [CodePointKey: sb_str] = [:]
        /// Open streams and pending exchanges, ended by the drain deadline.
        var drainables: [ObjectIdentifier: any Drainable] = [:]
        /// The drain deadline has ended what was tracked: what comes later is ended at once.
        var drainablesEnded = false
    }
    let mutable = Locked(Mutable())

    /// Requests handed to this generation's handlers (past the parameter, precondition and body
    /// checks), failed ones included.
    public let requestsServed = Atomic<Int>(0)
    /// Requests whose handler finished without a response (an error status, or `SB_OK` without
    /// responding); each was answered 500.
    public let failures = Atomic<Int>(0)

    /// Leases on this generation's code: drained by `beginDrain()`, closed by `retire()`.
    private let gate = LeaseGate()
    /// Runs once, on the thread that returned the last lease after `beginDrain()`.
    let onDrained = Locked<(@Sendable (PluginInstance) -> Void)?>(nil)

    init(
        descriptor: sb_plugin_descriptor, name: String, file: String, image: PluginImage, generation: Int,
        config: @escaping @Sendable (String) -> String?, services: HostServices, logger: Logger
    ) {
        self.services = services
        self.name = name
        self.version = stringFromC(descriptor.version) ?? ""
        self.summary = stringFromC(descriptor.description) ?? ""
        self.swiftVersion = descriptor.swift_version
        self.abiMajor = descriptor.abi_major
        self.abiMinor = descriptor.abi_minor
        self.file = file
        self.sha256 = image.sha256
        self.generation = generation
        self.loadedAt = wallClockNanoseconds() / 1_000_000_000
        self.image = image
        self.onDeinit = descriptor.on_deinit
        self.timerLabel = ActivityLabel.intern("\(name) timer callback")
        self.topicLabel = ActivityLabel.intern("\(name) topic delivery")
        self.codeTag = pluginCodeTag(sha256: image.sha256, plugin: name, file: file)
        self.config = config
        var logger = logger
        logger[metadataKey: "plugin"] = "\(name)"
        self.logger = logger
    }

    /// The opaque `sb_plugin *` handed to the plugin.
    var handle: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ handle: OpaquePointer?) -> PluginInstance? {
        guard let handle else { return nil }
        return Unmanaged<PluginInstance>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// The current phase. Thread-safe; may change right after it is read.
    public var phase: Phase { mutable.withLock { $0.phase } }
    /// The routes added during `on_init`, in order; empty once retired.
    public var routes: [RouteEntry] { mutable.withLock { $0.routes } }

    /// A configuration value, copied once into memory that stays put until retirement.
    func configValue(_ key: String) -> sb_str? {
        mutable.withLock { m in
            if let cached = m.configCache[CodePointKey(key)] { return cached }
            guard let value = config(key) else { return nil }
            let copy = m.configArena.copy(value)
            m.configCache[CodePointKey(key)] = copy
            return copy
        }
    }

    // MARK: Leases

    /// Takes a lease: the caller may call into this generation's code until `leave()`. Fails once
    /// the instance has drained or been retired.
    func enter() -> Bool { gate.enter() }

    /// Returns a lease taken with `enter()`.
    func leave() {
        if gate.leave() == .drained { finishDrain() }
    }

    /// Leases held now: requests in handlers, open streams, pending exchanges and state calls.
    public var leases: Int { gate.state.leases }

    /// Stops counting new work as a reason to stay: once the leases reach zero, `onDrained` runs.
    /// Call after the instance has left the served route table.
    func beginDrain() {
        mutable.withLock { m in
            if m.phase == .active || m.phase == .initializing { m.phase = .draining }
        }
        if gate.drain() == .drained { finishDrain() }
    }

    private func finishDrain() {
        let callback = onDrained.withLock { c in defer { c = nil }; return c }
        callback?(self)
    }

    /// Registers an open stream or a pending exchange, so the drain deadline can end it. One
    /// tracked after the deadline has passed (a topic stream whose body starts late) is ended at
    /// once.
    func track(_ item: any Drainable) {
        let tracked = mutable.withLock { m -> Bool in
            guard !m.drainablesEnded else { return false }
            m.drainables[ObjectIdentifier(item)] = item
            return true
        }
        if !tracked { item.endForDrain() }
    }

    func untrack(_ item: any Drainable) {
        _ = mutable.withLock { $0.drainables.removeValue(forKey: ObjectIdentifier(item)) }
    }

    /// The drain deadline passed: ends every open stream and answers every pending exchange, so
    /// their leases come back. Returns how many it ended.
    @discardableResult
    func endDrainables() -> Int {
        let items = mutable.withLock { m in
            defer { m.drainables = [:]; m.drainablesEnded = true }
            return Array(m.drainables.values)
        }
        for item in items { item.endForDrain() }
        return items.count
    }

    /// Stops the plugin's timers and subscriptions, runs on_deinit and unmaps a C image. Idempotent.
    /// `unmap: false` keeps even a C image mapped (used when leases are still out after the drain
    /// deadline: some thread may still be in the plugin's code).
    func retire(unmap: Bool = true) {
        let (state, timers, subscriptions, wasRetired) = mutable.withLock { m in
            let result = (m.state, Array(m.timers.values), Array(m.subscriptions.values), m.phase == .retired)
            m.phase = .retired
            m.state = nil
            return result
        }
        guard !wasRetired else { return }
        // No timer or message callback starts from here on, and one running now has returned
        // (switchboard.h rule 8). A drained generation's callbacks are refused their lease
        // already; these cancels also cover a generation refused at init and the shutdown path.
        // Their handles stay valid until on_deinit has returned (both cancels are idempotent),
        // so the plugin may still cancel them there.
        for timer in timers { timer.cancel() }
        for subscription in subscriptions { services.topics.cancel(subscription) }
        if let onDeinit { withPluginCode(codeTag) { onDeinit(state) } }
        // No lease from here on: no callback (a stream's, say) runs after on_deinit has returned.
        // Not before it: on_deinit may still save state (a generation drained after a swap has
        // refused leases since its last one returned).
        gate.close()
        let (leftTimers, leftSubscriptions) = mutable.withLock { m in
            defer { m.timers = [:]; m.subscriptions = [:] }
            return (m.timers.count, m.subscriptions.count)
        }
        if leftTimers > 0 || leftSubscriptions > 0 {
            logger.warning("plugin left \(leftTimers) timer(s) and \(leftSubscriptions) subscription(s) at deinit; the host cancelled them")
        }
        // A generation retired without draining (refused at init, or at shutdown) may still have
        // state calls out, each holding a lease, whose completions run plugin code: the image
        // stays mapped until they have returned (a bounded wait; past it, it stays mapped).
        if unmap, gate.waitUntilReleased(timeout: .seconds(5)) {
            image.close()
        } else if unmap {
            logger.warning("\(leases) call(s) into the plugin still running 5 s after deinit: its image stays mapped")
        }
        // Break the instance ↔ route cycle: nothing dispatches to a retired instance.
        mutable.withLock { $0.routes = [] }
    }
}
#if canImport(Glibc)
import Glibc
#endif

/// Something that holds a lease on a draining instance and can be ended by the drain deadline.
protocol Drainable: AnyObject, Sendable {
    func endForDrain()
}
