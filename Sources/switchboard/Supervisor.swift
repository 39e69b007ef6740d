import Dispatch
import Foundation
import Logging
import SwitchboardHost

#if canImport(Glibc)
import Glibc
#endif

/// The process `switchboard serve` runs by default: it owns the listening socket, the
/// configuration and the state directory, and runs the server in a worker process that inherits
/// the socket. It is never on the request path.
///
/// What it does, as a state machine over its workers (each `starting` → `serving` → `draining`,
/// or dead at any point), driven by one thread that polls the workers' report pipes and a pipe
/// its signal handlers write to:
/// - **Start**: a worker is spawned with the socket as descriptor 3 and its report pipe as 4.
///   Connections that arrive meanwhile wait in the socket's accept queue.
/// - **Ready**: the worker serves; every other serving worker is told to drain (SIGTERM): it stops
///   accepting, finishes what it has, and exits. One rule covers the first start, a restart after
///   a crash and a handover.
/// - **Crash**: a worker that dies of a signal, or exits while it should serve, is replaced at
///   once. The versions its crash report names (the plugin code the crashing thread ran) are
///   quarantined first, so the new worker refuses them and serves their last good versions. A
///   worker that dies within 10 s of serving (or before) without naming plugin code is restarted
///   with a backoff (100 ms doubling to 5 s), so a host bug cannot spin; one that exits with an
///   error before the first worker ever served stops the supervisor with that status (the
///   configuration is wrong). Something always serves or is on its way (`tick` restores that).
/// - **Hang**: a worker whose watchdog reports a stall for `hangTimeout` is killed (SIGKILL: it
///   cannot drain) and replaced; the plugin versions holding the stalled threads are quarantined.
/// - **Memory**: a serving worker whose resident memory passes `memoryLimitBytes` is handed over.
/// - **Handover**: on `SIGUSR2`, a worker's request (`POST /_switchboard/workers/restart`, the
///   retained-image cap) or the memory limit, a new worker starts unless one is starting already.
/// - **Stop**: SIGTERM or SIGINT tells every worker to stop gracefully and exits 0 once they have
///   (1 if one did not stop cleanly); SIGHUP is passed to the workers (rescan).
final class Supervisor: @unchecked Sendable {  // all mutable state is confined to `run()`'s thread
    struct Options: Sendable {
        /// `--single-process` / `worker.single_process`: no supervisor at all.
        var singleProcess = false
        /// How long a stall reported by a worker's watchdog may last before the worker is replaced
        /// (`worker.hang_ms`; counted from the report, which comes `watchdog.stall_ms` into it).
        var hangTimeout: Duration = .seconds(5)
        /// `watchdog.stall_ms`: a serving worker silent (no heartbeat) for this plus `hangTimeout`
        /// is replaced too (stopped, or stuck where its watchdog cannot report).
        var stallThreshold: Duration = .seconds(2)
        /// How long a worker may take from its start to ready (`worker.start_timeout_ms`): past it,
        /// it is killed and the version it was loading quarantined.
        var startTimeout: Duration = .seconds(60)
        /// Resident memory past which a serving worker is handed over (`worker.memory_limit_mb`).
        var memoryLimitBytes: Int? = nil
        /// `server.shutdown_grace_ms`: a worker still alive this long (plus 5 s) after SIGTERM is killed.
        var shutdownGrace: Duration = .seconds(20)
    }

    /// starting → ready (plugins loaded; waits to accept) → serving → draining (told to stop).
    private enum Phase: String { case starting, ready, serving, draining }

    private struct Worker {
        let pid: pid_t
        let generation: Int
        let startedAt: UInt64
        /// The read end of its report pipe; -1 once it reached end of file.
        var reportFD: Int32
        var phase: Phase = .starting
        var pending: [UInt8] = []
        var crashReports: [(signal: Int32, address: UInt64, tag: WorkerMessage.CodeTag?)] = []
        /// Where its plugin images lie, for a crash on a thread no plugin call marked.
        var images: [(start: UInt64, end: UInt64, tag: WorkerMessage.CodeTag)] = []
        /// The version it said it was loading last (until ready).
        var loading: WorkerMessage.CodeTag? = nil
        /// When it last said anything (monotonic nanoseconds).
        var heardAt: UInt64
        /// Since when (monotonic nanoseconds) its watchdog reports a stall, and who holds it.
        var stall: (since: UInt64, heldBy: Set<WorkerMessage.CodeTag>)? = nil
        /// Why the supervisor killed it, if it did: hang, silent, start-timeout, stop, superseded.
        var killedFor: String? = nil
        /// When it was told to stop (monotonic nanoseconds).
        var stopSentAt: UInt64? = nil
        /// It has stopped accepting (it said so, or it was told to stop before it began).
        var released = false
        /// When it began to accept (monotonic nanoseconds).
        var servingSince: UInt64? = nil

        /// A worker that will serve if all goes well: started or ready, and not being killed.
        var isComing: Bool { (phase == .starting || phase == .ready) && killedFor == nil }
        /// Serves, or will, or its exit will start the next one: anything but a draining worker
        /// or one killed as superseded (whose replacement nobody else starts).
        var holdsTheService: Bool { phase != .draining && killedFor != "superseded" }
    }

    private let settings: HostSettings
    private let options: Options
    private let logger: Logger
    private let quarantine: Quarantine
    private var listenFD: Int32 = -1
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var workers: [Worker] = []
    private var generation = 0
    private var counts = (crashes: 0, restarts: 0, quarantines: 0, handovers: 0)
    private var stopping = false
    private var announced = false
    /// Workers that died in a row before serving 10 s, in no plugin's code: the backoff's exponent.
    private var startupFailures = 0
    /// Why the workers killed as superseded were starting: their replacement starts for that.
    private var superseded: (reason: String, detail: String)? = nil
    /// A start that waits for its backoff: when (monotonic nanoseconds), why, what was quarantined.
    private var delayedStart: (at: UInt64, reason: String, detail: String, quarantined: [QuarantineEntry])? = nil
    private var lastMemoryCheck: UInt64 = 0
    private var lastMemoryHandover: UInt64? = nil
    private var exitStatus: Int32 = 0

    init(settings: HostSettings, options: Options, logger: Logger) {
        self.settings = settings
        self.options = options
        self.logger = logger
        self.quarantine = Quarantine(path: settings.stateDirectory + "/quarantine.json")
    }

    /// Binds the socket, runs workers until a stop signal or a start that cannot succeed, and
    /// returns the exit status.
    func run() throws -> Int32 {
        if let problem = quarantine.reload() { logger.error("the quarantine list is damaged: \(problem)") }
        do {
            listenFD = try Self.moveUp(HTTPService.bind(host: settings.host, port: settings.port))
        } catch {
            logger.critical("cannot listen", metadata: ["address": "\(settings.host):\(settings.port)", "error": "\(error)"])
            return 4
        }
        (wakeRead, wakeWrite) = try Self.makePipe()
        for fd in [wakeRead, wakeWrite] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let wake = wakeWrite
        let sources = [SIGTERM, SIGINT, SIGHUP, SIGUSR2].map { signalNumber in
            Serve.trap(signalNumber) {
                var byte = UInt8(truncatingIfNeeded: signalNumber)
                _ = Glibc.write(wake, &byte, 1)
            }
        }
        defer { sources.forEach { $0.cancel() } }
        // The loop runs on a thread of its own that lives as long as the workers: the kernel kills
        // a worker (PR_SET_PDEATHSIG) when the thread that spawned it exits.
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            loop()
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
        done.wait()
        return exitStatus
    }

    // MARK: The loop

    private func loop() {
        logger.notice("supervisor started", metadata: ["pid": "\(getpid())", "state": "\(settings.stateDirectory)"])
        start(reason: "start", detail: "", quarantined: [])
        while !(stopping && workers.isEmpty) {
            var polled = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            polled += workers.map { pollfd(fd: $0.reportFD, events: Int16(POLLIN), revents: 0) }
            let pids = workers.map(\.pid)  // (handling one report may remove a worker)
            let ready = poll(&polled, nfds_t(polled.count), 50)
            if ready > 0 {
                if polled[0].revents != 0 { readSignals() }
                for (index, entry) in polled.dropFirst().enumerated() where entry.revents != 0 {
                    readReports(of: pids[index])
                }
            }
            tick()
        }
        close(listenFD)
        logger.notice("supervisor stopped", metadata: ["status": "\(exitStatus)"])
    }

    private func readSignals() {
        var bytes = [UInt8](repeating: 0, count: 64)
        let n = read(wakeRead, &bytes, bytes.count)
        guard n > 0 else { return }
        for signalNumber in bytes.prefix(n).map(Int32.init) {
            switch signalNumber {
            case SIGTERM, SIGINT:
                stop(Self.signalName(signalNumber))
            case SIGHUP:
                // (A worker that has not trapped it yet holds it until it does.)
                for worker in workers where worker.phase != .draining && worker.killedFor == nil { Glibc.kill(worker.pid, SIGHUP) }
            case SIGUSR2:
                handover(reason: "handover", detail: "SIGUSR2")
            default:
                break
            }
        }
    }

    private func readReports(of pid: pid_t) {
        guard let index = workers.firstIndex(where: { $0.pid == pid }), workers[index].reportFD >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(workers[index].reportFD, &buffer, buffer.count)
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        guard n > 0 else {
            // End of file: the worker has exited (or is exiting). Reap it soon.
            close(workers[index].reportFD)
            workers[index].reportFD = -1
            reap(waitUpTo: 200)
            return
        }
        workers[index].pending += buffer.prefix(n)
        handleLines(of: pid)
    }

    /// Handles every complete line received from `pid`.
    private func handleLines(of pid: pid_t) {
        guard let index = workers.firstIndex(where: { $0.pid == pid }) else { return }
        workers[index].heardAt = monotonicNanoseconds()
        while let newline = workers[index].pending.firstIndex(of: 0x0A) {
            let line = String(decoding: workers[index].pending[..<newline], as: UTF8.self)
            workers[index].pending.removeSubrange(...newline)
            if let message = WorkerMessage(line: line[...]) { handle(message, from: pid) }
        }
    }

    /// Reads what is left in a dead worker's pipe, handles it, and closes the pipe.
    private func drainReports(at index: Int) {
        let fd = workers[index].reportFD
        guard fd >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { break }
            workers[index].pending += buffer.prefix(n)
        }
        close(fd)
        workers[index].reportFD = -1
        handleLines(of: workers[index].pid)
    }

    private func handle(_ message: WorkerMessage, from pid: pid_t) {
        guard let index = workers.firstIndex(where: { $0.pid == pid }) else { return }
        switch message {
        case .ready:
            if workers[index].stopSentAt != nil {
                // Told to stop while it started, it may have ignored that (its traps were not yet
                // in place): again, now that they are.
                Glibc.kill(workers[index].pid, SIGTERM)
                return
            }
            guard workers[index].phase == .starting, workers[index].killedFor == nil else { return }
            workers[index].phase = .ready
            workers[index].loading = nil
            if stopping {
                sendStop(to: index)
                return
            }
            for other in workers.indices where other != index && workers[other].phase == .serving {
                logger.notice("worker draining: a newer one is ready", metadata: ["worker": "\(workers[other].generation)", "pid": "\(workers[other].pid)"])
                sendStop(to: other)
            }
            letReadyWorkerAccept()
        case .released:
            workers[index].released = true
            if workers[index].phase == .serving && workers[index].stopSentAt == nil {
                // It stopped accepting on its own (someone sent it SIGTERM): it drains; another serves.
                workers[index].phase = .draining
                workers[index].stopSentAt = monotonicNanoseconds()
                handover(reason: "handover", detail: "worker \(workers[index].generation) stopped accepting on its own (a signal sent to it)")
            }
            letReadyWorkerAccept()
        case .crash(let signal, let address, let tag):
            workers[index].crashReports.append((signal, address, tag))
        case .image(let start, let end, let tag):
            workers[index].images.removeAll { $0.start < end && start < $0.end }  // an unmapped one's place
            workers[index].images.append((start, end, tag))
        case .loading(let tag):
            if workers[index].phase == .starting { workers[index].loading = tag }
        case .loaded:
            workers[index].loading = nil
        case .alive:
            break
        case .stall(let tags):
            if workers[index].stall == nil { workers[index].stall = (monotonicNanoseconds(), []) }
            workers[index].stall?.heldBy.formUnion(tags)
        case .clear:
            workers[index].stall = nil
        case .handover(let reason):
            // Only the serving worker speaks for the service (a draining one may still answer a
            // request for a handover the new one has already done).
            if workers[index].phase == .serving && workers[index].stopSentAt == nil { handover(reason: "handover", detail: reason) }
        case .lifted(let sha256):
            _ = quarantine.lift(sha256)  // (the worker wrote the file; this clears what only memory held)
            supersedeComingWorkers(because: "a quarantine was lifted after it read the list")
        }
    }

    private func tick() {
        reap(waitUpTo: 0)
        letReadyWorkerAccept()
        let now = monotonicNanoseconds()
        for index in workers.indices where workers[index].killedFor == nil {
            let worker = workers[index]
            if let since = worker.servingSince, now - since >= 10_000_000_000, startupFailures > 0 { startupFailures = 0 }
            // Stalls count while it serves: a start has its own timeout, a stop its grace.
            if worker.phase == .serving, let stall = worker.stall, now - stall.since >= options.hangTimeout.nanoseconds {
                let held = stall.heldBy.map { "\($0.plugin) (\($0.sha256.prefix(16))…)" }.sorted().joined(separator: ", ")
                killWorker(worker, at: index, for: "hang", "worker hung: replacing it", [
                    "held_by": "\(held.isEmpty ? "host code" : held)", "stalled_ms": "\((now - stall.since) / 1_000_000)",
                ])
            } else if worker.phase == .serving, now - worker.heardAt >= (options.stallThreshold + options.hangTimeout).nanoseconds {
                killWorker(worker, at: index, for: "silent", "worker silent (no heartbeat from its watchdog): replacing it", [
                    "silent_ms": "\((now - worker.heardAt) / 1_000_000)",
                ])
            } else if worker.phase == .starting, now - worker.startedAt >= options.startTimeout.nanoseconds {
                killWorker(worker, at: index, for: "start-timeout", "worker not ready within worker.start_timeout_ms: replacing it", [
                    "loading": "\(worker.loading.map { "\($0.plugin) \($0.file) (\($0.sha256.prefix(16))…)" } ?? "host code")",
                ])
            } else if let sent = worker.stopSentAt, now - sent >= (options.shutdownGrace + .seconds(5)).nanoseconds {
                killWorker(worker, at: index, for: "stop", "worker did not stop within the shutdown grace: killing it", [:])
            }
        }
        if let limit = options.memoryLimitBytes, !stopping, now - lastMemoryCheck >= 250_000_000 {
            lastMemoryCheck = now
            // At most one memory handover every 10 s: a limit below a fresh worker's own size must
            // not start workers in a loop.
            let settled = lastMemoryHandover.map { now - $0 >= 10_000_000_000 } ?? true
            if settled, !workers.contains(where: \.isComing), let serving = workers.first(where: { $0.phase == .serving }),
                let resident = Self.residentBytes(serving.pid), resident > limit
            {
                lastMemoryHandover = now
                handover(reason: "memory", detail: "worker \(serving.generation) holds \(resident >> 20) MiB resident, over worker.memory_limit_mb (\(limit >> 20))")
            }
        }
        if let delayed = delayedStart, now >= delayed.at, !stopping {
            delayedStart = nil
            start(reason: delayed.reason, detail: delayed.detail, quarantined: delayed.quarantined)
        }
        guard !stopping, delayedStart == nil else { return }
        // Superseded workers are replaced once they are gone (a handover they were part of goes on).
        if let why = superseded, !workers.contains(where: { $0.isComing || $0.killedFor == "superseded" }) {
            superseded = nil
            start(reason: why.reason, detail: why.detail, quarantined: [])
        }
        // The invariant: something serves, or something is on its way.
        if superseded == nil, !workers.contains(where: \.holdsTheService) {
            logger.error("no worker serves or starts: starting one")
            start(reason: "restart", detail: "no worker was serving or starting", quarantined: [])
        }
    }

    /// Kills the workers that are starting or ready (they read the quarantine list before a
    /// change); their replacement starts when they have exited (see `tick`'s invariant).
    private func supersedeComingWorkers(because why: String) {
        for index in workers.indices where workers[index].isComing {
            logger.notice("restarting a starting worker: \(why)", metadata: ["worker": "\(workers[index].generation)"])
            workers[index].killedFor = "superseded"
            superseded = superseded ?? ("handover", "worker \(workers[index].generation) was restarted: \(why)")
            Glibc.kill(workers[index].pid, SIGKILL)
        }
    }

    private func killWorker(_ worker: Worker, at index: Int, for reason: String, _ message: Logger.Message, _ metadata: Logger.Metadata) {
        var metadata = metadata
        metadata["worker"] = "\(worker.generation)"
        metadata["pid"] = "\(worker.pid)"
        logger.error(message, metadata: metadata)
        workers[index].killedFor = reason
        Glibc.kill(worker.pid, SIGKILL)
    }

    // MARK: Transitions

    private func reap(waitUpTo milliseconds: Int) {
        var waited = 0
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                exited(pid, status: status)
                continue
            }
            // A worker whose pipe closed is about to exit: give it a moment.
            guard waited < milliseconds, workers.contains(where: { $0.reportFD < 0 }) else { return }
            usleep(2000)
            waited += 2
        }
    }

    private func exited(_ pid: pid_t, status: Int32) {
        guard let index = workers.firstIndex(where: { $0.pid == pid }) else { return }
        drainReports(at: index)  // crash lines written just before death are still in the pipe
        let worker = workers.remove(at: index)
        let signalled = Self.signalled(status)
        let code = Self.exitCode(status)
        let how = signalled.map { "signal \(Self.signalName($0))" } ?? "status \(code ?? -1)"
        let death = diagnose(worker, pid: pid, signalled: signalled, how: how)
        // The versions it died in are set aside whatever the worker was doing (a draining one too).
        quarantine(death.culprits)
        if death.reason != "exit" { counts.crashes += 1 }
        if worker.killedFor == "superseded" { return }  // (its replacement: tick's invariant)
        // A worker started before these were written would load them again: start afresh.
        if !death.culprits.isEmpty { supersedeComingWorkers(because: "it read the quarantine list before a new entry") }
        if stopping || worker.phase == .draining {
            if stopping && (death.reason != "exit" || worker.killedFor == "stop" || (code ?? 0) != 0) { exitStatus = 1 }
            let level: Logger.Level = death.reason == "exit" ? .notice : .error
            logger.log(level: level, "worker exited", metadata: ["worker": "\(worker.generation)", "pid": "\(pid)", "how": "\(how)", "quarantined": "\(death.culprits.count)"])
            return
        }
        // It should have been serving (or starting to). An error exit before the first worker
        // ever served is a configuration the next worker would fail on too.
        if death.reason == "exit", let code, code != 0, !announced, worker.phase != .serving,
            !workers.contains(where: { $0.phase == .serving })
        {
            logger.critical("worker could not start; stopping", metadata: ["worker": "\(worker.generation)", "how": "\(how)"])
            exitStatus = code
            stopping = true
            for other in workers.indices { sendStop(to: other) }
            return
        }
        let what = death.reason == "hang" ? "hung" : death.reason == "crash" ? "crashed" : "exited"
        var metadata: Logger.Metadata = ["worker": "\(worker.generation)", "pid": "\(pid)", "how": "\(how)", "quarantined": "\(death.culprits.count)"]
        if workers.contains(where: \.isComing) {
            logger.error("worker \(what); the one starting takes over", metadata: metadata)
            return
        }
        // A worker that died before serving 10 s, in no plugin's code, is retried with a backoff.
        let servedLong = worker.servingSince.map { monotonicNanoseconds() - $0 >= 10_000_000_000 } ?? false
        if !servedLong && death.culprits.isEmpty {
            startupFailures += 1
            let delay = min(UInt64(100_000_000) << UInt64(min(startupFailures - 1, 6)), 5_000_000_000)
            metadata["retry_in_ms"] = "\(delay / 1_000_000)"
            logger.error("worker \(what) soon after it started, in no plugin's code; starting another after a pause", metadata: metadata)
            delayedStart = (monotonicNanoseconds() + delay, death.reason, death.detail, death.culprits)
            return
        }
        logger.error("worker \(what); starting another", metadata: metadata)
        start(reason: death.reason, detail: death.detail, quarantined: death.culprits)
    }

    /// Why a worker died: `hang` (killed for a stall, silence or a start that never finished),
    /// `crash` (a fatal signal) or `exit` (it exited by itself, or was stopped), for people, and
    /// the plugin versions to quarantine.
    private func diagnose(_ worker: Worker, pid: pid_t, signalled: Int32?, how: String) -> (reason: String, detail: String, culprits: [QuarantineEntry]) {
        switch worker.killedFor {
        case "hang":
            let stalledFor = worker.stall.map { (monotonicNanoseconds() - $0.since) / 1_000_000 } ?? 0
            let culprits = (worker.stall?.heldBy ?? []).sorted { $0.sha256 < $1.sha256 }.map { tag in
                QuarantineEntry(
                    sha256: tag.sha256, plugin: tag.plugin, file: tag.file, reason: "hang",
                    detail: "a stall of \(stalledFor) ms; worker \(worker.generation) was replaced")
            }
            return ("hang", "worker \(worker.generation) was replaced after its watchdog reported a stall for \(stalledFor) ms", culprits)
        case "start-timeout":
            let culprits = worker.loading.map { tag in
                [QuarantineEntry(
                    sha256: tag.sha256, plugin: tag.plugin, file: tag.file, reason: "hang",
                    detail: "loading it did not finish within worker.start_timeout_ms; worker \(worker.generation) was replaced")]
            } ?? []
            return ("hang", "worker \(worker.generation) was not ready within worker.start_timeout_ms", culprits)
        case "silent":
            return ("hang", "worker \(worker.generation) stopped answering its supervisor", [])
        case "stop", "superseded":
            return ("exit", "worker \(worker.generation) was killed (\(worker.killedFor ?? ""))", [])
        default:
            break
        }
        // SIGTERM after it was told to stop is a stop that came before its traps.
        let stopped = signalled == SIGTERM && worker.stopSentAt != nil
        // Dying while a version's constructors or on_init ran (exit() among them) is that version's doing.
        if let tag = worker.loading, !stopped, worker.crashReports.allSatisfy({ $0.tag == nil }) {
            let culprit = QuarantineEntry(
                sha256: tag.sha256, plugin: tag.plugin, file: tag.file, reason: "crash",
                detail: "the worker \(signalled == nil ? "exited" : "died") (\(how)) while loading it; worker \(worker.generation)")
            return ("crash", "worker \(worker.generation) (pid \(pid)) \(signalled == nil ? "exited" : "died") with \(how) while loading a plugin", [culprit])
        }
        if signalled == nil || stopped, worker.crashReports.isEmpty {
            return ("exit", "worker \(worker.generation) (pid \(pid)) exited with \(how)", [])
        }
        let signalText = worker.crashReports.first.map { Self.signalName($0.signal) } ?? how
        var culprits: [QuarantineEntry] = []
        for report in worker.crashReports {
            // The marked plugin call, else the image the faulting instruction lies in (a thread
            // the plugin started).
            let tag = report.tag ?? worker.images.first { $0.start <= report.address && report.address < $0.end }?.tag
            guard let tag, !culprits.contains(where: { $0.sha256 == tag.sha256 }) else { continue }
            let where_ = report.tag == nil ? " on a thread it started" : ""
            culprits.append(QuarantineEntry(
                sha256: tag.sha256, plugin: tag.plugin, file: tag.file, reason: "crash",
                detail: "\(Self.signalName(report.signal))\(where_); worker \(worker.generation) died"))
        }
        return ("crash", "worker \(worker.generation) (pid \(pid)) died of \(signalText)", culprits)
    }

    private func quarantine(_ entries: [QuarantineEntry]) {
        for entry in entries {
            if let error = quarantine.add(entry) {
                logger.error("cannot write the quarantine list; the entry holds until the supervisor stops", metadata: ["error": "\(error)"])
            }
            counts.quarantines += 1
            logger.error(
                "quarantined a plugin version",
                metadata: ["plugin": "\(entry.plugin)", "file": "\(entry.file)", "sha256": "\(entry.sha256.prefix(16))", "reason": "\(entry.reason)"])
        }
    }

    /// A ready worker starts accepting (SIGUSR1) once no other worker accepts: each older one said
    /// it stopped, exited, or was told to stop at least a second ago (it may be stuck; the accept
    /// race it could then lose is harmless in release builds).
    private func letReadyWorkerAccept() {
        guard let index = workers.firstIndex(where: { $0.phase == .ready && $0.killedFor == nil }) else { return }
        let now = monotonicNanoseconds()
        let blocked = workers.contains { other in
            other.pid != workers[index].pid && !other.released
                && (other.phase == .serving || (other.phase == .draining && now - (other.stopSentAt ?? now) < 1_000_000_000))
        }
        guard !blocked else { return }
        workers[index].phase = .serving
        workers[index].heardAt = now
        workers[index].servingSince = now
        Glibc.kill(workers[index].pid, SIGUSR1)
        if !announced {
            announced = true
            logger.notice("serving", metadata: ["address": "\(Self.localAddress(listenFD))", "mode": "supervised", "worker": "\(workers[index].pid)"])
        } else {
            logger.notice("worker serving", metadata: ["worker": "\(workers[index].generation)", "pid": "\(workers[index].pid)"])
        }
    }

    private func handover(reason: String, detail: String) {
        guard !stopping else { return }
        guard !workers.contains(where: \.isComing), delayedStart == nil else {
            logger.info("handover already under way", metadata: ["asked": "\(detail)"])
            return
        }
        counts.handovers += 1
        logger.notice("handover: starting a new worker", metadata: ["reason": "\(reason)", "detail": "\(detail)"])
        start(reason: reason, detail: detail, quarantined: [])
    }

    private func stop(_ why: String) {
        guard !stopping else {
            // A second signal: stop now.
            for index in workers.indices {
                workers[index].killedFor = workers[index].killedFor ?? "stop"
                Glibc.kill(workers[index].pid, SIGKILL)
            }
            return
        }
        stopping = true
        delayedStart = nil
        logger.notice("stopping: every worker finishes its requests and exits", metadata: ["signal": "\(why)"])
        for index in workers.indices { sendStop(to: index) }
    }

    private func sendStop(to index: Int) {
        guard workers[index].stopSentAt == nil else { return }
        if workers[index].phase != .serving { workers[index].released = true }  // it never accepted
        workers[index].phase = .draining
        workers[index].stopSentAt = monotonicNanoseconds()
        Glibc.kill(workers[index].pid, SIGTERM)
    }

    // MARK: Spawning

    private func start(reason: String, detail: String, quarantined: [QuarantineEntry]) {
        delayedStart = nil
        generation += 1
        if generation > 1 { counts.restarts += 1 }
        // What another process wrote (a worker's lift) and what only this one holds.
        if let problem = quarantine.reload() { logger.error("the quarantine list is damaged: \(problem)") }
        let info = WorkerInfo(
            generation: generation, supervisor: getpid(), reason: reason, detail: detail, crashes: counts.crashes,
            restarts: counts.restarts, quarantines: counts.quarantines, handovers: counts.handovers, newlyQuarantined: quarantined,
            quarantined: quarantine.all, lifted: quarantine.unsavedLifts)
        do {
            let (pid, reportFD) = try spawn(info)
            let now = monotonicNanoseconds()
            workers.append(Worker(pid: pid, generation: generation, startedAt: now, reportFD: reportFD, heardAt: now))
            logger.info("worker started", metadata: ["worker": "\(generation)", "pid": "\(pid)", "reason": "\(reason)"])
        } catch {
            // Serving goes on if a worker serves; otherwise try again, with the backoff.
            startupFailures += 1
            let delay = min(UInt64(100_000_000) << UInt64(min(startupFailures - 1, 6)), 5_000_000_000)
            if workers.contains(where: { $0.phase == .serving }) {
                logger.error("cannot start a worker; the serving one goes on", metadata: ["error": "\(error)"])
            } else {
                logger.critical("cannot start a worker; trying again", metadata: ["error": "\(error)", "retry_in_ms": "\(delay / 1_000_000)"])
                delayedStart = (monotonicNanoseconds() + delay, reason, detail, quarantined)
            }
        }
    }

    /// Starts this executable again as a worker: the socket as descriptor 3, the report pipe's write
    /// end as 4, every signal at its default and none blocked. The worker ignores the ones it traps
    /// from before main until it traps them (a constructor in crash_report.c), so
    /// one that arrives earlier cannot kill it (a stop is sent again once it is ready). Blocking
    /// them instead would leave them blocked in every thread the runtime starts early, and in the
    /// processes plugins start from those threads. The worker gets this supervisor's state directory and stall
    /// threshold, so both use the same quarantine list and heartbeat whatever the configuration
    /// file says by then.
    private func spawn(_ info: WorkerInfo) throws -> (pid_t, Int32) {
        let (readEnd, pipeWriteEnd) = try Self.makePipe()
        let writeEnd: Int32
        do {
            writeEnd = try Self.moveUp(pipeWriteEnd)
        } catch {
            close(readEnd)
            close(pipeWriteEnd)
            throw error
        }
        defer { close(writeEnd) }
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, listenFD, 3)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 4)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var toDefault = sigset_t()
        sigfillset(&toDefault)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &toDefault)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var environment = ProcessInfo.processInfo.environment
        environment[WorkerLink.listenVariable] = "3"
        environment[WorkerLink.reportVariable] = "4"
        environment["SWITCHBOARD_STATE_DIRECTORY"] = settings.stateDirectory
        // Its heartbeat is what this supervisor expects (the file may have changed since).
        environment["SWITCHBOARD_WATCHDOG_STALL_MS"] = "\(options.stallThreshold.nanoseconds / 1_000_000)"
        do {
            environment[WorkerLink.infoVariable] = String(decoding: try JSONEncoder().encode(info), as: UTF8.self)
        } catch {
            close(readEnd)
            throw error
        }
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, arguments, variables)
        guard status == 0 else {
            close(readEnd)
            throw SystemError(errno: status)
        }
        return (pid, readEnd)
    }

    // MARK: Helpers

    /// A pipe, both ends close-on-exec.
    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SystemError(errno: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Moves a descriptor to 10 or above (close-on-exec), so the spawn's dup2 onto 3 and 4 never
    /// overwrites a source.
    private static func moveUp(_ fd: Int32) throws -> Int32 {
        guard fd < 10 else { return fd }
        let moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)
        guard moved >= 0 else { throw SystemError(errno: errno) }
        close(fd)
        return moved
    }

    /// Resident set size from `/proc/<pid>/statm` (pages), in bytes.
    static func residentBytes(_ pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func localAddress(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { return "?" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let status = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard status == 0 else { return "?" }
        // getnameinfo NUL-terminates both (numeric forms, ASCII).
        func text(_ field: [CChar]) -> String { String(decoding: field.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        let hostText = text(host)
        return storage.ss_family == sa_family_t(AF_INET6) ? "[\(hostText)]:\(text(service))" : "\(hostText):\(text(service))"
    }

    private static func signalled(_ status: Int32) -> Int32? {
        let signal = status & 0x7F
        return signal != 0 && signal != 0x7F ? signal : nil
    }

    private static func exitCode(_ status: Int32) -> Int32? {
        status & 0x7F == 0 ? (status >> 8) & 0xFF : nil
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: return "SIGSEGV"
        case SIGBUS: return "SIGBUS"
        case SIGILL: return "SIGILL"
        case SIGFPE: return "SIGFPE"
        case SIGABRT: return "SIGABRT"
        case SIGTRAP: return "SIGTRAP"
        case SIGSYS: return "SIGSYS"
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGHUP: return "SIGHUP"
        case SIGUSR1: return "SIGUSR1"
        case SIGUSR2: return "SIGUSR2"
        case SIGPIPE: return "SIGPIPE"
        default: return "signal \(signal)"
        }
    }
}
