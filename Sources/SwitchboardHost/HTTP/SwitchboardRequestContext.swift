public import Hummingbird
public import NIOCore

/// The request context: Hummingbird's core storage plus the connection, from which the admin API
/// reads the peer address (only for its own paths, so ordinary requests pay nothing for it).
public struct SwitchboardRequestContext: RequestContext {
    /// Hummingbird's storage that every `RequestContext` carries: logger, endpoint path, parameters.
    public var coreContext: CoreRequestContextStorage
    /// The NIO channel of the connection the request arrived on; `init(source:)` always sets it.
    public let channel: (any Channel)?

    /// Takes the logger and the channel from Hummingbird's per-request source.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The peer's address; nil when there is no socket (in-process tests).
    public var remoteAddress: SocketAddress? { channel?.remoteAddress }
}
