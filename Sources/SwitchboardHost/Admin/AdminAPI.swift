#if canImport(FoundationEssentials)
import Synchronization
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle
import SwitchboardRouting
import SwitchboardCore
#if canImport(Glibc)
import Glibc
#endif

/// The host's own endpoints: `/_switchboard/…` (plugins, routes, reload, lifecycle events) and
/// `/metrics` (Prometheus text).
///
/// Access: with no token configured, only loopback peers are let in, and only when they name the
/// server by a loopback name or address in `Host` (a page on another site that rebinds its DNS
/// name to 127.0.0.1 cannot read the API); a state-changing request is refused when a browser
/// says it comes from another origin (`Origin` not this server's own, or `Sec-Fetch-Site`
/// cross-site or same-site), so a cross-site form or fetch cannot reload plugins. With
/// `admin.token` set, every request must carry `Authorization: Bearer <token>` (which a browser
/// never adds cross-site), from anywhere. A refused request gets 401 (token missing or wrong) or
/// 403 (anything else), with a JSON body.
public struct AdminAPI: Sendable {
    let registry: PluginRegistry
    let token: String?
    let heartbeat: Duration
    /// This process's link to its supervisor; nil with `--single-process`.
    let worker: WorkerLink?

    /// `token`: the bearer token every request must carry; nil or empty admits loopback clients
    /// only. `heartbeat`: how often the event stream sends a keep-alive comment. `worker`: nil in a
    /// single process.
    public init(registry: PluginRegistry, token: String?, heartbeat: Duration = .seconds(15), worker: WorkerLink? = nil) {
        self.registry = registry
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.heartbeat = heartbeat
        self.worker = worker
    }

    func respond(to request: Request, context: SwitchboardRequestContext) async throws -> Response {
        if let refusal = authorize(request, context: context) { return refusal }
        let path = request.uri.path
        if path == HostPaths.metrics {
            guard request.method == .get || request.method == .head else { return Self.notAllowed(["GET", "HEAD"]) }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.metrics.render())))
        }
        let parts = path.dropFirst(HostPaths.adminPrefix.count).split(separator: "/", omittingEmptySubsequences: true)
        switch (request.method, parts.count, parts.first) {
        case (.get, 0, _), (.head, 0, _):
            return Self.json(Index())
        case (.get, 1, "plugins"), (.head, 1, "plugins"):
            return Self.json(pluginList())
        case (.get, 2, "plugins"), (.head, 2, "plugins"):
            guard let instance = registry.plugin(named: String(parts[1])) else {
                return JSONError.response(.notFound, detail: "No plugin named \"\(parts[1])\" is loaded")
            }
            return Self.json(PluginView(instance, registry: registry))
        case (.post, 3, "plugins") where parts[2] == "reload":
            return reload(String(parts[1]))
        case (.get, 1, "routes"), (.head, 1, "routes"):
            return Self.json(RoutesView(routes: registry.routeTable.routes.map(RouteView.init)))
        case (.get, 1, "workers"), (.head, 1, "workers"):
            return Self.json(WorkersView(worker: worker, quarantine: registry.loader.quarantine))
        case (.post, 2, "workers") where parts[1] == "restart":
            return restartWorker()
        case (.get, 1, "quarantine"), (.head, 1, "quarantine"):
            return Self.json(QuarantineView(quarantined: registry.loader.quarantine.all))
        case (.delete, 2, "quarantine"):
            return lift(String(parts[1]))
        case (_, 1, "workers"), (_, 1, "quarantine"):
            return Self.notAllowed(["GET", "HEAD"])
        case (_, 2, "workers") where parts[1] == "restart":
            return Self.notAllowed(["POST"])
        case (_, 2, "quarantine"):
            return Self.notAllowed(["DELETE"])
        case (.get, 1, "events"):
            return events(lastEventID: request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int($0) } ?? Self.queryInt(request, "after"))
        case (_, 1, "plugins"), (_, 2, "plugins"), (_, 1, "routes"):
            return Self.notAllowed(["GET", "HEAD"])
        case (_, 3, "plugins") where parts[2] == "reload":
            return Self.notAllowed(["POST"])
        case (_, 1, "events"):
            return Self.notAllowed(["GET"])
        default:
            return JSONError.response(.notFound, detail: "Not Found")
        }
    }

    // MARK: Access

    private func authorize(_ request: Request, context: SwitchboardRequestContext) -> Response? {
        if let token {
            // The scheme is a token, compared without ASCII case (RFC 9110 §11.1), as bytes.
            let given = request.headers[.authorization].flatMap { value -> ArraySlice<UInt8>? in
                let bytes = Array(value.utf8)[...]
                return bytes.hasPrefixIgnoringASCIICase("bearer ".utf8) ? bytes.dropFirst(7).drop { $0 == 0x20 } : nil
            }
            guard let given, Self.constantTimeEqual(Array(given), Array(token.utf8)) else {
                var response = JSONError.response(.unauthorized, detail: "The admin API needs the header Authorization: Bearer <admin.token>")
                response.headers[.wwwAuthenticate] = "Bearer realm=\"switchboard\""
                return response
            }
            return nil
        }
        guard Self.isLoopback(context.remoteAddress) else {
            return JSONError.response(.forbidden, detail: "The admin API answers loopback clients only; set admin.token to allow other clients with a bearer token")
        }
        guard let authority = request.head.authority, Self.isLoopbackAuthority(authority) else {
            return JSONError.response(
                .forbidden,
                detail: "Without admin.token the admin API answers only requests whose Host is a loopback name or address (localhost, 127.0.0.1, [::1])")
        }
        if ![.get, .head, .options].contains(request.method) {
            let fetchSite = request.headers[HTTPField.Name("Sec-Fetch-Site")!]?.utf8
            let crossSite = fetchSite.map { $0.equalsIgnoringASCIICase("cross-site".utf8) || $0.equalsIgnoringASCIICase("same-site".utf8) } ?? false
            let origin = request.headers[HTTPField.Name("Origin")!]
            if crossSite || (origin.map { !Self.isOwnOrigin($0, authority: authority) } ?? false) {
                return JSONError.response(
                    .forbidden, detail: "A state-changing admin request from another origin is refused; send it without a browser (curl), or set admin.token")
            }
        }
        return nil
    }

    /// `localhost`, a name under `.localhost` (RFC 6761), an address in 127.0.0.0/8 or `[::1]`,
    /// with an optional port.
    static func isLoopbackAuthority(_ authority: String) -> Bool {
        // ASCII letters without case, as host names compare (RFC 3986 §3.2.2); nothing else folds.
        var host = Substring(Self.asciiLowercased(authority))
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let rest = host[host.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":") else { return false }
            return host[host.index(after: host.startIndex)..<close] == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        if host.hasSuffix(".") { host = host.dropLast() }
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Whether a browser's `Origin` is this server as the request named it (`http://<Host>`).
    static func isOwnOrigin(_ origin: String, authority: String) -> Bool {
        origin.utf8.equalsFoldingASCIICase(("http://" + authority).utf8)
    }

    /// `text` with ASCII letters in lower case; every other byte as it is (Unicode's lower-casing
    /// would fold characters a host name or token never compares as equal).
    static func asciiLowercased(_ text: String) -> String {
        String(decoding: text.utf8.map(\.lowercasedASCII), as: UTF8.self)
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let address else { return false }
        if case .unixDomainSocket = address { return true }
        let ip = address.ipAddress ?? ""
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }

    // MARK: Endpoints

    private func pluginList() -> PluginList {
        let serving = registry.plugins
        let servedFiles = Set(serving.map { CodePointKey($0.file) })
        return PluginList(
            plugins: serving.map { PluginView($0, registry: registry) },
            draining: registry.draining.map { PluginView($0, registry: registry) },
            refused_files: registry.refusals.filter { !servedFiles.contains(CodePointKey($0.file)) }.map(RefusalView.init),
            retained_images: registry.retainedImages.count,
            max_retained_images: registry.retainedImages.limit)
    }

    private func reload(_ name: String) -> Response {
        switch registry.reload(name: name) {
        case nil:
            return JSONError.response(.notFound, detail: "No plugin named \"\(name)\" is loaded")
        case .success(let instance)?:
            return Self.json(PluginView(instance, registry: registry))
        case .failure(let refusal)?:
            var response = Self.json(ReloadRefused(detail: refusal.message, reason: refusal.kind.description, file: refusal.file))
            response.status = .unprocessableContent
            return response
        }
    }

    /// Asks the supervisor for a handover: a new worker starts, and once it serves this one stops
    /// accepting and drains. 202: asked; 409 with `--single-process`, where there is no supervisor.
    private func restartWorker() -> Response {
        guard let worker else {
            return JSONError.response(.conflict, detail: "This server runs as a single process (--single-process): there is no worker to hand over; restart the server instead")
        }
        worker.send(.handover(reason: "POST /_switchboard/workers/restart"))
        var response = Self.json(RestartAccepted(detail: "a new worker is starting; this one stops accepting and drains once it serves", worker: worker.info.generation))
        response.status = .accepted
        return response
    }

    /// Lifts a quarantine and loads the file that held the version again, if it still does.
    private func lift(_ sha256: String) -> Response {
        let quarantine = registry.loader.quarantine
        let (lifted, notSaved) = quarantine.lift(sha256.lowercased())
        guard let lifted else {
            return JSONError.response(.notFound, detail: "No version with sha256 \(sha256) is quarantined")
        }
        worker?.send(.lifted(sha256: lifted.sha256))
        registry.events.publish(.quarantineLifted, plugin: lifted.plugin == "-" ? nil : lifted.plugin, file: lifted.file, reason: lifted.reason, message: "sha256 \(lifted.sha256.prefix(16))… may load again")
        var reloaded: PluginView? = nil
        var refused: RefusalView? = nil
        if let bytes = try? PluginLoader.readFile(lifted.file) {
            let contents = PluginFileContents(bytes: bytes)
            if contents.sha256 == lifted.sha256 {
                switch registry.load(file: lifted.file, contents: contents) {
                case .success(let instance): reloaded = PluginView(instance, registry: registry)
                case .failure(let refusal): refused = RefusalView(refusal)
                }
            }
        }
        return Self.json(
            Lifted(
                lifted: lifted, reloaded: reloaded, refused: refused,
                warning: notSaved.map { "the quarantine list \(quarantine.path ?? "") could not be written (\($0)): the lift holds until the server stops" }))
    }

    /// Server-Sent Events: one event per lifecycle change, `id` = event number, so a client that
    /// reconnects with `Last-Event-ID` gets what it missed (while still in the history). A comment
    /// line every `heartbeat` keeps proxies from closing an idle stream.
    private func events(lastEventID: Int?) -> Response {
        let source = registry.events.subscribe(after: lastEventID ?? Int.max)
        let heartbeat = self.heartbeat
        let body = ResponseBody { writer in
            let (frames, sink) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(2048))
            let pump = Task {
                for await event in source {
                    let data = (try? Self.encode(event)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                    var frame: [UInt8] = []
                    EventStreamFormat.appendEvent(data: data.utf8, event: event.type.rawValue, id: String(event.id), to: &frame)
                    sink.yield(String(decoding: frame, as: UTF8.self))
                }
                sink.finish()
            }
            let beat = Task {
                while !Task.isCancelled {
                    try await Task.sleep(for: heartbeat)
                    sink.yield(": keep-alive\n\n")
                }
            }
            defer { pump.cancel(); beat.cancel() }
            // The stream never ends by itself: at shutdown it ends, so the server can stop.
            try await withGracefulShutdownHandler {
                try await writer.write(ByteBuffer(string: "retry: 1000\n: switchboard lifecycle events\n\n"))
                for await frame in frames {
                    try await writer.write(ByteBuffer(string: frame))
                }
            } onGracefulShutdown: {
                sink.finish()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body)
    }

    // MARK: Helpers

    /// Every admin body and event is encoded the same way, by the product's one JSON writer:
    /// keys sorted (a stable order to diff), `/` unescaped.
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        try JSONEncoding.encode(value, options: JSONOptions(sortedKeys: true))
    }

    static func json(_ value: some Encodable) -> Response {
        let data = (try? encode(value)) ?? Array("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func notAllowed(_ methods: [String]) -> Response {
        var response = JSONError.response(.methodNotAllowed, detail: "Method Not Allowed")
        response.headers[.allow] = methods.joined(separator: ", ")
        return response
    }

    static func queryInt(_ request: Request, _ name: String) -> Int? {
        request.uri.queryParameters[name[...]].flatMap { Int($0) }
    }
}

// MARK: JSON shapes

struct Index: Encodable {
    let endpoints = [
        "GET /_switchboard/plugins": "serving plugins, draining generations, refused files",
        "GET /_switchboard/plugins/{name}": "one plugin",
        "POST /_switchboard/plugins/{name}/reload": "load the plugin's file again as a new generation",
        "GET /_switchboard/routes": "every served route",
        "GET /_switchboard/events": "lifecycle events (Server-Sent Events; Last-Event-ID resumes)",
        "GET /_switchboard/workers": "the worker process, its supervisor's counts, quarantined versions",
        "POST /_switchboard/workers/restart": "hand over to a new worker without dropping a request",
        "GET /_switchboard/quarantine": "plugin versions set aside because the server died in their code",
        "DELETE /_switchboard/quarantine/{sha256}": "lift a quarantine (the file loads again)",
        "GET /metrics": "Prometheus metrics",
    ]
}

struct PluginList: Encodable {
    let plugins: [PluginView]
    let draining: [PluginView]
    let refused_files: [RefusalView]
    let retained_images: Int
    let max_retained_images: Int
}

struct PluginView: Encodable {
    let name: String
    let version: String
    let description: String
    let generation: Int
    let file: String
    let sha256: String
    let state: String
    let loaded_at: Int64
    let abi: String
    let swift_version: String?
    let image_retained: Bool
    let requests_served: Int
    let errors: Int
    let in_flight: Int
    let routes: [RouteView]
    let last_load_error: RefusalView?

    init(_ instance: PluginInstance, registry: PluginRegistry) {
        name = instance.name
        version = instance.version
        description = instance.summary
        generation = instance.generation
        file = instance.file
        sha256 = instance.sha256
        state = instance.phase.rawValue
        loaded_at = instance.loadedAt
        abi = "\(instance.abiMajor).\(instance.abiMinor)"
        swift_version = instance.swiftVersion == 0 ? nil : SwiftToolchain.format(instance.swiftVersion)
        image_retained = instance.image.neverUnload
        requests_served = instance.requestsServed.load(ordering: .relaxed)
        errors = instance.failures.load(ordering: .relaxed)
        in_flight = instance.leases
        routes = instance.routes.map(RouteView.init)
        last_load_error = registry.refusal(file: instance.file).map(RefusalView.init)
    }
}

struct RouteView: Encodable {
    let method: String
    let path: String
    let plugin: String
    let generation: Int
    let summary: String
    let blocking: Bool
    let streams_body: Bool

    init(_ route: RouteEntry) {
        method = route.method
        path = route.template.text
        plugin = route.plugin.name
        generation = route.plugin.generation
        summary = route.metadata.summary
        blocking = route.isBlocking
        streams_body = route.streamsBody
    }
}

struct RoutesView: Encodable {
    let routes: [RouteView]
}

struct RefusalView: Encodable {
    let file: String
    let plugin: String?
    let reason: String
    let message: String
    let time: Int64

    init(_ refusal: LoadRefusal) {
        file = refusal.file
        plugin = refusal.pluginName
        reason = refusal.kind.description
        message = refusal.message
        time = refusal.time
    }
}

struct ReloadRefused: Encodable {
    let detail: String
    let reason: String
    let file: String
}

struct WorkersView: Encodable {
    struct Worker: Encodable {
        let pid: Int32
        let supervisor: Int32
        let started: Int64
        let generation: Int
        let reason: String
        let detail: String
        let crashes: Int
        let restarts: Int
        let quarantines: Int
        let handovers: Int
    }
    /// `supervised` or `single-process`.
    let mode: String
    let worker: Worker
    let quarantined: [QuarantineEntry]

    init(worker link: WorkerLink?, quarantine: Quarantine) {
        mode = link == nil ? "single-process" : "supervised"
        let info = link?.info
        worker = Worker(
            pid: getpid(), supervisor: info?.supervisor ?? 0, started: link?.started ?? Self.processStart, generation: info?.generation ?? 1,
            reason: info?.reason ?? "start", detail: info?.detail ?? "", crashes: info?.crashes ?? 0, restarts: info?.restarts ?? 0,
            quarantines: info?.quarantines ?? 0, handovers: info?.handovers ?? 0)
        quarantined = quarantine.all
    }

    static let processStart = wallClockNanoseconds() / 1_000_000_000
}

struct QuarantineView: Encodable {
    let quarantined: [QuarantineEntry]
}

struct RestartAccepted: Encodable {
    let detail: String
    let worker: Int
}

struct Lifted: Encodable {
    let lifted: QuarantineEntry
    let reloaded: PluginView?
    let refused: RefusalView?
    let warning: String?
}
