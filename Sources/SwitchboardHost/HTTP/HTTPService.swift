import struct SwitchboardCore.Locked
import enum SwitchboardCore.HTTPDate
import Hummingbird
public import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The host's HTTP server as a `Service`: Hummingbird's HTTP/1.1 connection handling
/// (`HTTP1Connection`) on a listening socket that is already bound.
///
/// Hummingbird's `Server` binds its own socket; a worker must serve on the one its supervisor
/// bound and handed down (so connections wait in the kernel's accept queue while workers come
/// and go), which NIO's `ServerBootstrap.bind(_ socket:)` adopts. Graceful shutdown is
/// Hummingbird's: `ServerQuiescingHelper` stops accepting (closing this process's descriptor
/// only: the socket stays open in the supervisor and the next worker), closes idle connections,
/// and lets every request in flight finish before `run()` returns.
public struct HTTPService: Service {
    /// A listening stream socket: `bind(host:port:)` makes one in this process, or it came from the
    /// supervisor. Ownership passes to the service, which closes it when it stops.
    public let socket: Int32
    let connection: HTTP1Connection
    /// Awaited before accepting; false: the service ends without accepting (a worker told to
    /// stop before its supervisor let it accept).
    let startWhen: (@Sendable () async -> Bool)?
    let onServerRunning: @Sendable (any Channel) async -> Void
    let onStoppedAccepting: @Sendable () -> Void
    let logger: Logger

    init(
        socket: Int32, responder: PluginResponder, settings: HostSettings, counter: ConnectionCounter,
        startWhen: (@Sendable () async -> Bool)? = nil, onServerRunning: @escaping @Sendable (any Channel) async -> Void, onStoppedAccepting: @escaping @Sendable () -> Void,
        logger: Logger
    ) {
        self.socket = socket
        self.startWhen = startWhen
        self.onServerRunning = onServerRunning
        self.onStoppedAccepting = onStoppedAccepting
        self.logger = logger
        let responder = ConnectionResponder(responder: responder, serverName: settings.serverName, logger: logger)
        self.connection = HTTP1Connection(host: responder, limits: settings.limits, counter: counter)
    }

    /// Serves on `socket` until the service group shuts down gracefully, then stops accepting and
    /// returns once every request in flight has finished. Returns at once, without accepting, when
    /// `startWhen` answers false. Throws when NIO cannot adopt the socket.
    public func run() async throws {
        if let startWhen, await !startWhen() {
            _ = Glibc.close(socket)  // never adopted by NIO, which would have closed it
            return
        }
        let quiescing = ServerQuiescingHelper(group: MultiThreadedEventLoopGroup.singleton)
        let connection = self.connection
        let logger = self.logger
        let accepted = AcceptedConnections()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptedConnections.Counter(accepted))
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .bind(socket) { channel in
                connection.setup(channel: channel, logger: logger).always { result in
                    if case .failure = result { accepted.delivered(channel) }  // never will be
                }
            }
        // Adopting the socket, NIO listened on it again with its own default backlog, 128 (its
        // backlog option applies only to sockets it binds): a burst of more connections had SYNs
        // dropped, each costing its client a 1 s retransmission. Ours again:
        if Glibc.listen(socket, HTTPService.backlog) != 0 {
            logger.warning("could not restore the listen backlog to \(HTTPService.backlog): errno \(errno); bursts past 128 connections may wait 1 s")
        }
        await withGracefulShutdownHandler {
            await onServerRunning(server.channel)
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { inbound in
                        for try await child in inbound {
                            accepted.delivered(child.channel)
                            group.addTask { await connection.handle(value: child, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("accepting connections failed: \(error)")
                }
                onStoppedAccepting()
            }
        } onGracefulShutdown: {
            // Stop accepting first, and close the listener only once every connection it accepted
            // has reached the loop above: NIO drops one still being set up when its listener closes
            // (it is never registered, never read, and the kernel resets it at exit).
            server.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in
                Task {
                    await accepted.allDelivered(within: .seconds(1))
                    quiescing.initiateShutdown(promise: nil)
                }
            }
        }
    }

    /// How many connections may wait to be accepted (`listen(2)`'s backlog; the kernel caps it at
    /// `net.core.somaxconn`): deep, so a burst waits there instead of having its SYNs dropped.
    public static let backlog: Int32 = 4096

    /// A TCP socket bound to `host:port` (`port` 0: any free port) and listening with a backlog of
    /// `HTTPService.backlog` connections (the kernel caps it at `net.core.somaxconn`), close-on-exec (a
    /// supervisor hands it to a worker with `dup2`, which clears that). `host` is an IPv4 or IPv6
    /// literal or a name (its first address is used). The caller owns the descriptor. Throws
    /// `SystemError` (EADDRINUSE, EACCES, …) or `AddressError` for a name that resolves to nothing.
    public static func bind(host: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let first = found else {
            throw AddressError(host: host, reason: status == 0 ? "no address" : String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(found) }
        let fd = Glibc.socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard Glibc.bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(fd, HTTPService.backlog) == 0 else {
            let code = errno
            close(fd)
            throw SystemError(errno: code)
        }
        return fd
    }

    /// `bind(host:port:)` could not resolve `host` (`getaddrinfo(3)` failed or found nothing).
    public struct AddressError: Error, CustomStringConvertible {
        /// The host that did not resolve.
        public let host: String
        /// `gai_strerror(3)`'s text, or "no address".
        public let reason: String
        /// `cannot listen on <host>: <reason>`.
        public var description: String { "cannot listen on \(host): \(reason)" }
    }
}

/// Connections the listener accepted that have not reached the accept loop yet: the listener
/// closes only once there are none (see `HTTPService.run`).
final class AcceptedConnections: Sendable {
    private let pending = Locked<Set<ObjectIdentifier>>([])

    /// Sees every accepted connection on the listener's pipeline, before its setup is scheduled.
    final class Counter: ChannelInboundHandler, Sendable {
        typealias InboundIn = any Channel
        let accepted: AcceptedConnections
        init(_ accepted: AcceptedConnections) { self.accepted = accepted }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let child = unwrapInboundIn(data)
            _ = accepted.pending.withLock { $0.insert(ObjectIdentifier(child)) }
            context.fireChannelRead(data)
        }
    }

    /// The accept loop has it (or its setup failed).
    func delivered(_ channel: any Channel) {
        _ = pending.withLock { $0.remove(ObjectIdentifier(channel)) }
    }

    /// Waits until every accepted connection has been delivered, at most `limit`.
    func allDelivered(within limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while pending.withLock({ !$0.isEmpty }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// A request's framing broke while its response was being written: the connection closes
/// without a second response (Hummingbird answers a parse error with 400 only before one began).
struct ParseErrorWhileWritingResponse: Error {}

/// What a connection does around the responder for each request: an error the responder throws
/// becomes a 500 without a body (a parse error is rethrown: the connection closes). `Date` and
/// `Server` are the response encoder's (`ConnectionGuard`); the in-process test host answers
/// through `respond(to:context:)`, which adds them, so its responses carry the same fields.
///
/// A class: every connection holds it (its `EventLoopResponder`, its request loop), by reference.
public final class ConnectionResponder: Sendable {
    let responder: PluginResponder
    let server: ServerFields
    let logger: Logger

    init(responder: PluginResponder, serverName: String?, logger: Logger) {
        self.responder = responder
        self.server = ServerFields(name: serverName)
        self.logger = logger
    }

    /// Answers one request as a connection would, with `Date` and `Server`; throws only
    /// Hummingbird's `HTTPParserError`, which ends the connection.
    public func respond(to request: Request, context: SwitchboardRequestContext) async throws -> Response {
        var response = try await respond(to: request, context: context, handed: nil)
        response.headers[.date] = server.date
        if let name = server.name { response.headers[.server] = name }
        return response
    }

    /// Answers one request the connection's task read, and writes the response: the one
    /// `EventLoopResponder` started and handed over, when there is one (it is this request), else
    /// this request from the start. Throws when the response cannot be written (the connection
    /// closes), `ParseErrorWhileWritingResponse` when the request's framing broke meanwhile.
    func answer(_ request: Request, writer: consuming ResponseWriter, channel: any Channel, handover: Handover?) async throws {
        let response = try await respond(
            to: request, context: SwitchboardRequestContext(source: .init(channel: channel, logger: logger)),
            handed: handover?.take(for: request.head))
        do {
            try await writer.write(response: response.head, body: response.body)
        } catch is HTTPParserError {
            // Another response must not follow: the connection closes.
            throw ParseErrorWhileWritingResponse()
        }
    }

    /// The response to `request`, or to what `EventLoopResponder` started of it (`handed`): an
    /// error other than a parse error becomes a 500.
    /// Its own function, the started request boxed, so the frame of `answer` (which stays allocated
    /// while the response is written: as long as an event stream lasts) holds a reference only.
    @inline(never)
    private func respond(to request: Request, context: SwitchboardRequestContext, handed: Handover.Handed?) async throws -> Response {
        do {
            if let handed {
                return try await responder.finish(handed.started).response
            } else {
                return try await responder.respond(to: request, context: context)
            }
        } catch let error as HTTPParserError {
            throw error
        } catch {
            logger.debug("unrecognised error", metadata: ["error": "\(error)"])
            return Response(status: .internalServerError, body: .init())
        }
    }
}

/// What the server writes on every final response: `Date` (RFC 9110 §6.6.1) and `Server`
/// (§10.2.4). Shared by the connections of one server, on any thread.
final class ServerFields: Sendable {
    /// The `Server` field's value; nil: none is written.
    let name: String?
    private let cached = Locked<(second: Int, text: String)>((0, ""))

    init(name: String?) { self.name = name }

    /// The `Date` field's value: now as an IMF-fixdate, formatted at most once a second.
    var date: String {
        let now = HTTPDate.now
        return cached.withLock { c in
            if c.second != now { c = (now, HTTPDate.format(now)) }
            return c.text
        }
    }
}
