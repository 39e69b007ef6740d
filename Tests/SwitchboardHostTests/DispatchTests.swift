import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import SwitchboardHost

/// The C and the Swift examples pass the same behavioural tests.
@Suite struct ExamplePluginTests {
    static func host(_ label: String) -> InProcessHost {
        InProcessHost(label, files: [TestPaths.plugin("HelloC"), TestPaths.plugin("HelloSwift")])
    }

    @Test(arguments: [("hello-c", "C", "c"), ("hello-swift", "Swift", "swift")])
    func textJSONAndPathParameter(plugin: String, greeting: String, language: String) async throws {
        try await Self.host("examples-\(language)").test { client in
            try await client.execute(uri: "/\(plugin)", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
                #expect(response.text == "Hello from \(greeting)!\n")
            }
            try await client.execute(uri: "/\(plugin)/json", method: .get) { response in
                #expect(response.headers[.contentType] == "application/json")
                let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: String]
                #expect(object == ["message": "Hello from \(greeting)", "language": language])
            }
            try await client.execute(uri: "/\(plugin)/items/caf%C3%A9%20%22q%22%5C", method: .get) { response in
                #expect(response.status == .ok)
                let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: String]
                #expect(object == ["item_id": "café \"q\"\\", "plugin": plugin])
            }
            try await client.execute(uri: "/\(plugin)/count?n=3", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.text == "1\n2\n3\n")
            }
            try await client.execute(uri: "/\(plugin)/count?n=abc", method: .get) { #expect($0.status == .unprocessableContent) }
        }
    }

    @Test(arguments: ["hello-c", "hello-swift"])
    func headAnswersEveryGetWithoutABody(plugin: String) async throws {
        try await Self.host("head-\(plugin)").test { client in
            for path in ["/\(plugin)", "/\(plugin)/json", "/\(plugin)/items/42", "/\(plugin)/count?n=2"] {
                let get = try await client.execute(uri: path, method: .get)
                let head = try await client.execute(uri: path, method: .head)
                #expect(head.status == get.status, "\(path)")
                #expect(head.body.readableBytes == 0, "\(path)")
                #expect(head.headers[.contentType] == get.headers[.contentType], "\(path)")
                if let length = get.headers[.contentLength] { #expect(head.headers[.contentLength] == length, "\(path)") }
            }
        }
    }

    @Test func configurationReachesThePlugin() async throws {
        var settings = HostSettings()
        settings.pluginDirectories = [Fixtures.pluginDirectory("config", files: [TestPaths.plugin("HelloC"), TestPaths.plugin("HelloSwift")])]
        settings.stateDirectory = TestPaths.temporaryDirectory("state-config")
        settings.pluginConfig = { plugin, key in key == "greeting" ? "Hi from \(plugin)" : nil }
        let server = SwitchboardServer(settings: settings, logger: .init(label: "test"))
        server.loadPlugins()
        defer { server.registry.retireAll() }
        try await server.makeApplication().test(.router) { client in
            try await client.execute(uri: "/hello-c", method: .get) { #expect($0.text == "Hi from hello-c\n") }
            try await client.execute(uri: "/hello-swift", method: .get) { #expect($0.text == "Hi from hello-swift\n") }
        }
    }
}

@Suite struct DispatchTests {
    static func host(_ label: String) -> InProcessHost {
        InProcessHost(label, files: [TestPaths.plugin("HelloC"), Fixtures.built["probe"]!])
    }

    @Test func unknownPathIs404WithAJSONBody() async throws {
        try await Self.host("404").test { client in
            for path in ["/nope", "/hello-c/", "/hello-c/items", "/hello-c/items/1/more", "//hello-c"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .notFound, "\(path)")
                    #expect(response.headers[.contentType] == "application/json")
                    #expect(response.text == #"{"detail":"Not Found"}"#)
                }
            }
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await Self.host("405").test { client in
            try await client.execute(uri: "/hello-c", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
                #expect(response.text == #"{"detail":"Method Not Allowed"}"#)
            }
            try await client.execute(uri: "/probe/echo", method: .get) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
            }
            try await client.execute(uri: "/hello-c", method: .options) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.allow] == "GET, HEAD")
            }
        }
    }

    @Test func aFailingHandlerIs500AndTheServerKeepsServing() async throws {
        let host = Self.host("500")
        try await host.test { client in
            for path in ["/probe/fail", "/probe/silent"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .internalServerError)
                    #expect(response.text == #"{"detail":"Internal Server Error"}"#)
                }
            }
            try await client.execute(uri: "/hello-c", method: .get) { #expect($0.status == .ok) }
        }
        let probe = try #require(host.loaded.first { $0.name == "probe" })
        #expect(probe.failures.load(ordering: .relaxed) == 2)
    }

    /// Paths are compared as their bytes (RFC 3986 §6.2.1: no Unicode normalization), also in
    /// the route table's hashed index: `café` spelled with U+00E9 and with e + U+0301 are two
    /// paths, each with its own methods, where `String` equality would make them one.
    @Test func pathsThatDifferOnlyInNormalizationAreTwoRoutes() async throws {
        try await Self.host("normalization").test { client in
            try await client.execute(uri: "/probe/caf%C3%A9", method: .get) { #expect($0.text == "composed") }
            try await client.execute(uri: "/probe/cafe%CC%81", method: .get) { #expect($0.text == "decomposed") }
            try await client.execute(uri: "/probe/cafe%CC%81", method: .post) { #expect($0.text == "decomposed") }
            try await client.execute(uri: "/probe/caf%C3%A9", method: .post) { response in
                #expect(response.status == .methodNotAllowed && response.headers[.allow] == "GET, HEAD", "\(response.headers)")
            }
        }
    }

    /// A file is opened by the bytes the plugin names (a Linux file name need not be UTF-8): a
    /// repaired copy of `caf\xE9.txt` would be `caf` U+FFFD `.txt`, another file. A path with a
    /// NUL in it is refused (the probe checks SB_ERR_INVALID_ARGUMENT before serving).
    @Test func aFileIsOpenedByTheBytesOfItsName() async throws {
        let dir = TestPaths.temporaryDirectory("latin1-file")
        func write(_ name: [UInt8], _ text: String) throws {
            let fd = (Array(dir.utf8) + [UInt8(ascii: "/")] + name + [0]).withUnsafeBufferPointer {
                $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
            }
            try #require(fd >= 0)
            defer { close(fd) }
            #expect(Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == text.utf8.count)
        }
        try write(Array("caf".utf8) + [0xE9] + Array(".txt".utf8), "latin-1 name")
        try write(Array("caf\u{FFFD}.txt".utf8), "repaired name")
        let host = Self.host("latin1-file")
        defer { host.server.registry.retireAll() }
        try await host.server.makeApplication().test(.live) { client in
            try await client.execute(uri: "/probe/latin1-file", method: .get, headers: [.init("X-Dir")!: dir]) { response in
                #expect(response.status == .ok && response.text == "latin-1 name", "\(response.status) \(response.text)")
            }
        }
    }

    @Test func pendingAndBlockingHandlers() async throws {
        try await Self.host("modes").test { client in
            try await client.execute(uri: "/probe/pending", method: .get) { #expect($0.text == "late") }
            try await client.execute(uri: "/probe/blocking", method: .get) { #expect($0.text == "blocked") }
        }
    }

    @Test func requestAccess() async throws {
        try await Self.host("echo").test { client in
            try await client.execute(
                uri: "/probe/echo?a=1&q=hello%20w%C3%B6rld&q=second", method: .post, headers: [.init("X-Probe")!: "yes"],
                body: ByteBuffer(string: "the body")
            ) { response in
                #expect(response.text == "method=POST q=hello wörld x-probe=yes body=the body")
            }
            // A malformed escape is kept as sent and the rest decodes, as the host's validation reads
            // it (and Starlette does), not reported absent.
            try await client.execute(uri: "/probe/echo?q=50%zz+off", method: .post) { #expect($0.text == "method=POST q=50%zz off x-probe= body=") }
        }
    }

    @Test func theABIRefusesMisuseWithStatusCodes() async throws {
        try await Self.host("rules").test { client in
            try await client.execute(uri: "/probe/rules", method: .get) {
                #expect($0.text == "ok")
                #expect($0.headers[HTTPField.Name("x-utf8")!] == "café ✓", "a UTF-8 value arrives as its bytes")
                #expect($0.headers[HTTPField.Name("x-upper-case")!] == "kept")
            }
            try await client.execute(uri: "/probe/query-names?caf%C3%A9=composed&cafe%CC%81=decomposed&%FF=replaced&=empty+name", method: .get) {
                #expect($0.text == "ok")
            }
        }
    }

    @Test func aBorrowedBodyIsReleasedExactlyOnce() async throws {
        try await Self.host("borrowed").test { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/probe/borrowed", method: .get) { #expect($0.text == "borrowed bytes") }
            }
            try await client.execute(uri: "/probe/released", method: .get) { #expect($0.text == "3") }
        }
    }

    @Test func stateStoreAndTopicsCompleteThroughCallbacks() async throws {
        try await Self.host("services").test { client in
            let first = try await client.execute(uri: "/probe/state", method: .get).text
            let second = try await client.execute(uri: "/probe/state", method: .get).text
            let n = Int(first.dropFirst("hits=".count))!
            #expect(second == "hits=\(n + 1)")
            try await client.execute(uri: "/probe/topic", method: .get) { #expect($0.text == "status=0 message=hello") }
        }
    }

    @Test func streamedRequestBodiesAndTheirLimit() async throws {
        try await Self.host("upload").test { client in
            try await client.execute(uri: "/probe/upload", method: .post, body: ByteBuffer(repeating: 7, count: 40_000)) {
                #expect($0.text == "received=40000")
            }
            try await client.execute(uri: "/probe/upload", method: .post, body: ByteBuffer(repeating: 7, count: 100_000)) {
                #expect($0.status == .contentTooLarge)
            }
        }
    }

    @Test func aBufferedBodyOverTheLimitIs413() async throws {
        try await Self.host("413").test { client in
            try await client.execute(uri: "/probe/echo", method: .post, body: ByteBuffer(repeating: 1, count: (1 << 20) + 1)) {
                #expect($0.status == .contentTooLarge)
                #expect($0.headers[.contentType] == "application/json")
            }
        }
    }
}
