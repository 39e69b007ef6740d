#if canImport(Glibc)
import Glibc
#endif

/// One process's claim on a state directory (`state.directory`): the plugin image copies and the
/// state log under it are written by one server at a time. Two servers on one store each replay
/// the log, then append to it blindly: both hand out the same ids and a restart keeps only some
/// of what they wrote. So a second server refuses to start instead, naming the first.
///
/// The claim is an exclusive `flock(2)` on `<directory>/lock`, which holds the owner's pid; the
/// kernel releases it when the process exits, however it exits, so a crash never leaves a stale
/// lock behind. Held until this value is deinitialised.
public final class StateDirectoryLock: Sendable {
    public let directory: String
    private let fd: Int32

    /// Why the directory cannot be claimed, in words that say what to do.
    public struct Refusal: Error, CustomStringConvertible {
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
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let holder = Self.readPID(fd)
            close(fd)
            guard busy else { throw Refusal(description: "cannot lock \(path): \(String(cString: strerror(errno)))") }
            throw Refusal(
                description: "the state directory \(directory) is in use by another switchboard process"
                    + (holder.map { " (pid \($0))" } ?? "")
                    + ": two servers on one store would lose each other's writes. Stop that process, or give this one a"
                    + " directory of its own (state.directory in the configuration, or SWITCHBOARD_STATE_DIRECTORY)")
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
