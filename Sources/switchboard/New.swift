import ArgumentParser
import CSwitchboard
import Foundation
import SwitchboardSDK

/// `switchboard new NAME --lang swift|c`: a plugin project outside this repository that builds
/// to a `.so` with one command.
///
/// A Swift project depends on this host's own checkout by path: a plugin must be built by the
/// host's toolchain against the host's ABI and SDK, and its tests run on the host itself
/// (`SwitchboardTesting`). The project starts with the checkout's `Package.resolved`, so its
/// tests build the host with the versions the host was built with, from SwiftPM's cache. A C
/// project carries a copy of the two headers.
struct New: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a plugin project (Swift on the SDK, or C on switchboard.h) that builds to a .so.")

    enum Language: String, ExpressibleByArgument, CaseIterable { case swift, c }

    @Argument(help: "The plugin's name: [a-z0-9][a-z0-9_-]{0,63}; also its route prefix and directory.")
    var name: String

    @Option(help: "swift or c.")
    var lang: Language = .swift

    @Option(help: "Where to create the project directory.")
    var output: String = "."

    @Option(help: "The Switchboard checkout to build against and take the drop directory from (default: $SWITCHBOARD_SDK, else the checkout this binary runs from).")
    var sdk: String? = nil

    /// This binary's absolute path (what a project's Makefile and README call `switchboard`).
    static let executable: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "switchboard" }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// The checkout this binary runs from (the first directory above it that holds the ABI
    /// header: `<checkout>/.build/debug/switchboard`), else the one it was built from. A Swift
    /// project depends on it by path, a C project copies its headers, and its `plugins/` is the
    /// drop directory the project names.
    static let builtFrom: String = {
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.path + "/Sources/CSwitchboard/include/switchboard.h") { return url.path }
            url.deleteLastPathComponent()
        }
        url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    func validate() throws {
        let ok = name.utf8.count <= 64 && name.utf8.first.map { Self.isLowerAlnum($0) } == true
            && name.utf8.allSatisfy { Self.isLowerAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        guard ok else {
            throw ValidationError("\"\(name)\" is not a plugin name: use [a-z0-9][a-z0-9_-]{0,63}, e.g. my-plugin")
        }
    }

    /// The target and product names the Switchboard package at `checkout` declares (every
    /// `name: "…"` in its manifest), lower-cased: a plugin's module and product of the same name
    /// would clash with them in the project's package graph. Read from the manifest, so the list
    /// follows the package.
    static func checkoutNames(_ checkout: String) -> Set<String> {
        guard let manifest = try? String(contentsOfFile: checkout + "/Package.swift", encoding: .utf8) else { return [] }
        var names: Set<String> = []
        var rest = manifest[...]
        while let start = rest.range(of: "name: \"") {
            rest = rest[start.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { break }
            names.insert(rest[..<end].lowercased())
            rest = rest[end...]
        }
        return names
    }

    static func isLowerAlnum(_ c: UInt8) -> Bool { (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) }

    func run() throws {
        let source = sdk ?? ProcessInfo.processInfo.environment["SWITCHBOARD_SDK"] ?? Self.builtFrom
        let header = source + "/Sources/CSwitchboard/include/switchboard.h"
        guard FileManager.default.fileExists(atPath: header), FileManager.default.fileExists(atPath: source + "/Package.swift") else {
            throw ValidationError("no Switchboard checkout at \(source) (looked for Package.swift and \(header)); pass --sdk <switchboard checkout>")
        }
        if lang == .swift, Self.checkoutNames(source).contains(Templates.module(name).lowercased()) {
            throw ValidationError("a Swift plugin named \"\(name)\" would have the module \(Templates.module(name)), a name the Switchboard package it builds against already uses (for a target, a product or a dependency), and two modules of one name cannot build together; choose another name, e.g. my-\(name)")
        }
        let project = (output as NSString).appendingPathComponent(name)
        guard !FileManager.default.fileExists(atPath: project) else {
            throw ValidationError("\(project) already exists; choose another name or --output")
        }
        let checkout = URL(fileURLWithPath: source).standardizedFileURL.path
        let host = Templates.Host(executable: Self.executable, plugins: checkout + "/plugins", checkout: checkout)
        let files = lang == .swift ? Templates.swift(name: name, host: host) : Templates.c(name: name, host: host)
        for (path, text) in files {
            try write(text, to: project + "/" + path)
        }
        if lang == .swift, let pins = FileManager.default.contents(atPath: checkout + "/Package.resolved") {
            // The versions the host was built with: the plugin's tests build the host with them too.
            _ = FileManager.default.createFile(atPath: project + "/Package.resolved", contents: pins)
        }
        if lang == .c {
            try FileManager.default.copyItem(atPath: header, toPath: project + "/switchboard.h")
            let kit = (header as NSString).deletingLastPathComponent + "/switchboard_kit.h"
            try FileManager.default.copyItem(atPath: kit, toPath: project + "/switchboard_kit.h")
        }
        let built = lang == .swift ? ".build/release/lib\(Templates.module(name)).so" : "lib\(name).so"
        print("""
            created \(project) (\(lang.rawValue), plugin ABI \(SB_ABI_MAJOR).\(SB_ABI_MINOR)\(lang == .swift ? ", Swift \(SwiftToolchain.format(SwiftToolchain.compilerVersion))" : ""))

              cd \(project)
              \(lang == .swift ? "swift build -c release" : "make")          # → \(built)
              \(lang == .swift ? "swift test                      # unit tests on the host, in process\n  " : "")\(lang == .swift ? "\(Self.executable) check \(built)" : "make check")
              \(lang == .swift ? "cp \(built) \(host.plugins)/" : "make install                    # cp to \(host.plugins)/")
              curl http://127.0.0.1:8000/\(name)
            """)
    }

    private func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
