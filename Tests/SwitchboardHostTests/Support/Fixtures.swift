import Foundation

/// The C fixtures in Tests/Fixtures, compiled once per test run with the system C compiler.
/// Each broken fixture breaks exactly one rule of switchboard.h.
enum Fixtures {
    /// Broken fixture name → the refusal kind it must produce.
    static let broken: [(name: String, kind: String)] = [
        ("no_entry", "no-entry-symbol"),
        ("null_descriptor", "null-descriptor"),
        ("small_descriptor", "descriptor-too-small"),
        ("bad_magic", "bad-magic"),
        ("abi_major", "abi-major-mismatch"),
        ("abi_minor", "abi-minor-too-new"),
        ("swift_mismatch", "swift-version-mismatch"),
        ("bad_name", "invalid-descriptor"),
        ("init_fails", "init-failed"),
        ("route_refused", "init-failed"),
        ("bad_template", "invalid-route"),
        ("reserved_path", "invalid-route"),
        ("conflict", "route-conflict"),
    ]

    /// Compiled fixtures: name → path of the .so.
    static let built: [String: String] = {
        let out = TestPaths.temporaryDirectory("fixtures")
        let source = TestPaths.repositoryRoot + "/Tests/Fixtures"
        var result: [String: String] = [:]
        // Broken fixtures sort after the examples ("x_"), so the conflict fixture is the later plugin.
        var sources = broken.map { ("\(source)/broken/\($0.name).c", $0.name, "x_\($0.name)", [String]()) } + [
            ("\(source)/probe.c", "probe", "probe", []), ("\(source)/literal.c", "literal", "literal", []),
            ("\(source)/races.c", "races", "races", []), ("\(source)/abort_init.c", "abort_init", "abort_init", []),
            ("\(source)/legacy_preconditions.c", "legacy_preconditions", "legacy_preconditions", []),
            ("\(source)/wait_in_handler.c", "wait_in_handler", "wait_in_handler", []),
            ("\(source)/negotiate.c", "negotiate", "negotiate", []),
            ("\(source)/state_ops.c", "state_ops", "state_ops", []),
            ("\(source)/fields.c", "fields", "fields", []),
            ("\(source)/fields.c", "fields_legacy", "fields_legacy", ["-DDECLARED_MINOR=7"]),
        ]
        // The supervisor's fault plugins, one fault each.
        sources += [
            ("\(source)/faults/spin.c", "spin", "spin", []), ("\(source)/faults/leak.c", "leak", "leak", []),
            ("\(source)/faults/hang_init.c", "hang_init", "hang_init", []),
            ("\(source)/faults/exit_init.c", "exit_init", "exit_init", []),
            ("\(source)/faults/thread_crash.c", "thread_crash", "thread_crash", []),
        ]
        // A good version of "crashy", then three that crash (each its own SHA-256).
        for version in 1...4 {
            sources.append(("\(source)/faults/crash_handler.c", "crashy_v\(version)", "crashy_v\(version)", ["-DFAULT_VERSION=\(version)"]))
        }
        // Two versions of one plugin, for the hot-swap tests.
        for version in 1...2 {
            sources.append(("\(source)/swap.c", "swap_v\(version)", "swap_v\(version)", ["-DSWAP_VERSION=\(version)"]))
        }
        for (file, name, fileName, defines) in sources {
            let target = "\(out)/\(fileName).so"
            let status = run("/usr/bin/env", [
                "cc", "-shared", "-fPIC", "-O1", "-I", TestPaths.repositoryRoot + "/Sources/CSwitchboard/include",
            ] + defines + ["-o", target, file, "-lpthread"])
            precondition(status == 0, "cc failed for \(file)")
            result[name] = target
        }
        // Not an ELF file at all.
        let text = "\(out)/x_not_elf.so"
        FileManager.default.createFile(atPath: text, contents: Data("this is a text file\n".utf8))
        result["not_elf"] = text
        // A real plugin cut in half, as if copied while it was being written.
        let whole = FileManager.default.contents(atPath: TestPaths.plugin("HelloC"))!
        let truncated = "\(out)/x_truncated.so"
        FileManager.default.createFile(atPath: truncated, contents: whole.prefix(whole.count / 2))
        result["truncated"] = truncated
        return result
    }()

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try? process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A plugin directory holding copies of the given files (the host never maps them itself).
    static func pluginDirectory(_ label: String, files: [String]) -> String {
        let dir = TestPaths.temporaryDirectory(label)
        for file in files {
            let name = (file as NSString).lastPathComponent
            try? FileManager.default.copyItem(atPath: file, toPath: "\(dir)/\(name)")
        }
        return dir
    }
}
