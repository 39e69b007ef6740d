import Foundation

/// The real `switchboard` binary, started on an ephemeral port of 127.0.0.1 and stopped by PID.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private(set) var port = 0
    private let errorPipe = Pipe()
    private let outputLock = NSLock()
    private var stderrText = ""

    /// Starts `switchboard serve --port 0 …` and waits for its "serving" line.
    init(pluginDirectories: [String], extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: TestPaths.hostExecutable)
        let state = TestPaths.temporaryDirectory("state")
        process.arguments = ["serve", "--port", "0", "--host", "127.0.0.1"]
            + pluginDirectories.flatMap { ["--plugins", $0] } + extraArguments
        var env = ProcessInfo.processInfo.environment
        env["SWITCHBOARD_STATE_DIRECTORY"] = state
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.currentDirectoryURL = URL(fileURLWithPath: TestPaths.repositoryRoot)
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        errorPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = String(decoding: handle.availableData, as: UTF8.self)
            guard let self else { return }
            self.outputLock.lock()
            self.stderrText += chunk
            self.outputLock.unlock()
        }
        try process.run()
        var found: Int? = nil
        for _ in 0..<300 {
            if let match = Self.servingPort(in: log) { found = match; break }
            if !process.isRunning { break }
            usleep(20_000)
        }
        guard let found else {
            stop()
            throw RawHTTP.Failure(description: "server did not start:\n\(log)")
        }
        self.port = found
    }

    var log: String {
        outputLock.lock()
        defer { outputLock.unlock() }
        return stderrText
    }

    private static func servingPort(in log: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("serving") && $0.contains("address=") }),
            let colon = line.range(of: ":", options: .backwards, range: line.range(of: "address=")!.upperBound..<line.endIndex)
        else { return nil }
        return Int(line[colon.upperBound...].prefix { $0.isNumber })
    }

    func get(_ path: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8] = []) throws -> RawResponse {
        try RawHTTP.request(port: port, method: method, path: path, headers: headers, body: body)
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace` seconds. Returns the exit status.
    @discardableResult
    func stop(grace: Double = 10) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        errorPipe.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }

    deinit { stop(grace: 2) }
}
