import Foundation
import Synchronization
import SwitchboardSDK
import Testing

/// Hot swap on the real binary: files dropped, replaced and deleted while clients are served.
@Suite struct HotSwapTests {
    static let v1 = Fixtures.built["swap_v1"]!
    static let v2 = Fixtures.built["swap_v2"]!

    /// What `/swap/payload` of version `n` sends: 4096 bytes of "vN|".
    static func payload(_ version: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: UInt8(ascii: "|"), count: 4096)
        let tag = Array("v\(version)|".utf8)
        var i = 0
        while i + 3 <= bytes.count { bytes.replaceSubrange(i..<(i + 3), with: tag); i += 3 }
        return bytes
    }

    /// A server watching a fresh directory that holds `files` (name → source) and the C example.
    static func start(
        _ label: String, files: [String: String], arguments: [String] = [], environment: [String: String] = [:]
    ) throws -> (ServerProcess, String) {
        let directory = Fixtures.pluginDirectory(label, files: [TestPaths.plugin("HelloC")])
        for (name, source) in files { try FileManager.default.copyItem(atPath: source, toPath: "\(directory)/\(name)") }
        var env = ["SWITCHBOARD_PLUGINS_DEBOUNCE_MS": "20"]
        for (k, v) in environment { env[k] = v }
        return (try ServerProcess(pluginDirectories: [directory], extraArguments: arguments, environment: env), directory)
    }

    static func version(of server: ServerProcess) -> Int? {
        guard let r = try? server.get("/swap/payload"), r.status == 200 else { return nil }
        return r.header("x-swap-version").flatMap { Int($0) }
    }

    @Test func fiftySwapsUnderLoadLoseNoRequestAndMixNoVersions() throws {
        let (server, directory) = try Self.start("swap-load", files: ["swap.so": Self.v1])
        defer { server.stop() }
        let target = "\(directory)/swap.so"
        let expected = [1: Self.payload(1), 2: Self.payload(2)]
        let stop = Atomic<Bool>(false)
        let tally = Locked<(ok: [Int: Int], failures: [String])>(([:], []))
        let done = (0..<4).map { _ in DispatchSemaphore(value: 0) }
        for semaphore in done {
            Thread {
                defer { semaphore.signal() }
                while !stop.load(ordering: .relaxed) {
                    do {
                        let r = try server.get("/swap/payload")
                        let version = r.header("x-swap-version").flatMap { Int($0) } ?? 0
                        if r.status == 200, let body = expected[version], r.body == body {
                            tally.withLock { $0.ok[version, default: 0] += 1 }
                        } else {
                            tally.withLock { $0.failures.append("status \(r.status) version \(version): \(r.text.prefix(60))") }
                        }
                    } catch {
                        tally.withLock { $0.failures.append("\(error)") }
                    }
                }
            }.start()
        }
        for swap in 1...50 {
            let version = swap % 2 == 1 ? 2 : 1
            // Alternate the ways a file arrives: rename over it, or overwrite it in place.
            if swap % 3 == 0 {
                try Drop.overwriteInPlace(version == 1 ? Self.v1 : Self.v2, to: target)
            } else {
                try Drop.rename(version == 1 ? Self.v1 : Self.v2, to: target)
            }
            let switched = waitUntil(timeout: 10) { Self.version(of: server) == version }
            #expect(switched, "swap \(swap) to v\(version) never took effect:\n\(server.log.suffix(4000))")
            if !switched { break }
        }
        stop.store(true, ordering: .relaxed)
        for semaphore in done { semaphore.wait() }
        let (ok, failures) = tally.withLock { ($0.ok, $0.failures) }
        #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(5))")
        #expect(ok[1, default: 0] > 0 && ok[2, default: 0] > 0)
        let plugin = try server.plugin("swap")
        #expect(plugin?["generation"] as? Int == 51)
        #expect(server.stop() == 0, "the host did not exit cleanly:\n\(server.log.suffix(3000))")
    }

    @Test func aStreamStaysOnItsVersionWhileNewRequestsGetTheNext() throws {
        let (server, directory) = try Self.start("swap-stream", files: ["swap.so": Self.v1])
        defer { server.stop() }
        let events = try EventStreamClient(port: server.port)
        defer { events.close() }
        let request = BackgroundRequest(port: server.port, path: "/swap/stream?n=30&ms=40")
        #expect(request.waitForStart())
        try Drop.rename(Self.v2, to: "\(directory)/swap.so")
        #expect(waitUntil { Self.version(of: server) == 2 })
        // v1 is draining, not gone: the stream still holds it.
        let draining = try server.adminJSON("/_switchboard/plugins")["draining"] as? [[String: Any]]
        #expect(draining?.contains { $0["name"] as? String == "swap" && $0["generation"] as? Int == 1 } == true)
        let stream = try #require(try request.wait(), "the stream never ended")
        #expect(stream.header("x-swap-version") == "1")
        #expect(stream.text == (0..<30).map { "v1 line \($0)\n" }.joined())
        // Once the stream ended, generation 1 drained.
        #expect(events.waitFor { $0.type == "drained" && $0.data["plugin"] as? String == "swap" && $0.generation == 1 } != nil)
        #expect(server.stop() == 0, "the host did not exit cleanly:\n\(server.log.suffix(3000))")
    }

    @Test func eachBrokenFileDroppedAsV2LeavesV1Serving() throws {
        let (server, directory) = try Self.start("swap-broken", files: ["swap.so": Self.v1])
        defer { server.stop() }
        let events = try EventStreamClient(port: server.port)
        defer { events.close() }
        let target = "\(directory)/swap.so"
        for (name, kind) in Fixtures.broken + [("not_elf", "not-elf"), ("truncated", "truncated")] {
            try Drop.rename(Fixtures.built[name]!, to: target)
            let refused = events.waitFor { $0.type == "refused" && $0.file == target && $0.reason == kind }
            #expect(refused != nil, "no refused event for \(name) (\(kind))")
            #expect(Self.version(of: server) == 1, "v1 stopped serving after \(name)")
            let plugin = try server.plugin("swap")
            let lastError = plugin?["last_load_error"] as? [String: Any]
            #expect(lastError?["reason"] as? String == kind, "admin API does not show the \(kind) refusal")
            #expect(plugin?["generation"] as? Int == 1)
        }
        try Drop.rename(Self.v2, to: target)
        #expect(waitUntil { Self.version(of: server) == 2 })
        let served = try #require(try server.plugin("swap"))
        #expect(served["generation"] as? Int == 2)
        #expect(served["last_load_error"] == nil || served["last_load_error"] is NSNull, "a load that succeeded clears the refusal")
        #expect(server.isRunning)
    }

    /// A file whose name is not UTF-8 (Latin-1 `swap\xE9.so`) is refused with the reason, its
    /// name shown with `\xE9`, once while it stays; renamed, it loads and the refusal ends. It used
    /// to be skipped without a word. A directory with such a name is not a plugin file: not
    /// refused.
    @Test func aFileNamedInAnotherEncodingIsRefusedUntilRenamed() throws {
        let (server, directory) = try Self.start("swap-latin1", files: [:])
        defer { server.stop() }
        let events = try EventStreamClient(port: server.port)
        defer { events.close() }
        func cPath(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> Int32) -> Int32 {
            (bytes + [0]).withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) } }
        }
        #expect(cPath(Array("\(directory)/dir".utf8) + [0xE8] + Array(".so".utf8)) { mkdir($0, 0o755) } == 0)
        let latin1 = Array("\(directory)/swap".utf8) + [0xE9] + Array(".so".utf8)
        let shown = "\(directory)/swap\\xE9.so"
        let copied = try #require(FileManager.default.contents(atPath: Self.v1))
        let fd = cPath(latin1) { open($0, O_WRONLY | O_CREAT | O_EXCL, 0o644) }
        #expect(fd >= 0)
        _ = copied.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let refused = events.waitFor { $0.type == "refused" && $0.reason == "file-name-not-utf8" }
        #expect(refused.map { Array($0.file.utf8) } == Array(shown.utf8))
        let listed = try server.adminJSON("/_switchboard/plugins")["refused_files"] as? [[String: Any]]
        #expect(listed?.count == 1, "\(listed ?? [])")
        #expect(listed?.first?["reason"] as? String == "file-name-not-utf8" && listed?.first?["file"] as? String == shown)
        #expect(try server.get("/swap/payload").status == 404, "the misnamed file was loaded")
        // Another change in the directory makes the watcher look again: the file is not refused twice.
        FileManager.default.createFile(atPath: "\(directory)/notes.txt", contents: Data("x".utf8))
        usleep(useconds_t(300_000 * testTimeScale))

        #expect(cPath(latin1) { Foundation.rename($0, "\(directory)/swap.so") } == 0)
        #expect(waitUntil { Self.version(of: server) == 1 }, "the renamed file did not load")
        let after = try server.adminJSON("/_switchboard/plugins")["refused_files"] as? [[String: Any]]
        #expect(after?.isEmpty == true, "the refusal outlived the misnamed file: \(after ?? [])")
        #expect(events.events.filter { $0.type == "refused" }.count == 1, "refused more than once, or the directory was refused")
    }

    @Test func overwritingTheFileInPlaceNeverCrashesTheHost() throws {
        let (server, directory) = try Self.start("swap-cp", files: ["swap.so": Self.v1])
        defer { server.stop() }
        let target = "\(directory)/swap.so"
        for round in 1...6 {
            let version = round % 2 == 1 ? 2 : 1
            // Slow writers: pauses longer than the debounce make the host see half-written files.
            try Drop.overwriteInPlace(version == 1 ? Self.v1 : Self.v2, to: target, pieces: 1 + round, pause: 0.03)
            #expect(waitUntil { Self.version(of: server) == version }, "round \(round) never served v\(version)")
            #expect(server.isRunning)
        }
        #expect(try server.get("/hello-c").status == 200)
    }

    @Test func deletingUnloadsAndAddingBackServesAgain() throws {
        let (server, directory) = try Self.start("swap-delete", files: ["swap.so": Self.v1])
        defer { server.stop() }
        let target = "\(directory)/swap.so"
        #expect(Self.version(of: server) == 1)
        unlink(target)
        #expect(waitUntil { (try? server.get("/swap/payload").status) == 404 })
        #expect(try server.plugin("swap") == nil)
        try Drop.rename(Self.v2, to: target)
        #expect(waitUntil { Self.version(of: server) == 2 })
        #expect(try server.plugin("swap")?["generation"] as? Int == 2)
    }

    @Test func sighupRescansAndTheAdminAPIReloads() throws {
        let (server, directory) = try Self.start("swap-hup", files: [:], arguments: ["--watch", "off"])
        defer { server.stop() }
        try Drop.rename(Self.v1, to: "\(directory)/swap.so")
        usleep(300_000)
        #expect(try server.get("/swap/payload").status == 404, "with --watch off nothing loads by itself")
        kill(server.process.processIdentifier, SIGHUP)
        #expect(waitUntil { Self.version(of: server) == 1 })
        let reloaded = try server.adminJSON("/_switchboard/plugins/swap/reload", method: "POST")
        #expect(reloaded["generation"] as? Int == 2)
        #expect(Self.version(of: server) == 1)
        #expect(try server.get("/_switchboard/plugins/nope/reload", method: "POST").status == 404)
        #expect(try server.get("/_switchboard/plugins/swap/reload").status == 405)
    }

    @Test func theDrainDeadlineEndsAStreamThatNeverFinishes() throws {
        let (server, directory) = try Self.start(
            "swap-deadline", files: ["swap.so": Self.v1], environment: ["SWITCHBOARD_PLUGINS_DRAIN_DEADLINE_MS": "300"])
        defer { server.stop() }
        let events = try EventStreamClient(port: server.port)
        defer { events.close() }
        let request = BackgroundRequest(port: server.port, path: "/swap/stream?n=100000&ms=20")
        #expect(request.waitForStart())
        try Drop.rename(Self.v2, to: "\(directory)/swap.so")
        // A plain stream is cut off without its last chunk (the client must not take it for whole),
        // after every line v1 had queued. (An event stream ends cleanly: StreamingTests.)
        let cut: [UInt8]
        do {
            let stream = try request.wait(timeout: 10)
            Issue.record("the stream \(stream == nil ? "outlived the drain deadline" : "ended as if complete")")
            return
        } catch let failure as RawHTTP.Failure {
            cut = try #require(failure.partialBody, "\(failure)")
        }
        let lines = String(decoding: cut, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count > 1 && lines.last == "" && lines.dropLast().allSatisfy { $0.hasPrefix("v1 line ") })
        #expect(events.waitFor { $0.type == "drained" && $0.generation == 1 && $0.data["plugin"] as? String == "swap" } != nil, "\(server.log)\n\(events.raw)")
        // The C image was unmapped after the stream's last callback returned: nothing crashed.
        usleep(100_000)
        #expect(server.stop() == 0, "the host did not exit cleanly:\n\(server.log.suffix(3000))")
    }

    @Test func adminAPIAccessAndMetrics() throws {
        let (server, _) = try Self.start("admin-token", files: ["swap.so": Self.v1], environment: ["SWITCHBOARD_ADMIN_TOKEN": "s3cret"])
        defer { server.stop() }
        _ = try server.get("/swap/payload")
        let anonymous = try server.get("/_switchboard/plugins")
        #expect(anonymous.status == 401)
        #expect(anonymous.header("content-type") == "application/json")
        #expect(try server.get("/_switchboard/plugins", headers: [("Authorization", "Bearer wrong")]).status == 401)
        // The scheme is a token: any ASCII case (RFC 9110 §11.1).
        #expect(try server.get("/_switchboard/plugins", headers: [("Authorization", "bEARER s3cret")]).status == 200)
        let authorized = try server.get("/_switchboard/plugins", headers: [("Authorization", "Bearer s3cret")])
        #expect(authorized.status == 200)
        #expect(try server.get("/metrics").status == 401)
        let metrics = try server.get("/metrics", headers: [("Authorization", "Bearer s3cret")])
        #expect(metrics.status == 200)
        #expect(metrics.text.contains(#"switchboard_requests_total{plugin="swap",route="GET /swap/payload"} 1"#))
        #expect(metrics.text.contains(#"switchboard_plugin_loads_total{plugin="swap"} 1"#))
        #expect(metrics.text.contains("switchboard_request_duration_seconds_bucket{"))
        let routes = try server.get("/_switchboard/routes", headers: [("Authorization", "Bearer s3cret")])
        #expect(routes.text.contains(#""path":"/swap/payload""#))
    }

    @Test func pollingModeFollowsTheDirectoryToo() throws {
        let (server, directory) = try Self.start(
            "swap-poll", files: [:], arguments: ["--watch", "poll"], environment: ["SWITCHBOARD_PLUGINS_POLL_INTERVAL_MS": "100"])
        defer { server.stop() }
        try Drop.rename(Self.v1, to: "\(directory)/swap.so")
        #expect(waitUntil { Self.version(of: server) == 1 })
        try Drop.overwriteInPlace(Self.v2, to: "\(directory)/swap.so")
        #expect(waitUntil { Self.version(of: server) == 2 })
        unlink("\(directory)/swap.so")
        #expect(waitUntil { (try? server.get("/swap/payload").status) == 404 })
    }

    /// Kubernetes updates a mounted volume by writing a new hidden directory and renaming the
    /// `..data` symlink over the old one; the visible files are symlinks through `..data`.
    @Test func aKubernetesStyleDataSymlinkSwapIsFollowed() throws {
        let directory = TestPaths.temporaryDirectory("swap-k8s")
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(directory)/..v1", withIntermediateDirectories: true)
        try fm.copyItem(atPath: Self.v1, toPath: "\(directory)/..v1/swap.so")
        try fm.createSymbolicLink(atPath: "\(directory)/..data", withDestinationPath: "..v1")
        try fm.createSymbolicLink(atPath: "\(directory)/swap.so", withDestinationPath: "..data/swap.so")
        let server = try ServerProcess(pluginDirectories: [directory], environment: ["SWITCHBOARD_PLUGINS_DEBOUNCE_MS": "20"])
        defer { server.stop() }
        #expect(Self.version(of: server) == 1)
        try fm.createDirectory(atPath: "\(directory)/..v2", withIntermediateDirectories: true)
        try fm.copyItem(atPath: Self.v2, toPath: "\(directory)/..v2/swap.so")
        try fm.createSymbolicLink(atPath: "\(directory)/..data_tmp", withDestinationPath: "..v2")
        #expect(rename("\(directory)/..data_tmp", "\(directory)/..data") == 0)
        try fm.removeItem(atPath: "\(directory)/..v1")
        #expect(waitUntil { Self.version(of: server) == 2 })
    }

    /// The plugin directory itself is a symlink, swapped atomically to another release.
    @Test func aSymlinkSwapOfTheWholeDirectoryIsFollowed() throws {
        let root = TestPaths.temporaryDirectory("swap-dirlink")
        let fm = FileManager.default
        for (release, source) in [("a", Self.v1), ("b", Self.v2)] {
            try fm.createDirectory(atPath: "\(root)/\(release)", withIntermediateDirectories: true)
            try fm.copyItem(atPath: source, toPath: "\(root)/\(release)/swap.so")
        }
        try fm.createSymbolicLink(atPath: "\(root)/plugins", withDestinationPath: "a")
        let server = try ServerProcess(pluginDirectories: ["\(root)/plugins"], environment: ["SWITCHBOARD_PLUGINS_DEBOUNCE_MS": "20"])
        defer { server.stop() }
        #expect(Self.version(of: server) == 1)
        try fm.createSymbolicLink(atPath: "\(root)/plugins.new", withDestinationPath: "b")
        #expect(rename("\(root)/plugins.new", "\(root)/plugins") == 0)
        #expect(waitUntil { Self.version(of: server) == 2 })
        // The watch followed the swap: a change inside the new target is seen at once, not at
        // the next safety poll.
        try Drop.rename(Self.v1, to: "\(root)/b/swap.so")
        #expect(waitUntil(timeout: 3) { Self.version(of: server) == 1 })
    }
}
