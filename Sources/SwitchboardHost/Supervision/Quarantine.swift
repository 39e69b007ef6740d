import struct SwitchboardCore.Locked
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plugin version set aside because the process died in its code (or it held a thread that must
/// not block until the supervisor replaced the worker).
public struct QuarantineEntry: Codable, Sendable, Equatable {
    /// The image's SHA-256, lower-case hex: what is refused.
    public var sha256: String
    /// The plugin's name when it was known ("-" for a crash before its descriptor was read).
    public var plugin: String
    /// The dropped file that held this version.
    public var file: String
    /// `crash` (a fatal signal in its code, on_init included) or `hang` (a stall past `worker.hang_ms`).
    public var reason: String
    /// What happened, for people: "SIGSEGV in a handler of worker 3", "held the request pool 2 s".
    public var detail: String
    /// Seconds since the Unix epoch.
    public var time: Int64

    /// `time` defaults to now, in seconds since the Unix epoch.
    public init(sha256: String, plugin: String, file: String, reason: String, detail: String, time: Int64 = wallClockNanoseconds() / 1_000_000_000) {
        self.sha256 = sha256
        self.plugin = plugin
        self.file = file
        self.reason = reason
        self.detail = detail
        self.time = time
    }
}

/// The quarantined plugin versions, by SHA-256, kept in `<state directory>/quarantine.json` so a
/// restart of the whole server remembers them.
///
/// The supervisor adds entries (after a worker died), a worker lifts them (admin API); every
/// change is a read-modify-write under an exclusive `flock` on `quarantine.json.lock`, written to
/// a temporary file and renamed, so a reader never sees half a list and no change is lost. A
/// change holds in memory first: when the file cannot be written the entry still holds for this
/// process (`unsaved`), and the supervisor hands its whole list to each worker it starts. A
/// version stays quarantined until its file changes (another SHA is not quarantined) or an
/// operator lifts it. Bounded: at most `limit` entries; the oldest go first.
public final class Quarantine: Sendable {
    /// nil: kept in memory only.
    public let path: String?
    /// Most entries kept in the file: an `add` past it drops the oldest (by `time`). A list kept in
    /// memory only is not trimmed.
    public let limit: Int
    private struct State {
        var entries: [String: QuarantineEntry] = [:]
        /// Entries this process holds that are not in the file (its write failed, or a
        /// supervisor handed them over).
        var unsaved: [String: QuarantineEntry] = [:]
        /// Lifts this process made that the file may not show yet (its write failed, or a
        /// supervisor handed them over).
        var unsavedLifts: Set<String> = []

        /// The file's entries with this process's unsaved changes on top.
        mutating func adopt(_ file: [String: QuarantineEntry]) {
            entries = file.merging(unsaved) { _, unsaved in unsaved }
            for sha in unsavedLifts { entries[sha] = nil }
        }
    }
    private let state = Locked(State())

    /// Reads `path` if it exists (see `reload`).
    public init(path: String?, limit: Int = 1024) {
        self.path = path
        self.limit = limit
        reload()
    }

    /// Reads the file again (another process changed it), keeping the unsaved changes. A file
    /// that is not a JSON array is copied aside to `quarantine.json.corrupt` and read as empty; an
    /// array's entries are read one by one, skipping damaged ones (a damaged list must not stop
    /// the server). Returns what was wrong, for the log.
    @discardableResult
    public func reload() -> String? {
        guard let path else { return nil }
        switch Self.read(path) {
        case .entries(let read, let problem):
            state.withLock { $0.adopt(read) }
            return problem
        case .unreadable(let error):
            return "\(path) cannot be read (\(error)); the list in memory stands"
        }
    }

    /// Holds a supervisor's list too, in memory only: its entries, and its lifts.
    public func merge(_ entries: [QuarantineEntry], lifted: [String]) {
        state.withLock { s in
            for entry in entries where s.entries[entry.sha256] == nil && !lifted.contains(entry.sha256) {
                s.entries[entry.sha256] = entry
                s.unsaved[entry.sha256] = entry
            }
            for sha in lifted {
                s.entries[sha] = nil
                s.unsavedLifts.insert(sha)
            }
        }
    }

    /// Drops the oldest entries (by `time`) past `limit`.
    private static func trim(_ entries: inout [String: QuarantineEntry], to limit: Int) {
        guard entries.count > limit else { return }
        for old in entries.values.sorted(by: { $0.time < $1.time }).prefix(entries.count - limit) { entries[old.sha256] = nil }
    }

    /// Lifts not yet in the file, for a supervisor to hand to its workers.
    public var unsavedLifts: [String] { state.withLock { Array($0.unsavedLifts) }.sorted() }

    /// The entry that quarantines `sha256` (64 lower-case hex digits); nil when that version may load.
    /// Reads memory only: `reload()` picks up other processes' changes.
    public func entry(_ sha256: String) -> QuarantineEntry? { state.withLock { $0.entries[sha256] } }

    /// Every entry held now, oldest first (by `time`, then `sha256`).
    public var all: [QuarantineEntry] { state.withLock { Array($0.entries.values) }.sorted { ($0.time, $0.sha256) < ($1.time, $1.sha256) } }

    /// Adds (or refreshes) an entry; it holds in memory at once. Returns why the file could not
    /// be written, if it could not (the entry then holds for this process only).
    @discardableResult
    public func add(_ entry: QuarantineEntry) -> SystemError? {
        state.withLock { s in
            s.entries[entry.sha256] = entry
            s.unsaved[entry.sha256] = entry
            s.unsavedLifts.remove(entry.sha256)
            // Bounded in memory too (no file, or one that cannot be written): the oldest go.
            Self.trim(&s.entries, to: limit)
            Self.trim(&s.unsaved, to: limit)
        }
        do {
            try change { list in
                list[entry.sha256] = entry
                Self.trim(&list, to: limit)
            }
        } catch {
            return error
        }
        _ = state.withLock { $0.unsaved.removeValue(forKey: entry.sha256) }
        return nil
    }

    /// Lifts the quarantine of `sha256` (in memory at once): the entry, nil when it was not
    /// quarantined, and why the file could not be written, if it could not.
    public func lift(_ sha256: String) -> (lifted: QuarantineEntry?, notSaved: SystemError?) {
        var lifted = state.withLock { s in
            s.unsaved[sha256] = nil
            s.unsavedLifts.insert(sha256)
            return s.entries.removeValue(forKey: sha256)
        }
        do {
            try change { list in
                if let fromFile = list.removeValue(forKey: sha256) { lifted = lifted ?? fromFile }
            }
        } catch {
            return (lifted, error)
        }
        _ = state.withLock { $0.unsavedLifts.remove(sha256) }
        return (lifted, nil)
    }

    /// Read-modify-write of the file under its lock; the memory then holds the file's list plus
    /// the unsaved entries.
    private func change(_ body: (inout [String: QuarantineEntry]) -> Void) throws(SystemError) {
        guard let path else { return }
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectories(directory)
        let lockFD = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw SystemError(errno: errno) }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SystemError(errno: errno) }
        }
        var list: [String: QuarantineEntry]
        switch Self.read(path) {
        case .entries(let read, _): list = read  // (a damaged file was copied aside first)
        case .unreadable(let error): throw error  // never overwrite what could not be read
        }
        // Every change this process could not write before goes in with this one.
        let (pendingAdds, pendingLifts) = state.withLock { ($0.unsaved, $0.unsavedLifts) }
        list.merge(pendingAdds) { _, pending in pending }
        for sha in pendingLifts { list[sha] = nil }
        body(&list)
        let bytes = (try? JSONEncoder.sorted.encode(list.values.sorted { $0.time < $1.time })) ?? Data("[]".utf8)
        try writeAtomically(bytes + Data("\n".utf8), to: path)
        state.withLock { s in
            for (sha, _) in pendingAdds { s.unsaved[sha] = nil }
            s.unsavedLifts.subtract(pendingLifts)
            s.adopt(list)
        }
    }

    private enum ReadResult {
        /// The file's entries (none when it does not exist), and what was wrong, if anything.
        case entries([String: QuarantineEntry], problem: String?)
        /// It exists but could not be read (EACCES, EIO, EMFILE…).
        case unreadable(SystemError)
    }

    /// Reads the file, one entry at a time so that one damaged entry costs only itself.
    private static func read(_ path: String) -> ReadResult {
        guard let data = FileManager.default.contents(atPath: path) else {
            let missing = access(path, F_OK) != 0 && errno == ENOENT
            return missing ? .entries([:], problem: nil) : .unreadable(SystemError(errno: errno == 0 ? EIO : errno))
        }
        guard let list = try? JSONSerialization.jsonObject(with: data) as? [Any] else {
            let aside = path + ".corrupt"
            unlink(aside)
            _ = link(path, aside)
            return .entries([:], problem: "\(path) is not a JSON array of entries; kept as \(aside), and read as empty")
        }
        var entries: [String: QuarantineEntry] = [:]
        var damaged = 0
        for item in list {
            guard let itemData = try? JSONSerialization.data(withJSONObject: item),
                let entry = try? JSONDecoder().decode(QuarantineEntry.self, from: itemData)
            else {
                damaged += 1
                continue
            }
            entries[entry.sha256] = entry
        }
        return .entries(entries, problem: damaged == 0 ? nil : "\(path) has \(damaged) entries that are not quarantine entries; they were skipped")
    }
}

/// Writes `data` to `path` through a temporary file (`<path>.<pid>.tmp`) renamed over it, so a
/// reader sees the old content or the new, never half of it. Throws `SystemError` when either
/// step fails (the temporary file is removed).
func writeAtomically(_ data: Data, to path: String) throws(SystemError) {
    let temporary = "\(path).\(getpid()).tmp"
    guard FileManager.default.createFile(atPath: temporary, contents: data) else { throw SystemError(errno: errno == 0 ? EIO : errno) }
    guard rename(temporary, path) == 0 else {
        let code = errno
        unlink(temporary)
        throw SystemError(errno: code)
    }
}

extension JSONEncoder {
    /// Keys sorted, so the file diffs well.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }
}

/// Each plugin's last good versions: private copies of the images that went live (loaded,
/// on_init succeeded, their routes entered the served table), so that when a version is
/// quarantined the host can serve the one before it.
///
/// Kept under `<directory>/plugins/<plugin name>/<sha256>.so` (names are `[a-z0-9_-]`), a copy's
/// modification time being when it last went live, with `<directory>/files/<key>` naming the
/// plugin each dropped file last served (the key: the first 16 hex digits of the SHA-256 of the
/// file's path), for a version quarantined before its name was read (a crash in a constructor).
/// At most `perPlugin` versions that are not quarantined are kept per plugin, the newest, and
/// quarantined ones are removed at the next keep: bounded by the plugins ever served. Copies are
/// hard links of the loader's private copy (same file system), made once per version.
public struct LastGoodImages: Sendable {
    /// Root of the store (`<stateDirectory>/last-good`).
    public let directory: String
    /// How many versions that are not quarantined are kept per plugin (the newest).
    public let perPlugin: Int

    /// Touches nothing on disk; the folders are made at the first keep.
    public init(directory: String, perPlugin: Int = 3) {
        self.directory = directory
        self.perPlugin = perPlugin
    }

    private func folder(plugin: String) -> String { "\(directory)/plugins/\(plugin)" }
    private func index(file: String) -> String { "\(directory)/files/\(SHA256.hex(Array(file.utf8)).prefix(16))" }

    /// Records that `sha256` of `plugin` went live from `file`, linking (or, across file systems,
    /// copying) `image` into the store, and drops versions `isQuarantined` names and the oldest
    /// past `perPlugin`. Failures are returned for the log; serving goes on regardless.
    func keep(plugin: String, file: String, sha256: String, image: String, isQuarantined: (String) -> Bool) -> SystemError? {
        let folder = folder(plugin: plugin)
        do {
            try makeDirectories(folder)
            try makeDirectories(directory + "/files")
        } catch {
            return error
        }
        let target = "\(folder)/\(sha256).so"
        if access(target, F_OK) != 0 {
            let temporary = "\(target).\(getpid()).tmp"
            unlink(temporary)
            if link(image, temporary) != 0 {
                guard let bytes = try? PluginLoader.readFile(image), FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
                    return SystemError(errno: errno)
                }
            }
            guard rename(temporary, target) == 0 else {
                let code = errno
                unlink(temporary)
                return SystemError(errno: code)
            }
        }
        utimensat(AT_FDCWD, target, nil, 0)  // now: the newest good version
        try? writeAtomically(Data(plugin.utf8), to: index(file: file))
        let versions = versions(in: folder)
        for version in versions where isQuarantined(version.sha256) { unlink(version.path) }
        for old in versions.filter({ !isQuarantined($0.sha256) }).dropFirst(perPlugin) { unlink(old.path) }
        return nil
    }

    /// The newest kept version that `usable` accepts, with its bytes: of `plugin`, or when that
    /// is unknown of the plugin `file` last served.
    func newest(plugin: String?, file: String, where usable: (String) -> Bool) -> (sha256: String, contents: PluginFileContents)? {
        guard let name = plugin ?? (FileManager.default.contents(atPath: index(file: file)).map { String(decoding: $0, as: UTF8.self) }),
            PluginLoader.isValidName(name)
        else { return nil }
        for version in versions(in: folder(plugin: name)) where usable(version.sha256) {
            guard let bytes = try? PluginLoader.readFile(version.path) else { continue }
            let contents = PluginFileContents(bytes: bytes)
            // A damaged copy is no good version: its name must be its content's hash.
            guard contents.sha256 == version.sha256 else {
                unlink(version.path)
                continue
            }
            return (version.sha256, contents)
        }
        return nil
    }

    /// The kept versions in `folder`, newest first.
    private func versions(in folder: String) -> [(path: String, sha256: String, time: Int64)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.compactMap { name -> (String, String, Int64)? in
            guard name.hasSuffix(".so"), name.count == 67 else { return nil }
            let path = "\(folder)/\(name)"
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return (path, String(name.dropLast(3)), Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
        }.sorted { $0.2 > $1.2 }
    }
}
