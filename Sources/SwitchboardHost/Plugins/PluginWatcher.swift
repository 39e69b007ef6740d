import CSwitchboard
import SwitchboardCore
import CSwitchboardHostSupport
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Keeps the registry in step with the plugin directories: a file that appears or changes is
/// loaded (as a new generation), a file that disappears is unloaded.
///
/// One mechanism, whatever the trigger: a trigger marks a directory dirty, and once it has been
/// quiet for `debounce`, the directory is *reconciled*: every `*.so` in it (following symlinks) is
/// compared with what was last seen — first by a cheap fingerprint (device, inode, size, mtime,
/// ctime), then by SHA-256 — and only content that really changed is loaded. Triggers:
/// - inotify events in the directory (write-in-place, `cp`, rename into it, a linker's relink,
///   deletion, a Kubernetes-style `..data` symlink swap inside it), in the directories that
///   symlinked plugin files point into, and in its parent (the directory itself swapped as a
///   symlink or recreated);
/// - a periodic poll (every `pollInterval`; the only trigger when inotify is unavailable or
///   `mode` is `poll`, a slow safety net otherwise);
/// - `rescan()` (SIGHUP), which also retries files refused before.
///
/// A file still being written is never acted on: if its fingerprint changes while it is read and
/// loaded, or it was modified within the last `debounce`, the attempt is dropped silently and the
/// directory is looked at again after another `debounce`.
public final class PluginWatcher: Sendable {
    /// How the watcher learns of changes (`plugins.watch`).
    public enum Mode: String, Sendable, CaseIterable {
        /// inotify, or polling where inotify is unavailable.
        case auto
        /// inotify(7); like `auto`, falls back to polling, with a warning, when it cannot be opened.
        case inotify
        /// A look at every directory each `pollInterval`.
        case poll
        /// Only the start-up scan and manual rescans (SIGHUP, the admin API).
        case off
    }

    /// How and how often the plugin directories are watched (`plugins.watch`, `plugins.*_ms`).
    public struct Options: Sendable {
        /// The mechanism asked for; `activeMode` is the one in use.
        public var mode: Mode = .auto
        /// How long a directory must be quiet before it is reconciled, and, when polling, how long
        /// after its last modification a file is left alone (`plugins.debounce_ms`).
        public var debounce: Duration = .milliseconds(50)
        /// How often `.poll` mode looks at every directory (`plugins.poll_interval_ms`).
        public var pollInterval: Duration = .seconds(1)
        /// How often inotify mode still polls, to catch what no event reports.
        public var safetyPollInterval: Duration = .seconds(5)
        /// `.auto`, a 50 ms debounce, a 1 s poll and a 5 s safety poll.
        public init() {}
    }

    private struct State {
        /// Dirty directories and when they may be reconciled (monotonic ns).
        var due: [CodePointKey: UInt64] = [:]
        var watches = WatchTable()
        var inotify: Int32 = -1
        var nextPoll: UInt64 = 0
        var activeMode: Mode = .off
    }

    /// The registry files are loaded into and unloaded from.
    public let registry: PluginRegistry
    /// The watched directories, as given less a trailing `/`.
    public let directories: [String]
    /// The options passed to `init`.
    public let options: Options
    private let logger: Logger
    private let state = Locked(State())
    /// What was seen of each file; held for a whole reconcile, which it serialises (the start-up
    /// scan on the caller's thread, then the watching thread).
    private let ledger = Locked(PluginFileLedger())
    private let wake: (read: Int32, write: Int32)
    private let stopRequested = Atomic<Bool>(false)
    private let rescanRequested = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    /// Set when the watching thread has returned.
    private let exited = ConditionLock(false)

    /// Makes the wake-up pipe only; nothing is read or watched until `scanNow()` or `start()`.
    public init(registry: PluginRegistry, directories: [String], options: Options = .init(), logger: Logger) {
        self.registry = registry
        self.directories = directories.map { $0.count > 1 && $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.options = options
        self.logger = logger
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        } else {
            fds = [-1, -1]
        }
        wake = (fds[0], fds[1])
    }

    deinit {
        if wake.read >= 0 { close(wake.read); close(wake.write) }
        let fd = state.withLock { $0.inotify }
        if fd >= 0 { close(fd) }
    }

    /// What actually watches: `.inotify`, `.poll` or `.off`.
    public var activeMode: Mode { state.withLock { $0.activeMode } }

    /// Loads every plugin file now (the start-up scan, or a rescan without a running thread).
    /// Returns what loaded and what was refused.
    @discardableResult
    public func scanNow(retryRefused: Bool = false) -> (loaded: [PluginInstance], refused: [LoadRefusal]) {
        var loaded: [PluginInstance] = []
        var refused: [LoadRefusal] = []
        for directory in directories {
            let (l, r) = reconcile(directory, retryRefused: retryRefused, now: monotonicNanoseconds())
            loaded += l
            refused += r
        }
        return (loaded, refused)
    }

    /// Starts the watching thread (unless `mode` is `off`).
    public func start() {
        guard options.mode != .off, !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var mode: Mode = .poll
        if options.mode == .auto || options.mode == .inotify {
            let fd = sbh_inotify_open()
            if fd >= 0 {
                state.withLock { $0.inotify = fd }
                mode = .inotify
            } else {
                logger.warning("inotify is unavailable (\(String(cString: strerror(errno)))); polling the plugin directories every \(options.pollInterval)")
            }
        }
        state.withLock { s in
            s.activeMode = mode
            s.nextPoll = monotonicNanoseconds() + (mode == .inotify ? options.safetyPollInterval : options.pollInterval).nanoseconds
        }
        if mode == .inotify {
            for directory in directories { watch(directory) }
        }
        OSThread.spawn { [self] in
            run()
            exited.withLock { $0 = true }
        }
        logger.info("watching plugin directories", metadata: ["mode": "\(mode)", "directories": "\(directories.joined(separator: ","))", "debounce": "\(options.debounce)"])
    }

    /// Stops the thread and waits for it.
    public func stop() {
        guard running.load(ordering: .acquiring) else { return }
        stopRequested.store(true, ordering: .releasing)
        poke()
        exited.wait(until: { $0 }) { _ in }
    }

    /// Looks at every directory again at once, retrying refused files too (SIGHUP). Without a
    /// running thread, rescans on the caller's thread.
    public func rescan() {
        if running.load(ordering: .acquiring) && !exited.withLock({ $0 }) {
            rescanRequested.store(true, ordering: .releasing)
            poke()
        } else {
            scanNow(retryRefused: true)
        }
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    // MARK: The thread

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !stopRequested.load(ordering: .acquiring) {
            let now = monotonicNanoseconds()
            let (fd, nextWake) = state.withLock { s in (s.inotify, ([s.nextPoll] + Array(s.due.values)).min()!) }
            let timeoutMs = nextWake <= now ? 0 : Int32(min((nextWake - now + 999_999) / 1_000_000, 60_000))
            var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            if fd >= 0 { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), timeoutMs)
            if stopRequested.load(ordering: .acquiring) { break }
            if fds[0].revents != 0 { while read(wake.read, &buffer, buffer.count) > 0 {} }
            if fds.count > 1, fds[1].revents != 0 { readEvents(fd, &buffer) }

            let tick = monotonicNanoseconds()
            if rescanRequested.exchange(false, ordering: .acquiringAndReleasing) {
                logger.notice("rescanning plugin directories")
                rewatchMoved()
                scanNow(retryRefused: true)
            }
            let pollDue = state.withLock { s -> Bool in
                guard tick >= s.nextPoll else { return false }
                let interval = s.activeMode == .inotify ? options.safetyPollInterval : options.pollInterval
                s.nextPoll = tick + interval.nanoseconds
                for directory in directories where s.due[CodePointKey(directory)] == nil { s.due[CodePointKey(directory)] = tick }
                return true
            }
            if pollDue { rewatchMoved() }
            let ready = state.withLock { s in s.due.filter { $0.value <= tick }.map(\.key) }
            for directory in ready.sorted() {
                state.withLock { _ = $0.due.removeValue(forKey: directory) }
                reconcile(directory.string, retryRefused: false, now: tick)
            }
        }
    }

    private func readEvents(_ fd: Int32, _ buffer: inout [UInt8]) {
        let due = monotonicNanoseconds() + options.debounce.nanoseconds
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            let events = buffer.withUnsafeBytes { WatchTable.events(in: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            state.withLock { s in
                for event in events {
                    let dirty = s.watches.apply(
                        event, overflowed: sbh_inotify_overflowed(event.mask) != 0, lost: sbh_inotify_lost(event.mask) != 0,
                        directories: directories)
                    for directory in dirty { s.due[CodePointKey(directory)] = due }
                }
            }
        }
    }

    /// Adds watches on a plugin directory and its parent. A directory that does not exist yet is
    /// still caught by its parent's watch, or by the poll.
    private func watch(_ directory: String) {
        let parent = Self.parent(of: directory)
        let base = String(directory.split(separator: "/").last ?? "")
        let real = Self.realPath(directory)
        state.withLock { s in
            guard s.inotify >= 0 else { return }
            if !s.watches.isWatched(parentOf: directory) {
                let wd = sbh_inotify_watch(s.inotify, parent, Int32(SBH_WATCH_PARENT_EVENTS))
                if wd >= 0 { s.watches.added(wd, .parent(of: directory, name: base)) }
            }
            if s.watches.needsWatch(directory, realPath: real) {
                let wd = sbh_inotify_watch(s.inotify, directory, Int32(SBH_WATCH_DIRECTORY_EVENTS))
                if wd >= 0 { s.watches.added(wd, .directory(directory), realPath: real) }
            }
        }
    }

    /// Re-watches directories whose real path changed (a symlink swapped, a directory recreated).
    private func rewatchMoved() {
        for directory in directories {
            let real = Self.realPath(directory)
            guard state.withLock({ $0.inotify >= 0 && $0.watches.moved(directory, realPath: real) }) else { continue }
            watch(directory)
            state.withLock { $0.due[CodePointKey(directory)] = 0 }
        }
    }

    private func watchLinkTarget(of file: String) {
        guard let real = Self.realPath(file) else { return }
        let directory = Self.parent(of: real)
        state.withLock { s in
            guard s.inotify >= 0, !s.watches.isWatched(linkTargets: directory) else { return }
            let wd = sbh_inotify_watch(s.inotify, directory, Int32(SBH_WATCH_DIRECTORY_EVENTS))
            if wd >= 0 { s.watches.added(wd, .linkTargets(directory)) }
        }
    }

    // MARK: Reconciling

    /// Looks at every plugin file in `directory` and does what the ledger says each observation
    /// means: load what changed, record refusals, unload what is gone. A file caught mid-write
    /// makes the directory due again after the debounce.
    @discardableResult
    private func reconcile(_ directory: String, retryRefused: Bool, now: UInt64) -> (loaded: [PluginInstance], refused: [LoadRefusal]) {
        let (inotify, polling) = state.withLock { ($0.inotify >= 0, $0.activeMode == .poll) }
        // The directory was swapped (a symlink retargeted) or created since it was watched: watch
        // what it is now, so later changes inside it are seen too.
        if inotify, state.withLock({ $0.watches.moved(directory, realPath: Self.realPath(directory)) }) { watch(directory) }
        // Unlistable for now (no file descriptor left, say): what is known is kept; a file that
        // is really gone is found so below, by its own stat.
        let listing = PluginRegistry.pluginFiles(in: directory)
        let files = listing?.files ?? []
        let settle = options.debounce.nanoseconds
        var loaded: [PluginInstance] = []
        var refused: [LoadRefusal] = []
        var unsettled = false
        ledger.withLock { ledger in
            for file in files {
                guard let before = Self.fingerprint(file) else { continue }
                if inotify, Self.isSymlink(file) { watchLinkTarget(of: file) }
                switch ledger.look(at: file, fingerprint: before, retryRefused: retryRefused, polling: polling, now: wallClockNanoseconds(), settle: Int64(settle)) {
                case .unchanged: continue
                case .unsettled:
                    unsettled = true
                    continue
                case .read: break
                }
                // Unreadable: the loader reads it again and refuses it with the reason.
                let contents = (try? PluginLoader.readFile(file)).map(PluginFileContents.init)
                guard ledger.read(file, fingerprint: before, sha256: contents?.sha256, retryRefused: retryRefused) == .load else { continue }
                let result = registry.load(file: file, contents: contents, quiet: true)
                let outcome: PluginFileLedger.LoadOutcome
                switch result {
                case .success(let instance): outcome = .serving(sha256: instance.sha256)
                case .failure: outcome = .refused(sha256: contents?.sha256 ?? "")
                }
                switch ledger.loaded(file, before: before, after: Self.fingerprint(file), outcome: outcome) {
                case .loaded:
                    if case .success(let instance) = result { loaded.append(instance) }
                case .refused:
                    if case .failure(let refusal) = result {
                        registry.record(refusal)
                        refused.append(refusal)
                    }
                case .changedUnderUs:
                    unsettled = true
                    if case .success(let instance) = result { loaded.append(instance) }
                }
            }
            if let misnamed = listing?.misnamed {
                let names = ledger.misnamed(misnamed, in: directory, retryRefused: retryRefused)
                for file in names.refuse {
                    let refusal = LoadRefusal(
                        kind: .fileNameNotUTF8, file: file.shown, pluginName: nil,
                        message: "the file's name is not UTF-8 (shown with each byte that is not UTF-8 as \\xHH): give it a UTF-8 name, for example with `convmv -f latin1 -t utf8 --notest`, and it loads")
                    registry.record(refusal)
                    refused.append(refusal)
                }
                for file in names.gone { registry.forgetRefusal(file: file.shown) }
            }
            for file in ledger.missing(in: directory, listed: files) {
                // A dangling symlink or a vanished file: unload what it served.
                if Self.fingerprint(file) != nil { continue }
                ledger.forget(file)
                registry.unload(file: file)
            }
        }
        if unsettled { state.withLock { $0.due[CodePointKey(directory)] = now + settle } }
        return (loaded, refused)
    }

    /// `stat(2)` of a regular file (following symlinks); nil for anything else or nothing.
    static func fingerprint(_ path: String) -> Fingerprint? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Fingerprint(
            device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
            mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
            ctime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
    }

    // MARK: Paths

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

}

/// A plain OS thread, for loops that block (poll(2)) and must not sit on the cooperative pool.
enum OSThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    static func spawn(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            let body = Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        precondition(created == 0, "pthread_create failed: \(created)")
        pthread_detach(thread)
    }
}
