import ArgumentParser
import Configuration
import Dispatch
import Hummingbird
import Logging
import ServiceLifecycle
import SwitchboardHost
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve HTTP with every plugin found in the plugin directories.",
        discussion: """
            A supervisor process binds the socket and runs the server in a worker process: when \
            plugin code crashes or hangs the worker, a new one serves at once and the plugin's \
            version is quarantined. --single-process runs everything in one process (for debuggers).
            """)

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "TCP port (default 8000; 0 for any free port).")
    var port: Int?

    @Option(name: .customLong("plugins"), help: ArgumentHelp("A directory of plugin .so files (repeatable).", valueName: "dir"))
    var pluginDirectories: [String] = []

    @Option(help: ArgumentHelp("Configuration file (default etc/switchboard.yaml).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("How to follow plugin directories: auto, inotify, poll or off (default auto).", valueName: "mode"))
    var watch: String?

    @Flag(help: "Serve from this process, without a supervisor: a crash in plugin code stops the server (for debuggers; worker.single_process).")
    var singleProcess = false

    func run() async throws {
        var flags: [AbsoluteConfigKey: ConfigValue] = [:]
        if let host { flags["server.host"] = .init(.string(host), isSecret: false) }
        if let port { flags["server.port"] = .init(.int(port), isSecret: false) }
        if !pluginDirectories.isEmpty {
            flags["plugins.directories"] = .init(.stringArray(pluginDirectories), isSecret: false)
        }
        if let watch {
            guard PluginWatcher.Mode(rawValue: watch) != nil else {
                throw ValidationError("--watch must be one of \(PluginWatcher.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            flags["plugins.watch"] = .init(.string(watch), isSecret: false)
        }
        if singleProcess { flags["worker.single_process"] = .init(.bool(true), isSecret: false) }
        let resolver = try await SettingsResolver(configFile: config, flags: flags)
        let settings = try resolver.hostSettings()
        let supervision = try resolver.supervisorSettings()

        let worker = WorkerLink.fromEnvironment()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: worker == nil ? label : "\(label).worker")
            handler.logLevel = resolver.logLevel
            return handler
        }
        let logger = Logger(label: "switchboard")
        if worker == nil && !supervision.singleProcess {
            let status = try Supervisor(settings: settings, options: supervision, logger: logger).run()
            if status != 0 { throw ExitCode(status) }
            return
        }
        try await serve(settings: settings, worker: worker, logger: logger)
    }

    /// The server itself: in a worker (on the supervisor's socket) or, with --single-process, alone.
    private func serve(settings: HostSettings, worker: WorkerLink?, logger: Logger) async throws {
        // First: a crash from here on (plugin constructors and on_init included) names its plugin.
        worker?.installCrashReport()
        // A worker's go-ahead to accept (SIGUSR1 from the supervisor: true), or a stop before it
        // (SIGTERM or SIGINT: false). Trapped before the supervisor can send either.
        let (goAhead, goAheadSink) = AsyncStream<Bool>.makeStream(bufferingPolicy: .bufferingOldest(1))
        let goSource = worker.map { _ in Self.trap(SIGUSR1) { goAheadSink.yield(true) } }
        defer { goSource?.cancel() }
        let (fitted, descriptorNote) = SwitchboardServer.fitToDescriptorLimit(settings)
        if let descriptorNote { logger.notice("\(descriptorNote)") }
        let server = SwitchboardServer(settings: fitted, logger: logger, worker: worker)
        // The first SIGTERM or SIGINT starts the graceful shutdown (ServiceGroup) and the watchdog's
        // count to a forced exit, which holds even when plugin code never returns. Event streams end
        // at once; other streams get the drain deadline (within the grace period), then end.
        let streamDeadline = min(settings.registry.drainDeadline, max(settings.watchdog.shutdownGrace - .seconds(1), .zero))
        let shutdownSignals = [SIGTERM, SIGINT].map { signal in
            Self.trap(signal) {
                goAheadSink.yield(false)
                server.watchdog.shutdownBegan()
                DispatchQueue(label: "switchboard.stream-deadline").asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: streamDeadline.nanoseconds))) {
                    let ended = server.registry.endOpenStreams()
                    if ended > 0 { logger.notice("drain deadline at shutdown: ended \(ended) open stream(s)") }
                }
            }
        }
        defer { shutdownSignals.forEach { $0.cancel() } }
        // SIGHUP: look at every plugin directory again (once the watcher runs), retrying refused
        // files. SIGUSR2 sent to a worker asks its supervisor for a handover.
        let hangupSignals = await UnixSignalsSequence(trapping: .sighup, .sigusr2)
        // From here on a shutdown ends within the grace period, even while plugins load.
        server.watchdog.start()
        let stateLock: StateDirectoryLock
        do {
            let (lock, imported) = try server.openStateStore()
            stateLock = lock
            if let imported {
                logger.notice("imported the state log of an earlier version into SQLite", metadata: ["entries": "\(imported)"])
            }
        } catch {
            logger.critical("cannot open the state store", metadata: ["error": "\(error)"])
            throw ExitCode(3)
        }
        defer { withExtendedLifetime(stateLock) {} }
        let socket: Int32
        if let worker {
            socket = worker.listenSocket
        } else {
            do {
                socket = try HTTPService.bind(host: settings.host, port: settings.port)
            } catch {
                logger.critical("cannot listen", metadata: ["address": "\(settings.host):\(settings.port)", "error": "\(error)"])
                throw ExitCode(4)
            }
        }
        let (loaded, refused) = server.loadPlugins()
        logger.notice(
            "plugins scanned",
            metadata: [
                "loaded": "\(loaded.map(\.name).sorted().joined(separator: ","))", "refused": "\(refused.count)",
                "directories": "\(settings.pluginDirectories.joined(separator: ","))",
            ])
        // A worker accepts once its supervisor says so (SIGUSR1), when no older worker does; told
        // to stop first (SIGTERM), it never serves. It says it is ready from inside the running
        // service group, whose own SIGTERM trap is then in place for the stop that follows.
        var startGate: (@Sendable () async -> Bool)? = nil
        if let worker {
            startGate = {
                worker.send(.ready)
                logger.notice("worker ready", metadata: ["worker": "\(worker.info.generation)", "pid": "\(getpid())"])
                var iterator = goAhead.makeAsyncIterator()
                return await iterator.next() == true
            }
        }
        let http = server.makeHTTPService(socket: socket, startWhen: startGate) { channel in
            if let worker {
                logger.notice("worker accepting", metadata: ["worker": "\(worker.info.generation)", "pid": "\(getpid())"])
            } else {
                logger.notice("serving", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "mode": "single-process"])
            }
        }
        let hangups = Task {
            for await signal in hangupSignals {
                if signal == .sigusr2 {
                    if let worker { worker.send(.handover(reason: "SIGUSR2 sent to the worker")) }
                    else { logger.warning("SIGUSR2 asks for a worker handover, but this server runs as a single process (--single-process)") }
                } else {
                    server.watcher.rescan()
                }
            }
        }
        // SIGTERM and SIGINT stop accepting, let in-flight requests finish, then retire every
        // plugin (the group stops its services in reverse order); the plugins retire however the
        // group ends.
        // The HTTP service returns by itself only when a worker is stopped before it may accept:
        // then the group shuts down as for a signal (not as a failure).
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: PluginLifecycleService(server: server)),
                .init(service: http, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        let group = ServiceGroup(configuration: configuration)
        defer {
            hangups.cancel()
            server.watchdog.stop()
        }
        try await group.run()
        logger.notice("stopped")
    }

    /// Delivers `signal` to `handler` on a queue of its own (overcommit: the global queues share
    /// their threads with the request pool, which a stuck plugin may hold). The signal's default
    /// action is replaced first (set to ignore, which dispatch sources and ServiceGroup's own
    /// trap still see). Cancel the source to stop.
    static func trap(_ signal: Int32, _ handler: @escaping @Sendable () -> Void) -> any DispatchSourceSignal {
        Glibc.signal(signal, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signal, queue: DispatchQueue(label: "switchboard.signal-\(signal)"))
        source.setEventHandler(handler: handler)
        source.resume()
        return source
    }
}
