/// The process-wide services behind the host function table.
struct HostServices: Sendable {
    /// The request body limit for routes that do not set `max_body_bytes`.
    var defaultMaxBodyBytes = 1 << 20
    var topics = TopicHub()
    var store = StateStore()
}
