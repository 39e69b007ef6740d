/// What one server's plugins reach through their `sb_plugin` handle: topics, the state store and
/// the default body limit. Each `PluginRegistry` owns one and hands it to every generation it
/// loads, so two servers in one process share nothing (there is no process-wide host state).
final class HostServices: Sendable {
    /// The request body limit for routes that do not set `max_body_bytes`, in bytes.
    let defaultMaxBodyBytes: Int
    let topics = TopicHub()
    /// State-store calls, applied on this server's own store thread.
    let state: StateCalls

    /// `store`: where plugins' state lives until `openStateStore` replaces it (memory by default).
    /// `inlineReads` counts how state reads asked for inline were answered (nil: not counted).
    init(defaultMaxBodyBytes: Int = 1 << 20, store: StateStore = StateStore(), inlineReads: InlineReadMetrics? = nil) {
        self.defaultMaxBodyBytes = defaultMaxBodyBytes
        self.state = StateCalls(store: store, inlineReads: inlineReads)
    }
}
