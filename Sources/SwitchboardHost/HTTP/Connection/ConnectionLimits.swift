/// What one HTTP/1.1 connection may take of the server: time, bytes, and how many connections
/// there may be at once. Every limit is on by default (`limits.*` in etc/switchboard.yaml).
public struct ConnectionLimits: Sendable, Equatable {
    /// From a connection's accept, or from the first byte of a later request, until its whole
    /// request head has arrived (milliseconds; nginx's `client_header_timeout`). A silent new
    /// socket and a slowloris head both end here: 408 with a JSON body, then close.
    public var headerTimeoutMs = 10_000
    /// How long a keep-alive connection may sit idle between a response and the next request's
    /// first byte (milliseconds; nginx's `keepalive_timeout`). Closed quietly.
    public var idleTimeoutMs = 60_000
    /// How long a request body may go without a byte while the server is reading it
    /// (milliseconds; nginx's `client_body_timeout`): 408 if no response has begun, else close.
    public var bodyTimeoutMs = 30_000
    /// How long a response may stay blocked on a client that does not read it (the connection's
    /// write buffer above its high watermark, milliseconds; nginx's `send_timeout`). Closed. An
    /// event stream that is merely idle is not blocked.
    public var sendTimeoutMs = 60_000
    /// Connections open at once. Past it a new connection gets 503 with a JSON body and is
    /// closed, and a warning is logged (at most once a second). At start the host raises its
    /// soft descriptor limit to the hard one and lowers this if descriptors could run out.
    public var maxConnections = 10_000
    /// The request line and header fields together (bytes): 431 past it.
    public var maxHeaderBytes = 64 * 1024
    /// Bytes queued for the socket before the connection counts as blocked and its writers wait
    /// (the channel's write-buffer high watermark); half of it is the low watermark.
    public var writeBufferBytes = 32 * 1024

    /// The defaults: 10 s header, 60 s idle, 30 s body and 60 s send timeouts, 10,000 connections,
    /// 64 KiB of request head, a 32 KiB write buffer.
    public init() {}
}
