import Hummingbird
import HummingbirdTesting
import Logging
@testable import SwitchboardHost

/// A host built in-process from copies of the given plugin files; requests go straight to the
/// responder through HummingbirdTesting's router mode, without sockets.
struct InProcessHost {
    let server: SwitchboardServer
    let loaded: [PluginInstance]
    let refused: [LoadRefusal]

    init(_ label: String, files: [String], configure: (inout HostSettings) -> Void = { _ in }) {
        var settings = HostSettings()
        configure(&settings)
        settings.pluginDirectories = [Fixtures.pluginDirectory(label, files: files)]
        settings.stateDirectory = TestPaths.temporaryDirectory("state-\(label)")
        var logger = Logger(label: "test.\(label)")
        logger.logLevel = .critical
        server = SwitchboardServer(settings: settings, logger: logger)
        (loaded, refused) = server.loadPlugins()
    }

    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        defer { server.registry.retireAll() }
        try await server.makeApplication().test(.router, body)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}
