import class SwitchboardSDK.Locked
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

    public init(sha256: String, plugin: String, file: String, reason: String, detail: String, time: Int64 = Int64(Glibc.time(nil))) {
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
/// version stays quarantined until its file changes (another SHA is not quarantined) or an
/// operator lifts it. Bounded: at most `limit` entries; the oldest go first.
public final class Quarantine: Sendable {
    /// nil: kept in memory only.
    public let path: String?
    public let limit: Int
    private let entries = Locked<[String: QuarantineEntry]>([:])

    /// Reads `path` if it exists. A file that cannot be parsed counts as empty (and is replaced
    /// at the next change): a damaged list must not stop the server.
    public init(path: String?, limit: Int = 1024) {
        self.path = path
        self.limit = limit
        reload()
    }

    /// Reads the file again (another process changed it).
    public func reload() {
        guard let path else { return }
        let read = Self.read(path)
        entries.withLock { $0 = read }
    }

    public func entry(_ sha256: String) -> QuarantineEntry? { entries.withLock { $0[sha256] } }

    public var all: [QuarantineEntry] { entries.withLock { Array($0.values) }.sorted { ($0.time, $0.sha256) < ($1.time, $1.sha256) } }

    /// Adds (or refreshes) an entry. Throws `SystemError` when the file cannot be written (the
    /// entry still holds in memory).
    public func add(_ entry: QuarantineEntry) throws(SystemError) {
        try change { list in
            list[entry.sha256] = entry
            if list.count > limit {
                for old in list.values.sorted(by: { $0.time < $1.time }).prefix(list.count - limit) { list[old.sha256] = nil }
            }
        }
    }

    /// Lifts the quarantine of `sha256`; returns the entry, or nil when it was not quarantined.
    @discardableResult
    public func lift(_ sha256: String) throws(SystemError) -> QuarantineEntry? {
        var lifted: QuarantineEntry?
        try change { list in lifted = list.removeValue(forKey: sha256) }
        return lifted
    }

    private func change(_ body: (inout [String: QuarantineEntry]) -> Void) throws(SystemError) {
        guard let path else {
            entries.withLock { body(&$0) }
            return
        }
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectories(directory)
        let lockFD = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw SystemError(errno: errno) }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SystemError(errno: errno) }
        }
        var list = Self.read(path)
        body(&list)
        entries.withLock { $0 = list }
        let bytes = (try? JSONEncoder.sorted.encode(list.values.sorted { $0.time < $1.time })) ?? Data("[]".utf8)
        let temporary = "\(path).\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: bytes + Data("\n".utf8)) else { throw SystemError(errno: EIO) }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SystemError(errno: code)
        }
    }

    private static func read(_ path: String) -> [String: QuarantineEntry] {
        guard let data = FileManager.default.contents(atPath: path),
            let list = try? JSONDecoder().decode([QuarantineEntry].self, from: data)
        else { return [:] }
        return Dictionary(list.map { ($0.sha256, $0) }, uniquingKeysWith: { _, last in last })
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

/// Each plugin file's last good versions: private copies of the images that went live from it
/// (on_init succeeded and their routes served), so that when the file's current version is
/// quarantined the host can serve the one before it.
///
/// Kept under `<directory>/<key>/<sha256>.so`, where the key is the first 16 hex digits of the
/// SHA-256 of the file's path; a copy's modification time is when it last went live. At most
/// `perFile` versions per file are kept (the newest), so the directory is bounded by the plugin
/// files ever served. Copies are hard links of the loader's private copy (same file system),
/// made once per version.
public struct LastGoodImages: Sendable {
    public let directory: String
    public let perFile: Int

    public init(directory: String, perFile: Int = 3) {
        self.directory = directory
        self.perFile = perFile
    }

    func folder(for file: String) -> String {
        "\(directory)/\(SHA256.hex(Array(file.utf8)).prefix(16))"
    }

    /// Records that `sha256` went live from `file`, linking (or, across file systems, copying)
    /// `image` into the store. Failures are returned for the log; serving goes on regardless.
    func keep(file: String, sha256: String, image: String) -> SystemError? {
        let folder = folder(for: file)
        do { try makeDirectories(folder) } catch { return error }
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
        for old in versions(in: folder).dropFirst(perFile) { unlink(old.path) }
        return nil
    }

    /// The newest kept version of `file` that `usable` accepts, with its bytes.
    func newest(of file: String, where usable: (String) -> Bool) -> (sha256: String, contents: PluginFileContents)? {
        for version in versions(in: folder(for: file)) where usable(version.sha256) {
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
