import Foundation
import Testing

/// The README's promises, read from the README itself: its run command serves every route it
/// lists with real content, and every `curl` example in "Try it" prints what it shows.
@Suite struct ReadmeTests {
    static let readme = (try? String(contentsOfFile: TestPaths.repositoryRoot + "/README.md", encoding: .utf8)) ?? ""

    /// The server as the README's run command starts it: its `--plugins` directories, from the
    /// repository root (so files/ is the streaming plugin's), with `.build/debug` read as the build
    /// directory of this test run. Fresh state, any free port.
    static func server() throws -> ServerProcess {
        let command = try #require(readme.split(separator: "\n").first { $0.contains("switchboard serve") && $0.contains("swift build") })
        let words = command.split(separator: " ").map(String.init)
        var directories: [String] = []
        for (i, word) in words.enumerated() where word == "--plugins" && i + 1 < words.count {
            let directory = words[i + 1]
            directories.append(directory == ".build/debug" ? TestPaths.binDirectory : TestPaths.repositoryRoot + "/" + directory)
        }
        #expect(directories.count == 2, "the run command should serve .build/debug and the drop directory: \(command)")
        return try ServerProcess(pluginDirectories: directories)
    }

    /// Each `$ curl …` line of "Try it" and the lines shown after it.
    static var examples: [(command: String, shown: [String])] {
        guard let start = readme.range(of: "## Try it\n") else { return [] }
        var result: [(String, [String])] = []
        for line in readme[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix("    ") {
                if line.isEmpty { continue }
                break
            }
            let text = line.dropFirst(4)
            if text.hasPrefix("$ ") {
                // A trailing comment follows two or more spaces.
                let command = text.dropFirst(2).components(separatedBy: "  #")[0].trimmingCharacters(in: .whitespaces)
                result.append((command, []))
            } else if !result.isEmpty {
                result[result.count - 1].1.append(String(text))
            }
        }
        return result
    }

    @Test func everyTryItExamplePrintsWhatTheReadmeShows() throws {
        let examples = Self.examples
        #expect(examples.count >= 10, "found \(examples.count) examples")
        let server = try Self.server()
        defer { server.stop() }
        for (command, shown) in examples {
            #expect(command.hasPrefix("curl "), "\(command)")
            let local = command.replacingOccurrences(of: "127.0.0.1:8000", with: "127.0.0.1:\(server.port)")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "curl -s --max-time 10 " + local.dropFirst(5)]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
            #expect(process.terminationStatus == 0, "\(command): curl exited \(process.terminationStatus)")
            #expect(!text.isEmpty, "\(command): no output")
            for line in shown {
                #expect(text.contains(line), "\(command) does not print \(line):\n\(text.prefix(1000))")
            }
        }
    }

    /// The routes the "Bundled" table lists, in `code`: each answers 2xx with a body (204 where it
    /// has none by design), in order: reads, then writes, then deletes.
    @Test func everyBundledRouteAnswersWithRealContent() throws {
        guard let start = Self.readme.range(of: "### Bundled"), let end = Self.readme.range(of: "### How loading works") else {
            Issue.record("the README has no Bundled table")
            return
        }
        let table = Self.readme[start.upperBound..<end.lowerBound]
        var routes: [(method: String, path: String)] = []
        for match in table.matches(of: /`((?:[A-Z]+ )?\/[^`]*)`/) {
            let token = String(match.output.1)
            let parts = token.split(separator: " ", maxSplits: 1).map(String.init)
            let (method, raw) = parts.count == 2 ? (parts[0], parts[1]) : ("GET", parts[0])
            let path = String(raw.split(separator: "?", maxSplits: 1)[0])
            guard !path.hasSuffix("/") else { continue }  // "under /variants/", or the `/` between two methods
            routes.append((method, path))
        }
        #expect(routes.count >= 25, "\(routes)")
        let order = ["GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2]
        routes.sort { order[$0.method, default: 1] < order[$1.method, default: 1] }

        let server = try Self.server()
        defer { server.stop() }
        // What the templates name: a user and a report that exist.
        let json = [("Content-Type", "application/json")]
        #expect(try server.get("/users", method: "POST", headers: json, body: Array(#"{"id":1,"username":"ada"}"#.utf8)).status == 201)
        #expect(try server.get("/reports", method: "POST").status == 202)
        let values = [
            "{item_id}": "1", "{user_id}": "1", "{report_id}": "1", "{filename}": "hello.txt", "{page_id}": "2", "{product_id}": "4", "{resource_id}": "1",
            "{log_id}": "3", "{name}": "app.log",
        ]
        let bodies = [
            "/items": #"{"name":"Pen","price":1.5}"#, "/items/1": #"{"name":"Laptop","price":899.99}"#,
            "/users": #"{"id":2,"username":"grace"}"#, "/variants/items-method1": #"{"id":1,"name":"Pen"}"#,
        ]
        let queries = ["/logs/add": "?message=hello", "/conditional": "?content=new", "/variants/items-method3": "?name=Pen"]
        for (method, template) in routes {
            var path = template
            for (name, value) in values { path = path.replacingOccurrences(of: name, with: value) }
            let target = path + (method == "GET" ? "" : queries[path] ?? "")
            guard let (status, body) = try? Self.firstBytes(port: server.port, method: method, target: target, body: method == "GET" ? "" : bodies[path] ?? "") else {
                let state = server.process.isRunning ? "running" : "exited \(server.process.terminationStatus) (\(server.process.terminationReason == .uncaughtSignal ? "signal" : "exit"))"
                Issue.record("\(method) \(target): no connection; the server \(state); its log ends:\n\(server.log.suffix(3000))")
                return
            }
            #expect((200..<300).contains(status), "\(method) \(target): \(status) \(body.prefix(300))")
            #expect(status == 204 || !body.isEmpty, "\(method) \(target): \(status) without content")
        }
    }

    /// The status and the first bytes of the body (an event stream never ends: its first event is
    /// enough), within 10 s.
    static func firstBytes(port: Int, method: String, target: String, body: String) throws -> (Int, String) {
        let fd = try RawHTTP.connect(port: port, timeout: 10)
        defer { close(fd) }
        let request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let head = received.firstRange(of: [13, 10, 13, 10]), received.count > head.upperBound { break }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: received, as: UTF8.self)
        let status = Int(text.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") ?? 0
        let bodyStart = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, bodyStart)
    }
}
