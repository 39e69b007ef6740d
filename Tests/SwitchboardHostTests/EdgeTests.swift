import Foundation
import Testing

/// HTTP/1.1 at the edge (RFC 9110, RFC 9112) over raw sockets: framing, Host, Expect, HTTP/1.0,
/// connection management, and the limits and timeouts a hostile client meets.
@Suite struct EdgeTests {
    /// HelloC, the probe and the streaming plugin (events 100× faster), with short timeouts.
    static func server(_ label: String, environment: [String: String] = [:]) throws -> ServerProcess {
        let dir = Fixtures.pluginDirectory(
            label, files: [TestPaths.plugin("HelloC"), TestPaths.plugin("Streaming"), Fixtures.built["probe"]!])
        return try ServerProcess(
            pluginDirectories: [dir],
            environment: [
                "SWITCHBOARD_PLUGINS_CONFIG_STREAMING_INTERVAL_SCALE": "0.01",
                "SWITCHBOARD_LIMITS_HEADER_TIMEOUT_MS": "800",
                "SWITCHBOARD_LIMITS_IDLE_TIMEOUT_MS": "800",
                "SWITCHBOARD_LIMITS_BODY_TIMEOUT_MS": "800",
                "SWITCHBOARD_LIMITS_SEND_TIMEOUT_MS": "800",
            ].merging(environment) { $1 })
    }

    /// What a raw client sees: the bytes until the server closed (or `timeout` seconds passed).
    struct Seen {
        var bytes: [UInt8]
        var closed: Bool
        var seconds: Double
        var text: String { String(decoding: bytes, as: UTF8.self) }
        /// Every status line, in order (interim ones included).
        var statuses: [String] {
            // A body need not end with a line break: look for status lines anywhere.
            text.components(separatedBy: "HTTP/1.").dropFirst().compactMap { rest in
                rest.range(of: "\r\n").map { "HTTP/1." + rest[..<$0.lowerBound] }
            }
        }
    }

    /// Sends `request` on a new connection (then `more`, after `pause` seconds, if given) and reads
    /// until the server closes or `timeout` passes.
    static func exchange(_ port: Int, _ request: String, more: String? = nil, pause: Double = 0, timeout: Double = 5) throws -> Seen {
        let fd = try RawHTTP.connect(port: port, timeout: 0)
        defer { close(fd) }
        let start = Date()
        send(fd, request)
        if let more {
            usleep(UInt32(pause * 1_000_000))
            send(fd, more)
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date().timeIntervalSince(start) < timeout {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return Seen(bytes: bytes, closed: true, seconds: Date().timeIntervalSince(start)) }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return Seen(bytes: bytes, closed: false, seconds: Date().timeIntervalSince(start))
    }

    /// Everything the server sends on `fd` until it closes (or the socket's read timeout).
    static func readToEnd(_ fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return bytes }
            bytes.append(contentsOf: buffer[0..<n])
        }
    }

    static func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Foundation.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    // MARK: Framing and Host

    /// The listening socket keeps the deep backlog it was made with (4096, or the kernel's
    /// somaxconn if lower): NIO listened again with 128 when it adopted the socket, and a burst
    /// of connections past that had SYNs dropped (a 1 s retransmission for each such client).
    /// `ss` reads the backlog of a listening socket as its Send-Q.
    @Test func theListenBacklogIsDeep() throws {
        let server = try Self.server("backlog")
        defer { server.stop() }
        let ss = Process()
        ss.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ss.arguments = ["ss", "-ltnH", "sport = :\(server.port)"]
        let out = Pipe()
        ss.standardOutput = out
        try ss.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ss.waitUntilExit()
        let somaxconn = Int((try? String(contentsOfFile: "/proc/sys/net/core/somaxconn", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 4096
        let columns = text.split(whereSeparator: \.isWhitespace)
        #expect(columns.count >= 3 && Int(columns[2]) == min(4096, somaxconn), "ss: \(text)")
    }

    @Test func malformedRequestsGetAJSON400AndAnAnnouncedClose() throws {
        let server = try Self.server("edge-400")
        defer { server.stop() }
        let cases: [(String, String, String)] = [
            ("no Host in 1.1", "GET /hello-c HTTP/1.1\r\n\r\n", "must have a Host"),
            ("two Host lines", "GET /hello-c HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "one Host header field"),
            ("an invalid Host", "GET /hello-c HTTP/1.1\r\nHost: a b/c\r\n\r\n", "not a valid host"),
            ("not HTTP", "HELLO\r\n\r\n", "Malformed HTTP request"),
            ("Content-Length with chunked", "POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "Malformed"),
            ("a bad chunk size", "POST /probe/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "could not be read"),
            ("a bad Content-Length", "POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", "Malformed"),
        ]
        for (name, request, detail) in cases {
            let seen = try Self.exchange(server.port, request)
            let response = try RawHTTP.parse(seen.bytes, method: "GET")
            #expect(response.status == 400, "\(name): \(seen.text)")
            #expect(response.header("content-type") == "application/json", "\(name)")
            #expect(response.header("connection")?.lowercased() == "close", "\(name)")
            #expect(response.text.hasPrefix(#"{"detail":"#) && response.text.contains(detail), "\(name): \(response.text)")
            #expect(seen.closed && seen.seconds < 3 * testTimeScale, "\(name): the connection stayed open")
        }
        // Only a body over the limit is 413; the server keeps serving.
        #expect(try server.get("/hello-c").status == 200)
    }

    @Test func whatTheServerDoesNotImplementIs501() throws {
        let server = try Self.server("edge-501")
        defer { server.stop() }
        for request in [
            "GET /hello-c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST /probe/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        ] {
            let seen = try Self.exchange(server.port, request)
            #expect(seen.statuses == ["HTTP/1.1 501 Not Implemented"] && seen.closed, "\(request): \(seen.text)")
        }
    }

    /// A client that reads slowly still gets every byte of a response after which the connection
    /// closes: the close waits for the output (a full close would drop what is still queued).
    @Test(arguments: ["HTTP/1.0", "HTTP/1.1"])
    func aClosingResponseReachesASlowReaderWhole(version: String) throws {
        // (The send timeout is longer than the client's pause here: it is not what is tested.)
        let server = try Self.server("edge-slow-\(version)", environment: ["SWITCHBOARD_LIMITS_SEND_TIMEOUT_MS": "20000"])
        defer { server.stop() }
        let path = "/export/csv?rows=48500"
        let whole = try server.get(path).body.count
        let fd = try RawHTTP.connect(port: server.port, timeout: 10, receiveBuffer: 4096)
        defer { close(fd) }
        Self.send(fd, "GET \(path) \(version)\r\nHost: x\r\nConnection: close\r\n\r\n")
        usleep(2_500_000)
        let response = try RawHTTP.parse(Self.readToEnd(fd), method: "GET")
        #expect(response.body.count == whole, "\(response.body.count) of \(whole) bytes")
    }

    @Test func headersOverTheLimitAre431() throws {
        let server = try Self.server("edge-431", environment: ["SWITCHBOARD_LIMITS_MAX_HEADER_BYTES": "4096"])
        defer { server.stop() }
        let seen = try Self.exchange(server.port, "GET /hello-c HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 8000))\r\n\r\n")
        #expect(try RawHTTP.parse(seen.bytes, method: "GET").status == 431)
        #expect(seen.closed)
    }

    // MARK: Expect: 100-continue

    @Test func expectContinueIsAnsweredOrRefusedAtOnce() throws {
        let server = try Self.server("edge-expect")
        defer { server.stop() }
        // Within the limit: 100 Continue, then the body is read and answered.
        let head = "POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        let fd = try RawHTTP.connect(port: server.port, timeout: 3)
        defer { close(fd) }
        Self.send(fd, head)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        #expect(n > 0 && String(decoding: buffer[0..<max(n, 0)], as: UTF8.self).hasPrefix("HTTP/1.1 100 Continue\r\n\r\n"))
        Self.send(fd, "hello")
        let answer = try RawHTTP.parse(Self.readToEnd(fd), method: "POST")
        #expect(answer.status == 200 && answer.text.contains("body=hello"))

        // 50 MiB declared against a 1 MiB limit: 413 at once, no 100, the connection closed.
        let big = try Self.exchange(
            server.port, "POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\nExpect: 100-continue\r\n\r\n")
        #expect(big.statuses == ["HTTP/1.1 413 Payload Too Large"], "\(big.text)")
        #expect(big.closed && big.seconds < 3 * testTimeScale)
        // A route that refuses before reading (404) sends no 100 and closes: the body never comes.
        let missing = try Self.exchange(server.port, "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        #expect(missing.statuses == ["HTTP/1.1 404 Not Found"] && missing.closed && missing.seconds < 3 * testTimeScale)
        // Any other expectation: 417.
        let other = try Self.exchange(server.port, "GET /hello-c HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n")
        #expect(other.statuses == ["HTTP/1.1 417 Expectation Failed"])
    }

    // MARK: HTTP/1.0 and connection management

    @Test func anUpgradeIsNotTakenAndEndsTheConnection() throws {
        let server = try Self.server("edge-upgrade")
        defer { server.stop() }
        // NIO's decoder reads nothing after an upgrade request: the response says the connection
        // ends, and what follows (a pipelined request, or a flood) is not read.
        let seen = try Self.exchange(
            server.port, "GET /hello-c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /hello-c HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(seen.statuses == ["HTTP/1.1 200 OK"] && seen.closed && seen.seconds < 3 * testTimeScale, "\(seen.text)")
        #expect(seen.text.lowercased().contains("connection: close"))
    }

    @Test func http10ClosesWhenItMust() throws {
        let server = try Self.server("edge-10-close")
        defer { server.stop() }
        // `close` wins over `keep-alive` (RFC 9112 §9.3); Transfer-Encoding in 1.0 is faulty framing (§6.1).
        for request in [
            "GET /hello-c HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            "POST /probe/echo HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ] {
            let seen = try Self.exchange(server.port, request, more: "GET /hello-c HTTP/1.0\r\n\r\n", pause: 0.2)
            #expect(seen.statuses == ["HTTP/1.0 200 OK"] && seen.closed, "\(request): \(seen.text)")
            #expect(seen.text.lowercased().contains("connection: close"))
        }
    }

    @Test func http10GetsNoChunkedFramingAndClosesUnlessKeptAlive() throws {
        let server = try Self.server("edge-10")
        defer { server.stop() }
        let stream = try Self.exchange(server.port, "GET /hello-c/count?n=3 HTTP/1.0\r\n\r\n")
        #expect(stream.closed)
        #expect(!stream.text.lowercased().contains("transfer-encoding"), "\(stream.text)")
        #expect(stream.text.hasPrefix("HTTP/1.0 200 OK\r\n") && stream.text.hasSuffix("\r\n\r\n1\n2\n3\n"))
        #expect(stream.text.lowercased().contains("connection: close"))
        // keep-alive with a Content-Length: two requests on one connection.
        let kept = try Self.exchange(
            server.port, "GET /hello-c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            more: "GET /hello-c HTTP/1.0\r\n\r\n", pause: 0.2)
        #expect(kept.statuses == ["HTTP/1.0 200 OK", "HTTP/1.0 200 OK"], "\(kept.text)")
        #expect(kept.text.lowercased().contains("connection: keep-alive") && kept.closed)
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAndTheLastAnnouncesTheClose() throws {
        let server = try Self.server("edge-pipeline")
        defer { server.stop() }
        let seen = try Self.exchange(
            server.port,
            "GET /hello-c HTTP/1.1\r\nHost: x\r\n\r\nGET /hello-c/json HTTP/1.1\r\nHost: x\r\n\r\nGET /hello-c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(seen.statuses.count == 3 && seen.closed)
        #expect(seen.text.lowercased().components(separatedBy: "connection: close").count == 2, "\(seen.text)")
        // A malformed request behind a good one: the good one is answered first, then the 400.
        let mixed = try Self.exchange(server.port, "GET /hello-c HTTP/1.1\r\nHost: x\r\n\r\nGET /hello-c HTTP/1.1\r\n\r\n")
        #expect(mixed.statuses == ["HTTP/1.1 200 OK", "HTTP/1.1 400 Bad Request"] && mixed.closed, "\(mixed.text)")
    }

    /// Requests answered on the event loop (`EventLoopResponder`) and by the connection's task,
    /// pipelined on one connection, are answered once each and in order: one the loop starts and
    /// passes on (a later answer, the thread pool, a stream) holds back those behind it, and one the
    /// task answers from the start (the admin API, a body) too.
    @Test func pipelinedRequestsAnsweredOnTheEventLoopAndByTheTaskKeepTheirOrder() throws {
        let server = try Self.server("edge-pipeline-dispatch")
        defer { server.stop() }
        let requests: [(request: String, status: String, marker: String)] = [
            ("GET /hello-c HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", "Hello from C!"),
            ("GET /probe/pending HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", "late"),
            ("GET /hello-c/json HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", "\"language\":\"c\""),
            ("GET /probe/blocking HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", "blocked"),
            ("GET /_switchboard/routes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "200 OK", "/probe/pending"),
            ("GET /probe/rules HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", "ok"),
            ("POST /probe/echo?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody", "200 OK", "body=body"),
            ("GET /probe/fail HTTP/1.1\r\nHost: x\r\n\r\n", "500 Internal Server Error", "Internal Server Error"),
            ("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "404 Not Found", "\"Not Found\""),
            ("HEAD /hello-c/items/7 HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", ""),
            ("GET /hello-c/items/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "200 OK", "\"item_id\":\"7\""),
        ]
        let seen = try Self.exchange(server.port, requests.map(\.request).joined(), timeout: 8)
        #expect(seen.closed, "\(seen.text)")
        #expect(seen.text.contains("x-utf8: café ✓\r\n"), "a UTF-8 field value goes out as its bytes")
        let statuses = seen.statuses
        #expect(statuses.count == requests.count, "\(seen.text)")
        for (i, expected) in requests.enumerated() where i < statuses.count {
            #expect(statuses[i] == "HTTP/1.1 " + expected.status, "request \(i): \(expected.request)")
        }
        // Each body's marker comes after the one before it.
        var from = seen.text.startIndex
        for expected in requests where !expected.marker.isEmpty {
            guard let found = seen.text.range(of: expected.marker, range: from..<seen.text.endIndex) else {
                Issue.record("\(expected.marker) is missing or out of order:\n\(seen.text)")
                return
            }
            from = found.upperBound
        }
    }

    /// A client that pipelines requests and never reads is held back: once its socket stops taking
    /// responses the server stops answering on the event loop, and the task's writer waits, so the
    /// server stops reading. Unheld, 2,000 pipelined requests for 64 KiB each queued 125 MiB of
    /// responses. Both ways of answering are tried: on the event loop (no body) and by the
    /// connection's task (a request with a body). Host paths with a query are the host's on either
    /// path.
    @Test(arguments: ["", "Content-Length: 1\r\n\r\nx"])
    func aClientThatSendsWithoutReadingIsHeldBack(body: String) throws {
        let server = try Self.server("edge-unread", environment: ["SWITCHBOARD_LIMITS_SEND_TIMEOUT_MS": "30000"])
        defer { server.stop() }
        #expect(try server.get("/metrics?format=text").status == 200)
        #expect(try server.get("/openapi.json?v=2").status == 200)
        let pid = try server.workerPID()  // the process that serves (the supervisor only supervises)
        let before = residentBytes(pid)
        let fd = try RawHTTP.connect(port: server.port, timeout: 0)
        defer { close(fd) }
        Self.send(fd, String(repeating: "GET /probe/big HTTP/1.1\r\nHost: x\r\n" + (body.isEmpty ? "\r\n" : body), count: 2000))
        // The server answers what its socket takes, then stops; time for it to have gone on.
        var peak = before
        for _ in 0..<20 {
            peak = max(peak, residentBytes(pid))
            usleep(50_000)
        }
        let grown = peak - before
        #expect(!residentMemoryIsMeaningful || grown < 32 << 20, "the server grew \(grown >> 20) MiB for responses a client does not read")
        #expect(try server.get("/hello-c").status == 200)
    }

    @Test func anEventStreamAnnouncesItsCloseAndNeverStrandsAPipelinedRequest() throws {
        let server = try Self.server("edge-sse")
        defer { server.stop() }
        let seen = try Self.exchange(
            server.port, "GET /events/named HTTP/1.1\r\nHost: x\r\n\r\nGET /hello-c HTTP/1.1\r\nHost: x\r\n\r\n", timeout: 8)
        #expect(seen.closed && seen.seconds < 5 * testTimeScale, "the connection stayed open \(seen.seconds) s")
        let response = try RawHTTP.parse(seen.bytes, method: "GET")
        #expect(response.header("content-type") == "text/event-stream")
        #expect(response.header("connection")?.lowercased() == "close")
        #expect(response.text.contains("event: complete"))
    }

    /// RFC 9112 §9.6: a server that closes after a response must not process what was pipelined
    /// behind it. A finite event stream closes its connection; a request that changes state,
    /// pipelined behind it, is not run (its answer could not be sent, and a client would retry it).
    @Test func aRequestPipelinedBehindTheLastResponseIsNotRun() throws {
        let server = try Self.server("edge-after-last")
        defer { server.stop() }
        let seen = try Self.exchange(
            server.port, "GET /events/named HTTP/1.1\r\nHost: x\r\n\r\nGET /probe/state HTTP/1.1\r\nHost: x\r\n\r\n", timeout: 8)
        #expect(seen.closed && seen.text.contains("event: complete"), "\(seen.text)")
        #expect(!seen.text.contains("hits="), "the request behind the last response was answered")
        #expect(try server.get("/probe/state").text == "hits=1", "the request behind the last response was run")
    }

    /// An event stream asked for with a body (empty or not, by length or chunked) whose client
    /// then leaves: the host notices and ends the stream, and keeps serving. (It trapped: the
    /// inbound watch began where the already-read body had ended.)
    @Test(arguments: ["Content-Length: 0\r\n\r\n", "Content-Length: 2\r\n\r\nhi", "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"])
    func anEventStreamWithARequestBodyWhoseClientLeavesEndsCleanly(framing: String) throws {
        let server = try Self.server("edge-sse-body")
        defer { server.stop() }
        for path in ["/logs/stream", "/events"] {
            let fd = try RawHTTP.connect(port: server.port, timeout: 5)
            Self.send(fd, "GET \(path) HTTP/1.1\r\nHost: x\r\n" + framing)
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            #expect(n > 0 && String(decoding: buffer[0..<max(n, 0)], as: UTF8.self).hasPrefix("HTTP/1.1 200"), "\(path)")
            close(fd)
            #expect(waitUntil(timeout: 5) { StreamingTests.inFlight(server) == 0 }, "\(path): the stream outlived its client")
            #expect(try server.get("/hello-c").status == 200, "\(path): the server stopped serving:\n\(server.log.suffix(2000))")
        }
    }

    // MARK: Timeouts and limits

    @Test func eachTimeoutFires() throws {
        let server = try Self.server("edge-timeouts")
        defer { server.stop() }
        // A silent socket: closed without an answer after the header timeout.
        let silent = try Self.exchange(server.port, "")
        #expect(silent.closed && silent.bytes.isEmpty && silent.seconds < 3 * testTimeScale)
        // Half a head: 408.
        let half = try Self.exchange(server.port, "GET /hello-c HTTP/1.1\r\nHost: x\r\n")
        #expect(half.statuses == ["HTTP/1.1 408 Request Timeout"] && half.closed && half.seconds < 3 * testTimeScale)
        // A slowloris head, a line at a time inside the header timeout: still 408 at the deadline.
        let fd = try RawHTTP.connect(port: server.port, timeout: 3)
        Self.send(fd, "GET /hello-c HTTP/1.1\r\nHost: x\r\n")
        for i in 0..<4 {
            usleep(300_000)
            Self.send(fd, "X-Slow-\(i): 1\r\n")
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        #expect(n > 0 && String(decoding: buffer[0..<max(n, 0)], as: UTF8.self).hasPrefix("HTTP/1.1 408"))
        close(fd)
        // An idle keep-alive connection: closed quietly after the idle timeout.
        let idle = try Self.exchange(server.port, "GET /hello-c HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(idle.statuses == ["HTTP/1.1 200 OK"] && idle.closed && idle.seconds > 0.7 && idle.seconds < 3 * testTimeScale)
        // Half a body: 408.
        let body = try Self.exchange(server.port, "POST /probe/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        #expect(body.statuses == ["HTTP/1.1 408 Request Timeout"] && body.closed && body.seconds < 3 * testTimeScale, "\(body.text)")
        let metrics = try server.get("/metrics").text
        for timeout in ["header", "idle", "body"] {
            #expect(metrics.contains(#"switchboard_connection_timeouts_total{timeout="\#(timeout)"}"#), "\(timeout)")
            #expect(!metrics.contains(#"switchboard_connection_timeouts_total{timeout="\#(timeout)"} 0"#), "\(timeout) never fired")
        }
    }

    @Test func aStalledReaderIsCutOffBySendTimeout() throws {
        let server = try Self.server("edge-send", environment: ["SWITCHBOARD_PLUGINS_CONFIG_STREAMING_FILES_DIRECTORY": try StreamingTests.fixtures()])
        defer { server.stop() }
        // A CSV export of ~60 MB to a client that reads nothing: the writer blocks, then the send
        // timeout closes the connection and the producer is told (its stream ends).
        let client = try StreamClient(port: server.port, path: "/export/csv?rows=1000000", receiveBuffer: 4096)
        defer { client.close() }
        #expect(client.read(until: "\r\n1,"))
        #expect(waitUntil(timeout: 20) { StreamingTests.inFlight(server) == 0 }, "the stalled export was never cut off")
        #expect(try server.get("/metrics").text.contains(#"switchboard_connection_timeouts_total{timeout="send"} 1"#))
    }

    @Test func connectionsPastTheLimitGetA503AndTheServerStaysReachable() throws {
        let server = try Self.server("edge-max", environment: ["SWITCHBOARD_LIMITS_MAX_CONNECTIONS": "4", "SWITCHBOARD_LIMITS_IDLE_TIMEOUT_MS": "30000", "SWITCHBOARD_LIMITS_HEADER_TIMEOUT_MS": "30000"])
        defer { server.stop() }
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<4 { held.append(try RawHTTP.connect(port: server.port, timeout: 3)) }
        usleep(200_000)
        let refused = try Self.exchange(server.port, "GET /hello-c HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try RawHTTP.parse(refused.bytes, method: "GET")
        #expect(response.status == 503 && response.header("content-type") == "application/json" && refused.closed)
        close(held.removeLast())
        #expect(waitUntil(timeout: 3) { (try? server.get("/hello-c").status) == 200 })
        #expect(server.log.contains("refusing connections"))
    }

    // MARK: Admin API in loopback mode

    @Test func theAdminAPIRefusesForeignHostsAndCrossSiteWrites() throws {
        let server = try Self.server("edge-admin")
        defer { server.stop() }
        // DNS rebinding: a loopback peer, but a page's own name in Host.
        for host in ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "[::2]"] {
            let seen = try server.get("/_switchboard/plugins", headers: [("Host", host)])
            #expect(seen.status == 403, "\(host)")
        }
        #expect(try server.get("/metrics", headers: [("Host", "evil.example")]).status == 403)
        for host in ["localhost:1", "127.0.0.1", "127.1.2.3:80", "[::1]:9", "app.localhost", "LOCALHOST:1", "App.LocalHost"] {
            #expect(try server.get("/_switchboard/plugins", headers: [("Host", host)]).status == 200, "\(host)")
        }
        let reload = "/_switchboard/plugins/hello-c/reload"
        // A cross-site form post (text/plain needs no preflight), and what browsers say of it.
        for headers in [
            [("Origin", "http://evil.example"), ("Content-Type", "text/plain")],
            [("Origin", "null")],
            [("Sec-Fetch-Site", "cross-site")],
            [("Sec-Fetch-Site", "Same-Site")],
            [("Origin", "http://127.0.0.1:1")],
        ] {
            #expect(try server.get(reload, method: "POST", headers: headers).status == 403, "\(headers)")
        }
        // The server's own page, and a client that is not a browser (curl sends no Origin).
        #expect(try server.get(reload, method: "POST", headers: [("Origin", "http://127.0.0.1:\(server.port)")]).status == 200)
        #expect(try server.get(reload, method: "POST", headers: [("Origin", "HTTP://127.0.0.1:\(server.port)")]).status == 200)
        #expect(try server.get(reload, method: "POST").status == 200)
        // An absolute-form target names the host; the Host line is ignored (RFC 9112 §3.2.2).
        let absolute = try Self.exchange(
            server.port, "GET http://evil.example/_switchboard/plugins HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        #expect(absolute.statuses == ["HTTP/1.1 403 Forbidden"], "\(absolute.text)")
        let local = try Self.exchange(
            server.port, "GET http://localhost/_switchboard/plugins HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        #expect(local.statuses == ["HTTP/1.1 200 OK"], "\(local.text)")
    }
}
