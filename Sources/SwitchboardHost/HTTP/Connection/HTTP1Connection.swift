import CoreMetrics
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization

/// The host's HTTP/1.1 connections: Hummingbird's request loop over a pipeline of NIO's request
/// decoder, the `ConnectionGuard` (limits, timeouts, framing and connection management by RFC
/// 9112, and the response encoder), the conversion to HTTP types, for the host's responder
/// `EventLoopResponder`, and `PipeliningGate` (the task takes one request at a time); it counts
/// open connections against `ConnectionLimits.maxConnections`.
struct HTTP1Connection: ServerChildChannel, HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let asyncChannel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
        /// What the event loop passes on for the task to finish (nil without `host`).
        let handover: Handover?
        var channel: any Channel { asyncChannel.channel }
    }

    /// What answers the requests the connection's task reads: Hummingbird's responder (an
    /// `Application`), or the host's for each connection (`handle(value:logger:)`).
    private(set) var responder: HTTPChannelHandler.Responder
    /// The host's responder: requests start on the event loop (`EventLoopResponder`).
    let host: ConnectionResponder?
    let limits: ConnectionLimits
    let counter: ConnectionCounter
    let server: ServerFields

    /// Every request is answered in the connection's task by `responder`; `serverName` is the
    /// `Server` field's value (nil: none).
    init(responder: @escaping HTTPChannelHandler.Responder, serverName: String?, limits: ConnectionLimits, counter: ConnectionCounter) {
        self.responder = responder
        self.host = nil
        self.limits = limits
        self.counter = counter
        self.server = ServerFields(name: serverName)
    }

    /// Requests to plugin routes start on the event loop; the task answers the rest.
    init(host: ConnectionResponder, limits: ConnectionLimits, counter: ConnectionCounter) {
        self.responder = { request, writer, channel in try await host.answer(request, writer: writer, channel: channel, handover: nil) }
        self.host = host
        self.limits = limits
        self.counter = counter
        self.server = host.server
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let overCapacity = counter.opened(limit: limits.maxConnections, logger: logger)
        channel.closeFuture.whenComplete { [counter] _ in counter.closed() }
        return channel.eventLoop.makeCompletedFuture {
            var decoderLimits = NIOHTTPDecoderLimitConfiguration()
            decoderLimits.maxHeaderFieldSize = limits.maxHeaderBytes
            decoderLimits.maxHeaderListSize = limits.maxHeaderBytes
            try channel.syncOptions?.setOption(
                ChannelOptions.writeBufferWaterMark,
                value: .init(low: limits.writeBufferBytes / 2, high: limits.writeBufferBytes))
            let pipeline = channel.pipeline.syncOperations
            // NIO's decoder alone: the guard answers malformed requests and encodes the responses
            // (swift-http-types validated their fields), and requests are answered in order.
            try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: decoderLimits)))
            try pipeline.addHandler(ConnectionGuard(limits: limits, metrics: counter.metrics, server: server, overCapacity: overCapacity))
            try pipeline.addHandler(HTTPTypesRequestDecoder())
            var handover: Handover? = nil
            if let host {
                let passed = Handover()
                try pipeline.addHandler(EventLoopResponder(responder: host, handover: passed))
                handover = passed
            }
            try pipeline.addHandler(PipeliningGate())
            let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
            return Value(asyncChannel: asyncChannel, handover: handover)
        }
    }

    func handle(value: Value, logger: Logger) async {
        var connection = self
        if let host, let handover = value.handover {
            connection.responder = { request, writer, channel in
                try await host.answer(request, writer: writer, channel: channel, handover: handover)
            }
        }
        await connection.handleHTTP(asyncChannel: value.asyncChannel, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the host's connection limits; `serverName` is the `Server` field's value.
    static func switchboard(serverName: String?, limits: ConnectionLimits, counter: ConnectionCounter) -> HTTPServerBuilder {
        .init { responder in HTTP1Connection(responder: responder, serverName: serverName, limits: limits, counter: counter) }
    }
}

/// Open connections, shared by every connection of one server.
final class ConnectionCounter: Sendable {
    let metrics: ConnectionMetrics
    private let count = Atomic<Int>(0)
    /// When a refusal was last logged (monotonic nanoseconds): at most one warning a second.
    private let lastWarning = Atomic<Int64>(0)

    init(metrics: ConnectionMetrics) { self.metrics = metrics }

    /// Counts a new connection; true when it is over `limit` and must be refused.
    func opened(limit: Int, logger: Logger) -> Bool {
        let now = count.add(1, ordering: .relaxed).newValue
        metrics.open.record(now)
        guard now > limit else { return false }
        metrics.refused.increment()
        let time = Int64(monotonicNanoseconds())
        let last = lastWarning.load(ordering: .relaxed)
        if time - last > 1_000_000_000, lastWarning.compareExchange(expected: last, desired: time, ordering: .relaxed).exchanged {
            logger.warning(
                "refusing connections: \(limit) are open (limits.max_connections); new ones get 503 until some close",
                metadata: ["open": "\(now - 1)"])
        }
        return true
    }

    func closed() {
        metrics.open.record(count.subtract(1, ordering: .relaxed).newValue)
    }

}
