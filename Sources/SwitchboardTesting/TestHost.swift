import struct SwitchboardCore.Locked
import class SwitchboardCore.ConditionLock
import CSwitchboard
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
public import SwitchboardHost
public import SwitchboardRouting
@_spi(Testing) public import SwitchboardSDK

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// An in-process host for unit-testing a plugin without sockets.
///
/// It is the real host with an in-memory transport: the plugin is loaded by the server's own
/// loader and registry (the same descriptor and route checks, the same host function table), and
/// each request goes to the same responder a connection's requests reach, with the fields a
/// connection adds (`Date`, `Server`) — routing (404, 405 with `Allow`), parameter validation
/// with FastAPI's 422 body, preconditions, body limits, content coding, streams, timers,
/// publish/subscribe and the state store (in memory). What belongs to a connection is left out:
/// the HTTP/1.1 codec and its limits (RFC 9112 rejections, timeouts), `100 Continue`, and a
/// peer address, so the admin API (loopback peers only) answers 403.
///
///     let host = try TestHost(plugin)            // the SDK's Plugin, or any descriptor pointer
///     let response = try await host.get("/hello")
///     #expect(response.status == 200 && response.text == "Hello!\n")
///
/// `request` waits for the whole response (also a pending one, or a stream until it finishes) up
/// to `timeout`. `shutdown()` (or the last reference going away) ends open streams and runs the
/// plugin's `on_deinit`.
public final class TestHost: Sendable {
    /// The plugin's name, from its descriptor.
    public let name: String
    /// The plugin's version, from its descriptor (empty when NULL).
    public let version: String
    /// The routes the plugin declared, as the host read them, in declaration order.
    public let routes: [RouteDeclaration]
    /// The server underneath: its registry (`server.registry.plugins`, events, metrics) and
    /// settings. No socket is bound and no directory watched.
    public let server: SwitchboardServer
    private let responder: ConnectionResponder
    private let captured: LogCapture
    /// Where the plugin came from: its file, or the origin of a linked plugin.
    private let origin: String
    /// A private directory for the server's state (the private copies of a loaded library);
    /// removed at shutdown.
    private let directory: String
    private let isShutDown = Locked(false)
    /// Requests whose task has not finished, by number, and the next number.
    private let inFlight = ConditionLock<(tasks: [Int: Task<Void, Never>], next: Int)>(([:], 0))

    /// Why a plugin did not load in the test host: the refusal the real host would log.
    public struct Refused: Error, CustomStringConvertible {
        /// What the host refused and what to fix, as `switchboard check` prints it.
        public let description: String
    }

    /// The response did not complete within the timeout. The request was cancelled then, as a
    /// client that leaves (a stream's `on_close` runs).
    public struct TimedOut: Error, CustomStringConvertible {
        /// Which request, and the timeout.
        public let description: String
        /// What had arrived by then: the status and fields, and the body so far (the first
        /// events of an endless stream, say); nil when no response head had arrived.
        public let partial: TestResponse?
    }

    /// The request cannot be sent: its method or a header name is not an HTTP token.
    public struct InvalidRequest: Error, CustomStringConvertible {
        /// What is wrong with it.
        public let description: String
    }

    /// Loads the plugin whose `switchboard_plugin_v1` returns `entry` (a borrowed
    /// `sb_plugin_descriptor` that must outlive the host). `config` answers `config_get` (the
    /// `plugins.config.<name>` section of the real host's configuration). Throws `Refused` for
    /// anything the real host refuses.
    public convenience init(entry: UnsafeRawPointer, config: [String: String] = [:]) throws {
        let plugin = PluginLoader.LinkedPlugin(descriptor: entry)
        try self.init(config: config, origin: plugin.origin) { registry in registry.load(linked: plugin) }
    }

    /// Loads an SDK plugin defined in the test binary (several may live in one binary: each is
    /// set up by its own `initialize`, whichever `entry` was read last).
    public convenience init(_ plugin: Plugin, config: [String: String] = [:]) throws {
        try self.init(config: config, origin: "linked:\(plugin.name)") { registry in
            registry.load(linked: .init(descriptor: plugin.entry, origin: "linked:\(plugin.name)") { plugin.initialize(host: $0, handle: $1, state: $2) })
        }
    }

    /// Loads a built plugin library (a C or Swift `.so`) as the server loads a dropped file: from
    /// a private copy, after the same ELF, ABI and toolchain checks.
    public convenience init(library path: String, config: [String: String] = [:]) throws {
        try self.init(config: config, origin: path) { registry in registry.load(file: path) }
    }

    private init(config: [String: String], origin: String, load: (PluginRegistry) -> Result<PluginInstance, LoadRefusal>) throws {
        var template = Array("\(Self.temporaryRoot)/switchboard-test-host-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!).map { String(cString: $0) } }
        guard let made else { throw Refused(description: "cannot make a state directory under \(Self.temporaryRoot): errno \(errno)") }
        directory = made
        self.origin = origin
        var settings = HostSettings()
        settings.stateDirectory = directory  // the state store stays the default, in memory
        settings.pluginConfig = { _, key in config[key] }
        let captured = LogCapture()
        self.captured = captured
        var logger = Logger(label: "switchboard.test-host") { _ in LogCapture.Handler(capture: captured) }
        logger.logLevel = .trace
        server = SwitchboardServer(settings: settings, logger: logger)
        responder = server.makeConnectionResponder()
        switch load(server.registry) {
        case .success(let instance):
            name = instance.name
            version = instance.version
            routes = instance.routes.map(\.declaration)
        case .failure(let refusal):
            name = refusal.pluginName ?? ""
            version = ""
            routes = []
            shutdown()
            throw Refused(description: "\(refusal.kind): \(refusal.message)")
        }
    }

    deinit { shutdown() }

    private static var temporaryRoot: String {
        getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    }

    /// Shuts down as the server does: the plugin leaves the route table (a later request is
    /// 404), open streams and pending requests are ended and requests still running cancelled,
    /// and once they have returned (at most 10 s) the plugin's `on_deinit` runs. Then the state
    /// directory is removed. Idempotent; also run when the host is released. Blocks the calling
    /// thread while requests finish.
    public func shutdown() {
        let first = isShutDown.withLock { done in defer { done = true }; return !done }
        guard first else { return }
        server.registry.unload(file: origin, reason: "the test host shut down")
        server.registry.endOpenStreams()
        for task in inFlight.withLock({ Array($0.tasks.values) }) { task.cancel() }
        _ = inFlight.wait(until: { $0.tasks.isEmpty }, timeout: .seconds(10))
        server.registry.retireAll()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What the plugin logged, and what the host logged about it (a failed handler, say): the
    /// level as an `sb_log_level` value, and the message.
    public var logs: [(level: Int, message: String)] { captured.lines.withLock { $0 } }

    /// The OpenAPI document the real host would serve for this plugin alone.
    public var openAPI: String {
        OpenAPIDocument.build(
            title: name, version: version,
            plugins: [.init(name: name, version: version, description: "", generation: 1, routes: routes)]
        ).text
    }

    // MARK: Requests

    /// `request("GET", target, …)`.
    public func get(_ target: String, headers: [(String, String)] = [], timeout: Duration = .seconds(5)) async throws -> TestResponse {
        try await request("GET", target, headers: headers, timeout: timeout)
    }

    /// `request("POST", target, …)` with `body`.
    public func post(_ target: String, body: [UInt8] = [], headers: [(String, String)] = [], timeout: Duration = .seconds(5)) async throws -> TestResponse {
        try await request("POST", target, headers: headers, body: body, timeout: timeout)
    }

    /// Sends one request (`target`: path and query, as on a request line) to the server's
    /// responder and collects its whole response. Throws `InvalidRequest` for a method or header
    /// name that is not a token, `TimedOut` when the response is not complete within `timeout`,
    /// and `CancellationError` when the calling task is cancelled; either way the request is
    /// cancelled then, as when a client leaves. A body gets `Content-Length` unless the headers
    /// give it or `Transfer-Encoding`. The request's Host is `localhost` unless the headers give
    /// one (the first is the authority, as the real server reads an HTTP/1.1 request).
    public func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Duration = .seconds(5)
    ) async throws -> TestResponse {
        guard let method = HTTPRequest.Method(method) else { throw InvalidRequest(description: "\"\(method)\" is not an HTTP method token") }
        var fields = HTTPFields()
        var authority: String? = nil
        for (name, value) in headers {
            guard let fieldName = HTTPField.Name(name) else { throw InvalidRequest(description: "\"\(name)\" is not a header field name") }
            // Host becomes the authority, as NIO's HTTP/1 conversion makes it: not a field.
            if fieldName.canonicalName == "host", authority == nil {
                authority = value
                continue
            }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        if fields[.contentLength] == nil, fields[.transferEncoding] == nil, !body.isEmpty || [.post, .put, .patch].contains(method) {
            fields[.contentLength] = String(body.count)
        }
        let request = Request(
            head: HTTPRequest(method: method, scheme: "http", authority: authority ?? "localhost", path: target, headerFields: fields),
            body: RequestBody(buffer: ByteBuffer(bytes: body)))
        let context = SwitchboardRequestContext(logger: server.logger)
        let responder = self.responder
        let inFlight = self.inFlight  // not self: a request that never ends must not keep the host alive
        let received = Received()
        let description = "\(method) \(target): no complete response within \(timeout)"
        let outcome = Outcome()
        // The request runs in its own task, so a handler that never answers cannot hold this
        // call past the timeout; shutdown() cancels and waits for it. Registered under the lock
        // before it can finish (it removes itself under the same lock).
        let work = inFlight.withLock { state -> Task<Void, Never> in
            let number = state.next
            state.next += 1
            let task = Task {
                do {
                    let response = try await responder.respond(to: request, context: context)
                    received.head.withLock {
                        $0 = (response.status.code, response.headers.map { ($0.name.rawName, $0.value) })
                    }
                    try await response.body.write(received)
                    outcome.finish(.success(received.response ?? TestResponse(status: 0, headers: [], body: [])))
                } catch {
                    outcome.finish(.failure(error))
                }
                inFlight.withLock { _ = $0.tasks.removeValue(forKey: number) }
            }
            state.tasks[number] = task
            return task
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            outcome.finish(.failure(TimedOut(description: description, partial: received.response)))
            work.cancel()
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { outcome.wait($0) }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
            work.cancel()
        }
    }
}

/// One request's result, delivered once: to the waiting continuation, or kept until it waits.
private final class Outcome: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<TestResponse, any Error>)
        case finished(Result<TestResponse, any Error>)
        case delivered
    }
    private let state = Locked<State>(.pending)

    /// The first result wins; later ones are dropped.
    func finish(_ result: Result<TestResponse, any Error>) {
        let waiter = state.withLock { s -> CheckedContinuation<TestResponse, any Error>? in
            switch s {
            case .pending:
                s = .finished(result)
                return nil
            case .waiting(let continuation):
                s = .delivered
                return continuation
            case .finished, .delivered:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    func wait(_ continuation: CheckedContinuation<TestResponse, any Error>) {
        let ready = state.withLock { s -> Result<TestResponse, any Error>? in
            switch s {
            case .pending:
                s = .waiting(continuation)
                return nil
            case .finished(let result):
                s = .delivered
                return result
            case .waiting, .delivered:
                preconditionFailure("one wait per request")
            }
        }
        if let ready { continuation.resume(with: ready) }
    }
}

/// What has arrived of one response: its head, then its body as the connection would write it.
private final class Received: ResponseBodyWriter, Sendable {
    let head = Locked<(status: Int, headers: [(name: String, value: String)])?>(nil)
    let bytes = Locked<[UInt8]>([])

    func write(_ buffer: ByteBuffer) async throws {
        bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}

    /// The head and the body so far; nil before the head.
    var response: TestResponse? {
        guard let head = head.withLock({ $0 }) else { return nil }
        return TestResponse(status: head.status, headers: head.headers, body: bytes.withLock { $0 })
    }
}

/// The lines logged with `plugin` metadata: by the plugin, and by the host about it.
private final class LogCapture: Sendable {
    let lines = Locked<[(level: Int, message: String)]>([])

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        var metadataProvider: Logger.MetadataProvider? = nil

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            guard metadata["plugin"] != nil || event.metadata?["plugin"] != nil else { return }
            let level: sb_log_level
            switch event.level {
            case .trace: level = SB_LOG_TRACE
            case .debug: level = SB_LOG_DEBUG
            case .info: level = SB_LOG_INFO
            case .notice: level = SB_LOG_NOTICE
            case .warning: level = SB_LOG_WARNING
            case .error: level = SB_LOG_ERROR
            case .critical: level = SB_LOG_CRITICAL
            }
            capture.lines.withLock { $0.append((Int(level.rawValue), event.message.description)) }
        }
    }
}

/// A complete response as the test host received it.
public struct TestResponse: Sendable {
    /// The status code, such as 200.
    public var status: Int
    /// The header fields in order, names as the responder wrote them (compare them
    /// case-insensitively, or use `header(_:)`).
    public var headers: [(name: String, value: String)]
    /// The whole body (empty for HEAD).
    public var body: [UInt8]

    /// A response with these parts.
    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body decoded as UTF-8 (invalid sequences replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}
