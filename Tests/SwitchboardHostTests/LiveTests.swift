import Foundation
import Testing
@testable import SwitchboardHost

/// The real binary over real sockets on 127.0.0.1, stopped by PID.
@Suite struct LiveTests {
    static func pluginDirectory(_ label: String, broken: Bool) -> String {
        var files = [TestPaths.plugin("HelloC"), TestPaths.plugin("HelloSwift")]
        if broken {
            files += Fixtures.broken.map { Fixtures.built[$0.name]! } + [Fixtures.built["not_elf"]!, Fixtures.built["truncated"]!]
        }
        return Fixtures.pluginDirectory(label, files: files)
    }

    @Test func servesBothExamplesWhileRefusingEveryBrokenFixture() throws {
        let server = try ServerProcess(pluginDirectories: [Self.pluginDirectory("live", broken: true)])
        defer { server.stop() }
        for plugin in ["hello-c", "hello-swift"] {
            let text = try server.get("/\(plugin)")
            #expect(text.status == 200)
            #expect(text.header("content-type") == "text/plain; charset=utf-8")
            let item = try server.get("/\(plugin)/items/a%2Fb")
            #expect(item.text == #"{"item_id":"a/b","plugin":"\#(plugin)"}"#)
            let stream = try server.get("/\(plugin)/count?n=4")
            #expect(stream.header("transfer-encoding") == "chunked")
            #expect(stream.text == "1\n2\n3\n4\n")
        }
        let log = server.log
        for (name, kind) in Fixtures.broken + [("not_elf", "not-elf"), ("truncated", "truncated")] {
            #expect(log.contains("reason=\(kind)") && log.contains("x_\(name).so"), "no refusal line for \(name)")
        }
        let missing = try server.get("/nope")
        #expect(missing.status == 404)
        #expect(missing.header("content-type") == "application/json")
        #expect(missing.text == #"{"detail":"Not Found"}"#)
    }

    @Test func headWorksOnEveryGetOverTheWire() throws {
        let server = try ServerProcess(pluginDirectories: [Self.pluginDirectory("live-head", broken: false)])
        defer { server.stop() }
        for path in ["/hello-c", "/hello-c/json", "/hello-swift/items/1", "/hello-swift/count?n=3"] {
            let get = try server.get(path)
            let head = try server.get(path, method: "HEAD")
            #expect(head.status == get.status, "\(path)")
            #expect(head.body.isEmpty, "\(path): HEAD sent \(head.body.count) body bytes")
            #expect(head.header("content-type") == get.header("content-type"), "\(path)")
            #expect(head.header("content-length") == get.header("content-length"), "\(path)")
        }
    }

    @Test func sigtermFinishesInFlightRequestsThenExits() throws {
        let server = try ServerProcess(pluginDirectories: [Self.pluginDirectory("live-term", broken: false)])
        defer { server.stop() }
        // 40 lines 10 ms apart: the signal arrives as soon as the response has begun.
        let pid = server.process.processIdentifier
        let response = try RawHTTP.request(port: server.port, path: "/hello-c/count?n=40") { kill(pid, SIGTERM) }
        #expect(response.status == 200)
        #expect(response.text == (1...40).map { "\($0)\n" }.joined())
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
        #expect(server.log.contains("stopped"))
    }

    @Test func noCallbackRunsAfterTheStreamFinishes() throws {
        // /probe/flood fills its queue and waits on both on_writable and on_close; when the client
        // leaves, the host takes both callbacks and runs on_close first, which finishes the stream.
        // The on_writable still in hand must then be dropped: the plugin may have freed its data.
        let server = try ServerProcess(pluginDirectories: [Fixtures.pluginDirectory("live-flood", files: [Fixtures.built["probe"]!])])
        defer { server.stop() }
        for round in 1...20 {
            let client = try StreamClient(port: server.port, path: "/probe/flood", receiveBuffer: 4096)
            #expect(client.read(until: "\r\n\r\n"), "round \(round)")
            usleep(20_000)  // the queue fills and on_writable is registered
            client.close()
            #expect(waitUntil(timeout: 5) { (try? server.get("/probe/late").text) == "closes=\(round) late=0" },
                    "round \(round): \((try? server.get("/probe/late").text) ?? "the server is gone")")
        }
    }

    @Test func configurationComesFromFileThenEnvironmentThenFlags() throws {
        let dir = TestPaths.temporaryDirectory("config-file")
        let file = dir + "/switchboard.yaml"
        try """
        server:
          name: from-file
        plugins:
          config:
            hello-c:
              greeting: Hello from the file
            hello-swift:
              greeting: Hello from the file
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let server = try ServerProcess(
            pluginDirectories: [Self.pluginDirectory("live-config", broken: false)], extraArguments: ["--config", file],
            environment: ["SWITCHBOARD_PLUGINS_CONFIG_HELLO_SWIFT_GREETING": "Hello from the environment"])
        defer { server.stop() }
        let c = try server.get("/hello-c")
        #expect(c.text == "Hello from the file\n")
        #expect(c.header("server") == "from-file")
        #expect(try server.get("/hello-swift").text == "Hello from the environment\n")
    }
}

@Suite struct CheckCommandTests {
    static func check(_ file: String) async throws -> (status: Int32, output: String) {
        try await ScaffoldTests.run(TestPaths.hostExecutable, ["check", file], in: TestPaths.repositoryRoot)
    }

    @Test(arguments: ["HelloC", "HelloSwift"])
    func aGoodPluginPrintsItsRoutes(product: String) async throws {
        let (status, output) = try await Self.check(TestPaths.plugin(product))
        #expect(status == 0, "\(output)")
        #expect(output.hasPrefix("ok: hello-"))
        #expect(output.contains("GET     /hello-") && output.contains("/items/{item_id}"))
    }

    @Test(arguments: Fixtures.broken.filter { $0.name != "conflict" })
    func aBrokenPluginExitsNonZeroWithTheReason(fixture: (name: String, kind: String)) async throws {
        let (status, output) = try await Self.check(Fixtures.built[fixture.name]!)
        #expect(status == 2)
        #expect(output.hasPrefix("refused (\(fixture.kind)):"), "\(output)")
    }

    /// The plugin's own reason and the host's reasons for the routes it refused, not only the
    /// former; a good plugin's routes list their parameters and body.
    @Test func aRefusedRouteIsExplainedByTheHost() async throws {
        let (status, output) = try await Self.check(Fixtures.built["route_refused"]!)
        #expect(status == 2)
        #expect(output.contains("route_add failed"), "\(output)")
        #expect(output.contains("params[0].struct_size is 0; set it to sizeof(sb_param_spec)"), "\(output)")
        #expect(output.contains(#"parameter "q" of a typed handler must be required or have a default"#), "\(output)")
        let (okStatus, listed) = try await Self.check(TestPaths.plugin("Status"))
        #expect(okStatus == 0)
        #expect(listed.contains("item_id: path int, required, ≥ 1"), "\(listed)")
        #expect(listed.contains(#"body: application/json {"type":"object","properties":{"name""#), "\(listed)")
    }

    /// A plugin that aborts in on_init is a refusal naming the signal; `check` itself survives.
    @Test func aPluginThatCrashesItsLoaderIsRefusedNotFatal() async throws {
        let (status, output) = try await Self.check(Fixtures.built["abort_init"]!)
        #expect(status == 2)
        #expect(output.hasPrefix("refused (crashed):") && output.contains("signal 6"), "\(output)")
        #expect(!output.contains("Backtracing"), "the child's crash report buries the verdict")
    }
}

/// The watchdog: plugin code that never returns is named in the log, and SIGTERM still ends the
/// process within its grace period.
@Suite(.serialized) struct WatchdogTests {
    /// One spinning handler while the other threads keep serving: named all the same.
    @Test func aSingleLongCallIsNamedWhileTheServerKeepsServing() throws {
        guard ProcessInfo.processInfo.activeProcessorCount > 1 else { return }
        let dir = Fixtures.pluginDirectory("watchdog-one", files: [TestPaths.plugin("HelloC"), Fixtures.built["probe"]!])
        let server = try ServerProcess(
            pluginDirectories: [dir],
            environment: ["SWITCHBOARD_WATCHDOG_STALL_MS": "300", "SWITCHBOARD_SERVER_SHUTDOWN_GRACE_MS": "1000"])
        defer { server.stop(grace: 1) }
        let fd = try RawHTTP.connect(port: server.port, timeout: 1)
        defer { close(fd) }
        EdgeTests.send(fd, "GET /probe/spin HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(waitUntil(timeout: 5) { server.log.contains("call=probe GET /probe/spin") }, "\(server.log)")
        #expect(try server.get("/hello-c").status == 200)
    }

    @Test func aSpinningHandlerIsNamedAndSigtermStillExits() throws {
        let dir = Fixtures.pluginDirectory("watchdog", files: [TestPaths.plugin("HelloC"), Fixtures.built["probe"]!])
        let server = try ServerProcess(
            pluginDirectories: [dir],
            environment: ["SWITCHBOARD_WATCHDOG_STALL_MS": "300", "SWITCHBOARD_SERVER_SHUTDOWN_GRACE_MS": "1500"])
        defer { server.stop(grace: 1) }
        let pid = try server.workerPID()  // the process that spins (the supervisor only supervises)
        // One spinning request per event loop (there are as many as cores; connections take them
        // in turn), where a non-blocking handler runs.
        let spinners = (0..<ProcessInfo.processInfo.activeProcessorCount).map { _ in
            let fd = try? RawHTTP.connect(port: server.port, timeout: 1)
            if let fd { EdgeTests.send(fd, "GET /probe/spin HTTP/1.1\r\nHost: x\r\n\r\n") }
            return fd
        }
        // The spinning server yields the CPU to the suites running beside this one (nice is per
        // thread on Linux: every thread of it).
        usleep(100_000)
        for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
            if let tid = id_t(task) { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, 19) }
        }
        defer { for fd in spinners.compactMap({ $0 }) { close(fd) } }
        #expect(waitUntil(timeout: 5) { server.log.contains("has not run for") }, "no stall was reported")
        #expect(waitUntil(timeout: 5) { server.log.contains("call=probe GET /probe/spin") }, "the long call was not named")
        #expect(server.log.contains("held_by=probe GET /probe/spin"), "\(server.log)")
        let start = Date()
        kill(server.process.processIdentifier, SIGTERM)
        let exited = waitUntil(timeout: 6) { !server.process.isRunning }
        #expect(exited, "SIGTERM was ignored while plugin code spun")
        #expect(Date().timeIntervalSince(start) < 4 * testTimeScale)
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 1)
        #expect(server.log.contains("graceful shutdown did not finish within 1500 ms"))
    }
}
