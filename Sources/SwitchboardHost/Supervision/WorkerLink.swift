import Foundation
import CSwitchboardHostSupport
#if canImport(Glibc)
import Glibc
#endif

/// What a worker tells its supervisor, one line per message on the report pipe (each written with
/// one `write(2)` of at most `PIPE_BUF` bytes, so lines from different threads never interleave).
/// Fields are separated by tabs; a code tag is `<sha256>\t<plugin>\t<file>` (`sbh_code_enter`).
public enum WorkerMessage: Equatable, Sendable {
    /// Plugins are loaded; the worker accepts connections once the supervisor says so (SIGUSR1),
    /// after every older worker has stopped accepting: two processes never wait on the socket at
    /// once (the loser of each accept race would find nothing, which NIO's debug builds trap).
    case ready
    /// This worker has stopped accepting (it drains): the next one may start.
    case released
    /// A fatal signal arrived while the thread ran `tag`'s code (nil: no plugin call was marked on
    /// that thread), at the instruction `address` (0: unknown). Written by the signal handler in
    /// C: `crash\t<signal>\t<address, hex>\t<tag or ->`.
    case crash(signal: Int32, address: UInt64, tag: CodeTag?)
    /// A plugin image occupies [start, end): a crash there on an unmarked thread (one the plugin
    /// started) is that version's.
    case image(start: UInt64, end: UInt64, tag: CodeTag)
    /// The worker is about to run this version's code to load it (constructors, on_init): if it
    /// never becomes ready, this is the version that held it.
    case loading(CodeTag)
    /// That load is over (loaded or refused): the worker runs host code again.
    case loaded
    /// The watchdog's thread runs (a heartbeat, every `watchdog.stall_ms / 4`).
    case alive
    /// The watchdog found an event loop or the request pool stalled, held by these plugin calls.
    case stall([CodeTag])
    /// No stall any more.
    case clear
    /// Please start a new worker and retire this one (`POST /_switchboard/workers/restart`,
    /// `SIGUSR2` sent to the worker, the retained-image cap).
    case handover(reason: String)
    /// An operator lifted the quarantine of this SHA-256 (the supervisor forgets it too).
    case lifted(sha256: String)

    /// A plugin version, as `sbh_code_enter` names it.
    public struct CodeTag: Equatable, Sendable, Hashable {
        /// The image's SHA-256, 64 lower-case hex digits.
        public var sha256: String
        /// The plugin's name, or "-" before its descriptor was read.
        public var plugin: String
        /// The dropped file's path.
        public var file: String

        /// Tabs and newlines in `plugin` and `file` become spaces when the tag is written.
        public init(sha256: String, plugin: String, file: String) {
            self.sha256 = sha256
            self.plugin = plugin
            self.file = file
        }

        /// Parses `<sha256>\t<plugin>\t<file>`; nil for "-" or anything without a 64-digit hash.
        public init?(_ fields: ArraySlice<Substring>) {
            guard let sha = fields.first, sha.count == 64, sha.allSatisfy(\.isHexDigit) else { return nil }
            sha256 = String(sha)
            plugin = fields.dropFirst().first.map(String.init) ?? "-"
            file = fields.dropFirst(2).joined(separator: "\t")
        }

        var line: String {
            let clean = { (text: String) in String(text.map { $0 == "\t" || $0 == "\n" ? " " : $0 }) }
            return "\(sha256)\t\(clean(plugin))\t\(clean(file))"
        }
    }

    /// Parses one line (without its newline); nil for a line this version does not know.
    public init?(line: Substring) {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
        switch fields.first {
        case "ready": self = .ready
        case "released": self = .released
        case "clear": self = .clear
        case "alive": self = .alive
        case "loaded": self = .loaded
        case "crash":
            guard fields.count >= 4, let signal = Int32(fields[1]), let address = UInt64(fields[2], radix: 16) else { return nil }
            self = .crash(signal: signal, address: address, tag: CodeTag(fields[3...]))
        case "image":
            guard fields.count >= 4, let start = UInt64(fields[1], radix: 16), let end = UInt64(fields[2], radix: 16),
                let tag = CodeTag(fields[3...])
            else { return nil }
            self = .image(start: start, end: end, tag: tag)
        case "loading":
            guard let tag = CodeTag(fields[1...]) else { return nil }
            self = .loading(tag)
        case "stall":
            // One tag per line: "stall\t<tag>"; an empty stall (host code) is just "stall".
            self = .stall(CodeTag(fields[1...]).map { [$0] } ?? [])
        case "handover":
            self = .handover(reason: fields.dropFirst().joined(separator: " "))
        case "lifted":
            guard fields.count == 2 else { return nil }
            self = .lifted(sha256: String(fields[1]))
        default: return nil
        }
    }

    var lines: [String] {
        switch self {
        case .ready: return ["ready"]
        case .released: return ["released"]
        case .clear: return ["clear"]
        case .alive: return ["alive"]
        case .loaded: return ["loaded"]
        case .crash(let signal, let address, let tag): return ["crash\t\(signal)\t\(String(address, radix: 16))\t\(tag?.line ?? "-")"]
        case .image(let start, let end, let tag): return ["image\t\(String(start, radix: 16))\t\(String(end, radix: 16))\t\(tag.line)"]
        case .loading(let tag): return ["loading\t\(tag.line)"]
        case .stall(let tags): return tags.isEmpty ? ["stall"] : tags.map { "stall\t\($0.line)" }
        case .handover(let reason): return ["handover\t\(reason)"]
        case .lifted(let sha256): return ["lifted\t\(sha256)"]
        }
    }
}

/// What the supervisor tells a worker when it starts it (the environment variable
/// `SWITCHBOARD_INTERNAL_WORKER`, JSON), and what the admin API shows of it.
public struct WorkerInfo: Codable, Sendable, Equatable {
    /// 1 for the first worker of this supervisor, then one more for each worker started.
    public var generation: Int
    /// The supervisor's process id.
    public var supervisor: Int32
    /// Why this worker was started: `start`, `crash`, `hang`, `handover`, `memory`.
    public var reason: String
    /// For people: what the previous worker died of, or who asked for the handover.
    public var detail: String
    /// Workers that died of a signal (or were killed for a hang) so far, under this supervisor.
    public var crashes: Int
    /// Workers started after the first, for any reason.
    public var restarts: Int
    /// Versions quarantined so far by this supervisor.
    public var quarantines: Int
    /// Handovers so far (on request, for memory, for the retained-image cap).
    public var handovers: Int
    /// Versions quarantined just before this worker started, for its event log.
    public var newlyQuarantined: [QuarantineEntry]
    /// Every version the supervisor holds quarantined, including any it could not write to
    /// `quarantine.json`: the worker refuses these too.
    public var quarantined: [QuarantineEntry]
    /// Versions lifted while `quarantine.json` could not be written: the worker lets them load
    /// even if the file still names them.
    public var lifted: [String]

    /// Memberwise; the supervisor fills it in for each worker it starts.
    public init(
        generation: Int, supervisor: Int32, reason: String, detail: String, crashes: Int, restarts: Int, quarantines: Int,
        handovers: Int, newlyQuarantined: [QuarantineEntry], quarantined: [QuarantineEntry], lifted: [String]
    ) {
        self.generation = generation
        self.supervisor = supervisor
        self.reason = reason
        self.detail = detail
        self.crashes = crashes
        self.restarts = restarts
        self.quarantines = quarantines
        self.handovers = handovers
        self.newlyQuarantined = newlyQuarantined
        self.quarantined = quarantined
        self.lifted = lifted
    }
}

/// A worker's side of its link to the supervisor: the listening socket it inherited, the report
/// pipe, and what it was told at start.
public final class WorkerLink: Sendable {
    /// The environment variables a worker is started with; removed from the worker's environment
    /// once read, so processes a plugin starts do not inherit them.
    /// (crash_report.c reads `listenVariable` before main: a worker ignores the signals it traps
    /// until it traps them.)
    public static let listenVariable = "SWITCHBOARD_INTERNAL_LISTEN_FD"
    /// The write end of the report pipe, as a descriptor number: where `send` writes.
    public static let reportVariable = "SWITCHBOARD_INTERNAL_REPORT_FD"
    /// The `WorkerInfo`, as JSON.
    public static let infoVariable = "SWITCHBOARD_INTERNAL_WORKER"

    /// What the supervisor said at start: generation, reason, counts and quarantine list.
    public let info: WorkerInfo
    /// The supervisor's listening socket; the HTTP service takes it over.
    public let listenSocket: Int32
    let reportFD: Int32
    /// When this worker started, in seconds since the Unix epoch.
    public let started: Int64

    init(info: WorkerInfo, listenSocket: Int32, reportFD: Int32) {
        self.info = info
        self.listenSocket = listenSocket
        self.reportFD = reportFD
        self.started = wallClockNanoseconds() / 1_000_000_000
    }

    /// The link when this process was started as a worker, else nil. Marks the inherited
    /// descriptors close-on-exec, asks the kernel to kill this process if the supervisor dies
    /// (`PR_SET_PDEATHSIG`), and exits at once if it has died already.
    public static func fromEnvironment() -> WorkerLink? {
        let environment = ProcessInfo.processInfo.environment
        guard let listen = environment[listenVariable].flatMap(Int32.init), let report = environment[reportVariable].flatMap(Int32.init),
            let infoText = environment[infoVariable], let info = try? JSONDecoder().decode(WorkerInfo.self, from: Data(infoText.utf8))
        else { return nil }
        for name in [listenVariable, reportVariable, infoVariable] { unsetenv(name) }
        for fd in [listen, report] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = sbh_set_parent_death_signal(SIGKILL)
        if getppid() != info.supervisor { _exit(70) }  // the supervisor died before the line above
        return WorkerLink(info: info, listenSocket: listen, reportFD: report)
    }

    /// Installs the fatal-signal handlers that report the crashing thread's plugin version.
    public func installCrashReport() {
        _ = sbh_crash_report_install(reportFD)
    }

    /// Sends a message; a supervisor that is gone is not an error (the kernel kills this process).
    public func send(_ message: WorkerMessage) {
        for line in message.lines {
            var bytes = Array(line.utf8.prefix(Int(PIPE_BUF) - 1))
            bytes.append(0x0A)
            _ = bytes.withUnsafeBytes { write(reportFD, $0.baseAddress, $0.count) }
        }
    }
}
