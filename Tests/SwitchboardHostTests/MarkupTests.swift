import Foundation
import Synchronization
import SwitchboardSDK
import Testing

/// The markup plugin (issue #15), written in C: section 8.4's HTML, XML, text and RSS checked by
/// real parsers (xmllint, html5lib, feedparser), validators and 304s, HEAD, and exercise 3's log
/// files paged from disk: first, middle, last and past-the-end pages, a file that grows while it
/// is paged, a file without a last line end, and names that try to leave the directory.
@Suite struct MarkupTests {
    static func server(logs: String) throws -> ServerProcess {
        try ServerProcess(
            pluginDirectories: [Fixtures.pluginDirectory("markup", files: [TestPaths.plugin("Markup")])],
            environment: ["SWITCHBOARD_PLUGINS_CONFIG_MARKUP_LOGS_DIRECTORY": logs])
    }

    /// A logs directory: `numbered.log` (lines "line 1" … "line 2345"), `partial.log` (three
    /// lines, the last without a line end), `empty.log`, a hidden file, a subdirectory, a symlink
    /// leading out and one staying in.
    static func logs() throws -> String {
        let root = TestPaths.temporaryDirectory("logs")
        let outside = TestPaths.temporaryDirectory("outside")
        try "secret\n".write(toFile: outside + "/secret.log", atomically: true, encoding: .utf8)
        try (1...2345).map { "line \($0)\n" }.joined().write(toFile: root + "/numbered.log", atomically: true, encoding: .utf8)
        try "one\ntwo\nthree".write(toFile: root + "/partial.log", atomically: true, encoding: .utf8)
        try "".write(toFile: root + "/empty.log", atomically: true, encoding: .utf8)
        try "hidden\n".write(toFile: root + "/.hidden.log", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/escape.log", withDestinationPath: outside + "/secret.log")
        try FileManager.default.createSymbolicLink(atPath: root + "/alias.log", withDestinationPath: root + "/partial.log")
        return root
    }

    /// Runs `program` with the parsers' Python on `input` (a file path); its exit status and output.
    static func python(_ python: String, _ program: String, _ input: String) async throws -> (Int32, String) {
        try await ScaffoldTests.run(python, ["-c", program, input], in: TestPaths.repositoryRoot)
    }

    static func save(_ response: RawResponse, _ name: String) throws -> String {
        let path = TestPaths.temporaryDirectory("markup") + "/" + name
        try Data(response.body).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func theChaptersDocumentsParseAndCarryTheirMediaTypes() async throws {
        let server = try Self.server(logs: try Self.logs())
        defer { server.stop() }
        let types: [(String, String)] = [
            ("/html", "text/html; charset=utf-8"), ("/page/7", "text/html; charset=utf-8"), ("/xml", "application/xml"),
            ("/products/42/xml", "application/xml"), ("/text", "text/plain; charset=utf-8"), ("/logs/3", "text/plain; charset=utf-8"),
            ("/data.txt", "text/plain; charset=utf-8"), ("/rss", "application/rss+xml; charset=utf-8"),
        ]
        for (path, type) in types {
            let response = try server.get(path)
            #expect(response.status == 200 && response.header("content-type") == type, "\(path): \(response.status) \(response.header("content-type") ?? "")")
            let head = try server.get(path, method: "HEAD")
            #expect(head.status == 200 && head.body.isEmpty, "HEAD \(path)")
        }
        #expect(try server.get("/text").text == "Hello from FastAPI!\nThis is a plain text response.")
        #expect(try server.get("/products/42/xml").text == """
            <?xml version="1.0" encoding="UTF-8"?>
            <product><id>42</id><name>Product 42</name><price>99.99</price><description>A great product</description><stock>100</stock></product>
            """)
        #expect(try server.get("/logs/3").text.contains("[2024-01-15 10:30:01] INFO: Log 3 requested\n"))
        let data = try server.get("/data.txt")
        #expect(data.header("content-disposition") == "attachment; filename=data.txt")
        let lines = data.text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 100 && lines[0] == "Item 1: Value 10" && lines[99] == "Item 100: Value 1000")
        #expect(try server.get("/page/abc").status == 422)
        #expect(try server.get("/products/x/xml").status == 422)

        // XML and RSS through a real XML parser; the feed through a feed parser; HTML through an
        // HTML5 parser in strict mode (any parse error fails).
        if let xmllint = ExternalTool.xmllint.require(for: "XML and RSS well-formedness") {
            for path in ["/xml", "/products/42/xml", "/rss"] {
                let file = try Self.save(try server.get(path), "doc.xml")
                let (status, output) = try await ScaffoldTests.run(xmllint, ["--noout", file], in: TestPaths.repositoryRoot)
                #expect(status == 0, "\(path): \(output)")
            }
        }
        guard let python = ExternalTool.parsersPython.require(for: "HTML5 and feed parsing") else { return }
        let feed = try Self.save(try server.get("/rss"), "feed.xml")
        let (feedStatus, feedOutput) = try await Self.python(python, """
            import sys, feedparser, calendar, time
            d = feedparser.parse(open(sys.argv[1], 'rb').read())
            assert not d.bozo, d.bozo_exception
            assert d.version == 'rss20', d.version
            assert len(d.entries) == 3, len(d.entries)
            assert d.entries[0].title == 'FastAPI 1.0 Released'
            assert all(e.published_parsed for e in d.entries)
            built = calendar.timegm(d.feed.updated_parsed)
            assert abs(built - time.time()) < 120, d.feed.updated
            assert d.feed.links[-1].href == 'https://example.com/rss' or any(l.rel == 'self' for l in d.feed.links)
            print('feed ok')
            """, feed)
        #expect(feedStatus == 0 && feedOutput.contains("feed ok"), "\(feedOutput)")
        for path in ["/html", "/page/7"] {
            let page = try Self.save(try server.get(path), "page.html")
            let (status, output) = try await Self.python(python, """
                import sys, html5lib
                parser = html5lib.HTMLParser(strict=True)
                document = parser.parse(open(sys.argv[1], 'rb').read().decode('utf-8'))
                print('html ok', len(document.findall('.//{http://www.w3.org/1999/xhtml}a')))
                """, page)
            #expect(status == 0 && output.contains("html ok"), "\(path): \(output)")
        }
    }

    @Test func staticDocumentsAnswer304ToTheirTag() throws {
        let server = try Self.server(logs: try Self.logs())
        defer { server.stop() }
        for path in ["/html", "/xml", "/text", "/data.txt"] {
            let first = try server.get(path)
            let tag = try #require(first.header("etag"), "\(path)")
            #expect(tag.hasPrefix("\"") && tag.hasSuffix("\""))
            for condition in [tag, "W/\(tag)", "\"other\", \(tag)", "*"] {
                let again = try server.get(path, headers: [("If-None-Match", condition)])
                #expect(again.status == 304 && again.body.isEmpty && again.header("etag") == tag, "\(path) with \(condition)")
            }
            #expect(try server.get(path, headers: [("If-None-Match", "\"other\"")]).status == 200)
            // If-Match is evaluated first and compares strongly (RFC 9110 §13.2.2).
            #expect(try server.get(path, headers: [("If-Match", "\"other\"")]).status == 412, "\(path)")
            #expect(try server.get(path, headers: [("If-Match", "W/\(tag)")]).status == 412, "\(path): a weak tag never matches")
            #expect(try server.get(path, headers: [("If-Match", "\"other\", \(tag)")]).status == 200)
            #expect(try server.get(path, headers: [("If-Match", "*")]).status == 200)
            // gzip: the coded representation has its own tag, which revalidates too.
            let coded = try server.get(path, headers: [("Accept-Encoding", "gzip")])
            if let codedTag = coded.header("etag"), coded.header("content-encoding") == "gzip" {
                #expect(codedTag != tag)
                #expect(try server.get(path, headers: [("Accept-Encoding", "gzip"), ("If-None-Match", codedTag)]).status == 304)
            }
        }
    }

    @Test func logFilesArePagedFromDisk() throws {
        let logs = try Self.logs()
        let server = try Self.server(logs: logs)
        defer { server.stop() }
        let list = try #require(try JSONSerialization.jsonObject(with: Data(try server.get("/logfiles").body)) as? [String: Any])
        let names = (list["files"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["alias.log", "empty.log", "numbered.log", "partial.log"], "\(list)")

        func lines(_ response: RawResponse) -> [String] { response.text.split(separator: "\n").map(String.init) }
        let first = try server.get("/logfiles/numbered.log?per_page=100")
        #expect(first.status == 200 && first.header("content-type") == "text/plain; charset=utf-8")
        #expect(lines(first) == (1...100).map { "line \($0)" })
        #expect(first.header("link") == #"</logfiles/numbered.log?page=2&per_page=100>; rel="next""#)

        let middle = try server.get("/logfiles/numbered.log?page=12&per_page=100")
        #expect(lines(middle) == (1101...1200).map { "line \($0)" })
        let link = middle.header("link") ?? ""
        #expect(link.contains(#"</logfiles/numbered.log?page=11&per_page=100>; rel="prev""#) && link.contains(#"page=13&per_page=100>; rel="next""#))

        let last = try server.get("/logfiles/numbered.log?page=24&per_page=100")
        #expect(lines(last) == (2301...2345).map { "line \($0)" })
        #expect(last.header("x-total-count") == "2345")
        #expect(last.header("link")?.contains("rel=\"next\"") == false)
        #expect(last.header("link")?.contains(#"page=24&per_page=100>; rel="last""#) == true)
        // Once the end has been seen, the total is known on every page.
        #expect(try server.get("/logfiles/numbered.log?page=2&per_page=100").header("x-total-count") == "2345")

        let past = try server.get("/logfiles/numbered.log?page=25&per_page=100")
        #expect(past.status == 404 && past.header("content-type") == "application/json")
        #expect(past.text.contains("past the end"))

        // Lines past the index's stride and back: pages reached through its checkpoints.
        #expect(lines(try server.get("/logfiles/numbered.log?page=2001&per_page=1")) == ["line 2001"])
        #expect(lines(try server.get("/logfiles/numbered.log?page=1000&per_page=1")) == ["line 1000"])
        #expect(lines(try server.get("/logfiles/numbered.log?page=1001&per_page=1")) == ["line 1001"])

        // A last line without a line end is a line; an empty file is one empty page.
        let partial = try server.get("/logfiles/partial.log?page=2&per_page=2")
        #expect(partial.text == "three" && partial.header("x-total-count") == "3")
        #expect(try server.get("/logfiles/partial.log?page=3&per_page=2").status == 404)
        #expect(try server.get("/logfiles/alias.log?per_page=1").text == "one\n")
        let empty = try server.get("/logfiles/empty.log")
        #expect(empty.status == 200 && empty.body.isEmpty && empty.header("x-total-count") == "0")

        // Bounds are declared: the host answers 422 in FastAPI's shape.
        for query in ["page=0", "per_page=0", "per_page=1001", "page=x"] {
            #expect(try server.get("/logfiles/numbered.log?\(query)").status == 422, "\(query)")
        }
        #expect(try server.get("/logfiles/numbered.log", method: "HEAD").body.isEmpty)
    }

    @Test func aFileThatGrowsWhileItIsPagedKeepsItsPages() throws {
        let logs = try Self.logs()
        let server = try Self.server(logs: logs)
        defer { server.stop() }
        let path = logs + "/numbered.log"
        #expect(try server.get("/logfiles/numbered.log?page=24&per_page=100").header("x-total-count") == "2345")
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((2346...2500).map { "line \($0)\n" }.joined().utf8))
        try handle.close()
        let grown = try server.get("/logfiles/numbered.log?page=24&per_page=100")
        #expect(grown.text.split(separator: "\n").map(String.init) == (2301...2400).map { "line \($0)" })
        #expect(grown.header("link")?.contains(#"page=25&per_page=100>; rel="next""#) == true)
        let tail = try server.get("/logfiles/numbered.log?page=25&per_page=100")
        #expect(tail.header("x-total-count") == "2500")
        // Replaced by a shorter file (rotation): a new index, not stale offsets.
        try "fresh 1\nfresh 2\n".write(toFile: path, atomically: true, encoding: .utf8)
        let rotated = try server.get("/logfiles/numbered.log?per_page=100")
        #expect(rotated.text == "fresh 1\nfresh 2\n" && rotated.header("x-total-count") == "2")
        #expect(try server.get("/logfiles/numbered.log?page=24&per_page=100").status == 404)
    }

    /// Shapes that broke the first version (found by review): a page over the host's 256 KiB
    /// queue, a file whose line count is a multiple of the page size, a last line without a line
    /// end that ends on a 64 KiB read boundary, a file rewritten in place (copytruncate), a logs
    /// directory made after the server started.
    @Test func awkwardFilesPageExactly() throws {
        let logs = TestPaths.temporaryDirectory("awkward-logs") + "/logs"
        let server = try Self.server(logs: logs)
        defer { server.stop() }
        #expect(try server.get("/logfiles").status == 404)
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        #expect(try server.get("/logfiles").status == 200, "a directory made after start is picked up")

        let wide = String(repeating: "w", count: 300_000)
        try (wide + "\nshort\n").write(toFile: logs + "/wide.log", atomically: true, encoding: .utf8)
        let big = try server.get("/logfiles/wide.log?per_page=1")
        #expect(big.status == 200 && big.body.count == 300_001, "\(big.status) \(big.body.count) bytes")
        #expect(try server.get("/logfiles/wide.log?per_page=2").body.count == 300_007)

        try (1...1000).map { "line \($0)\n" }.joined().write(toFile: logs + "/round.log", atomically: true, encoding: .utf8)
        #expect(try server.get("/logfiles/round.log?page=10&per_page=100").header("x-total-count") == "1000")
        let past = try server.get("/logfiles/round.log?page=11&per_page=100")
        #expect(past.status == 404, "\(past.status) \(past.text)")

        try String(repeating: "x", count: 65_536).write(toFile: logs + "/tail.log", atomically: true, encoding: .utf8)
        let tail = try server.get("/logfiles/tail.log")
        #expect(tail.header("x-total-count") == "1" && tail.body.count == 65_536)
        let lines = (1...100).map { "l\($0)\n" }.joined()
        try (lines + String(repeating: "y", count: 65_536)).write(toFile: logs + "/tail2.log", atomically: true, encoding: .utf8)
        #expect(try server.get("/logfiles/tail2.log?page=2&per_page=100").body.count == 65_536)
        #expect(try server.get("/logfiles/tail2.log?per_page=100").header("x-total-count") == "101")

        // Rewritten in place (same inode), longer than before: the old offsets must not be used.
        let path = logs + "/rotate.log"
        try (1...5000).map { "old \($0)\n" }.joined().write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try server.get("/logfiles/rotate.log?page=4&per_page=1000").text.hasPrefix("old 3001\n"))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data((1...20000).map { "new \($0)\n" }.joined().utf8))
        try handle.close()
        for page in [2, 4, 5, 20] {
            let text = try server.get("/logfiles/rotate.log?page=\(page)&per_page=1000").text
            #expect(text.hasPrefix("new \((page - 1) * 1000 + 1)\n"), "page \(page): \(text.prefix(30))")
        }

        // A name with spaces and non-ASCII: listed, linked and served.
        try "a\nb\nc\n".write(toFile: logs + "/caf\u{e9} log.txt", atomically: true, encoding: .utf8)
        let named = try server.get("/logfiles/caf%C3%A9%20log.txt?per_page=1")
        #expect(named.text == "a\n" && named.header("link") == #"</logfiles/caf%C3%A9%20log.txt?page=2&per_page=1>; rel="next""#)
    }

    @Test func namesStayInsideTheLogsDirectory() throws {
        let server = try Self.server(logs: try Self.logs())
        defer { server.stop() }
        for name in ["..", ".", "%2e%2e", "%2E", "..%2Fnumbered.log", "%2Fetc%2Fpasswd", "escape.log", "sub", "nope", ".hidden.log", "%00"] {
            let response = try server.get("/logfiles/" + name)
            #expect(response.status == 404 || response.status == 400, "\(name): \(response.status)")
            #expect(response.header("content-type")?.hasPrefix("application/json") == true, "\(name)")
        }
        let missing = try Self.server(logs: TestPaths.temporaryDirectory("none") + "/missing")
        defer { missing.stop() }
        #expect(try missing.get("/logfiles").status == 404)
        #expect(try missing.get("/html").status == 200, "the documents serve without the logs directory")
    }

    /// Swapped ten times under load (each image a copy of the plugin with bytes appended, so a
    /// new file to the host): no request fails, and the C image is unmapped once drained (the
    /// host keeps none of them mapped).
    @Test func swappedUnderLoadItLosesNoRequestAndKeepsNoImage() throws {
        let logs = try Self.logs()
        let directory = Fixtures.pluginDirectory("markup-swap", files: [TestPaths.plugin("Markup")])
        let server = try ServerProcess(
            pluginDirectories: [directory],
            environment: ["SWITCHBOARD_PLUGINS_CONFIG_MARKUP_LOGS_DIRECTORY": logs, "SWITCHBOARD_PLUGINS_DEBOUNCE_MS": "20"])
        defer { server.stop() }
        let original = [UInt8](FileManager.default.contents(atPath: TestPaths.plugin("Markup"))!)
        let target = directory + "/libMarkup.so"
        let stop = Atomic<Bool>(false)
        let failures = Locked<[String]>([])
        let served = Atomic<Int>(0)
        let paths = ["/html", "/rss", "/logfiles/numbered.log?page=3&per_page=10", "/products/9/xml"]
        let done = paths.map { _ in DispatchSemaphore(value: 0) }
        for (path, semaphore) in zip(paths, done) {
            Thread {
                defer { semaphore.signal() }
                while !stop.load(ordering: .relaxed) {
                    let response = try? server.get(path)
                    if response?.status == 200, response?.body.isEmpty == false {
                        served.add(1, ordering: .relaxed)
                    } else {
                        failures.withLock { $0.append("\(path): \(response?.status ?? 0)") }
                    }
                }
            }.start()
        }
        for swap in 1...10 {
            let copy = TestPaths.temporaryDirectory("markup-image") + "/libMarkup.so"
            try Data(original + Array("swap \(swap)".utf8)).write(to: URL(fileURLWithPath: copy))
            try Drop.rename(copy, to: target)
            let swapped = waitUntil(timeout: 10) { (try? server.plugin("markup"))??["generation"] as? Int == swap + 1 }
            #expect(swapped, "swap \(swap):\n\(server.log.suffix(3000))")
            if !swapped { break }
        }
        stop.store(true, ordering: .relaxed)
        for semaphore in done { semaphore.wait() }
        #expect(failures.withLock { $0.isEmpty }, "\(failures.withLock { $0.prefix(5) })")
        #expect(served.load(ordering: .relaxed) > 0)
        let drained = waitUntil(timeout: 10) {
            let list = try? server.adminJSON("/_switchboard/plugins")
            return (list?["draining"] as? [Any])?.isEmpty == true && list?["retained_images"] as? Int == 0
        }
        #expect(drained, "a C image stays mapped: \((try? server.adminJSON("/_switchboard/plugins")) ?? [:])")
        #expect(server.stop() == 0)
    }
}
