public import CSwitchboard
public import Logging
import Synchronization

/// One loaded generation of a plugin: the `sb_plugin` handle the plugin sees.
///
/// Lifecycle: `initializing` (on_init runs; only now may routes be added) → `active` (its routes
/// are in the served table) → `retired` (on_deinit has run; for C images the image is unmapped).
/// A plugin refused during init goes straight from `initializing` to `retired`.
/// The host passes `Unmanaged.passUnretained(self)` as the handle; the registry keeps the instance
/// alive until it is retired.
public final class PluginInstance: @unchecked Sendable {
    public enum Phase: String, Sendable { case initializing, active, retired }

    public let name: String
    public let version: String
    public let summary: String
    /// The Swift compiler version the plugin reports, as `major*10000 + minor*100 + patch`; 0 for C.
    public let swiftVersion: UInt32
    public let abiMajor: UInt16
    public let abiMinor: UInt16
    /// The file that was dropped into a plugin directory (never mapped itself).
    public let file: String
    public let sha256: String
    public let generation: Int
    /// When this generation was loaded, in seconds since the Unix epoch.
    public let loadedAt: Int64
    public let logger: Logger

    let image: PluginImage
    let onDeinit: sb_on_deinit_fn?
    private let config: @Sendable (String) -> String?

    struct Mutable {
        var phase: Phase = .initializing
        var routes: [RouteEntry] = []
        var routeErrors: [String] = []
        var refuseReason: String? = nil
        var state: UnsafeMutableRawPointer? = nil
        var timers: [ObjectIdentifier: HostTimer] = [:]
        var subscriptions: [ObjectIdentifier: Subscription] = [:]
        var configArena = BorrowArena()
        var configCache: [String: sb_str] = [:]
    }
    let mutable = Locked(Mutable())

    public let requestsServed = Atomic<Int>(0)
    public let failures = Atomic<Int>(0)

    init(
        descriptor: sb_plugin_descriptor, name: String, file: String, image: PluginImage, generation: Int,
        config: @escaping @Sendable (String) -> String?, logger: Logger
    ) {
        self.name = name
        self.version = stringFromC(descriptor.version) ?? ""
        self.summary = stringFromC(descriptor.description) ?? ""
        self.swiftVersion = descriptor.swift_version
        self.abiMajor = descriptor.abi_major
        self.abiMinor = descriptor.abi_minor
        self.file = file
        self.sha256 = image.sha256
        self.generation = generation
        self.loadedAt = Self.wallClockSeconds()
        self.image = image
        self.onDeinit = descriptor.on_deinit
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

    public var phase: Phase { mutable.withLock { $0.phase } }
    public var routes: [RouteEntry] { mutable.withLock { $0.routes } }

    /// A configuration value, copied once into memory that stays put until retirement.
    func configValue(_ key: String) -> sb_str? {
        mutable.withLock { m in
            if let cached = m.configCache[key] { return cached }
            guard let value = config(key) else { return nil }
            let copy = m.configArena.copy(value)
            m.configCache[key] = copy
            return copy
        }
    }

    /// Cancels leftover timers, runs on_deinit and unmaps a C image. Idempotent.
    func retire() {
        let (state, timers, subscriptions, wasRetired) = mutable.withLock { m in
            let result = (m.state, Array(m.timers.values), Array(m.subscriptions.values), m.phase == .retired)
            m.phase = .retired
            m.timers = [:]
            m.subscriptions = [:]
            m.state = nil
            return result
        }
        guard !wasRetired else { return }
        if !timers.isEmpty || !subscriptions.isEmpty {
            logger.warning("plugin left \(timers.count) timer(s) and \(subscriptions.count) subscription(s) at deinit; the host cancelled them")
            for timer in timers { timer.cancel() }
            for subscription in subscriptions { HostAPI.services.topics.cancel(subscription) }
        }
        onDeinit?(state)
        image.close()
    }

    private static func wallClockSeconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }
}
#if canImport(Glibc)
import Glibc
#endif
