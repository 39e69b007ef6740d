import Hummingbird
import HummingbirdTesting
import Testing
@testable import SwitchboardHost

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
