import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Every loaded plugin, every refusal, and the route table served from them.
///
/// Loading is serialised (one plugin at a time, under `loadLock`); serving never waits for it:
/// requests read `routeTable`, an immutable snapshot that a successful load replaces atomically.
/// A refused file never changes what is served.
public final class PluginRegistry: Sendable {
    private struct State {
        var plugins: [String: PluginInstance] = [:]
        var refusals: [String: LoadRefusal] = [:]
        var generations: [String: Int] = [:]
    }

    private let state = Locked(State())
    private let table = Mutex(RouteTable.empty)
    private let loadLock = Locked(())
    public let loader: PluginLoader
    private let pluginConfig: @Sendable (_ plugin: String, _ key: String) -> String?
    private let logger: Logger

    public init(loader: PluginLoader, pluginConfig: @escaping @Sendable (_ plugin: String, _ key: String) -> String? = { _, _ in nil }, logger: Logger) {
        self.loader = loader
        self.pluginConfig = pluginConfig
        self.logger = logger
    }

    /// The table requests are dispatched through.
    public var routeTable: RouteTable { table.withLock { $0 } }

    public var plugins: [PluginInstance] { state.withLock { Array($0.plugins.values) }.sorted { $0.name < $1.name } }

    /// The latest refusal of each file that is currently refused.
    public var refusals: [LoadRefusal] { state.withLock { Array($0.refusals.values) }.sorted { $0.file < $1.file } }

    /// Loads every `*.so` in `directories`, in name order. One bad file never stops the others.
    @discardableResult
    public func loadDirectories(_ directories: [String]) -> (loaded: [PluginInstance], refused: [LoadRefusal]) {
        var loaded: [PluginInstance] = []
        var refused: [LoadRefusal] = []
        for directory in directories {
            var info = stat()
            if stat(directory, &info) != 0 {
                logger.warning("plugin directory does not exist or cannot be read", metadata: ["directory": "\(directory)"])
            } else if info.st_mode & S_IWOTH != 0 {
                // Whoever can write here can run code inside the server.
                logger.warning("plugin directory is writable by every user: anyone on this machine can run code in the server; chmod o-w it", metadata: ["directory": "\(directory)"])
            }
            for file in Self.pluginFiles(in: directory) {
                switch load(file: file) {
                case .success(let instance): loaded.append(instance)
                case .failure(let refusal): refused.append(refusal)
                }
            }
        }
        return (loaded, refused)
    }

    /// Loads one file and, if it passes every check, serves its routes.
    @discardableResult
    public func load(file: String) -> Result<PluginInstance, LoadRefusal> {
        loadLock.withLock { _ in
            let result = stageAndSwap(file: file)
            switch result {
            case .success(let instance):
                state.withLock { $0.refusals[file] = nil }
                logger.info(
                    "loaded plugin",
                    metadata: [
                        "plugin": "\(instance.name)", "version": "\(instance.version)", "file": "\(file)",
                        "generation": "\(instance.generation)", "routes": "\(instance.routes.count)",
                        "sha256": "\(instance.sha256.prefix(16))",
                    ])
            case .failure(let refusal):
                state.withLock { $0.refusals[file] = refusal }
                logger.error(
                    "refused plugin: \(refusal.message)",
                    metadata: ["file": "\(file)", "reason": "\(refusal.kind)", "plugin": "\(refusal.pluginName ?? "?")"])
            }
            return result
        }
    }

    private func stageAndSwap(file: String) -> Result<PluginInstance, LoadRefusal> {
        let instance: PluginInstance
        do {
            instance = try loader.load(
                file: file,
                generation: { name in state.withLock { s in s.generations[name, default: 0] += 1; return s.generations[name]! } },
                config: pluginConfig,
                nameOwner: { name in state.withLock { s in s.plugins[name].flatMap { $0.file == file ? nil : $0.file } } })
        } catch {
            return .failure(error)
        }
        let others = state.withLock { s in s.plugins.values.filter { $0.name != instance.name } }
        if let refusal = Self.conflict(of: instance, with: others) {
            instance.retire()
            return .failure(refusal)
        }
        let previous = state.withLock { s -> PluginInstance? in
            defer { s.plugins[instance.name] = instance }
            return s.plugins[instance.name]
        }
        instance.mutable.withLock { $0.phase = .active }
        rebuildTable()
        previous?.retire()
        return .success(instance)
    }

    /// The first route of `instance` equivalent to a route of another plugin, as a refusal.
    static func conflict(of instance: PluginInstance, with others: [PluginInstance]) -> LoadRefusal? {
        for route in instance.routes {
            for other in others {
                if let clash = other.routes.first(where: { $0.method == route.method && $0.template.shape == route.template.shape }) {
                    return LoadRefusal(
                        kind: .routeConflict, file: instance.file, pluginName: instance.name,
                        message: "route \(route.signature) of plugin \"\(instance.name)\" conflicts with \(clash.signature) of plugin \"\(other.name)\" (\(other.file)); change one of the paths or unload \"\(other.name)\"")
                }
            }
        }
        return nil
    }

    private func rebuildTable() {
        let routes = state.withLock { s in s.plugins.values.sorted { $0.name < $1.name }.flatMap(\.routes) }
        let next = RouteTable(routes: routes)
        table.withLock { $0 = next }
    }

    /// Retires every plugin (at shutdown, after the server has stopped serving).
    public func retireAll() {
        let all = state.withLock { s -> [PluginInstance] in
            defer { s.plugins = [:] }
            return Array(s.plugins.values)
        }
        table.withLock { $0 = .empty }
        for instance in all { instance.retire() }
    }

    /// The `*.so` files directly inside `directory`, by name. Hidden files are skipped.
    static func pluginFiles(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name.hasSuffix(".so"), !name.hasPrefix(".") else { continue }
            names.append(name)
        }
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        return names.sorted().map { "\(base)/\($0)" }
    }
}
