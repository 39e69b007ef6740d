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
        abstract: "Serve HTTP with every plugin found in the plugin directories.")

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
        let resolver = try await SettingsResolver(configFile: config, flags: flags)
        let settings = try resolver.hostSettings()

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = resolver.logLevel
            return handler
        }
        let logger = Logger(label: "switchboard")

        let (fitted, descriptorNote) = SwitchboardServer.fitToDescriptorLimit(settings)
        if let descriptorNote { logger.notice("\(descriptorNote)") }
        let server = SwitchboardServer(settings: fitted, logger: logger)
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
        let (loaded, refused) = server.loadPlugins()
        logger.notice(
            "plugins scanned",
            metadata: [
                "loaded": "\(loaded.map(\.name).sorted().joined(separator: ","))", "refused": "\(refused.count)",
                "directories": "\(settings.pluginDirectories.joined(separator: ","))",
            ])
        let application = server.makeApplication { channel in
            logger.notice("serving", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        }
        // SIGHUP: look at every plugin directory again now, retrying refused files. Trapped before
        // the server says it is serving, so an early SIGHUP never kills it.
        let hangupSignals = await UnixSignalsSequence(trapping: .sighup)
        server.watcher.start()
        server.watchdog.start()
        // The first SIGTERM or SIGINT starts the graceful shutdown (ServiceGroup) and the watchdog's
        // count to a forced exit, which holds even when plugin code never returns.
        let shutdownSignals = [SIGTERM, SIGINT].map { signal in
            Glibc.signal(signal, SIG_IGN)  // delivered to the dispatch sources (ServiceGroup's too)
            // A queue of its own (overcommit): the global queues share their threads with the
            // request pool, which a stuck plugin may hold.
            let source = DispatchSource.makeSignalSource(signal: signal, queue: DispatchQueue(label: "switchboard.shutdown-signal"))
            source.setEventHandler { server.watchdog.shutdownBegan() }
            source.resume()
            return source
        }
        defer { shutdownSignals.forEach { $0.cancel() } }
        let hangups = Task {
            for await _ in hangupSignals {
                server.watcher.rescan()
            }
        }
        // SIGTERM and SIGINT stop accepting, let in-flight requests finish, then return.
        let group = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        hangups.cancel()
        server.watcher.stop()
        server.watchdog.retirementBegan()  // retiring plugins (on_deinit) is bounded too
        server.registry.retireAll()
        server.watchdog.stop()
        logger.notice("stopped")
    }
}
