import class SwitchboardCore.Locked
import CSwitchboard
import Dispatch
public import SwitchboardRouting
@_spi(Testing) public import SwitchboardSDK
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An in-process host for unit-testing a plugin without sockets.
///
/// It loads the plugin from its descriptor (no `dlopen`), runs `on_init`, and answers requests
/// the way the real host does where a plugin can tell: routing (404, 405 with `Allow`), parameter
/// validation with FastAPI's 422 body (the host's own validator), request access, responses,
/// streams, timers, publish/subscribe and an in-memory state store.
///
///     let host = try TestHost(plugin)            // the SDK's Plugin, or any descriptor pointer
///     let response = try host.get("/hello")
///     #expect(response.status == 200 && response.text == "Hello!\n")
///
/// Timers and deliveries run on one background queue; `request` waits for the response (also a
/// pending one, or a stream until it finishes) up to `timeout`.
public final class TestHost: @unchecked Sendable {  // the plugin handle and state pointer are immutable C values; the rest is Locked
    public let name: String
    public let version: String
    let descriptor: sb_plugin_descriptor
    let config: [String: String]
    let queue = DispatchQueue(label: "switchboard.test-host")
    private let onQueue = DispatchSpecificKey<Bool>()
    private let mutable = Locked<Mutable>(Mutable())
    private var pluginState: UnsafeMutableRawPointer? = nil

    struct Mutable {
        var initializing = true
        var refuseReason: String? = nil
        var routes: [RouteDeclaration] = []
        /// Typed handlers' libffi calls, prepared once per route (by signature), as the host does.
        var typedCalls: [String: TypedHandlerCall] = [:]
        var routeErrors: [String] = []
        var logs: [(level: Int, message: String)] = []
        /// Keys as bytes, as the real host keeps them.
        var state: [[UInt8]: [UInt8]] = [:]
        var subscriptions: [String: [TestSubscription]] = [:]
        var deinitialised = false
    }

    /// Why a plugin did not load in the test host.
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads the plugin whose `switchboard_plugin_v1` returns `entry`. `config` answers
    /// `config_get` (the `plugins.config.<name>` section of the real host's configuration).
    public convenience init(entry: UnsafeRawPointer, config: [String: String] = [:]) throws {
        try self.init(entry: entry, config: config, initialize: nil)
    }

    /// `initialize` replaces the descriptor's `on_init` (the SDK's own, for a `Plugin`).
    private init(
        entry: UnsafeRawPointer, config: [String: String],
        initialize: ((UnsafePointer<sb_host_api>, OpaquePointer, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> sb_status)?
    ) throws {
        let descriptor = RouteDeclaration.readSized(entry.assumingMemoryBound(to: sb_plugin_descriptor.self))
        guard descriptor.magic == SB_PLUGIN_MAGIC, descriptor.abi_major == SB_ABI_MAJOR, let onInit = descriptor.on_init else {
            throw Refused(description: "not a Switchboard plugin descriptor of ABI \(SB_ABI_MAJOR) (magic, major or on_init)")
        }
        self.descriptor = descriptor
        self.name = descriptor.name.map { String(cString: $0) } ?? ""
        self.version = descriptor.version.map { String(cString: $0) } ?? ""
        self.config = config
        queue.setSpecific(key: onQueue, value: true)
        var state: UnsafeMutableRawPointer? = nil
        let status = initialize?(TestHostAPI.table, handle, &state) ?? onInit(TestHostAPI.table, handle, &state)
        pluginState = state
        let (reason, errors) = mutable.withLock { m in
            m.initializing = false
            return (m.refuseReason, m.routeErrors)
        }
        if status != SB_OK || !errors.isEmpty {
            shutdown()
            let why = ([reason].compactMap { $0 } + errors).joined(separator: "; ")
            throw Refused(description: "on_init failed with status \(status)\(why.isEmpty ? "" : ": \(why)")")
        }
    }

    public convenience init(_ plugin: Plugin, config: [String: String] = [:]) throws {
        try self.init(entry: plugin.entry, config: config) { plugin.initialize(host: $0, handle: $1, state: $2) }
    }

    /// Loads a built plugin library (a C or Swift `.so`). Opened as the real host opens a Swift
    /// image (`RTLD_NODELETE`: never unmapped); test a copy, not a file a build may overwrite.
    public convenience init(library path: String, config: [String: String] = [:]) throws {
        guard let image = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            throw Refused(description: "dlopen failed: \(dlerror().map { String(cString: $0) } ?? path)")
        }
        guard let symbol = dlsym(image, "switchboard_plugin_v1") else {
            throw Refused(description: "\(path) does not export switchboard_plugin_v1")
        }
        let entry = unsafeBitCast(symbol, to: sb_entry_fn.self)
        guard let descriptor = entry() else { throw Refused(description: "switchboard_plugin_v1 returned NULL") }
        try self.init(entry: UnsafeRawPointer(descriptor), config: config)
    }

    deinit { shutdown() }

    var handle: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ handle: OpaquePointer?) -> TestHost? {
        handle.map { Unmanaged<TestHost>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
    }

    /// Runs `on_deinit` once (also at deinit).
    public func shutdown() {
        let first = mutable.withLock { m in
            defer { m.deinitialised = true }
            return !m.deinitialised
        }
        guard first else { return }
        if !isOnQueue { queue.sync {} }
        descriptor.on_deinit?(pluginState)
    }

    /// The routes the plugin declared, as the real host reads them.
    public var routes: [RouteDeclaration] { mutable.withLock { $0.routes } }

    /// What the plugin logged: level (sb_log_level) and message.
    public var logs: [(level: Int, message: String)] { mutable.withLock { $0.logs } }

    /// The OpenAPI document the real host would serve for this plugin alone.
    public var openAPI: String {
        OpenAPIDocument.build(
            title: name, version: version,
            plugins: [.init(name: name, version: version, description: "", generation: 1, routes: routes)]
        ).text
    }

    // MARK: Requests

    public func get(_ target: String, headers: [(String, String)] = [], timeout: Duration = .seconds(5)) async throws -> TestResponse {
        try await request("GET", target, headers: headers, timeout: timeout)
    }

    public func post(_ target: String, body: [UInt8] = [], headers: [(String, String)] = [], timeout: Duration = .seconds(5)) async throws -> TestResponse {
        try await request("POST", target, headers: headers, body: body, timeout: timeout)
    }

    /// The response did not complete within the timeout.
    public struct TimedOut: Error, CustomStringConvertible {
        public let description: String
    }

    /// Sends one request through the plugin's route and waits for its whole response (without
    /// blocking a thread: an async handler of the plugin may need one to finish).
    public func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Duration = .seconds(5)
    ) async throws -> TestResponse {
        let (path, query) = Self.split(target)
        if let problem = RequestPath.problem(path) { return .json(400, #"{"detail":"# + JSON.quote(problem) + "}") }
        let routes = self.routes
        let candidates = routes.compactMap { route in route.template.match(path).map { (route, $0) } }
        guard !candidates.isEmpty else { return .json(404, #"{"detail":"Not Found"}"#) }
        let lookup = method == "HEAD" ? "GET" : method
        guard let (route, raw) = candidates.filter({ $0.0.method == lookup }).min(by: { Self.moreSpecific($0.0.template, $1.0.template) }) else {
            var allow = Set(candidates.map(\.0.method))
            if allow.contains("GET") { allow.insert("HEAD") }
            return .json(405, #"{"detail":"Method Not Allowed"}"#, headers: [("Allow", allow.sorted().joined(separator: ", "))])
        }
        let items = QueryString.items(query)
        let names = route.template.parameterNames
        let source = ParameterValidation.Source(
            path: { name in names.firstIndex(of: name).map { raw[$0].percentDecoded() ?? String(raw[$0]) } },
            query: { name in QueryString.values(items, named: name).last },
            header: { name in headers.first { $0.0.lowercased() == name.lowercased() }?.1 })
        let values: [ParameterValue?]
        switch ParameterValidation.validate(route.metadata.parameters, source, cStrings: route.typedHandler != nil) {
        case .success(let validated): values = validated
        case .failure(let issues): return .json(422, issues.body)
        }
        if route.flags & SB_ROUTE_PRECONDITIONS == 0,
            RoutePreconditions.failWithoutValidators(method: method, header: { name in Self.fieldList(headers, name) })
        {
            return .json(412, #"{"detail":"# + JSON.quote(RoutePreconditions.failedDetail) + "}")
        }
        let exchange = TestExchange(
            host: self, route: route, method: method, path: String(path), query: String(query), rawParameters: raw,
            queryItems: items, headers: headers, body: body, values: values)
        let status: sb_status
        if let typed = route.typedHandler {
            // Always prepared for a typed route (addRoute).
            status = mutable.withLock { $0.typedCalls[route.signature] }?.invoke(
                typed, handlerData: route.handlerData, request: exchange.handle, values: exchange.values
            ) { exchange.lend($0).ptr } ?? SB_ERR_INTERNAL
        } else if let handler = route.handler {
            status = handler(route.handlerData, exchange.handle)
        } else {
            status = SB_ERR_UNSUPPORTED
        }
        if status != SB_PENDING && !exchange.hasResponded {
            // As the real host: failed, or returned SB_OK without responding.
            exchange.abandon()
            log(Int(SB_LOG_ERROR.rawValue), "handler for \(route.signature) \(status == SB_OK ? "returned SB_OK without responding" : "failed with status \(status)")")
            return .json(500, #"{"detail":"Internal Server Error"}"#)
        }
        guard let response = await exchange.wait(timeout: timeout) else {
            throw TimedOut(description: "\(method) \(target): no complete response within \(timeout)")
        }
        return method == "HEAD" ? TestResponse(status: response.status, headers: response.headers, body: []) : response
    }

    /// Every line of field `name` joined with ", " (RFC 9110 §5.3), as the host reads a list.
    static func fieldList(_ headers: [(String, String)], _ name: String) -> String? {
        let lines = headers.filter { $0.0.lowercased() == name }.map(\.1)
        return lines.isEmpty ? nil : lines.joined(separator: ", ")
    }

    static func split(_ target: String) -> (Substring, Substring) {
        guard let q = target.firstIndex(of: "?") else { return (target[...], "") }
        return (target[..<q], target[target.index(after: q)...])
    }

    /// A literal segment beats a parameter at the first place two templates differ.
    static func moreSpecific(_ a: PathTemplate, _ b: PathTemplate) -> Bool {
        for (x, y) in zip(a.segments, b.segments) {
            switch (x, y) {
            case (.literal, .parameter): return true
            case (.parameter, .literal): return false
            default: continue
            }
        }
        return false
    }

    // MARK: Services the function table reaches

    func addRoute(_ spec: UnsafePointer<sb_route_spec>) -> sb_status {
        let result = Result { () throws(RouteDeclaration.Invalid) in
            let route = try RouteDeclaration.read(spec)
            return (route, try TypedHandlerCall(route))
        }
        return mutable.withLock { m in
            guard m.initializing else { return SB_ERR_STATE }
            switch result {
            case .failure(let invalid):
                m.routeErrors.append(invalid.description)
                return SB_ERR_INVALID_ARGUMENT
            case .success(let (route, typedCall)):
                if let problem = route.reservedPathProblem {
                    m.routeErrors.append(problem)
                    return SB_ERR_INVALID_ARGUMENT
                }
                if m.routes.contains(where: { $0.method == route.method && $0.template.shape == route.template.shape }) {
                    m.routeErrors.append("route \(route.signature) is declared twice")
                    return SB_ERR_CONFLICT
                }
                m.routes.append(route)
                m.typedCalls[route.signature] = typedCall
                return SB_OK
            }
        }
    }

    func refuse(_ reason: String) -> sb_status {
        mutable.withLock { m in
            guard m.initializing else { return SB_ERR_STATE }
            m.refuseReason = reason
            return SB_OK
        }
    }

    func log(_ level: Int, _ message: String) { mutable.withLock { $0.logs.append((level, message)) } }

    var isOnQueue: Bool { DispatchQueue.getSpecific(key: onQueue) == true }

    func withState<R>(_ body: (inout [[UInt8]: [UInt8]]) -> R) -> R { mutable.withLock { body(&$0.state) } }

    func subscribers(_ topic: String) -> [TestSubscription] { mutable.withLock { $0.subscriptions[topic] ?? [] } }

    func addSubscriber(_ sub: TestSubscription) { mutable.withLock { $0.subscriptions[sub.topic, default: []].append(sub) } }

    func removeSubscriber(_ sub: TestSubscription) {
        mutable.withLock { m in m.subscriptions[sub.topic]?.removeAll { $0 === sub } }
    }
}

/// A complete response as the test host received it.
public struct TestResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    static func json(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> TestResponse {
        TestResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(body.utf8))
    }
}
