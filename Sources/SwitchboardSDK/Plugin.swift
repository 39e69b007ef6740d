import CSwitchboard
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A plugin: its name, version, and the function that sets up each loaded instance.
///
/// Declare one per library as a global, and export it in one line:
///
///     let plugin = Plugin(name: "hello", version: "1.0.0") { app in
///         app.get("/hello") { _ in .text("Hello!\n") }
///     }
///     @_cdecl("switchboard_plugin_v1") public func entry() -> UnsafeRawPointer { plugin.entry }
///
/// `setup` runs once per loaded generation (at each hot swap, for the new one), on a host loader
/// thread, with a fresh `App`. Everything a generation needs lives in what `setup` creates and
/// captures, never in globals: a reload with the same content may share them.
public final class Plugin: @unchecked Sendable {  // `descriptor` is written once in init, then only read
    /// The name the host knows the plugin by: `[a-z0-9][a-z0-9_-]{0,63}`, unique among loaded
    /// plugins (the host refuses others).
    public let name: String
    /// Free-form version text, e.g. "1.2.0".
    public let version: String
    let setup: @Sendable (App) throws -> Void
    // Written once in init, then only read (by the host).
    private let descriptor: UnsafeMutablePointer<sb_plugin_descriptor>

    /// A plugin whose `setup` runs for each loaded generation. The strings are copied into a
    /// descriptor that lives as long as the library; `description` (nil for none) is shown in
    /// /openapi.json.
    public init(name: String, version: String, description: String? = nil, setup: @escaping @Sendable (App) throws -> Void) {
        self.name = name
        self.version = version
        self.setup = setup
        let descriptor = UnsafeMutablePointer<sb_plugin_descriptor>.allocate(capacity: 1)
        descriptor.initialize(
            to: sb_plugin_descriptor(
                struct_size: UInt32(MemoryLayout<sb_plugin_descriptor>.size),
                magic: SB_PLUGIN_MAGIC,
                abi_major: UInt16(SB_ABI_MAJOR),
                abi_minor: UInt16(SB_ABI_MINOR),
                swift_version: SwiftToolchain.compilerVersion,
                name: UnsafePointer(strdup(name)),
                version: UnsafePointer(strdup(version)),
                description: description.map { UnsafePointer(strdup($0)) } ?? nil,
                on_init: pluginInit,
                on_deinit: pluginDeinit))
        self.descriptor = descriptor
        // The descriptor's hooks are C functions without context: they find the plugin through
        // `current`. One library, one SDK copy, one exported plugin.
        Plugin.current.withLock { $0 = self }
    }

    /// What `switchboard_plugin_v1` returns: the descriptor (valid while the library is loaded).
    /// The plugin whose entry was read last is the one the descriptor's `on_init` sets up: the host
    /// reads the entry right before calling it.
    public var entry: UnsafeRawPointer {
        Plugin.current.withLock { $0 = self }
        return UnsafeRawPointer(descriptor)
    }

    static let current = Locked<Plugin?>(nil)

    /// Sets up one generation (what `on_init` does), for this plugin whatever `entry` was read
    /// last: the test host calls it directly, so several plugins in one test binary never mix.
    @_spi(Testing)
    public func initialize(host: UnsafePointer<sb_host_api>, handle: OpaquePointer, state out: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> sb_status {
        let app = App(host: host, handle: handle, name: name)
        out.pointee = Unmanaged.passRetained(app).toOpaque()
        do {
            try setup(app)
        } catch {
            _ = app.refuse("\(error)")
            return SB_ERR_INVALID_ARGUMENT
        }
        return app.registrationFailed ? SB_ERR_INVALID_ARGUMENT : SB_OK
    }
}

private func pluginInit(_ host: UnsafePointer<sb_host_api>?, _ handle: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> sb_status {
    guard let host, let handle, let out, let plugin = Plugin.current.withLock({ $0 }) else { return SB_ERR_INVALID_ARGUMENT }
    return plugin.initialize(host: host, handle: handle, state: out)
}

private func pluginDeinit(_ state: UnsafeMutableRawPointer?) {
    guard let state else { return }
    let app = Unmanaged<App>.fromOpaque(state).takeRetainedValue()
    app.shutdown()
}

/// One loaded generation of the plugin: where routes are declared and host services reached.
///
/// Valid from `setup` until the generation is retired; routes, timers, subscriptions and hooks
/// registered on it belong to this generation only.
public final class App: @unchecked Sendable {  // `host` and `handle` are C pointers the ABI lets any thread use until retirement; the rest is locked or atomic
    let host: UnsafePointer<sb_host_api>
    let handle: OpaquePointer
    /// The plugin's name, as in its descriptor.
    public let name: String
    /// Route closures, kept alive (and at fixed addresses) until on_deinit.
    private let routes = Locked<[RouteBox]>([])
    private let deinitHooks = Locked<[@Sendable () -> Void]>([])
    private let failed = Atomic<Bool>(false)

    init(host: UnsafePointer<sb_host_api>, handle: OpaquePointer, name: String) {
        self.host = host
        self.handle = handle
        self.name = name
    }

    var api: sb_host_api { host.pointee }
    var registrationFailed: Bool { failed.load(ordering: .relaxed) }

    /// The host's ABI version: an older host (same major) lacks what later minors added.
    public var hostABI: (major: Int, minor: Int) { (Int(api.abi_major), Int(api.abi_minor)) }

    // MARK: Lifecycle

    /// Runs when this generation is retired (after its last request and stream ended). Stop and
    /// join any thread you started.
    public func onShutdown(_ hook: @escaping @Sendable () -> Void) {
        deinitHooks.withLock { $0.append(hook) }
    }

    /// Leases on the handle: one per call into the host in progress through `withLiveHandle`;
    /// closed at retirement.
    private let gate = LeaseGate()

    /// Runs `body` with this generation's handle unless the generation has been retired (nil
    /// then): a timer callback or a task that outlives its generation gets a refusal, never a
    /// call on a handle the host has freed. Retirement waits for calls in progress.
    func withLiveHandle<T>(_ body: (OpaquePointer) -> T) -> T? {
        guard gate.enter() else { return nil }
        defer { gate.leave() }
        return body(handle)
    }

    /// Whether the host has retired this generation (its services then refuse every call).
    public var isRetired: Bool { gate.state.phase == .closed }

    func shutdown() {
        for hook in deinitHooks.withLock({ $0 }).reversed() { hook() }
        gate.close()
        // Calls in progress are calls into the host, which answer promptly; wait as long as they take.
        while !gate.waitUntilReleased(timeout: .seconds(1)) {}
        let boxes = routes.withLock { r in defer { r.removeAll() }; return r }
        for box in boxes { Unmanaged.passUnretained(box).release() }
    }

    /// Refuses loading with `reason` (shown in the host's refusal); call from `setup`, then throw
    /// or return. Throwing from `setup` does this with the error's description.
    @discardableResult
    public func refuse(_ reason: String) -> Bool {
        failed.store(true, ordering: .relaxed)
        return withSBStr(reason) { api.plugin_refuse(handle, $0) } == SB_OK
    }

    // MARK: Configuration and logging

    /// `plugins.config.<name>.<key>` from the host's configuration (an environment variable overrides
    /// the file; no flag sets it); nil when unset or once the generation is retired.
    public func config(_ key: String) -> String? {
        var value = sb_str()
        guard withLiveHandle({ handle in withSBStr(key) { api.config_get(handle, $0, &value) } }) == SB_OK else { return nil }
        return value.text
    }

    /// A log line's severity (`sb_log_level`), from `trace` to `critical`.
    public enum LogLevel: Int32, Sendable { case trace = 0, debug, info, notice, warning, error, critical }

    /// A log line tagged with the plugin's name.
    public func log(_ level: LogLevel, _ message: String) {
        _ = withLiveHandle { handle in withSBStr(message) { api.log(handle, sb_log_level(rawValue: UInt32(level.rawValue)), $0) } }
    }

    // MARK: Routes

    /// Declares a route. `path` is a template ("/items/{item_id}"); `params` declares typed
    /// parameters the host validates (422 before `handler` runs) and documents in /openapi.json.
    /// `body` documents the JSON body the handler reads (with `req.validate(body)`) as the
    /// operation's `requestBody`. `evaluatesPreconditions`: the handler evaluates If-Match and
    /// the other preconditions against its resource's validators (with `StateStore.update` or
    /// `Validators.evaluate`); leave it false and the host answers 412 for a state-changing
    /// request whose If-Match names a tag (or If-None-Match is `*`) before the handler runs
    /// (`SB_ROUTE_PRECONDITIONS`, RFC 9110 §13.2).
    public func route(
        _ method: String, _ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "",
        responses: [ResponseDoc] = [], body: BodySchema? = nil, evaluatesPreconditions: Bool = false, blocking: Bool = false,
        maxBodyBytes: UInt64 = 0, _ handler: @escaping @Sendable (Request) throws -> Response
    ) {
        add(
            RouteOptions(
                method: method, path: path, params: params, summary: summary, description: description, responses: responses, body: body,
                evaluatesPreconditions: evaluatesPreconditions, blocking: blocking, maxBodyBytes: maxBodyBytes), .sync(handler))
    }

    /// Declares a route whose handler is `async`: as FastAPI's `async def`, it starts on the host's
    /// thread that serves the request (as a synchronous handler runs) and stays there until it
    /// first suspends, then runs as a Swift task; the host waits for its response. Slow
    /// synchronous work belongs in a `blocking` route, not before an `await`.
    public func route(
        _ method: String, _ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "",
        responses: [ResponseDoc] = [], body: BodySchema? = nil, evaluatesPreconditions: Bool = false, maxBodyBytes: UInt64 = 0,
        _ handler: @escaping @Sendable (Request) async throws -> Response
    ) {
        add(
            RouteOptions(
                method: method, path: path, params: params, summary: summary, description: description, responses: responses, body: body,
                evaluatesPreconditions: evaluatesPreconditions, blocking: false, maxBodyBytes: maxBodyBytes), .async(handler))
    }

    /// Declares a GET route (HEAD requests reach it too) whose handler runs on an event loop, or on
    /// the thread pool with `blocking`; see `route`.
    public func get(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], blocking: Bool = false, _ handler: @escaping @Sendable (Request) throws -> Response) {
        route("GET", path, params: params, summary: summary, description: description, responses: responses, blocking: blocking, handler)
    }

    /// Declares a GET route (HEAD requests reach it too) whose `async` handler starts on the host's thread and continues as a Swift task (see `route`).
    public func get(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], _ handler: @escaping @Sendable (Request) async throws -> Response) {
        route("GET", path, params: params, summary: summary, description: description, responses: responses, handler)
    }

    /// Declares a POST route whose handler runs on an event loop, or on the thread pool with
    /// `blocking`.
    public func post(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], body: BodySchema? = nil, evaluatesPreconditions: Bool = false, blocking: Bool = false, maxBodyBytes: UInt64 = 0, _ handler: @escaping @Sendable (Request) throws -> Response) {
        route("POST", path, params: params, summary: summary, description: description, responses: responses, body: body, evaluatesPreconditions: evaluatesPreconditions, blocking: blocking, maxBodyBytes: maxBodyBytes, handler)
    }

    /// Declares a POST route whose `async` handler starts on the host's thread and continues as a Swift task (see `route`).
    public func post(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], body: BodySchema? = nil, evaluatesPreconditions: Bool = false, maxBodyBytes: UInt64 = 0, _ handler: @escaping @Sendable (Request) async throws -> Response) {
        route("POST", path, params: params, summary: summary, description: description, responses: responses, body: body, evaluatesPreconditions: evaluatesPreconditions, maxBodyBytes: maxBodyBytes, handler)
    }

    /// Declares a PUT route whose handler runs on an event loop (for the thread pool: `route`).
    public func put(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], body: BodySchema? = nil, evaluatesPreconditions: Bool = false, maxBodyBytes: UInt64 = 0, _ handler: @escaping @Sendable (Request) throws -> Response) {
        route("PUT", path, params: params, summary: summary, description: description, responses: responses, body: body, evaluatesPreconditions: evaluatesPreconditions, maxBodyBytes: maxBodyBytes, handler)
    }

    /// Declares a PUT route whose `async` handler starts on the host's thread and continues as a Swift task (see `route`).
    public func put(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], body: BodySchema? = nil, evaluatesPreconditions: Bool = false, maxBodyBytes: UInt64 = 0, _ handler: @escaping @Sendable (Request) async throws -> Response) {
        route("PUT", path, params: params, summary: summary, description: description, responses: responses, body: body, evaluatesPreconditions: evaluatesPreconditions, maxBodyBytes: maxBodyBytes, handler)
    }

    /// Declares a PATCH route whose handler runs on an event loop (for the thread pool: `route`).
    public func patch(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], body: BodySchema? = nil, evaluatesPreconditions: Bool = false, maxBodyBytes: UInt64 = 0, _ handler: @escaping @Sendable (Request) throws -> Response) {
        route("PATCH", path, params: params, summary: summary, description: description, responses: responses, body: body, evaluatesPreconditions: evaluatesPreconditions, maxBodyBytes: maxBodyBytes, handler)
    }

    /// Declares a PATCH route whose `async` handler starts on the host's thread and continues as a Swift task (see `route`).
    public func patch(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], body: BodySchema? = nil, evaluatesPreconditions: Bool = false, maxBodyBytes: UInt64 = 0, _ handler: @escaping @Sendable (Request) async throws -> Response) {
        route("PATCH", path, params: params, summary: summary, description: description, responses: responses, body: body, evaluatesPreconditions: evaluatesPreconditions, maxBodyBytes: maxBodyBytes, handler)
    }

    /// Declares a DELETE route whose handler runs on an event loop (for the thread pool, a body
    /// schema or a body limit: `route`).
    public func delete(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], evaluatesPreconditions: Bool = false, _ handler: @escaping @Sendable (Request) throws -> Response) {
        route("DELETE", path, params: params, summary: summary, description: description, responses: responses, evaluatesPreconditions: evaluatesPreconditions, handler)
    }

    /// Declares a DELETE route whose `async` handler starts on the host's thread and continues as a Swift task (see `route`) (for a body schema: `route`).
    public func delete(_ path: String, params: [any AnyParam] = [], summary: String = "", description: String = "", responses: [ResponseDoc] = [], evaluatesPreconditions: Bool = false, _ handler: @escaping @Sendable (Request) async throws -> Response) {
        route("DELETE", path, params: params, summary: summary, description: description, responses: responses, evaluatesPreconditions: evaluatesPreconditions, handler)
    }

    private func add(_ o: RouteOptions, _ handler: RouteBox.Handler) {
        let box = RouteBox(app: self, route: "\(o.method) \(o.path)", handler: handler)
        let status = CStrings.scope { strings -> sb_status in
            var specs = o.params.map { $0.spec.c(strings) }
            var docs = o.responses.map { $0.c(strings) }
            return specs.withUnsafeMutableBufferPointer { specs in
                docs.withUnsafeMutableBufferPointer { docs in
                    var route = sb_route_spec()
                    route.struct_size = UInt32(MemoryLayout<sb_route_spec>.size)
                    route.flags = (o.blocking ? UInt32(SB_ROUTE_BLOCKING) : 0) | (o.evaluatesPreconditions ? UInt32(SB_ROUTE_PRECONDITIONS) : 0)
                    route.method = strings.str(o.method)
                    route.path = strings.str(o.path)
                    route.handler = routeTrampoline
                    route.handler_data = Unmanaged.passUnretained(box).toOpaque()
                    route.summary = strings.str(o.summary)
                    route.description = strings.str(o.description)
                    route.params = UnsafePointer(specs.baseAddress)
                    route.param_count = specs.count
                    route.responses = UnsafePointer(docs.baseAddress)
                    route.response_count = docs.count
                    route.max_body_bytes = o.maxBodyBytes
                    if let body = o.body {
                        route.body_media_type = strings.str("application/json")
                        route.body_schema = strings.str(body.jsonSchema.text)
                    }
                    return api.route_add(handle, &route)
                }
            }
        }
        if status == SB_OK {
            routes.withLock { $0.append(box) }
            _ = Unmanaged.passRetained(box)
        } else {
            // The host logged why; the plugin is refused when setup returns.
            failed.store(true, ordering: .relaxed)
        }
    }
}

/// Everything a route declaration says besides its handler.
struct RouteOptions {
    var method: String
    var path: String
    var params: [any AnyParam]
    var summary: String
    var description: String
    var responses: [ResponseDoc]
    var body: BodySchema?
    var evaluatesPreconditions: Bool
    var blocking: Bool
    var maxBodyBytes: UInt64
}

/// One route's handler, the `handler_data` the host passes back.
final class RouteBox: Sendable {
    enum Handler {
        case sync(@Sendable (Request) throws -> Response)
        case async(@Sendable (Request) async throws -> Response)
    }
    unowned let app: App
    /// The route as declared, `GET /items/{item_id}`, for the log.
    let route: String
    let handler: Handler

    init(app: App, route: String, handler: Handler) {
        self.app = app
        self.route = route
        self.handler = handler
    }
}

private func routeTrampoline(_ data: UnsafeMutableRawPointer?, _ req: OpaquePointer?) -> sb_status {
    guard let data, let req else { return SB_ERR_INVALID_ARGUMENT }
    let box = Unmanaged<RouteBox>.fromOpaque(data).takeUnretainedValue()
    let request = Request(app: box.app, handle: req)
    switch box.handler {
    case .sync(let handler):
        let response: Response
        do {
            response = try handler(request)
        } catch {
            response = Response(error: error, app: box.app)
        }
        return response.send(request)
    case .async(let handler):
        // Started here, on the host's thread, and run on it until it first suspends: a handler
        // that never does (its state reads answered inline, say) has responded before this
        // returns, with no task hop. The exchange (and its lease on this generation) stays valid
        // until the response is sent.
        let sent = SendOutcome()
        Task.immediate {
            let response: Response
            do {
                response = try await handler(request)
            } catch {
                response = Response(error: error, app: box.app)
            }
            let status = response.send(request)
            // (SB_PENDING: a `Response.later` answers when its responder is called.)
            guard status != SB_PENDING else { return }
            // The declared route: after a refused response call the request is no longer valid.
            if status != SB_OK { box.app.log(.error, "async handler for \(box.route) could not respond: status \(status)") }
            sent.record(status)
        }
        // Finished before this returns (here or, just now, on another thread): the host has its
        // response, or answers a send that failed with a 500.
        return sent.status ?? SB_PENDING
    }
}

/// How an async handler's response call ended, once it has.
private final class SendOutcome: Sendable {
    private static let unset = Int32.min
    private let value = Atomic<Int32>(SendOutcome.unset)
    func record(_ status: sb_status) { value.store(status, ordering: .releasing) }
    var status: sb_status? {
        let raw = value.load(ordering: .acquiring)
        return raw == Self.unset ? nil : raw
    }
}

/// A documented response of a route, for /openapi.json.
public struct ResponseDoc: Sendable {
    /// The HTTP status code, e.g. 200.
    public var status: Int
    /// The body's media type, e.g. "application/json"; empty for none.
    public var mediaType: String
    /// Free text; empty: a standard phrase for the status.
    public var description: String

    /// A documented response: `ResponseDoc(200, "application/json", "The item")`.
    public init(_ status: Int, _ mediaType: String = "", _ description: String = "") {
        self.status = status
        self.mediaType = mediaType
        self.description = description
    }

    func c(_ strings: CStrings) -> sb_response_doc {
        sb_response_doc(
            struct_size: UInt32(MemoryLayout<sb_response_doc>.size), status: UInt16(clamping: status), reserved: 0,
            media_type: strings.str(mediaType), description: strings.str(description))
    }
}
