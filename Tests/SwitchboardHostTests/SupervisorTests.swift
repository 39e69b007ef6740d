import Crypto
import Foundation
@testable import SwitchboardHost
import Synchronization
import Testing

/// The supervisor and its workers, on the real binary, with fault plugins (Tests/Fixtures/faults,
/// one fault each): a plugin that crashes or hangs costs a worker, never the service; its version
/// is quarantined and the plugin's last good version serves; handovers drop no request.
@Suite(.serialized) struct SupervisorTests {
    /// A NULL dereference in a handler: other routes answer again within 1 s, a client that
    /// retries is served, the version is quarantined (log, admin API, event stream, metrics) and
    /// the previous version serves; lifting the quarantine loads it again.
    @Test func aNullDereferenceCostsOneWorkerAndTheLastGoodVersionServes() async throws {
        let dir = Fixtures.pluginDirectory("sv-null", files: [TestPaths.plugin("HelloC")])
        let target = dir + "/crashy.so"
        try Drop.rename(Fixtures.built["crashy_v1"]!, to: target)
        let server = try ServerProcess(pluginDirectories: [dir])
        defer { server.stop() }
        #expect(try server.get("/crashy/version").text == "v1")
        try Drop.rename(Fixtures.built["crashy_v2"]!, to: target)
        #expect(await eventually { (try? server.get("/crashy/version").text) == "v2" })
        let first = try server.workerPID()
        let events = try EventStreamClient(port: server.port)
        defer { events.close() }

        let crashed = Date()
        #expect(throws: (any Error).self, "the crashing request's connection closes without a response") {
            try server.get("/crashy/boom")
        }
        #expect(await eventually(timeout: 1) { (try? server.get("/hello-c").status) == 200 }, "other routes answer again within 1 s")
        let back = Date().timeIntervalSince(crashed)
        // A client that retries its request is served, by the previous version.
        var retried: RawResponse? = nil
        #expect(await eventually(timeout: 2) {
            retried = try? server.get("/crashy/boom")
            return retried?.status == 200
        })
        #expect(retried?.text == "fine")
        #expect(try server.get("/crashy/version").text == "v1")
        #expect(try server.workerPID() != first)

        let v2 = sha256(of: Fixtures.built["crashy_v2"]!)
        let quarantined = try server.adminJSON("/_switchboard/quarantine")["quarantined"] as? [[String: Any]] ?? []
        #expect(quarantined.count == 1)
        #expect(quarantined.first?["sha256"] as? String == v2)
        #expect(quarantined.first?["reason"] as? String == "crash")
        #expect(quarantined.first?["plugin"] as? String == "crashy")
        #expect((quarantined.first?["detail"] as? String)?.contains("SIGSEGV") == true)
        let workers = try server.adminJSON("/_switchboard/workers")
        let worker = workers["worker"] as? [String: Any] ?? [:]
        #expect(workers["mode"] as? String == "supervised")
        #expect(worker["generation"] as? Int == 2)
        #expect(worker["crashes"] as? Int == 1)
        #expect(worker["reason"] as? String == "crash")
        let crashy = try server.plugin("crashy")
        #expect((crashy?["last_load_error"] as? [String: Any])?["reason"] as? String == "quarantined")
        let metrics = try server.get("/metrics").text
        #expect(metrics.contains("switchboard_worker_crashes_total 1"))
        #expect(metrics.contains("switchboard_quarantines_total 1"))
        #expect(server.log.contains("quarantined a plugin version"))
        // The event stream ended with the worker; the new worker's history says why it started.
        let after = try EventStreamClient(port: server.port)
        defer { after.close() }
        #expect(after.waitFor { $0.type == "quarantined" && $0.data["plugin"] as? String == "crashy" } != nil)
        #expect(after.waitFor { $0.type == "last-good" } != nil)
        #expect(after.waitFor { $0.type == "worker-started" && $0.reason == "crash" } != nil)

        // An operator lifts the quarantine: the file's version loads again.
        let lifted = try server.adminJSON("/_switchboard/quarantine/\(v2)", method: "DELETE")
        #expect((lifted["reloaded"] as? [String: Any])?["version"] as? String == "1.0.2")
        #expect(try server.get("/crashy/version").text == "v2")
        #expect(try server.get("/_switchboard/quarantine/\(v2)", method: "DELETE").status == 404)
        #expect(back < 1 * testTimeScale)
    }

    /// `abort()` in on_init, dropped into a running server: it keeps serving, then refuses the
    /// file as quarantined; a restart of the whole server does not crash.
    @Test func abortInOnInitNeverCrashLoops() async throws {
        let state = TestPaths.temporaryDirectory("state-sv-abort")
        let dir = Fixtures.pluginDirectory("sv-abort", files: [TestPaths.plugin("HelloC")])
        let server = try ServerProcess(pluginDirectories: [dir], environment: ["SWITCHBOARD_STATE_DIRECTORY": state])
        try Drop.rename(Fixtures.built["abort_init"]!, to: dir + "/abort_init.so")
        var refused: [[String: Any]] = []
        #expect(await eventually {
            refused = (try? server.adminJSON("/_switchboard/plugins"))?["refused_files"] as? [[String: Any]] ?? []
            return refused.contains { $0["reason"] as? String == "quarantined" }
        })
        #expect((refused.first?["message"] as? String)?.contains("SIGABRT") == true)
        #expect(try server.get("/hello-c").status == 200)
        #expect((try server.adminJSON("/_switchboard/workers")["worker"] as? [String: Any])?["crashes"] as? Int == 1)
        #expect(server.stop() == 0)

        let restarted = try ServerProcess(pluginDirectories: [dir], environment: ["SWITCHBOARD_STATE_DIRECTORY": state])
        defer { restarted.stop() }
        #expect(try restarted.get("/hello-c").status == 200)
        let worker = try restarted.adminJSON("/_switchboard/workers")["worker"] as? [String: Any] ?? [:]
        #expect(worker["crashes"] as? Int == 0, "the quarantine outlives the server: the new one never runs the plugin")
        #expect(worker["generation"] as? Int == 1)
        let again = try restarted.adminJSON("/_switchboard/plugins")["refused_files"] as? [[String: Any]] ?? []
        #expect(again.contains { $0["reason"] as? String == "quarantined" && $0["plugin"] as? String == "abort-init" })
    }

    /// Two requests spinning forever in a non-blocking handler hold both threads of the request
    /// pool: the service is back within the watchdog's time (stall plus hang) plus 1 s.
    @Test func twoSpinningHandlersCostOneWorker() async throws {
        let dir = Fixtures.pluginDirectory("sv-spin", files: [Fixtures.built["spin"]!, TestPaths.plugin("HelloC")])
        let server = try ServerProcess(
            pluginDirectories: [dir], environment: ["SWITCHBOARD_WATCHDOG_STALL_MS": "300", "SWITCHBOARD_WORKER_HANG_MS": "700"])
        defer { server.stop() }
        let first = try server.workerPID()
        let spinning = (0..<2).map { _ in BackgroundRequest(port: server.port, path: "/spin/forever", timeout: 10) }
        try await Task.sleep(for: .microseconds(100_000))
        let stuck = Date()
        #expect(await eventually(timeout: 0.3 + 0.7 + 1) { (try? RawHTTP.request(port: server.port, path: "/hello-c", timeout: 0.25))?.status == 200 })
        #expect(Date().timeIntervalSince(stuck) < (0.3 + 0.7 + 1) * testTimeScale)
        for request in spinning { _ = try? request.wait(timeout: 10) }
        #expect(try server.workerPID() != first)
        let quarantined = try server.adminJSON("/_switchboard/quarantine")["quarantined"] as? [[String: Any]] ?? []
        #expect(quarantined.map { $0["plugin"] as? String } == ["spin"])
        #expect(quarantined.first?["reason"] as? String == "hang")
        #expect(try server.get("/spin/ok").status == 404, "the hanging version is refused, and spin had no earlier version")
        #expect(server.log.contains("worker hung: replacing it"))
    }

    /// 200 concurrent durable creations with the worker killed by SIGKILL among them: every one
    /// answered 2xx is there afterwards, served by the next worker of the same server.
    @Test func noAnsweredCreationIsLostWhenTheWorkerIsKilled() async throws {
        let plugins = Fixtures.pluginDirectory("sv-kill", files: [TestPaths.plugin("Status")])
        let server = try ServerProcess(pluginDirectories: [plugins])
        defer { server.stop() }
        let port = server.port
        let worker = try server.workerPID()
        let created = AnsweredCount()
        let outcomes = await Blocking.concurrently(201) { i -> Int? in
            if i == 0 {
                let deadline = Date().addingTimeInterval(30)
                while created.value.load(ordering: .relaxed) < 40 && Date() < deadline { usleep(1000) }
                kill(worker, SIGKILL)
                return nil
            }
            guard let response = try? RawHTTP.request(
                port: port, method: "POST", path: "/items", headers: [("Content-Type", "application/json")],
                body: Array(#"{"name":"Pen \#(i)","price":1}"#.utf8), timeout: 10),
                response.status == 201
            else { return nil }
            created.value.add(1, ordering: .relaxed)
            return (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["id"] as? Int
        }
        let answered = outcomes.compactMap { $0 }
        #expect(!answered.isEmpty)
        #expect(await eventually { (try? server.workerPID()).map { $0 != worker } ?? false })
        for id in answered {
            #expect(try server.get("/items/\(id)").status == 200, "item \(id) was answered 201 before the kill")
        }
        #expect(server.isRunning)
    }

    /// 10 handovers (admin API and SIGUSR2, alternately) under continuous load from several
    /// clients: no request fails; an open event stream ends cleanly at each and resumes with
    /// `Last-Event-ID` on the new worker.
    @Test func tenHandoversUnderLoadFailNoRequest() async throws {
        let dir = Fixtures.pluginDirectory("sv-handover", files: [TestPaths.plugin("HelloC"), TestPaths.plugin("Streaming")])
        let server = try ServerProcess(
            pluginDirectories: [dir], environment: ["SWITCHBOARD_PLUGINS_CONFIG_STREAMING_INTERVAL_SCALE": "0.05"])
        defer { server.stop() }
        let port = server.port
        let stop = Atomic<Bool>(false)
        let served = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let clients = (0..<4).map { _ in
            Thread {
                while !stop.load(ordering: .relaxed) {
                    do {
                        let response = try RawHTTP.request(port: port, path: "/hello-c", timeout: 10)
                        if response.status == 200 { served.add(1, ordering: .relaxed) } else { failures.withLock { $0.append("status \(response.status)") } }
                        usleep(1000)  // continuous, but leaving the machine to the other suites running now
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        clients.forEach { $0.start() }
        defer { stop.store(true, ordering: .relaxed) }

        var lastEventID = 0
        var resumed = 0
        for handover in 1...10 {
            // An event stream open across the handover.
            let stream = try EventStreamClient(port: port, path: "/sse", headers: [("Last-Event-ID", "\(lastEventID)")])
            defer { stream.close() }
            #expect(await eventually { (stream.ids.last ?? 0) > lastEventID }, "handover \(handover): the stream serves")
            let before = try server.workerPID()
            if handover % 2 == 0 {
                kill(server.process.processIdentifier, SIGUSR2)
            } else {
                #expect(try server.get("/_switchboard/workers/restart", method: "POST").status == 202)
            }
            #expect(await eventually { (try? server.workerPID()).map { $0 != before } ?? false }, "handover \(handover): a new worker serves")
            #expect(stream.waitForEnd(), "handover \(handover): the event stream ends")
            #expect(stream.endedCleanly, "handover \(handover): with its last chunk, so EventSource reconnects")
            let seen = stream.ids.last ?? 0
            #expect(seen > lastEventID)
            if seen > lastEventID { resumed += 1 }
            lastEventID = seen
        }
        // Resumes after the last event it saw, on the new worker.
        let resumedStream = try EventStreamClient(port: port, path: "/sse", headers: [("Last-Event-ID", "\(lastEventID)")])
        #expect(await eventually { !resumedStream.ids.isEmpty })
        #expect(resumedStream.ids.first == lastEventID + 1)
        resumedStream.close()
        stop.store(true, ordering: .relaxed)
        while clients.contains(where: { !$0.isFinished }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(failures.withLock { $0 } == [])
        #expect(served.load(ordering: .relaxed) > 40)
        #expect(resumed == 10)
        let worker = try server.adminJSON("/_switchboard/workers")["worker"] as? [String: Any] ?? [:]
        #expect(worker["handovers"] as? Int == 10)
        #expect(worker["crashes"] as? Int == 0)
    }

    /// Past `worker.memory_limit_mb` of resident memory, the worker is handed over.
    @Test func aWorkerOverItsMemoryLimitIsHandedOver() async throws {
        let dir = Fixtures.pluginDirectory("sv-memory", files: [Fixtures.built["leak"]!])
        let server = try ServerProcess(pluginDirectories: [dir], environment: ["SWITCHBOARD_WORKER_MEMORY_LIMIT_MB": "400"])
        defer { server.stop() }
        let first = try server.workerPID()
        #expect(try server.get("/leak/grow?mb=512").text == "leaked 512 MiB")
        var worker: [String: Any] = [:]
        #expect(await eventually {
            worker = (try? server.adminJSON("/_switchboard/workers"))?["worker"] as? [String: Any] ?? [:]
            return worker["pid"] as? Int32 != first && worker["reason"] as? String == "memory"
        })
        #expect((worker["detail"] as? String)?.contains("worker.memory_limit_mb") == true)
        #expect(await eventually { kill(first, 0) != 0 }, "the old worker drains and exits")
        #expect(try server.get("/leak/grow?mb=1").status == 200)
    }

    /// `--single-process` keeps everything in one process: no supervisor, no handover.
    @Test func singleProcessKeepsOneProcess() async throws {
        let dir = Fixtures.pluginDirectory("sv-single", files: [TestPaths.plugin("HelloC")])
        let server = try ServerProcess(pluginDirectories: [dir], extraArguments: ["--single-process"])
        defer { server.stop() }
        let workers = try server.adminJSON("/_switchboard/workers")
        #expect(workers["mode"] as? String == "single-process")
        #expect(try server.workerPID() == server.process.processIdentifier)
        let refused = try server.get("/_switchboard/workers/restart", method: "POST")
        #expect(refused.status == 409)
        #expect(refused.text.contains("--single-process"))
        #expect(server.stop() == 0)
    }

    /// Signals keep their meaning: SIGHUP rescans through the supervisor, SIGTERM stops every
    /// process and exits 0.
    @Test func signalsReachTheWorker() async throws {
        let dir = Fixtures.pluginDirectory("sv-signals", files: [])
        let server = try ServerProcess(pluginDirectories: [dir], extraArguments: ["--watch", "off"])
        let worker = try server.workerPID()
        try Drop.rename(TestPaths.plugin("HelloC"), to: dir + "/hello_c.so")
        #expect(try server.get("/hello-c").status == 404)
        kill(server.process.processIdentifier, SIGHUP)
        #expect(await eventually { (try? server.get("/hello-c").status) == 200 })
        #expect(server.stop() == 0)
        #expect(await eventually { kill(worker, 0) != 0 }, "the worker stopped with its supervisor")
    }

    /// Three crashing versions in a row never push the good one out of the last good versions.
    @Test func crashingVersionsNeverEvictTheGoodOne() async throws {
        let dir = Fixtures.pluginDirectory("sv-evict", files: [TestPaths.plugin("HelloC")])
        let target = dir + "/crashy.so"
        try Drop.rename(Fixtures.built["crashy_v1"]!, to: target)
        let server = try ServerProcess(pluginDirectories: [dir])
        defer { server.stop() }
        #expect(try server.get("/crashy/version").text == "v1")
        for version in 2...4 {
            try Drop.rename(Fixtures.built["crashy_v\(version)"]!, to: target)
            #expect(await eventually { (try? server.get("/crashy/version").text) == "v\(version)" }, "v\(version) goes live")
            _ = try? server.get("/crashy/boom")
            #expect(await eventually { (try? server.get("/crashy/version").text) == "v1" }, "after v\(version) crashed, v1 serves")
        }
        let quarantined = try server.adminJSON("/_switchboard/quarantine")["quarantined"] as? [[String: Any]] ?? []
        #expect(quarantined.count == 3)
    }

    /// A crash on a thread the plugin started (no plugin call is marked there) is attributed by
    /// the faulting instruction's address.
    @Test func aCrashOnAPluginsOwnThreadIsAttributed() async throws {
        let dir = Fixtures.pluginDirectory("sv-thread", files: [Fixtures.built["thread_crash"]!, TestPaths.plugin("HelloC")])
        let server = try ServerProcess(pluginDirectories: [dir])
        defer { server.stop() }
        let first = try server.workerPID()
        #expect(try server.get("/thread-crash/go").text == "started")
        #expect(await eventually { (try? server.workerPID()).map { $0 != first } ?? false })
        let quarantined = try server.adminJSON("/_switchboard/quarantine")["quarantined"] as? [[String: Any]] ?? []
        #expect(quarantined.map { $0["plugin"] as? String } == ["thread-crash"])
        #expect((quarantined.first?["detail"] as? String)?.contains("on a thread it started") == true)
        #expect(try server.get("/hello-c").status == 200)
    }

    /// An on_init that never returns, present at start: the worker is replaced after
    /// worker.start_timeout_ms and the version quarantined; the server then serves.
    @Test func anOnInitThatNeverReturnsIsQuarantined() async throws {
        let dir = Fixtures.pluginDirectory("sv-hang-init", files: [Fixtures.built["hang_init"]!, TestPaths.plugin("HelloC")])
        let server = try ServerProcess(pluginDirectories: [dir], environment: ["SWITCHBOARD_WORKER_START_TIMEOUT_MS": "1000"])
        defer { server.stop() }
        #expect(try server.get("/hello-c").status == 200)
        let quarantined = try server.adminJSON("/_switchboard/quarantine")["quarantined"] as? [[String: Any]] ?? []
        #expect(quarantined.map { $0["reason"] as? String } == ["hang"])
        #expect(quarantined.first?["file"] as? String == dir + "/hang_init.so")
    }

    /// A quarantine list that cannot be written still holds: the supervisor hands it to each
    /// worker, so a plugin that aborts in on_init costs one worker, not a loop of them.
    @Test func anUnwritableQuarantineListStillHolds() async throws {
        let state = TestPaths.temporaryDirectory("state-sv-unwritable")
        try FileManager.default.createDirectory(atPath: state + "/quarantine.json.lock", withIntermediateDirectories: true)
        let dir = Fixtures.pluginDirectory("sv-unwritable", files: [TestPaths.plugin("HelloC")])
        let server = try ServerProcess(pluginDirectories: [dir], environment: ["SWITCHBOARD_STATE_DIRECTORY": state])
        defer { server.stop() }
        try Drop.rename(Fixtures.built["abort_init"]!, to: dir + "/abort_init.so")
        #expect(await eventually {
            let refused = (try? server.adminJSON("/_switchboard/plugins"))?["refused_files"] as? [[String: Any]] ?? []
            return refused.contains { $0["reason"] as? String == "quarantined" }
        })
        try await Task.sleep(for: .microseconds(500_000))
        let worker = try server.adminJSON("/_switchboard/workers")["worker"] as? [String: Any] ?? [:]
        #expect(worker["crashes"] as? Int == 1)
        #expect(worker["generation"] as? Int == 2)
        #expect(server.log.contains("cannot write the quarantine list"))
    }

    /// Clients that keep their connections alive across handovers lose no request either: an
    /// idle kept-alive connection is answered once more, with Connection: close.
    @Test func keptAliveConnectionsSurviveHandovers() async throws {
        let dir = Fixtures.pluginDirectory("sv-keepalive", files: [TestPaths.plugin("HelloC")])
        let server = try ServerProcess(pluginDirectories: [dir])
        defer { server.stop() }
        let port = server.port
        let stop = Atomic<Bool>(false)
        let served = Atomic<Int>(0)
        let reconnects = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let clients = (0..<4).map { _ in
            Thread {
                var client: KeepAliveClient? = nil
                while !stop.load(ordering: .relaxed) {
                    do {
                        if client == nil { client = try KeepAliveClient(port: port) }
                        let (status, close) = try client!.get("/hello-c")
                        usleep(1000)
                        if status == 200 { served.add(1, ordering: .relaxed) } else { failures.withLock { $0.append("status \(status)") } }
                        if close {
                            client = nil
                            reconnects.add(1, ordering: .relaxed)
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                        client = nil
                    }
                }
            }
        }
        clients.forEach { $0.start() }
        defer { stop.store(true, ordering: .relaxed) }
        for _ in 1...5 {
            let before = try server.workerPID()
            kill(server.process.processIdentifier, SIGUSR2)
            #expect(await eventually { (try? server.workerPID()).map { $0 != before } ?? false })
            try await Task.sleep(for: .microseconds(200_000))
        }
        stop.store(true, ordering: .relaxed)
        while clients.contains(where: { !$0.isFinished }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(failures.withLock { $0 } == [])
        #expect(reconnects.load(ordering: .relaxed) >= 5, "each handover closed the kept-alive connections after a response")
        #expect(served.load(ordering: .relaxed) > 40)
    }

    /// exit() in on_init, at start and dropped in later: the version being loaded is quarantined,
    /// and the server serves (no signal, no crash line: the worker just exits while loading it).
    @Test func exitInOnInitIsQuarantined() async throws {
        let dir = Fixtures.pluginDirectory("sv-exit-init", files: [Fixtures.built["exit_init"]!, TestPaths.plugin("HelloC")])
        let server = try ServerProcess(pluginDirectories: [dir])
        defer { server.stop() }
        #expect(try server.get("/hello-c").status == 200)
        let quarantined = try server.adminJSON("/_switchboard/quarantine")["quarantined"] as? [[String: Any]] ?? []
        #expect(quarantined.map { $0["plugin"] as? String } == ["exit-init"])
        #expect(quarantined.first?["file"] as? String == dir + "/exit_init.so")
        #expect((quarantined.first?["detail"] as? String)?.contains("while loading it") == true)
    }

    /// A stop that arrives while a worker starts is a stop, not a crash: exit 0.
    @Test func aStopDuringAHandoverIsClean() async throws {
        let dir = Fixtures.pluginDirectory("sv-stop-early", files: [TestPaths.plugin("HelloC")])
        let server = try ServerProcess(pluginDirectories: [dir])
        kill(server.process.processIdentifier, SIGUSR2)
        try await Task.sleep(for: .microseconds(20_000))
        let status = server.stop()
        #expect(status == 0, "\(server.log.suffix(3000))")
        #expect(!server.log.contains("crashed"))
    }

    private func sha256(of path: String) -> String {
        SHA256.hex([UInt8](FileManager.default.contents(atPath: path) ?? Data()))
    }
}

extension ServerProcess {
    /// The pid of the process serving requests now (the worker, or the server itself with
    /// `--single-process`).
    func workerPID() throws -> Int32 {
        let worker = try adminJSON("/_switchboard/workers")["worker"] as? [String: Any]
        guard let pid = worker?["pid"] as? Int else { throw RawHTTP.Failure(description: "no worker pid") }
        return Int32(pid)
    }
}

/// An HTTP/1.1 client on one kept-alive connection, as a browser or a pooled client keeps it.
final class KeepAliveClient {
    private let fd: Int32
    private var buffered: [UInt8] = []

    init(port: Int) throws { fd = try RawHTTP.connect(port: port, timeout: 10) }
    deinit { close(fd) }

    /// One GET: its status, and whether the server said it closes the connection after it.
    func get(_ path: String) throws -> (status: Int, close: Bool) {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw RawHTTP.Failure(description: "send failed: errno \(errno)")
        }
        func fill() throws {
            var chunk = [UInt8](repeating: 0, count: 16384)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw RawHTTP.Failure(description: n == 0 ? "closed before the response ended" : "recv failed: errno \(errno)") }
            buffered += chunk[..<n]
        }
        let end = Array("\r\n\r\n".utf8)
        var headEnd: Int? = nil
        while headEnd == nil {
            try fill()
            headEnd = buffered.indices.dropLast(3).first { Array(buffered[$0..<$0 + 4]) == end }
        }
        let head = String(decoding: buffered[..<headEnd!], as: UTF8.self).lowercased()
        let lines = head.split(separator: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        let length = lines.compactMap { line -> Int? in line.hasPrefix("content-length:") ? Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) : nil }.first ?? 0
        let close = lines.contains { $0.hasPrefix("connection:") && $0.contains("close") }
        while buffered.count < headEnd! + 4 + length { try fill() }
        buffered.removeFirst(headEnd! + 4 + length)
        return (status, close)
    }
}
