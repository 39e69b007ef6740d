import Crypto
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
@testable import SwitchboardHost
import SwitchboardRouting
import SwitchboardSDK

@Suite struct RegistryTests {
    static let examples = [TestPaths.plugin("HelloC"), TestPaths.plugin("HelloSwift")]

    @Test func eachBrokenFixtureIsRefusedForItsOwnReasonAndTheGoodOnesServe() async throws {
        let brokenFiles = Fixtures.broken.map { Fixtures.built[$0.name]! } + [Fixtures.built["not_elf"]!, Fixtures.built["truncated"]!]
        let host = InProcessHost("refusals", files: Self.examples + brokenFiles)
        #expect(host.loaded.map(\.name).sorted() == ["hello-c", "hello-swift"])

        let byFile = Dictionary(uniqueKeysWithValues: host.refused.map { (($0.file as NSString).lastPathComponent, $0) })
        for (name, kind) in Fixtures.broken + [("not_elf", "not-elf"), ("truncated", "truncated")] {
            let refusal = try #require(byFile["x_\(name).so"], "no refusal for \(name)")
            #expect(refusal.kind.description == kind, "\(name): \(refusal.message)")
        }
        #expect(host.refused.count == Fixtures.broken.count + 2)
        #expect(Set(host.refused.map(\.message)).count == host.refused.count, "every refusal has its own message")

        // Messages say what to fix.
        #expect(byFile["x_conflict.so"]!.message.contains("\"conflict\"") && byFile["x_conflict.so"]!.message.contains("\"hello-c\""))
        #expect(byFile["x_init_fails.so"]!.message.contains("the database at db.example is unreachable"))
        #expect(byFile["x_swift_mismatch.so"]!.message.contains("Swift 5.9.0"))
        #expect(byFile["x_swift_mismatch.so"]!.message.contains("Swift \(SwiftToolchain.format(SwiftToolchain.compilerVersion))"))
        #expect(byFile["x_abi_major.so"]!.message.contains("rebuild"))
        #expect(byFile["x_bad_template.so"]!.message.contains("/bad-template/{id"))
        #expect(byFile["x_no_entry.so"]!.message.contains("switchboard_plugin_v1"))
        #expect(byFile["x_truncated.so"]!.message.contains("truncated"))
        // A refused plugin serves nothing, not even the routes it added before failing.
        #expect(host.server.registry.routeTable.routes.allSatisfy { ["hello-c", "hello-swift"].contains($0.plugin.name) })

        try await host.test { client in
            try await client.execute(uri: "/hello-c", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/hello-swift", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/bad-template/ok", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/conflict/own", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test func aSecondFileWithTheSameNameIsRefused() throws {
        let copy = Fixtures.pluginDirectory("dup-src", files: [TestPaths.plugin("HelloC")]) + "/libHelloC.so"
        let renamed = (copy as NSString).deletingLastPathComponent + "/zz_copy.so"
        try FileManager.default.moveItem(atPath: copy, toPath: renamed)
        let host = InProcessHost("duplicate", files: [TestPaths.plugin("HelloC"), renamed])
        defer { host.server.registry.retireAll() }
        #expect(host.loaded.map(\.name) == ["hello-c"])
        #expect(host.refused.map(\.kind) == [.duplicateName])
        #expect(host.refused.first?.message.contains("libHelloC.so") == true)
    }

    @Test func aLiteralSegmentWinsOverAParameterAndBothServe() async throws {
        let host = InProcessHost("literal", files: [TestPaths.plugin("HelloC"), Fixtures.built["literal"]!])
        #expect(host.refused.isEmpty)
        try await host.test { client in
            try await client.execute(uri: "/hello-c/items/special", method: .get) { #expect($0.text == "fixture") }
            try await client.execute(uri: "/hello-c/items/7", method: .get) {
                #expect($0.text == #"{"item_id":"7","plugin":"hello-c"}"#)
            }
            // The most specific template that has the method answers; 405 lists every method
            // of every template that matches the path.
            try await client.execute(uri: "/literal/new", method: .delete) { #expect($0.status == .ok && $0.text == "fixture") }
            try await client.execute(uri: "/literal/new", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/literal/new", method: .put) {
                #expect($0.status == .methodNotAllowed && $0.headers[.allow] == "DELETE, GET, HEAD")
            }
            try await client.execute(uri: "/literal/5", method: .get) {
                #expect($0.status == .methodNotAllowed && $0.headers[.allow] == "DELETE")
            }
        }
    }

    @Test func privateCopiesAreKeyedByContentAndTheDroppedFileIsNeverMapped() throws {
        let host = InProcessHost("copies", files: [TestPaths.plugin("HelloC")])
        defer { host.server.registry.retireAll() }
        let plugin = try #require(host.loaded.first)
        // /proc files report no size: read them to the end.
        let maps = String(decoding: FileHandle(forReadingAtPath: "/proc/self/maps")!.readDataToEndOfFile(), as: UTF8.self)
        #expect(maps.contains(plugin.image.privatePath))
        #expect(!maps.contains(plugin.file))
        #expect(plugin.image.privatePath.contains(String(plugin.sha256.prefix(16))))
        #expect(plugin.sha256 == SHA256.hex(Array(FileManager.default.contents(atPath: plugin.file)!)))
    }
}

import Foundation

@Suite struct DrainingTests {
    /// A generation replaced while a lease is out stays draining until the lease returns; then
    /// it retires (on_deinit runs) and leaves the draining list.
    @Test func aReplacedGenerationDrainsWhenItsLastLeaseReturns() throws {
        let host = InProcessHost("drain", files: [TestPaths.plugin("HelloC")])
        defer { host.server.registry.retireAll() }
        let registry = host.server.registry
        let first = try #require(registry.plugin(named: "hello-c"))
        #expect(first.enter())
        let file = first.file
        let second = try registry.load(file: file).get()
        #expect(second.generation == first.generation + 1)
        #expect(registry.plugin(named: "hello-c") === second)
        #expect(first.phase == .draining)
        #expect(registry.draining.map(\.generation) == [first.generation])
        #expect(first.enter(), "a request that matched the old table may still join a draining generation")
        first.leave()
        first.leave()
        #expect(waitUntil(timeout: 5) { registry.draining.isEmpty && first.phase == .retired })
        #expect(!first.enter(), "a drained generation takes no more leases")
        #expect(first.routes.isEmpty)
        let events = registry.events.history().map(\.type)
        #expect(events == [.loaded, .swapped, .draining, .drained])
    }

    /// Linux names files by bytes: `café.so` with U+00E9 and with e + U+0301 are two files, each
    /// serving its own plugin. Compared as `String`s they were one file, and unloading one
    /// unloaded both.
    @Test func filesThatDifferOnlyInNormalizationAreTwoFiles() throws {
        let host = InProcessHost("nfc-nfd", files: [])
        defer { host.server.registry.retireAll() }
        let registry = host.server.registry
        let dir = TestPaths.temporaryDirectory("nfc-nfd-files")
        let composed = dir + "/caf\u{E9}.so", decomposed = dir + "/cafe\u{301}.so"
        try FileManager.default.copyItem(atPath: TestPaths.plugin("HelloC"), toPath: composed)
        try FileManager.default.copyItem(atPath: Fixtures.built["probe"]!, toPath: decomposed)
        #expect(try registry.load(file: composed).get().name == "hello-c")
        #expect(try registry.load(file: decomposed).get().name == "probe")
        #expect(Set(registry.plugins.map(\.name)) == ["hello-c", "probe"], "loading one file replaced the other's plugin")
        #expect(registry.unload(file: decomposed).map(\.name) == ["probe"])
        // As bytes: String's == calls the two spellings equal.
        #expect(registry.plugin(named: "hello-c").map { Array($0.file.utf8) } == Array(composed.utf8), "unloading one file unloaded the other")
    }

    @Test func unloadingAFileRemovesItsRoutes() throws {
        let host = InProcessHost("unload", files: [TestPaths.plugin("HelloC")])
        defer { host.server.registry.retireAll() }
        let registry = host.server.registry
        let plugin = try #require(registry.plugin(named: "hello-c"))
        #expect(registry.unload(file: plugin.file).map(\.name) == ["hello-c"])
        guard case .notFound = registry.routeTable.match(method: "GET", path: "/hello-c") else {
            Issue.record("the unloaded plugin's route still matches")
            return
        }
        #expect(registry.plugin(named: "hello-c") == nil)
    }

    @Test func retainedImagesAreCappedAndCountedOncePerContent() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let retained = RetainedImages(limit: 2)
        #expect(retained.admits("a"))
        retained.record("a", logger: logger)
        retained.record("a", logger: logger)
        #expect(retained.count == 1)
        retained.record("b", logger: logger)
        #expect(retained.admits("a") && retained.admits("b"), "content already mapped costs nothing more")
        #expect(!retained.admits("c"))
    }

    @Test func adminAccessHelpers() throws {
        #expect(AdminAPI.isLoopback(try SocketAddress(ipAddress: "127.0.0.1", port: 1)))
        #expect(AdminAPI.isLoopback(try SocketAddress(ipAddress: "127.8.9.10", port: 1)))
        #expect(AdminAPI.isLoopback(try SocketAddress(ipAddress: "::1", port: 1)))
        #expect(!AdminAPI.isLoopback(try SocketAddress(ipAddress: "10.0.0.1", port: 1)))
        #expect(!AdminAPI.isLoopback(try SocketAddress(ipAddress: "::2", port: 1)))
        #expect(!AdminAPI.isLoopback(nil))
        #expect(AdminAPI.constantTimeEqual(Array("token".utf8), Array("token".utf8)))
        #expect(!AdminAPI.constantTimeEqual(Array("token".utf8), Array("token2".utf8)))
        #expect(!AdminAPI.constantTimeEqual(Array("tokem".utf8), Array("token".utf8)))
    }
}
