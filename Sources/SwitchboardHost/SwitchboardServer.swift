import struct SwitchboardCore.Locked
import CoreMetrics
public import Hummingbird
public import Logging
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Everything the host needs to know, resolved from file, environment and flags by the CLI.
public struct HostSettings: Sendable {
    /// Address to listen on (`server.host`): an IPv4 or IPv6 literal, or a name whose first
    /// address is used.
    public var host = "127.0.0.1"
    /// TCP port to listen on (`server.port`); 0 takes any free port.
    public var port = 8000
    /// Directories whose `*.so` files are loaded and watched (`plugins.directories`).
    public var pluginDirectories: [String] = []
    /// Private plugin copies live under `<stateDirectory>/images`.
    public var stateDirectory = "var/switchboard"
    /// Request-body limit in bytes for routes that declare none (`limits.max_body_bytes`,
    /// default 1 MiB); a larger body gets 413 Content Too Large (RFC 9110 §15.5.14).
    public var maxBodyBytes = 1 << 20
    /// When a thread that must not block counts as stuck, and how long shutdown may take.
    public var watchdog = Watchdog.Options()
    /// Timeouts and sizes of each connection, and how many there may be (`limits.*`).
    public var limits = ConnectionLimits()
    /// The `Server` response field's value (`server.name`; RFC 9110 §10.2.4); nil sends none.
    public var serverName: String? = "switchboard"
    /// A plugin's configuration value: `plugins.config.<name>.<key>`.
    public var pluginConfig: @Sendable (_ plugin: String, _ key: String) -> String? = { _, _ in nil }
    /// Draining and the retained-image cap.
    public var registry = PluginRegistry.Options()
    /// How plugin directories are watched.
    public var watch = PluginWatcher.Options()
    /// Required as a bearer token on admin requests when set; without it only loopback peers may
    /// use the admin API.
    public var adminToken: String? = nil
    /// Serve `/openapi.json` and `/docs`.
    public var docsEnabled = true
    /// gzip for plugins' responses (`compression.*`).
    public var compression = CompressionSettings()
    /// Where plugin state (the `state_*` host functions) lives: `.sqlite` keeps it in
    /// `<stateDirectory>/state/state.db` across restarts; `.memory` only for the process's life.
    public var stateBackend = StateBackend.sqlite

    /// Where plugin state is kept; see `stateBackend`.
    public enum StateBackend: String, Sendable {
        case sqlite, memory

        /// `sqlite` or `memory`, and `file`, the earlier name of `sqlite` (still durable, under
        /// `state.directory`); nil for anything else.
        public init?(setting: String) {
            switch setting.lowercased() {
            case "sqlite", "file": self = .sqlite
            case "memory": self = .memory
            default: return nil
            }
        }
    }

    /// The defaults: 127.0.0.1:8000, no plugin directories, SQLite state under `var/switchboard`.
    public init() {}
}

/// The host: a plugin registry and the HTTP application that serves it.
public struct SwitchboardServer: Sendable {
    /// The host's version, shown in `/openapi.json` and `--version`.
    public static let version = "0.6.0"

    /// The settings passed to `init`; fixed for the server's life.
    public let settings: HostSettings
    /// The loaded plugins, their refusals and the route table requests are dispatched through.
    public let registry: PluginRegistry
    /// Follows `settings.pluginDirectories`. `loadPlugins()` runs its first scan; its `start()`
    /// starts the watching thread.
    public let watcher: PluginWatcher
    /// Start it with the server; call `shutdownBegan()` when a shutdown signal arrives.
    public let watchdog: Watchdog
    /// The host's logger; each plugin logs through a copy with `plugin` metadata.
    public let logger: Logger
    /// The link to this worker's supervisor; nil when the server runs as a single process.
    public let worker: WorkerLink?

    /// `worker`: this process was started by a supervisor (`WorkerLink.fromEnvironment()`): stalls
    /// and handover needs are reported to it, and the admin API shows it. Quarantined versions
    /// (`<stateDirectory>/quarantine.json`) are refused either way, and each file's last good
    /// versions are kept under `<stateDirectory>/last-good`.
    public init(settings: HostSettings, logger: Logger, worker: WorkerLink? = nil) {
        self.settings = settings
        self.logger = logger
        self.worker = worker
        let quarantine = Quarantine(path: settings.stateDirectory + "/quarantine.json")
        if let problem = quarantine.reload() { logger.error("the quarantine list is damaged: \(problem)") }
        if let worker { quarantine.merge(worker.info.quarantined, lifted: worker.info.lifted) }
        var report: (@Sendable (WorkerMessage) -> Void)? = nil
        if let worker { report = { message in worker.send(message) } }
        let loader = PluginLoader(
            imageDirectory: settings.stateDirectory + "/images", quarantine: quarantine, report: report, logger: logger)
        loader.removeStaleCopies()
        self.registry = PluginRegistry(
            loader: loader, options: settings.registry, lastGood: LastGoodImages(directory: settings.stateDirectory + "/last-good"),
            pluginConfig: settings.pluginConfig, defaultMaxBodyBytes: settings.maxBodyBytes, logger: logger)
        self.watcher = PluginWatcher(registry: registry, directories: settings.pluginDirectories, options: settings.watch, logger: logger)
        let metrics = registry.metrics
        self.watchdog = Watchdog(
            options: settings.watchdog, logger: logger,
            onStall: { heldBy in
                metrics.stalls.increment()
                worker?.send(.stall(heldBy.compactMap { WorkerMessage.CodeTag($0.split(separator: "\t", omittingEmptySubsequences: false)[...]) }))
            },
            onClear: { worker?.send(.clear) },
            onTick: { worker?.send(.alive) })
        if let worker {
            registry.onHandoverNeeded.withLock { $0 = { reason in worker.send(.handover(reason: reason)) } }
            metrics.worker(worker.info)
            for entry in worker.info.newlyQuarantined {
                registry.events.publish(
                    .quarantined, plugin: entry.plugin == "-" ? nil : entry.plugin, file: entry.file, reason: entry.reason,
                    message: "sha256 \(entry.sha256.prefix(16))…: \(entry.detail)")
            }
            registry.events.publish(.workerStarted, reason: worker.info.reason, message: "worker \(worker.info.generation) (pid \(getpid()))\(worker.info.detail.isEmpty ? "" : ": " + worker.info.detail)")
        }
    }

    /// Takes this process's share of the state directory and opens the configured state store;
    /// call before loading plugins, and keep the returned lock while the server runs. A directory
    /// a server of an earlier version holds (`StateDirectoryLock.Refusal`, naming its pid), or a
    /// store that cannot be opened (an unwritable directory, a file that is not a database, a
    /// `state.log` that cannot be imported) is an error to report and stop on: serving without
    /// the plugins' data would lose what they write next. Servers of this version share a state
    /// directory (SQLite locks the database). `imported`: entries taken from an earlier
    /// version's `state.log` at this start.
    public func openStateStore() throws -> (lock: StateDirectoryLock, imported: Int?) {
        let lock = try StateDirectoryLock(directory: settings.stateDirectory)
        switch settings.stateBackend {
        case .memory:
            registry.services.state.store.withLock { $0 = StateStore() }
            return (lock, nil)
        case .sqlite:
            let store = try StateStore(directory: settings.stateDirectory + "/state")
            registry.services.state.store.withLock { $0 = store }
            return (lock, (store.storage as? SQLiteStateStorage)?.imported)
        }
    }

    /// Raises the soft limit on open descriptors to the hard one, and lowers `limits.maxConnections`
    /// where descriptors could run out before it: each connection takes one, and plugins, files
    /// served and the state store need some (`reserved`). Returns the adjusted settings and a
    /// line for the log when something changed. Call before `init`.
    public static func fitToDescriptorLimit(_ settings: HostSettings, reserved: Int = 256) -> (HostSettings, String?) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (settings, nil) }
        var note: [String] = []
        if limit.rlim_cur < limit.rlim_max {
            let before = limit.rlim_cur
            limit.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
                note.append("raised the open-file limit from \(before) to \(limit.rlim_max)")
            } else {
                limit.rlim_cur = before
            }
        }
        var settings = settings
        let available = Int(clamping: limit.rlim_cur) - reserved
        if settings.limits.maxConnections > available {
            note.append("limits.max_connections lowered from \(settings.limits.maxConnections) to \(max(available, 1)) to fit the open-file limit \(limit.rlim_cur)")
            settings.limits.maxConnections = max(available, 1)
        }
        return (settings, note.isEmpty ? nil : note.joined(separator: "; "))
    }

    /// Loads every plugin in the configured directories (the watcher's first scan).
    @discardableResult
    public func loadPlugins() -> (loaded: [PluginInstance], refused: [LoadRefusal]) {
        for directory in settings.pluginDirectories { registry.warnIfUnsafe(directory: directory) }
        return watcher.scanNow()
    }

    /// The Hummingbird application; `run()` or `runService()` it. Start `watcher` to follow the
    /// plugin directories. When it has stopped, stop the watcher and call `registry.retireAll()`
    /// so every plugin's on_deinit runs.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            responder: makeResponder(),
            server: .switchboard(serverName: settings.serverName, limits: settings.limits, counter: ConnectionCounter(metrics: registry.metrics.connections)),
            // A deep accept queue: a burst of connections waits there instead of having its SYNs
            // dropped (a client then retries only after a second). The kernel caps it at somaxconn.
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: settings.serverName, backlog: Int(HTTPService.backlog)),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// The HTTP service `serve` runs, on `socket` (bound and listening: `HTTPService.bind`, or the
    /// supervisor's). Stop the watcher and retire the plugins after it returns, as for `makeApplication`.
    /// A worker tells its supervisor when it has stopped accepting (`WorkerMessage.released`).
    /// `startWhen`, when given, is awaited before the service accepts: false ends it at once.
    public func makeHTTPService(
        socket: Int32, startWhen: (@Sendable () async -> Bool)? = nil,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> HTTPService {
        let worker = self.worker
        return HTTPService(
            socket: socket, responder: makeResponder(), settings: settings, counter: ConnectionCounter(metrics: registry.metrics.connections),
            startWhen: startWhen, onServerRunning: onServerRunning, onStoppedAccepting: { worker?.send(.released) }, logger: logger)
    }

    /// The responder every connection's requests reach, with what the connection adds (`Date`,
    /// `Server`, a 500 for a thrown error). A request can be answered through it without a
    /// socket, with a `SwitchboardRequestContext(logger:)`: the in-process test host does.
    public func makeConnectionResponder() -> ConnectionResponder {
        ConnectionResponder(responder: makeResponder(), serverName: settings.serverName, logger: logger)
    }

    private func makeResponder() -> PluginResponder {
        PluginResponder(
            registry: registry, admin: AdminAPI(registry: registry, token: settings.adminToken, worker: worker),
            docs: settings.docsEnabled ? DocsAPI(registry: registry, version: SwitchboardServer.version) : nil,
            compression: settings.compression, logger: logger)
    }
}
