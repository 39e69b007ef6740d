import Foundation
import Testing

/// Programs from outside Swift that some checks run. `.ci/run` installs them all; a plain
/// `swift test` without one skips the check that needs it, and says so as a warning naming the
/// tool and how to get it (with `CI` set, a missing tool is a failure instead).
enum ExternalTool: CaseIterable {
    case openAPIValidator, schemathesis, chromium, xmllint, parsersPython

    var name: String {
        switch self {
        case .openAPIValidator: "openapi-spec-validator"
        case .schemathesis: "schemathesis"
        case .chromium: "chromium-headless-shell"
        case .xmllint: "xmllint"
        case .parsersPython: "Python with html5lib, feedparser and Pillow"
        }
    }

    /// The executable: from its environment variable, the venv `.ci/run` makes, or the PATH.
    var path: String? {
        let env = ProcessInfo.processInfo.environment
        let venv = TestPaths.repositoryRoot + "/.build/ci-venv/bin/"
        let onPath: (String) -> String? = { name in
            (env["PATH"] ?? "/usr/bin").split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }
        let candidates: [String?] =
            switch self {
            case .openAPIValidator: [env["SWITCHBOARD_OPENAPI_VALIDATOR"], venv + "openapi-spec-validator"]
            case .schemathesis: [env["SWITCHBOARD_SCHEMATHESIS"], venv + "st"]
            case .chromium: ["chromium-headless-shell", "chromium", "google-chrome"].map(onPath)
            case .xmllint: [onPath("xmllint")]
            case .parsersPython: [env["SWITCHBOARD_TEST_PYTHON"], venv + "python"]
            }
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    var howToGet: String {
        switch self {
        case .openAPIValidator, .schemathesis:
            "python3 -m venv .build/ci-venv && .build/ci-venv/bin/pip install openapi-spec-validator schemathesis (or run .ci/run)"
        case .chromium: "apt-get install chromium-headless-shell (or run .ci/run)"
        case .xmllint: "apt-get install libxml2-utils (or run .ci/run)"
        case .parsersPython: "python3 -m venv .build/ci-venv && .build/ci-venv/bin/pip install html5lib feedparser Pillow (or run .ci/run)"
        }
    }

    /// The tool, or nil after reporting why the check is skipped: a warning, or under CI a failure.
    func require(for check: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        if let path { return path }
        let message = Comment(rawValue: "skipped \(check): \(name) is not installed; \(howToGet)")
        if ProcessInfo.processInfo.environment["CI"] != nil {
            Issue.record(message, sourceLocation: sourceLocation)
        } else {
            Issue.record(message, severity: .warning, sourceLocation: sourceLocation)
        }
        return nil
    }
}
