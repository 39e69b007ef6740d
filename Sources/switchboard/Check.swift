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

    func run() async throws {
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
