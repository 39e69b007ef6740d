public import ServiceLifecycle

/// The plugins' part of a server's life, as a `Service`: it follows the plugin directories while
/// the service group runs, and when the group ends — gracefully, or because another service
/// failed or the group was cancelled — stops following them and retires every plugin (each
/// `on_deinit` runs, bounded by the watchdog's grace).
///
/// Put it before the HTTP service in the group: a group shuts its services down in reverse order,
/// so the HTTP service drains its requests first and the plugins retire after.
public struct PluginLifecycleService: Service {
    let server: SwitchboardServer

    /// Drives `server`'s watcher, watchdog and registry.
    public init(server: SwitchboardServer) { self.server = server }

    /// Starts the watcher, waits for graceful shutdown or cancellation, then stops the watcher,
    /// gives the plugins a fresh shutdown grace (`Watchdog.retirementBegan()`) and retires every
    /// one. Never throws.
    public func run() async throws {
        server.watcher.start()
        // Until the group shuts down gracefully, or is cancelled (a failed service): either way,
        // the plugins retire below.
        try? await gracefulShutdown()
        server.watcher.stop()
        server.watchdog.retirementBegan()
        server.registry.retireAll()
    }
}
