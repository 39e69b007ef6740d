import Foundation
import Testing

/// The streaming plugin (issue #5) and the host's file responses, over the wire.
@Suite struct StreamingTests {
    /// A files directory with what the tests download, a symlink that leads out and a
    /// subdirectory; huge_file.txt and video.mp4 beside it, as the README has them.
    static func fixtures() throws -> String {
        let base = TestPaths.temporaryDirectory("streaming-files")
        let files = base + "/files"
        let fm = FileManager.default
        try fm.createDirectory(atPath: files + "/sub", withIntermediateDirectories: true)
        fm.createFile(atPath: files + "/hello.txt", contents: Data("Hello, World!\n".utf8))
        fm.createFile(atPath: files + "/small.bin", contents: Data((0..<4096).map { UInt8($0 % 256) }))
        fm.createFile(atPath: files + "/euro-€.txt", contents: Data("non-latin-1 filename\n".utf8))
        fm.createFile(atPath: base + "/secret.txt", contents: Data("outside\n".utf8))
        try fm.createSymbolicLink(atPath: files + "/escape", withDestinationPath: base + "/secret.txt")
        fm.createFile(atPath: base + "/video.mp4", contents: Data((0..<10_000).map { UInt8($0 % 251) }))
        fm.createFile(atPath: base + "/huge_file.txt", contents: Data((0..<100).map { "line \($0)\n" }.joined().utf8))
        return files
    }

    static func server(files: String) throws -> ServerProcess {
        let plugins = Fixtures.pluginDirectory("streaming", files: [TestPaths.plugin("Streaming")])
        return try ServerProcess(
            pluginDirectories: [plugins],
            environment: [
                "SWITCHBOARD_PLUGINS_CONFIG_STREAMING_FILES_DIRECTORY": files,
                "SWITCHBOARD_PLUGINS_CONFIG_STREAMING_INTERVAL_SCALE": "0.01",
            ])
    }

    @Test func namesResolveInsideTheFilesDirectoryOnly() throws {
        let server = try Self.server(files: try Self.fixtures())
        defer { server.stop() }
        let ok = try server.get("/download/hello.txt")
        #expect(ok.status == 200 && ok.text == "Hello, World!\n")
        #expect(ok.header("content-disposition") == #"attachment; filename="hello.txt""#)
        #expect(ok.header("content-length") == "14")
        for route in ["/download/", "/download-simple/", "/download-async/"] {
            for name in ["..", ".", "%2e%2e", "%2E", "..%2Fsecret.txt", "%2Fetc%2Fpasswd", "escape", "sub", "nope", "%00"] {
                let response = try server.get(route + name)
                #expect(response.status == 404 || response.status == 400, "\(route)\(name): \(response.status)")
                #expect(response.header("content-type")?.hasPrefix("application/json") == true, "\(route)\(name)")
            }
        }
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

    @Test func logBroadcastReachesSubscribersAndKeepsThemAlive() throws {
        let server = try Self.server(files: try Self.fixtures())
        defer { server.stop() }
        let fd = try RawHTTP.connect(port: server.port, timeout: 5)
        defer { close(fd) }
        _ = "GET /logs/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
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
        #expect(read(until: ": keepalive"))
        _ = try server.get("/logs/add?message=second", method: "POST")
        #expect(read(until: "] second\n\n"))
        #expect(try server.get("/logs/add", method: "POST").status == 422)
    }
}
