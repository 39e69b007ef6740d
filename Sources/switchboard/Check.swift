import ArgumentParser
import Logging
import SwitchboardHost
import SwitchboardRouting
import SwitchboardSDK

#if canImport(Glibc)
import Glibc
#endif

/// Loads and validates one plugin without serving: for plugin authors' CI.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load and validate a plugin without serving; print its routes, or why it would be refused.")

    @Argument(help: ArgumentHelp("The plugin file.", valueName: "file.so"))
    var file: String

    /// Set on the child that does the loading (see `run`).
    @Flag(name: .customLong("in-process"), help: .hidden)
    var inProcess = false

    /// The plugin's constructors and on_init run in a child process: a plugin that crashes there
    /// (abort(), a bad pointer) is reported as a refusal naming the signal, and `check` itself
    /// never crashes.
    func run() async throws {
        guard inProcess else { throw ExitCode(try Self.runIsolated(file: file)) }
        try checkHere()
    }

    /// Runs `switchboard check --in-process FILE` and passes its output through. Returns its exit
    /// status, or 2 (refused) with a message when it died of a signal.
    static func runIsolated(file: String) throws -> Int32 {
        var child = pid_t()
        let executable = "/proc/self/exe"
        let arguments = [CommandLine.arguments.first ?? "switchboard", "check", "--in-process", file]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The verdict below says what happened; the Swift runtime's crash report would bury it.
        var inherited: [UnsafeMutablePointer<CChar>?] = []
        var entry = environ
        while let variable = entry.pointee {
            if !String(cString: variable).hasPrefix("SWIFT_BACKTRACE=") { inherited.append(variable) }
            entry += 1
        }
        let quiet = strdup("SWIFT_BACKTRACE=enable=no")
        defer { free(quiet) }
        var envp = inherited + [quiet, nil]
        let spawned = posix_spawn(&child, executable, nil, nil, &argv, &envp)
        guard spawned == 0 else {
            var stderr = StandardError()
            print("error: could not start the checking process: \(String(cString: strerror(spawned)))", to: &stderr)
            return 1
        }
        var status: Int32 = 0
        var waited: pid_t
        repeat { waited = waitpid(child, &status, 0) } while waited < 0 && errno == EINTR
        var stderr = StandardError()
        guard waited == child else {
            print("error: lost the checking process: \(String(cString: strerror(errno)))", to: &stderr)
            return 1
        }
        let signal = status & 0x7f
        guard signal != 0 else { return (status >> 8) & 0xff }
        // The child could not clean up after itself: its private copy of the image.
        removeTree("/tmp/switchboard-check-\(child)")
        let name = String(cString: strsignal(signal))
        print(
            "refused (crashed): loading the plugin killed the process with signal \(signal) (\(name)), in its constructors or in on_init; run it under a debugger (gdb --args switchboard check --in-process \(file)) to see where",
            to: &stderr)
        return 2
    }

    private func checkHere() throws {
        var logger = Logger(label: "switchboard.check")
        logger.logLevel = .critical  // the verdict is printed below, once
        let scratch = "/tmp/switchboard-check-\(getpid())"
        defer { removeTree(scratch) }
        let loader = PluginLoader(imageDirectory: scratch, logger: logger)
        let registry = PluginRegistry(loader: loader, logger: logger)
        switch registry.load(file: file) {
        case .success(let plugin):
            let language = plugin.swiftVersion == 0 ? "C ABI" : "Swift \(SwiftToolchain.format(plugin.swiftVersion))"
            print("ok: \(plugin.name) \(plugin.version) (\(language), plugin ABI \(plugin.abiMajor).\(plugin.abiMinor)), sha256 \(plugin.sha256)")
            for route in plugin.routes.sorted(by: { ($0.template.text, $0.method) < ($1.template.text, $1.method) }) {
                var line = "  \(route.method + String(repeating: " ", count: max(0, 7 - route.method.count))) \(route.template.text)"
                if route.isBlocking { line += "  [blocking]" }
                if !route.metadata.summary.isEmpty { line += "  — \(route.metadata.summary)" }
                print(line)
                for parameter in route.metadata.parameters { print("            \(parameter.summary)") }
                if let body = route.metadata.requestBody {
                    print("            body: \(body.mediaType)\(body.required ? "" : ", optional") \(body.schema.text)")
                }
            }
            registry.retireAll()
        case .failure(let refusal):
            var stderr = StandardError()
            print("refused (\(refusal.kind)): \(refusal.message)", to: &stderr)
            throw ExitCode(2)
        }
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = Glibc.write(2, &bytes, bytes.count)
    }
}

private func removeTree(_ path: String) {
    guard let dir = opendir(path) else { return }
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { unlink("\(path)/\(name)") }
    }
    closedir(dir)
    rmdir(path)
}
