import Foundation
import Testing

/// The streaming plugin (issue #5) and the host's file responses, over the wire.
@Suite struct StreamingTests {
    /// A files directory with what the tests download, a symlink that leads out and a
    /// subdirectory; huge_file.txt and video.mp4 in it, as the repository's files/ has them.
    static func fixtures() throws -> String {
        let base = TestPaths.temporaryDirectory("streaming-files")
        let files = base + "/files"
        let fm = FileManager.default
        try fm.createDirectory(atPath: files + "/sub", withIntermediateDirectories: true)
        fm.createFile(atPath: files + "/hello.txt", contents: Data("Hello, World!\n".utf8))
        fm.createFile(atPath: files + "/small.bin", contents: Data((0..<4096).map { UInt8($0 % 256) }))
        fm.createFile(atPath: files + "/euro-€.txt", contents: Data("non-latin-1 filename\n".utf8))
        // Behind a slash that a combining mark follows: one Character with it, still a slash.
        fm.createFile(atPath: files + "/sub/\u{301}x.txt", contents: Data("in a subdirectory\n".utf8))
        fm.createFile(atPath: files + "/\u{301}mark.txt", contents: Data("a name that starts with a mark\n".utf8))
        fm.createFile(atPath: base + "/secret.txt", contents: Data("outside\n".utf8))
        try fm.createSymbolicLink(atPath: files + "/escape", withDestinationPath: base + "/secret.txt")
        fm.createFile(atPath: files + "/video.mp4", contents: Data((0..<10_000).map { UInt8($0 % 251) }))
        fm.createFile(atPath: files + "/huge_file.txt", contents: Data((0..<100).map { "line \($0)\n" }.joined().utf8))
        return files
    }

    static func server(files: String, scale: Double = 0.01, plugins: String? = nil, environment: [String: String] = [:]) throws -> ServerProcess {
        let plugins = plugins ?? Fixtures.pluginDirectory("streaming", files: [TestPaths.plugin("Streaming")])
        return try ServerProcess(
            pluginDirectories: [plugins],
            environment: [
                "SWITCHBOARD_PLUGINS_CONFIG_STREAMING_FILES_DIRECTORY": files,
                "SWITCHBOARD_PLUGINS_CONFIG_STREAMING_INTERVAL_SCALE": String(scale),
            ].merging(environment) { $1 })
    }

    /// Requests the plugin holds open right now (each open stream holds one until it finishes).
    static func inFlight(_ server: ServerProcess) -> Int {
        ((try? server.plugin("streaming"))??["in_flight"] as? Int) ?? -1
    }

    /// A handler that writes more than the queue holds with SB_WRITE_WAIT, on the stream it
    /// began, would wait for itself (nothing is sent before it returns): the write is refused with
    /// SB_ERR_STATE at the high watermark, and the client gets what was queued, not a hang.
    @Test func aHandlerWaitingOnItsOwnStreamIsRefusedNotHung() throws {
        let dir = Fixtures.pluginDirectory("wait-in-handler", files: [Fixtures.built["wait_in_handler"]!])
        let server = try ServerProcess(pluginDirectories: [dir])
        defer { server.stop() }
        let response = try server.get("/wait-in-handler")
        #expect(response.status == 200 && response.body.count == 256 * 1024, "\(response.status), \(response.body.count) bytes")
        #expect(try server.get("/wait-in-handler").body.count == 256 * 1024, "the pool thread came back")
    }

    @Test func namesResolveInsideTheFilesDirectoryOnly() throws {
        let server = try Self.server(files: try Self.fixtures())
        defer { server.stop() }
        let ok = try server.get("/download/hello.txt")
        #expect(ok.status == 200 && ok.text == "Hello, World!\n")
        #expect(ok.header("content-disposition") == #"attachment; filename="hello.txt""#)
        #expect(ok.header("content-length") == "14")
        for route in ["/download/", "/download-simple/", "/download-async/"] {
            for name in ["..", ".", "%2e%2e", "%2E", "..%2Fsecret.txt", "%2Fetc%2Fpasswd", "escape", "sub", "nope", "%00", "sub%2F%CC%81x.txt"] {
                let response = try server.get(route + name)
                #expect(response.status == 404 || response.status == 400, "\(route)\(name): \(response.status)")
                #expect(response.header("content-type")?.hasPrefix("application/json") == true, "\(route)\(name)")
            }
        }
        #expect(try server.get("/download/%CC%81mark.txt").status == 200, "a file in the directory whose name starts with a mark")
        let euro = try server.get("/download-simple/euro-%E2%82%AC.txt")
        #expect(euro.status == 200)
        #expect(euro.header("content-disposition") == #"attachment; filename="euro-_.txt"; filename*=UTF-8''euro-%E2%82%AC.txt"#)
    }

    @Test func rangesConditionalRequestsAndHead() throws {
        let server = try Self.server(files: try Self.fixtures())
        defer { server.stop() }
        let path = "/download/hello.txt"
        let single = try server.get(path, headers: [("Range", "bytes=0-4")])
        #expect(single.status == 206 && single.text == "Hello" && single.header("content-range") == "bytes 0-4/14")
        #expect(try server.get(path, headers: [("Range", "bytes=-3")]).text == "d!\n")
        #expect(try server.get(path, headers: [("Range", "bytes=7-")]).text == "World!\n")
        let multi = try server.get(path, headers: [("Range", "bytes=0-1,5-6")])
        #expect(multi.status == 206 && multi.header("content-type")?.hasPrefix("multipart/byteranges; boundary=") == true)
        #expect(multi.text.contains("Content-Range: bytes 0-1/14\r\n\r\nHe\r\n") && multi.text.contains("Content-Range: bytes 5-6/14\r\n\r\n, \r\n"))
        #expect(Int(multi.header("content-length") ?? "") == multi.body.count)
        let unsatisfiable = try server.get(path, headers: [("Range", "bytes=100-")])
        #expect(unsatisfiable.status == 416 && unsatisfiable.header("content-range") == "bytes */14")
        #expect(try server.get(path, headers: [("Range", "bytes=5-1")]).status == 200)  // malformed: ignored
        #expect(try server.get(path, headers: [("Range", "lines=1-2")]).status == 200)

        let etag = try #require(try server.get(path).header("etag"))
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))
        let notModified = try server.get(path, headers: [("If-None-Match", "\"other\", W/\(etag)")])
        #expect(notModified.status == 304 && notModified.body.isEmpty && notModified.header("etag") == etag)
        #expect(try server.get(path, headers: [("If-None-Match", "*")]).status == 304)
        #expect(try server.get(path, headers: [("If-None-Match", "\"other\"")]).status == 200)
        let lastModified = try #require(try server.get(path).header("last-modified"))
        #expect(try server.get(path, headers: [("If-Modified-Since", lastModified)]).status == 304)
        #expect(try server.get(path, headers: [("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")]).status == 200)
        #expect(try server.get(path, headers: [("Range", "bytes=0-1"), ("If-Range", "\"stale\"")]).status == 200)
        #expect(try server.get(path, headers: [("Range", "bytes=0-1"), ("If-Range", etag)]).status == 206)

        let head = try server.get("/download/small.bin", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty && head.header("content-length") == "4096")
        let video = try server.get("/video", headers: [("Range", "bytes=9990-")])
        #expect(video.status == 206 && video.body.count == 10 && video.header("content-type") == "video/mp4")
        #expect(try server.get("/large-file").text.hasPrefix("line 0\nline 1\n"))
    }

    @Test func eventStreamsCarryIdsAndResume() throws {
        let server = try Self.server(files: try Self.fixtures())
        defer { server.stop() }
        let events = try server.get("/events")
        #expect(events.header("content-type") == "text/event-stream")
        #expect(events.header("cache-control") == "no-cache" && events.header("x-accel-buffering") == "no")
        #expect(events.header("content-encoding") == nil)
        let blocks = events.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(blocks.count == 11)
        #expect(blocks.first?.hasPrefix("id: 1\nretry: 3000\ndata: {\"id\": 1, \"timestamp\": \"") == true)
        #expect(blocks.last == "id: 11\ndata: {\"message\": \"Stream complete\"}")
        let resumed = try server.get("/events", headers: [("Last-Event-ID", "8")])
        #expect(resumed.text.hasPrefix("id: 9\n") && resumed.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.count == 3)
        let named = try server.get("/events/named", headers: [("Last-Event-ID", "3")])
        #expect(named.text == "id: 4\nevent: update\ndata: {\"progress\": 75}\n\nid: 5\nevent: complete\ndata: {\"status\": \"done\", \"progress\": 100}\n\n")
    }

    @Test func aRealBrowsersEventSourceFollowsTheStreams() throws {
        guard let chromium = ExternalTool.chromium.require(for: "the browser's own EventSource") else { return }
        let server = try Self.server(files: try Self.fixtures())
        defer { server.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestPaths.repositoryRoot + "/Tests/Fixtures/eventsource_browser.py", chromium, "http://127.0.0.1:\(server.port)/events/demo", "30"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        let items = (try? JSONSerialization.jsonObject(with: data) as? [String]) ?? []
        // What the page showed: every event with the id the browser tracked (lastEventId), named
        // events through addEventListener, and a log line sent by the page's form.
        #expect(items.filter { $0.hasPrefix("#") }.map { $0.prefix { $0 != " " } } == (1...11).map { "#\($0)" }, "\(text)")
        #expect(items.contains("#11 {\"message\": \"Stream complete\"}"))
        #expect(items.filter { !$0.hasPrefix("#") && $0.contains(" #") }.map { $0.prefix { $0 != "{" } }
            == ["init #1 ", "update #2 ", "update #3 ", "update #4 ", "complete #5 "], "\(text)")
        #expect(items.contains { $0.hasSuffix("] from the browser") })
    }

    @Test func csvExportCountsQuotesAndValidates() throws {
        let server = try Self.server(files: try Self.fixtures())
        defer { server.stop() }
        let csv = try server.get("/export/csv")
        #expect(csv.status == 200 && csv.header("content-type") == "text/csv; charset=utf-8")
        #expect(csv.header("content-disposition") == "attachment; filename=users_export.csv")
        let lines = csv.text.components(separatedBy: "\r\n")
        #expect(lines.count == 10_002 && lines.last == "")
        #expect(lines[0] == "ID,Name,Email,Created At,Status")
        #expect(lines[1] == "1,User 1,user1@example.com,2024-02-02,inactive")
        #expect(lines[10_000] == "10000,User 10000,user10000@example.com,2024-05-05,active")
        #expect(try server.get("/export/csv?rows=0").text == "ID,Name,Email,Created At,Status\r\n")
        #expect(try server.get("/export/csv?rows=1000001").status == 422)
        #expect(try server.get("/export/csv?rows=-1").status == 422)
    }

    /// The host writes each event framed once for all subscribers: as a chunk it framed itself on
    /// HTTP/1.1 (so every chunk must still parse), and unframed to an HTTP/1.0 client.
    @Test(arguments: ["HTTP/1.1", "HTTP/1.0"])
    func logBroadcastReachesSubscribersAndKeepsThemAlive(version: String) throws {
        let server = try Self.server(files: try Self.fixtures())
        defer { server.stop() }
        let fd = try RawHTTP.connect(port: server.port, timeout: 5)
        defer { close(fd) }
        _ = "GET /logs/stream \(version)\r\nHost: 127.0.0.1\r\n\r\n".withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var received = ""
        func read(until marker: String) -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let deadline = Date().addingTimeInterval(5)
            while !received.contains(marker) && Date() < deadline {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
                if n <= 0 { return false }
                received += String(decoding: buffer[0..<n], as: UTF8.self)
            }
            return received.contains(marker)
        }
        #expect(read(until: ": connected"))
        let added = try server.get("/logs/add?message=disk%20full", method: "POST")
        #expect(added.status == 200 && added.text.contains(#""subscribers":1"#) && added.text.contains("] disk full"))
        #expect(read(until: "] disk full\n\n"))
        // Keepalives (every 150 ms at this scale) do not end the stream: a later line still arrives.
        #expect(read(until: ": ping"))
        _ = try server.get("/logs/add?message=second%0Aline", method: "POST")
        #expect(read(until: "] second\ndata: line\n\n"))
        #expect(try server.get("/logs/add", method: "POST").status == 422)
        let parts = received.components(separatedBy: "\r\n\r\n")
        let head = parts[0].lowercased()
        var body = Substring(parts.dropFirst().joined(separator: "\r\n\r\n"))
        if version == "HTTP/1.0" {
            #expect(!head.contains("transfer-encoding") && head.contains("connection: close"), "\(head)")
            #expect(body.hasPrefix(": connected\n\n") && !body.contains("\r\n"), "\(body)")
        } else {
            #expect(head.contains("transfer-encoding: chunked"), "\(head)")
            // Every chunk is its size in hex, CR LF, that many bytes, CR LF (read as bytes: in a
            // String, CR LF is one Character).
            var bytes = Array(body.utf8)[...]
            var decoded: [UInt8] = []
            while let cr = bytes.firstIndex(of: 13), let size = Int(String(decoding: bytes[..<cr], as: UTF8.self), radix: 16) {
                let start = cr + 2
                guard bytes.endIndex >= start + size + 2 else { break }  // the last one may still be on its way
                decoded += bytes[start..<start + size]
                #expect(Array(bytes[start + size..<start + size + 2]) == [13, 10], "a chunk of \(size) bytes is not followed by CR LF")
                bytes = bytes[(start + size + 2)...]
            }
            let events = String(decoding: decoded, as: UTF8.self)
            #expect(events.hasPrefix(": connected\n\n") && events.contains("] second\ndata: line\n\n"), "\(events)")
        }
    }

    /// Clients leaving timer-fed streams while their ticks run: a tick ending the stream and an
    /// onClose cancelling the timer must not wait for each other (they did: /sse wedged an event
    /// loop within one round at this pace). Half the clients reset, half close.
    @Test(.timeLimit(.minutes(2))) func clientsLeavingTickingStreamsNeverWedgeTheServer() throws {
        let server = try Self.server(files: try Self.fixtures(), scale: 0.001)
        defer { server.stop() }
        for round in 0..<4 {
            var clients: [StreamClient] = []
            for i in 0..<60 {
                let path = ["/sse", "/stream", "/events", "/events/named"][i % 4]
                clients.append(try StreamClient(port: server.port, path: path))
            }
            for (i, client) in clients.enumerated() {
                _ = client.read(until: "\r\n\r\n")
                if i % 2 == 0 {
                    var reset = linger(l_onoff: 1, l_linger: 0)
                    setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
                }
                client.close()
            }
            let answered = waitUntil(timeout: 10) { (try? server.get("/events/demo"))?.status == 200 }
            #expect(answered, "round \(round): the server stopped answering")
            guard answered else { return }
            #expect(waitUntil(timeout: 10) { Self.inFlight(server) == 0 }, "round \(round): streams still in flight")
        }
    }

    @Test func aClientThatLeavesStopsItsProducerWithinASecond() throws {
        // At full scale: /sse ticks once a second and /logs/stream is silent for 15 s, so only the
        // host noticing the closed connection can stop them in time.
        let server = try Self.server(files: try Self.fixtures(), scale: 1)
        defer { server.stop() }
        // A request pipelined behind a stream is never answered (the stream ends the connection),
        // and it must not keep the host from reading the client's close.
        let paths: [(path: String, pipelined: String?)] =
            ["/export/csv?rows=1000000", "/sse", "/logs/stream", "/events"].map { ($0, nil) }
            + [("/logs/stream", "/download/hello.txt"), ("/events", "/download/hello.txt")]
        for (path, pipelined) in paths {
            let client = try StreamClient(port: server.port, path: path, pipelining: pipelined)
            #expect(client.read(until: path == "/export/csv?rows=1000000" ? "\r\n1000," : "\n\n"), "\(path)")
            // (A producer running in its writable callback holds a second lease meanwhile.)
            #expect(Self.inFlight(server) >= 1, "\(path)")
            client.close()
            let start = Date()
            let stopped = waitUntil(timeout: 1) { Self.inFlight(server) == 0 }
            #expect(stopped, "\(path) (\(pipelined ?? "nothing") pipelined): still in flight \(Date().timeIntervalSince(start)) s after the client left")
            #expect(!client.text.contains("Hello, World!"), "\(path): the request pipelined behind it was answered")
        }
        #expect(try server.get("/logs/add?message=x", method: "POST").text.contains(#""subscribers":0"#))
    }

    @Test func aReaderThatStopsReadingCostsBoundedMemory() throws {
        let server = try Self.server(files: try Self.fixtures())
        defer { server.stop() }
        let pid = try server.workerPID()  // the process that serves (the supervisor only supervises)
        _ = try server.get("/export/csv?rows=100000")  // warm up allocators and the plugin
        let baseline = residentBytes(pid)

        // A 1,000,000-row export (~60 MB) to a client that reads nothing: the producer waits.
        let export = try StreamClient(port: server.port, path: "/export/csv?rows=1000000", receiveBuffer: 4096)
        defer { export.close() }
        #expect(export.read(until: "\r\n1,"))
        usleep(1_000_000)
        let stalled = residentBytes(pid)
        #expect(!residentMemoryIsMeaningful || stalled - baseline < 24 << 20, "resident memory grew by \((stalled - baseline) >> 20) MiB for a stalled export")
        // The producer comes to rest waiting for on_writable: only the stream's own lease remains
        // (on a loaded machine its last callback may still be running at the first look).
        #expect(waitUntil(timeout: 5) { Self.inFlight(server) == 1 })

        // A log subscriber that reads nothing is dropped and told why; the others keep the broadcast.
        let slow = try StreamClient(port: server.port, path: "/logs/stream", receiveBuffer: 4096)
        defer { slow.close() }
        #expect(slow.read(until: ": connected"))
        let message = String(repeating: "x", count: 4000)
        let post = Array("POST /logs/add?message=\(message) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".utf8)
        var posts = 0
        var dropped = false
        while posts < 20_000 && !dropped {
            // Lean on purpose (thousands of requests): the answer's tail says who is still subscribed.
            let fd = try RawHTTP.connect(port: server.port, timeout: 5)
            _ = post.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            var answer = [UInt8](repeating: 0, count: 8192)
            var length = 0
            while length < answer.count {
                let n = answer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + length, $0.count - length, 0) }
                if n <= 0 { break }
                length += n
            }
            close(fd)
            posts += 1
            dropped = String(decoding: answer[..<length], as: UTF8.self).hasSuffix(#""subscribers":0}"#)
        }
        #expect(dropped, "still subscribed after \(posts) lines of 4 KB")
        let grown = residentBytes(pid) - baseline
        #expect(!residentMemoryIsMeaningful || grown < 48 << 20, "resident memory grew by \(grown >> 20) MiB with a stalled subscriber")
        #expect(slow.read(until: "event: dropped\ndata: \"this client read too slowly", limit: 64 << 20), "\(slow.text.suffix(300))")
    }

    @Test func gracefulShutdownEndsEventStreamsCleanly() throws {
        // Full scale: nothing would end these streams for 15 s but the shutdown.
        let server = try Self.server(files: try Self.fixtures(), scale: 1)
        defer { server.stop() }
        let logs = try StreamClient(port: server.port, path: "/logs/stream")
        let ticks = try StreamClient(port: server.port, path: "/sse")
        #expect(logs.read(until: ": connected\n\n") && ticks.read(until: "id: 1\ndata: {\"tick\": 1, "))
        #expect(server.stop(grace: 5) == 0, "the host did not stop by itself:\n\(server.log.suffix(2000))")
        // Both ended as complete chunked bodies: an EventSource reconnects instead of reporting an error.
        for (client, path) in [(logs, "/logs/stream"), (ticks, "/sse")] {
            #expect(client.read(until: "", toEnd: true), "\(path) did not end")
            #expect(client.text.hasSuffix("\r\n0\r\n\r\n"), "\(path) ended without its last chunk: \(client.text.suffix(200))")
        }
    }

    @Test func aSwapLeavesAnInFlightDownloadAndEventStreamIntact() throws {
        let files = try Self.fixtures()
        let big = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        FileManager.default.createFile(atPath: files + "/big.bin", contents: Data(big))
        let plugins = Fixtures.pluginDirectory("streaming-swap", files: [TestPaths.plugin("Streaming")])
        // Scale 0.1: /events runs 1.1 s; the drain deadline (4 s) then ends the endless /sse.
        let server = try Self.server(files: files, scale: 0.1, plugins: plugins, environment: ["SWITCHBOARD_PLUGINS_DRAIN_DEADLINE_MS": "4000"])
        defer { server.stop() }

        let download = try StreamClient(port: server.port, path: "/download/big.bin", receiveBuffer: 16384)
        defer { download.close() }
        #expect(download.read(until: "\r\n\r\n"))
        let events = BackgroundRequest(port: server.port, path: "/events")
        let endless = BackgroundRequest(port: server.port, path: "/sse")
        #expect(events.waitForStart() && endless.waitForStart())

        // v2: the same plugin with other bytes (a new content hash), renamed over v1.
        var v2 = try #require(FileManager.default.contents(atPath: TestPaths.plugin("Streaming")))
        v2.append(contentsOf: Array("switchboard-test-v2".utf8))
        let staged = plugins + "/.v2"
        FileManager.default.createFile(atPath: staged, contents: v2)
        #expect(rename(staged, plugins + "/libStreaming.so") == 0)
        #expect(waitUntil { (try? server.plugin("streaming"))??["generation"] as? Int == 2 })
        #expect(try server.get("/stream-basic").text.hasPrefix("Chunk 0\n"), "generation 2 serves")

        // The download started on v1 ends whole.
        #expect(download.read(until: "", limit: big.count + 4096, toEnd: true))
        #expect(download.body == big, "download: \(download.body.count) of \(big.count) bytes")

        // /events ends by itself with every event; /sse ends cleanly at the drain deadline.
        let finite = try #require(try events.wait(timeout: 10))
        let ids = finite.text.components(separatedBy: "\n").filter { $0.hasPrefix("id: ") }
        #expect(ids == (1...11).map { "id: \($0)" }, "\(finite.text)")
        let ended = try #require(try endless.wait(timeout: 10), "/sse outlived the drain deadline")
        let ticks = ended.text.components(separatedBy: "\n").filter { $0.hasPrefix("id: ") }
        #expect(ticks.count >= 5 && ticks == (1...ticks.count).map { "id: \($0)" })
        #expect(waitUntil { (try? server.adminJSON("/_switchboard/plugins"))?["draining"] as? [Any] == nil || ((try? server.adminJSON("/_switchboard/plugins"))?["draining"] as? [Any])?.isEmpty == true })
        #expect(server.stop() == 0, "the host did not exit cleanly:\n\(server.log.suffix(3000))")
    }
}

/// A raw streaming request read at the test's own pace.
final class StreamClient {
    let fd: Int32
    private(set) var received: [UInt8] = []
    private var closed = false

    /// Sends `GET path`, with `Connection: close` unless a second request is `pipelining` behind it.
    init(port: Int, path: String, headers: [(String, String)] = [], receiveBuffer: Int32 = 0, pipelining next: String? = nil) throws {
        fd = try RawHTTP.connect(port: port, timeout: 10, receiveBuffer: receiveBuffer)
        let fields = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(fields)Connection: close\r\n\r\n"
        if let next { head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(fields)\r\nGET \(next) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" }
        _ = head.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until `marker` has arrived (or, `toEnd`, until the server closes), at most `limit`
    /// bytes in all; false on a timeout or a close before the marker.
    func read(until marker: String, limit: Int = 1 << 20, toEnd: Bool = false) -> Bool {
        let needle = Array(marker.utf8)
        var buffer = [UInt8](repeating: 0, count: 65536)
        var searched = 0  // the marker does not start before this offset
        func found() -> Bool {
            defer { searched = max(searched, received.count - needle.count + 1) }
            return received[searched...].firstRange(of: needle) != nil
        }
        while received.count < limit {
            if !toEnd, found() { return true }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n == 0 { return toEnd }
            if n < 0 { return false }
            received.append(contentsOf: buffer[0..<n])
        }
        return !toEnd && found()
    }

    /// The body after the head (identity framing: a file response).
    var body: [UInt8] {
        guard let end = received.firstRange(of: [13, 10, 13, 10]) else { return [] }
        return Array(received[end.upperBound...])
    }

    var text: String { String(decoding: received, as: UTF8.self) }

    func close() {
        guard !closed else { return }
        closed = true
        Foundation.close(fd)
    }

    deinit { close() }
}

/// The resident set size of a process, from /proc.
func residentBytes(_ pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kib * 1024
}
