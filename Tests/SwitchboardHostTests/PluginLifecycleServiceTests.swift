import Logging
import ServiceLifecycle
@testable import SwitchboardHost
import Testing

/// Plugins retire however the server's service group ends: gracefully, or because another service
/// failed (then `serve` used to skip every on_deinit).
@Suite struct PluginLifecycleServiceTests {
    struct Failing: Service {
        struct Failure: Error {}
        func run() async throws { throw Failure() }
    }

    @Test func pluginsRetireWhenAnotherServiceFails() async throws {
        let host = InProcessHost("lifecycle-failure", files: [TestPaths.plugin("HelloC")])
        let instance = try #require(host.loaded.first)
        #expect(instance.phase == .active)
        var logger = Logger(label: "test.lifecycle")
        logger.logLevel = .critical
        let group = ServiceGroup(configuration: .init(services: [PluginLifecycleService(server: host.server), Failing()], logger: logger))
        await #expect(throws: Failing.Failure.self) { try await group.run() }
        #expect(instance.phase == .retired)
        #expect(host.server.registry.plugins.isEmpty)
    }

    @Test func pluginsRetireAtAGracefulShutdown() async throws {
        let host = InProcessHost("lifecycle-graceful", files: [TestPaths.plugin("HelloC")])
        let instance = try #require(host.loaded.first)
        var logger = Logger(label: "test.lifecycle")
        logger.logLevel = .critical
        let group = ServiceGroup(configuration: .init(services: [PluginLifecycleService(server: host.server)], logger: logger))
        async let running: Void = group.run()
        try await Task.sleep(for: .milliseconds(50))
        await group.triggerGracefulShutdown()
        try await running
        #expect(instance.phase == .retired)
    }
}
