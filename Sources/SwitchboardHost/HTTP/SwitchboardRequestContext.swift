public import Hummingbird
public import NIOCore
public import Logging

/// The request context: Hummingbird's core storage plus the connection, from which the admin API
/// reads the peer address (only for its own paths, so ordinary requests pay nothing for it).
public struct SwitchboardRequestContext: RequestContext {
    /// Hummingbird's storage that every `RequestContext` carries: logger, endpoint path, parameters.
    public var coreContext: CoreRequestContextStorage
    /// The NIO channel of the connection the request arrived on; nil for a request that came
    /// through no connection (`init(logger:)`).
    public let channel: (any Channel)?

    /// Takes the logger and the channel from Hummingbird's per-request source.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The context of a request that reached the responder through no connection (the in-process
    /// test host): no channel and no peer address, so no `100 Continue` is sent and the admin API
    /// answers 403 (401 without the bearer token when `admin.token` is set).
    public init(logger: Logger) {
        self.coreContext = .init(source: InProcessSource(logger: logger))
        self.channel = nil
    }

    private struct InProcessSource: RequestContextSource {
        let logger: Logger
    }

    /// The peer's address; nil when there is no socket (in-process tests).
    public var remoteAddress: SocketAddress? { channel?.remoteAddress }
}
