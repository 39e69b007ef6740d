import ArgumentParser
import Configuration
import Logging
import SwitchboardHost
import SystemPackage

/// Resolves the host's settings: flags over environment (SWITCHBOARD_*) over the YAML file.
struct SettingsResolver {
    static let defaultConfigFile = "etc/switchboard.yaml"

    let reader: ConfigReader

    /// `flags` holds only the values given on the command line.
    init(configFile: String?, flags: [AbsoluteConfigKey: ConfigValue]) async throws {
        let file = configFile ?? Self.defaultConfigFile
        let fileProvider = try await FileProvider<YAMLSnapshot>(filePath: FilePath(file), allowMissing: configFile == nil)
        reader = ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: flags),
            EnvironmentVariablesProvider().prefixKeys(with: "switchboard"),
            fileProvider,
        ])
    }

    /// - Throws: `ValidationError` for a value that names nothing (a `state.backend` other than
    ///   sqlite, file or memory): serving on a backend the operator did not choose would put the
    ///   plugins' data where they do not look for it.
    func hostSettings() throws -> HostSettings {
        var settings = HostSettings()
        settings.host = reader.string(forKey: "server.host", default: settings.host)
        settings.port = reader.int(forKey: "server.port", default: settings.port)
        let name = reader.string(forKey: "server.name", default: settings.serverName ?? "")
        settings.serverName = name.isEmpty ? nil : name
        settings.pluginDirectories = reader.stringArray(forKey: "plugins.directories", default: ["plugins"])
        settings.stateDirectory = reader.string(forKey: "state.directory", default: settings.stateDirectory)
        let backend = reader.string(forKey: "state.backend", default: "sqlite")
        guard let stateBackend = HostSettings.StateBackend(setting: backend) else {
            throw ValidationError("state.backend is \"\(backend)\": use sqlite (durable, under state.directory; file is its earlier name) or memory")
        }
        settings.stateBackend = stateBackend
        settings.maxBodyBytes = reader.int(forKey: "limits.max_body_bytes", default: settings.maxBodyBytes)
        var limits = settings.limits
        limits.headerTimeoutMs = reader.int(forKey: "limits.header_timeout_ms", default: limits.headerTimeoutMs)
        limits.idleTimeoutMs = reader.int(forKey: "limits.idle_timeout_ms", default: limits.idleTimeoutMs)
        limits.bodyTimeoutMs = reader.int(forKey: "limits.body_timeout_ms", default: limits.bodyTimeoutMs)
        limits.sendTimeoutMs = reader.int(forKey: "limits.send_timeout_ms", default: limits.sendTimeoutMs)
        limits.maxConnections = reader.int(forKey: "limits.max_connections", default: limits.maxConnections)
        limits.maxHeaderBytes = reader.int(forKey: "limits.max_header_bytes", default: limits.maxHeaderBytes)
        limits.writeBufferBytes = reader.int(forKey: "limits.write_buffer_bytes", default: limits.writeBufferBytes)
        settings.limits = limits
        settings.watchdog.stallThreshold = .milliseconds(reader.int(forKey: "watchdog.stall_ms", default: 2000))
        settings.watchdog.shutdownGrace = .milliseconds(reader.int(forKey: "server.shutdown_grace_ms", default: 20_000))
        settings.registry.drainDeadline = .milliseconds(reader.int(forKey: "plugins.drain_deadline_ms", default: 30_000))
        settings.registry.maxRetainedImages = reader.int(forKey: "plugins.max_retained_images", default: settings.registry.maxRetainedImages)
        settings.watch.mode = PluginWatcher.Mode(rawValue: reader.string(forKey: "plugins.watch", default: "auto")) ?? .auto
        settings.watch.debounce = .milliseconds(reader.int(forKey: "plugins.debounce_ms", default: 50))
        settings.watch.pollInterval = .milliseconds(reader.int(forKey: "plugins.poll_interval_ms", default: 1000))
        let token = reader.string(forKey: "admin.token", isSecret: true, default: "")
        settings.adminToken = token.isEmpty ? nil : token
        settings.docsEnabled = reader.bool(forKey: "docs.enabled", default: settings.docsEnabled)
        settings.compression.enabled = reader.bool(forKey: "compression.enabled", default: settings.compression.enabled)
        settings.compression.level = Int32(min(max(reader.int(forKey: "compression.level", default: Int(settings.compression.level)), 1), 9))
        settings.compression.minimumBytes = reader.int(forKey: "compression.min_bytes", default: settings.compression.minimumBytes)
        // Media types compare case-insensitively (RFC 9110 §8.3.1): kept lower-cased, as responses' are.
        settings.compression.types = reader.stringArray(forKey: "compression.types", default: settings.compression.types).map { $0.lowercased() }
        let reader = self.reader
        settings.pluginConfig = { plugin, key in
            reader.string(forKey: ConfigKey(["plugins", "config", plugin] + key.split(separator: ".").map(String.init)))
        }
        return settings
    }

    /// `worker.*`: how the supervisor runs workers. Throws `ValidationError` for a negative limit.
    func supervisorSettings() throws -> Supervisor.Options {
        var options = Supervisor.Options()
        options.singleProcess = reader.bool(forKey: "worker.single_process", default: false)
        let hang = reader.int(forKey: "worker.hang_ms", default: 5000)
        let start = reader.int(forKey: "worker.start_timeout_ms", default: 60_000)
        let memory = reader.int(forKey: "worker.memory_limit_mb", default: 0)
        guard hang > 0, start > 0, memory >= 0 else {
            throw ValidationError("worker.hang_ms and worker.start_timeout_ms must be positive, worker.memory_limit_mb 0 (no limit) or more")
        }
        options.hangTimeout = .milliseconds(hang)
        options.startTimeout = .milliseconds(start)
        options.stallThreshold = .milliseconds(reader.int(forKey: "watchdog.stall_ms", default: 2000))
        options.memoryLimitBytes = memory == 0 ? nil : memory << 20
        options.shutdownGrace = .milliseconds(reader.int(forKey: "server.shutdown_grace_ms", default: 20_000))
        return options
    }

    var logLevel: Logger.Level {
        Logger.Level(rawValue: reader.string(forKey: "log.level", default: "info")) ?? .info
    }
}
