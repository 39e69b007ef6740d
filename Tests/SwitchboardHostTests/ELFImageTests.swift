import Foundation
import Testing
@testable import SwitchboardHost

@Suite struct ELFImageTests {
    static let helloC = Array(FileManager.default.contents(atPath: TestPaths.plugin("HelloC"))!)
    static let helloSwift = Array(FileManager.default.contents(atPath: TestPaths.plugin("HelloSwift"))!)

    @Test func readsWhatTheLoaderNeeds() throws {
        let c = try ELFImage(bytes: Self.helloC)
        let swift = try ELFImage(bytes: Self.helloSwift)
        // SwiftPM links even a C product through swiftc: it registers with the Swift runtime
        // (so it is never unloaded) but holds no Swift code (so no toolchain check).
        #expect(c.registersWithSwiftRuntime && !c.containsSwiftCode)
        #expect(swift.registersWithSwiftRuntime && swift.containsSwiftCode)
        let gccBuilt = try ELFImage(bytes: Array(FileManager.default.contents(atPath: Fixtures.built["probe"]!)!))
        #expect(!gccBuilt.registersWithSwiftRuntime && gccBuilt.needed.contains("libc.so.6"))
        // Linked by SwiftPM with -nostartfiles: it still needs libswiftCore, but nothing in it
        // registers with the runtime, so it is unmapped like any C image.
        let markup = try ELFImage(bytes: Array(FileManager.default.contents(atPath: TestPaths.plugin("Markup"))!))
        #expect(!markup.registersWithSwiftRuntime && !markup.containsSwiftCode && markup.needed.contains { $0.hasPrefix("libswiftCore") })
        // Section headers removed: what the image registers cannot be seen, so needing the Swift
        // runtime counts as registering (kept mapped), for a Swift image and for markup alike.
        for bytes in [Self.helloSwift, Array(FileManager.default.contents(atPath: TestPaths.plugin("Markup"))!)] {
            var stripped = bytes
            stripped[60] = 0
            stripped[61] = 0  // e_shnum
            #expect(try ELFImage(bytes: stripped).registersWithSwiftRuntime)
        }
    }

    @Test func refusesWhatIsNotALoadableObject() {
        #expect(throws: ELFImage.Problem.notELF) { try ELFImage(bytes: Array("#!/bin/sh\n".utf8)) }
        #expect(throws: ELFImage.Problem.self) { try ELFImage(bytes: Array(Self.helloC.prefix(40))) }
        #expect(throws: ELFImage.Problem.self) { try ELFImage(bytes: Array(Self.helloC.prefix(Self.helloC.count - 100))) }
        var executable = Self.helloC
        executable[16] = 2  // e_type ET_EXEC
        #expect(throws: ELFImage.Problem.self) { try ELFImage(bytes: executable) }
    }

    /// Hostile headers (random bytes written over the ELF and program headers, and over random
    /// places) are refused or read, never a crash. Deterministic: a fixed-seed generator.
    @Test func survivesCorruptedHeaders() {
        var rng = SplitMix64(seed: 0x5357_4244)
        var outcomes = (read: 0, refused: 0)
        for round in 0..<3000 {
            var bytes = Self.helloC
            let flips = 1 + Int(rng.next() % 8)
            for _ in 0..<flips {
                let at = round % 2 == 0 ? 16 + Int(rng.next() % 48) : Int(rng.next() % UInt64(bytes.count))
                bytes[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            if (try? ELFImage(bytes: bytes)) != nil { outcomes.read += 1 } else { outcomes.refused += 1 }
        }
        // A crash would end the run; beyond that, both outcomes must occur, or the mutations
        // missed the headers they are meant to hit.
        #expect(outcomes.refused > 0 && outcomes.read > 0)
    }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
