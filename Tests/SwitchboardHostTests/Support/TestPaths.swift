import Foundation

/// Where the tests find what `swift build` made and what the repository holds.
enum TestPaths {
    /// The build products folder: the test binary lives there, beside the plugins and the host.
    static let binDirectory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }()

    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var hostExecutable: String { binDirectory + "/switchboard" }
    static func plugin(_ product: String) -> String { binDirectory + "/lib\(product).so" }

    /// A fresh empty directory under the system's temporary folder.
    static func temporaryDirectory(_ label: String) -> String {
        let path = NSTemporaryDirectory() + "switchboard-tests-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
