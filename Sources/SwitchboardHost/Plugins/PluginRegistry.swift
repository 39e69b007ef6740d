import struct SwitchboardCore.Locked
import struct SwitchboardCore.CodePointKey
import CoreMetrics
import Dispatch
import Logging
import SwitchboardRouting
#if canImport(Glibc)
import Glibc
#endif

/// Every loaded plugin, every refusal, and the route table served from them.
///
/// Loading is serialised (one file at a time, under `loadLock`); serving never waits for it:
/// requests read `routeTable`, an immutable snapshot that a successful load replaces atomically.
///
/// A load is staged: private copy → dlopen → descriptor checks → on_init → route checks → conflicts
/// against every *other* plugin → new table → swap. Any failure before the swap leaves whatever
/// served before serving, and records the refusal. After the swap the replaced generation drains:
/// it is out of the table, its in-flight requests and streams finish on it, and when its last
/// lease returns its on_deinit runs (and a C image is unmapped). A drain deadline ends streams that
/// never finish and answers handlers that never answer.
public final class PluginRegistry: Sendable {
    /// The drain deadline and the retained-image cap (`plugins.drain_deadline_ms`,
    /// `plugins.max_retained_images`).
    public struct Options: Sendable {
        /// How long a replaced generation may take to finish its streams and pending requests.
        public var drainDeadline: Duration = .seconds(30)
        /// How many Swift images (never unmapped) may be mapped before new ones are refused.
        public var maxRetainedImages = 128

        /// A 30 s drain deadline and at most 128 retained images.
        public init() {}
    }

    private struct State {
        /// The serving generation of each plugin, by name.
        var plugins: [String: PluginInstance] = [:]
        /// By file, its path's code points: two names that differ only in normalization are two
        /// files on Linux (`file` comparisons below are by code points too).
        var refusals: [CodePointKey: LoadRefusal] = [:]
        var generations: [String: Int] = [:]
        /// Generations out of the table whose leases have not all returned.
        var draining: [ObjectIdentifier: PluginInstance] = [:]
    }

    private let state = Locked(State())
    private let table = Locked(RouteTable.empty)
    private let loadLock = Locked(0)  // (a value with storage: TSan misreads accesses to an empty one)
    /// Reads, checks and `dlopen`s plugin files; holds the quarantine list.
    public let loader: PluginLoader
    /// The options passed to `init`.
    public let options: Options
    /// Load, swap, refusal, drain and quarantine events, as the admin API streams them.
    public let events = LifecycleEvents()
    /// The host's Prometheus series (plugins, routes, connections, stalls), served on `/metrics`.
    public let metrics = HostMetrics()
    /// The Swift images mapped for the life of the process, capped at `options.maxRetainedImages`.
    public let retainedImages: RetainedImages
    /// Each file's last good versions, served in place of a quarantined one (nil: none kept).
    public let lastGood: LastGoodImages?
    /// Called (with the reason) when only a new worker can help: the retained-image cap refused a
    /// version. The supervisor's link sets it; a single process only logs.
    public let onHandoverNeeded = Locked<(@Sendable (String) -> Void)?>(nil)
    /// What this server's plugins reach through their handles: topics, the state store, limits.
    let services: HostServices
    private let pluginConfig: @Sendable (_ plugin: String, _ key: String) -> String?
    private let logger: Logger
    /// Where drained generations are retired: on_deinit may be slow, and never runs on an event loop.
    private let retireQueue = DispatchQueue(label: "switchboard.retire")

    /// `pluginConfig(plugin, key)` answers a plugin's configuration lookups (nil: not set);
    /// `defaultMaxBodyBytes` is the request-body limit, in bytes, of routes that declare none.
    public init(
        loader: PluginLoader, options: Options = .init(), lastGood: LastGoodImages? = nil,
        pluginConfig: @escaping @Sendable (_ plugin: String, _ key: String) -> String? = { _, _ in nil },
        defaultMaxBodyBytes: Int = 1 << 20, logger: Logger
    ) {
        self.services = HostServices(defaultMaxBodyBytes: defaultMaxBodyBytes, inlineReads: metrics.inlineReads)
        self.loader = loader
        self.lastGood = lastGood
        self.options = options
        self.retainedImages = RetainedImages(limit: options.maxRetainedImages)
        self.pluginConfig = pluginConfig
        self.logger = logger
    }

    /// The table requests are dispatched through.
    public var routeTable: RouteTable { table.withLock { $0 } }

    /// The serving generation of each plugin, by name.
    public var plugins: [PluginInstance] { state.withLock { Array($0.plugins.values) }.sorted { $0.name < $1.name } }

    /// Replaced or unloaded generations still finishing their requests.
    public var draining: [PluginInstance] {
        state.withLock { Array($0.draining.values) }.sorted { ($0.name, $0.generation) < ($1.name, $1.generation) }
    }

    /// The serving generation of the plugin called `name`; nil when none is loaded.
    public func plugin(named name: String) -> PluginInstance? { state.withLock { $0.plugins[name] } }

    /// The latest refusal of each file whose latest load failed.
    public var refusals: [LoadRefusal] { state.withLock { Array($0.refusals.values) }.sorted { $0.file < $1.file } }

    /// The refusal last recorded for `file`; nil once it loads or is unloaded, or when none was.
    public func refusal(file: String) -> LoadRefusal? { state.withLock { $0.refusals[CodePointKey(file)] } }

    func warnIfUnsafe(directory: String) {
        var info = stat()
        if stat(directory, &info) != 0 {
            logger.warning("plugin directory does not exist or cannot be read", metadata: ["directory": "\(directory)"])
        } else if info.st_mode & S_IWOTH != 0 {
            // Whoever can write here can run code inside the server.
            logger.warning("plugin directory is writable by every user: anyone on this machine can run code in the server; chmod o-w it", metadata: ["directory": "\(directory)"])
        }
    }

    /// Loads one file and, if it passes every check, serves its routes in place of the generation
    /// it replaces. `contents`, when given, are the file's bytes and hash as the caller already read
    /// them (the watcher compares the hash first), so the content compared is the content loaded. `quiet`
    /// skips the log line and the event of a refusal (used while a file may still be being written).
    @discardableResult
    public func load(file: String, contents: PluginFileContents? = nil, quiet: Bool = false) -> Result<PluginInstance, LoadRefusal> {
        loadLock.withLock { _ in
            var result = stageAndSwap(file: file, contents: contents)
            if case .failure(let refusal) = result, refusal.kind == .quarantined, let fallback = serveLastGood(of: file, refusal: refusal) {
                result = .success(fallback)
            } else if case .failure(let refusal) = result, !quiet {
                record(refusal)
            }
            return result
        }
    }

    /// The file's version is quarantined: serve the plugin's newest kept version that is not (if
    /// the plugin serves it already, it stays). Records the refusal either way, since the file's own
    /// version is refused; returns the serving instance, or nil when no good version is kept.
    private func serveLastGood(of file: String, refusal: LoadRefusal) -> PluginInstance? {
        let quarantine = loader.quarantine
        guard let lastGood, let good = lastGood.newest(plugin: refusal.pluginName, file: file, where: { quarantine.entry($0) == nil }) else { return nil }
        let serving = state.withLock { s in s.plugins.values.first { $0.file.hasSameCodePoints(as: file) && $0.sha256 == good.sha256 } }
        let instance: PluginInstance
        if let serving {
            instance = serving
        } else {
            guard case .success(let loaded) = stageAndSwap(file: file, contents: good.contents) else { return nil }
            instance = loaded
        }
        record(refusal)
        logger.notice(
            "serving the last good version of a quarantined plugin",
            metadata: ["plugin": "\(instance.name)", "file": "\(file)", "sha256": "\(good.sha256.prefix(16))", "generation": "\(instance.generation)"])
        events.publish(
            .lastGood, plugin: instance.name, generation: instance.generation, file: file, version: instance.version,
            reason: LoadRefusal.Kind.quarantined.description, message: "serving sha256 \(good.sha256.prefix(16))… in place of the quarantined version")
        return instance
    }

    /// Records and announces a refusal (the previous generation, if any, keeps serving).
    public func record(_ refusal: LoadRefusal) {
        state.withLock { $0.refusals[CodePointKey(refusal.file)] = refusal }
        if refusal.kind == .retainedImageCap, let handover = onHandoverNeeded.withLock({ $0 }) {
            handover("the retained Swift images reached plugins.max_retained_images (\(retainedImages.limit))")
        }
        metrics.refused(reason: refusal.kind.description)
        logger.error(
            "refused plugin: \(refusal.message)",
            metadata: ["file": "\(refusal.file)", "reason": "\(refusal.kind)", "plugin": "\(refusal.pluginName ?? "?")"])
        events.publish(.refused, plugin: refusal.pluginName, file: refusal.file, reason: refusal.kind.description, message: refusal.message)
    }

    /// Ends the refusal recorded for `file`, if any, without unloading anything (the watcher's,
    /// when a file it refused by its name alone is gone).
    func forgetRefusal(file: String) {
        state.withLock { $0.refusals[CodePointKey(file)] = nil }
    }

    /// Loads the file that serves `name` again, as a new generation, even if it did not change.
    /// Nil when no plugin of that name is loaded; a plugin linked into the process (the test
    /// host's) has no file to read again, and is refused without recording a refusal.
    public func reload(name: String) -> Result<PluginInstance, LoadRefusal>? {
        guard let serving = state.withLock({ $0.plugins[name] }) else { return nil }
        guard case .opened = serving.image.mapping else {
            return .failure(LoadRefusal(kind: .unreadable, file: serving.file, pluginName: name, message: "a plugin linked into the process has no file to load again"))
        }
        return load(file: serving.file)
    }

    /// The file is gone (or `reason`, for the log): its plugin leaves the table and drains.
    /// Returns the unloaded generations.
    @discardableResult
    public func unload(file: String, reason: String = "its file is gone") -> [PluginInstance] {
        loadLock.withLock { _ in
            let removed = state.withLock { s -> [PluginInstance] in
                s.refusals[CodePointKey(file)] = nil
                let gone = s.plugins.values.filter { $0.file.hasSameCodePoints(as: file) }
                for instance in gone { s.plugins[instance.name] = nil }
                return gone
            }
            guard !removed.isEmpty else { return [] }
            rebuildTable()
            for instance in removed {
                metrics.unloaded(plugin: instance.name)
                logger.notice("unloaded plugin: \(reason)", metadata: ["plugin": "\(instance.name)", "file": "\(file)", "generation": "\(instance.generation)"])
                events.publish(.unloaded, plugin: instance.name, generation: instance.generation, file: file, version: instance.version)
                startDraining(instance)
            }
            return removed
        }
    }

    /// Initialises a plugin linked into this process (the in-process test host) and serves it as
    /// `load(file:)` serves a file's: the same descriptor, route and conflict checks, the same
    /// swap. Loading the same `plugin.origin` again replaces the generation it serves.
    @discardableResult
    public func load(linked plugin: PluginLoader.LinkedPlugin) -> Result<PluginInstance, LoadRefusal> {
        loadLock.withLock { _ in
            let result = stageAndSwap(file: plugin.origin) { generation, nameOwner throws(LoadRefusal) in
                try loader.load(linked: plugin, generation: generation, config: pluginConfig, nameOwner: nameOwner, services: services)
            }
            if case .failure(let refusal) = result { record(refusal) }
            return result
        }
    }

    private func stageAndSwap(file: String, contents: PluginFileContents?) -> Result<PluginInstance, LoadRefusal> {
        stageAndSwap(file: file) { generation, nameOwner throws(LoadRefusal) in
            try loader.load(
                file: file, contents: contents, generation: generation, config: pluginConfig, nameOwner: nameOwner,
                retained: retainedImages, services: services)
        }
    }

    /// `initialise(generation, nameOwner)` makes the instance (see `PluginLoader.load`); the rest
    /// is the same for every kind of load.
    private func stageAndSwap(
        file: String, initialise: (_ generation: (String) -> Int, _ nameOwner: (String) -> String?) throws(LoadRefusal) -> PluginInstance
    ) -> Result<PluginInstance, LoadRefusal> {
        let instance: PluginInstance
        do {
            instance = try initialise(
                { name in state.withLock { s in s.generations[name, default: 0] += 1; return s.generations[name]! } },
                { name in state.withLock { s in s.plugins[name].flatMap { $0.file.hasSameCodePoints(as: file) ? nil : $0.file } } })
        } catch {
            return .failure(error)
        }
        let fromFile: Bool
        if case .opened = instance.image.mapping { fromFile = true } else { fromFile = false }
        // Everything this load replaces: the plugin's serving generation, and any plugin this same
        // file served under another name before.
        let others = state.withLock { s in s.plugins.values.filter { $0.name != instance.name && !$0.file.hasSameCodePoints(as: file) } }
        if let refusal = Self.conflict(of: instance, with: others) {
            if fromFile { loader.discardCopy(of: instance) }
            instance.retire()
            return .failure(refusal)
        }
        let quarantine = loader.quarantine
        if fromFile, let lastGood, let error = lastGood.keep(
            plugin: instance.name, file: file, sha256: instance.sha256, image: loader.privateCopyPath(sha256: instance.sha256, file: file),
            isQuarantined: { quarantine.entry($0) != nil })
        {
            logger.warning("cannot keep a copy of this version as the file's last good one: \(error)", metadata: ["plugin": "\(instance.name)", "file": "\(file)"])
        }
        if fromFile { loader.discardCopy(of: instance) }
        let replaced = state.withLock { s -> [PluginInstance] in
            let old = s.plugins.values.filter { $0.name == instance.name || $0.file.hasSameCodePoints(as: file) }
            for p in old { s.plugins[p.name] = nil }
            s.plugins[instance.name] = instance
            s.refusals[CodePointKey(file)] = nil
            return old
        }
        for route in instance.routes {
            route.instruments = metrics.instruments(plugin: instance.name, route: route.signature)
        }
        instance.mutable.withLock { $0.phase = .active }
        rebuildTable()
        let previous = replaced.first { $0.name == instance.name }
        if let previous {
            metrics.swapped(plugin: instance.name)
            events.publish(
                .swapped, plugin: instance.name, generation: instance.generation, file: file, version: instance.version,
                message: "generation \(previous.generation) (\(previous.version)) → \(instance.generation) (\(instance.version))")
        } else {
            events.publish(.loaded, plugin: instance.name, generation: instance.generation, file: file, version: instance.version)
        }
        metrics.loaded(plugin: instance.name)
        logger.info(
            previous == nil ? "loaded plugin" : "swapped plugin",
            metadata: [
                "plugin": "\(instance.name)", "version": "\(instance.version)", "file": "\(file)",
                "generation": "\(instance.generation)", "routes": "\(instance.routes.count)",
                "sha256": "\(instance.sha256.prefix(16))",
            ])
        for old in replaced {
            if old.name != instance.name {
                events.publish(.unloaded, plugin: old.name, generation: old.generation, file: file, version: old.version, message: "its file now holds plugin \"\(instance.name)\"")
            }
            startDraining(old)
        }
        return .success(instance)
    }

    // MARK: Draining

    private func startDraining(_ instance: PluginInstance) {
        state.withLock { $0.draining[ObjectIdentifier(instance)] = instance }
        updateGauges()
        events.publish(
            .draining, plugin: instance.name, generation: instance.generation, file: instance.file, version: instance.version,
            message: "\(instance.leases) request(s) or stream(s) in flight")
        instance.onDrained.withLock { $0 = { [weak self] drained in self?.finishDraining(drained) } }
        instance.beginDrain()
        retireQueue.asyncAfter(deadline: .now() + .nanoseconds(Int(options.drainDeadline.nanoseconds))) { [weak self, weak instance] in
            guard let self, let instance else { return }
            self.drainDeadlinePassed(instance)
        }
    }

    /// The last lease returned: run on_deinit (off the thread that returned it) and forget it.
    private func finishDraining(_ instance: PluginInstance) {
        retireQueue.async { [self] in
            instance.retire()
            state.withLock { _ = $0.draining.removeValue(forKey: ObjectIdentifier(instance)) }
            updateGauges()
            logger.info("drained plugin generation", metadata: ["plugin": "\(instance.name)", "generation": "\(instance.generation)"])
            events.publish(.drained, plugin: instance.name, generation: instance.generation, file: instance.file, version: instance.version)
        }
    }

    private func drainDeadlinePassed(_ instance: PluginInstance) {
        guard state.withLock({ $0.draining[ObjectIdentifier(instance)] != nil }) else { return }
        let ended = instance.endDrainables()
        logger.warning(
            "drain deadline passed: ended \(ended) stream(s) or pending request(s); \(instance.leases) lease(s) were still out",
            metadata: ["plugin": "\(instance.name)", "generation": "\(instance.generation)"])
        // A lease can outlive the deadline only while a handler is still running or a plugin has
        // not called stream_finish after on_close: the generation stays mapped until it returns.
        retireQueue.asyncAfter(deadline: .now() + .seconds(5)) { [weak self, weak instance] in
            guard let self, let instance, self.state.withLock({ $0.draining[ObjectIdentifier(instance)] != nil }) else { return }
            self.logger.error(
                "generation still has \(instance.leases) lease(s) after its drain deadline: a handler is still running, or the plugin never called stream_finish; it stays loaded until they return",
                metadata: ["plugin": "\(instance.name)", "generation": "\(instance.generation)"])
        }
    }

    private func updateGauges() {
        let (draining, loaded) = state.withLock { ($0.draining.count, $0.plugins.count) }
        metrics.drainingGenerations.record(draining)
        metrics.loadedPlugins.record(loaded)
        metrics.retainedImages.record(retainedImages.count)
    }

    /// The first route of `instance` equivalent to a route of another plugin, as a refusal.
    static func conflict(of instance: PluginInstance, with others: [PluginInstance]) -> LoadRefusal? {
        for route in instance.routes {
            for other in others {
                if let clash = other.routes.first(where: { $0.method == route.method && $0.template.shape.hasSameCodePoints(as: route.template.shape) }) {
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
        updateGauges()
    }

    /// At shutdown, when the drain deadline passes: ends every open stream and answers every
    /// pending exchange of every generation, serving or draining, so the server can stop and an
    /// event-stream client sees a clean end (and reconnects, to the next worker). Returns how many.
    @discardableResult
    public func endOpenStreams() -> Int {
        let all = state.withLock { s in Array(s.plugins.values) + Array(s.draining.values) }
        return all.reduce(0) { $0 + $1.endDrainables() }
    }

    /// Retires every plugin, serving or draining (at shutdown, after the server stopped serving).
    public func retireAll() {
        let all = state.withLock { s -> [PluginInstance] in
            defer { s.plugins = [:]; s.draining = [:] }
            return Array(s.plugins.values) + Array(s.draining.values)
        }
        table.withLock { $0 = .empty }
        for instance in all { instance.retire() }
    }

    /// The `*.so` files directly inside `directory`, by name. Hidden files are skipped.
    /// `files`: their paths, sorted (the caller stats each). `misnamed`: the regular files (or
    /// links to one) whose names are not UTF-8, which have no path a `String` can name
    /// (`LoadRefusal.Kind.fileNameNotUTF8`). Empty lists when the directory does not exist; nil
    /// when it cannot be read now (no file descriptor left, no permission): nothing is known.
    static func pluginFiles(in directory: String) -> (files: [String], misnamed: [MisnamedFile])? {
        guard let dir = opendir(directory) else { return errno == ENOENT || errno == ENOTDIR ? ([], []) : nil }
        defer { closedir(dir) }
        var names: [String] = []
        var misnamed: [MisnamedFile] = []
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { return nil }
                break
            }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard bytes.first != UInt8(ascii: "."), bytes.count > 3, bytes.suffix(3).elementsEqual(".so".utf8) else { continue }
            if let name = String(validating: bytes, as: UTF8.self) {
                names.append(name)
            } else if Self.isRegularFile(entry.pointee.d_type, bytes, in: dir) {
                misnamed.append(MisnamedFile(directory: base, name: bytes))
            }
        }
        return (names.sorted().map { "\(base)/\($0)" }, misnamed.sorted { $0.name.lexicographicallyPrecedes($1.name) })
    }

    /// Whether the entry `name` (bytes, as `readdir` gave them) of `dir` is a regular file or a
    /// symbolic link to one, as `PluginWatcher.fingerprint` asks of a named file.
    private static func isRegularFile(_ type: UInt8, _ name: [UInt8], in dir: OpaquePointer) -> Bool {
        if type == UInt8(DT_REG) { return true }
        guard type == UInt8(DT_LNK) || type == UInt8(DT_UNKNOWN) else { return false }
        var st = stat()
        let found = (name + [0]).withUnsafeBufferPointer { path in
            path.withMemoryRebound(to: CChar.self) { fstatat(dirfd(dir), $0.baseAddress!, &st, 0) == 0 }
        }
        return found && (st.st_mode & S_IFMT) == S_IFREG
    }
}

/// A plugin file whose name is not UTF-8: its directory (as configured) and its name's bytes.
struct MisnamedFile: Hashable, Sendable {
    let directory: CodePointKey
    let name: [UInt8]

    init(directory: String, name: [UInt8]) {
        self.directory = CodePointKey(directory)
        self.name = name
    }

    /// The path as logs, events and the admin API show it: each byte that is not part of a UTF-8
    /// sequence as `\xHH` (`caf\xE9.so`), which says what to rename.
    var shown: String {
        var text = directory.string + "/"
        var i = 0
        while i < name.count {
            let lead = name[i]
            let length = lead < 0x80 ? 1 : lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0
            if length > 0, i + length <= name.count, let scalar = String(validating: name[i..<(i + length)], as: UTF8.self) {
                text += scalar
                i += length
            } else {
                text += "\\x" + String(lead, radix: 16, uppercase: true)
                i += 1
            }
        }
        return text
    }
}
