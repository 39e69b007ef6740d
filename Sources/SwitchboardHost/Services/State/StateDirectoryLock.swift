#if canImport(Glibc)
import Glibc
#endif

/// This process's share of a state directory (`state.directory`). Servers of this version share
/// one (SQLite locks the database; each server's plugin image copies carry its pid), as a
/// handover needs. Servers before the SQLite store kept the directory to themselves: their state
/// log cannot be shared, and one still running must not have its log imported and renamed under
/// it. So each server holds a shared `flock(2)` on `<directory>/lock` and an earlier one holds an
/// exclusive lock: a server of this version refuses to start beside an earlier one (naming its
/// pid), and an earlier one beside this version. The kernel releases the lock when the process
/// exits, however it exits. Held until this value is deinitialised.
public final class StateDirectoryLock: Sendable {
    /// The claimed directory, as given.
    public let directory: String
    private let fd: Int32

    /// Why the directory cannot be claimed, in words that say what to do.
    public struct Refusal: Error, CustomStringConvertible {
        /// What is wrong, naming the other process's pid when known, and what to do.
        public let description: String
    }

    /// Claims `directory` (creating it) for this process.
    /// - Throws: `Refusal` when another process holds it (naming its pid), or when the directory
    ///   or its lock file cannot be created.
    public init(directory: String) throws(Refusal) {
        do {
            try makeDirectories(directory)
        } catch {
            throw Refusal(description: "cannot create the state directory \(directory): \(error)")
        }
        let path = directory + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Refusal(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else {
            let failure = errno
            let holder = Self.readPID(fd)
            close(fd)
            guard failure == EWOULDBLOCK else { throw Refusal(description: "cannot lock \(path): \(String(cString: strerror(failure)))") }
            throw Refusal(
                description: "the state directory \(directory) is in use by a switchboard of an earlier version"
                    + (holder.map { " (pid \($0))" } ?? "")
                    + ", which keeps its state log to itself: importing that log while it still writes would lose its writes."
                    + " Stop that process, or give this one a directory of its own (state.directory in the configuration, or"
                    + " SWITCHBOARD_STATE_DIRECTORY)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.directory = directory
        self.fd = fd
    }

    deinit {
        close(fd)  // releases the lock
    }

    private static func readPID(_ fd: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int(String(decoding: buffer[0..<n].filter { (0x30...0x39).contains($0) }, as: UTF8.self))
    }
}
