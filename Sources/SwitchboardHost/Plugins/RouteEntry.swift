import CSwitchboard
public import SwitchboardRouting

/// One route of one plugin instance, as the dispatcher uses it.
///
/// The C pointers (handler, handler data, typed handler) belong to the plugin image. A dispatcher
/// calls them only while holding a lease on `plugin` (`PluginInstance.enter()`), and the image is
/// unmapped only after the last lease is returned. The entry holds its instance strongly; the
/// instance drops its routes when it retires, which breaks the cycle.
public final class RouteEntry: @unchecked Sendable {  // `instruments` is written once, before the entry is published in a table; the rest is immutable
    /// The route as the plugin declared it in its `sb_route_spec`, checked.
    public let declaration: RouteDeclaration
    /// The generation whose handler serves the route; the entry keeps it alive.
    public let plugin: PluginInstance
    /// Request-body limit in bytes: the spec's `max_body_bytes`, or the host's `limits.max_body_bytes`
    /// when it is 0. A larger body gets 413 (RFC 9110 §15.5.14).
    public let maxBodyBytes: Int
    /// The libffi call interface of a typed handler, prepared once.
    let typedCall: TypedHandlerCall?
    /// What the watchdog calls this route's code when it holds a thread: "plugin GET /path".
    let activityLabel: UnsafePointer<CChar>
    /// The template's parameter names, in order (computed once: a request's values are by index).
    let pathParameterNames: [String]
    /// The declared parameters, prepared once for validating each request.
    let validation: ParameterValidation.Plan
    /// Request counters and latency, set by the registry before the entry is published in a table.
    nonisolated(unsafe) var instruments: HostMetrics.RouteInstruments? = nil

    init(declaration: RouteDeclaration, plugin: PluginInstance, defaultMaxBody: Int, typedCall: TypedHandlerCall?) {
        self.declaration = declaration
        self.plugin = plugin
        self.maxBodyBytes = declaration.maxBodyBytes == 0 ? defaultMaxBody : Int(clamping: declaration.maxBodyBytes)
        self.typedCall = typedCall
        self.activityLabel = ActivityLabel.intern("\(plugin.name) \(declaration.signature)")
        pathParameterNames = declaration.template.parameterNames
        validation = ParameterValidation.Plan(declaration.metadata.parameters, pathParameterNames: pathParameterNames)
    }

    /// The request method, an upper-case token such as `GET`.
    public var method: String { declaration.method }
    /// The path template, such as `/items/{item_id}`.
    public var template: PathTemplate { declaration.template }
    /// Summary, description, parameters, responses and request body, for validation, the OpenAPI
    /// document and the admin API.
    public var metadata: RouteMetadata { declaration.metadata }
    /// The declared path, query and header parameters, validated before the handler runs.
    public var parameters: [ParameterSpec] { declaration.metadata.parameters }
    /// `SB_ROUTE_BLOCKING`: the handler runs on the host's thread pool instead of an event loop.
    public var isBlocking: Bool { declaration.flags & SB_ROUTE_BLOCKING != 0 }
    /// `SB_ROUTE_STREAM_BODY`: the body is not buffered; the handler reads it with `request_body_read`.
    public var streamsBody: Bool { declaration.flags & SB_ROUTE_STREAM_BODY != 0 }
    /// The host evaluates the request's preconditions for this route (as for a resource without
    /// validators): a plugin of ABI 1.4 or later that did not set SB_ROUTE_PRECONDITIONS. A plugin
    /// built before 1.4 could not set it, and keeps the behaviour it was built for.
    public var hostEvaluatesPreconditions: Bool {
        declaration.flags & SB_ROUTE_PRECONDITIONS == 0 && (plugin.abiMajor, plugin.abiMinor) >= (1, 4)
    }

    /// Whether the host answers a conditional GET or HEAD on this route's 200 (`ConditionalRead`):
    /// for plugins built for ABI 1.8 or later, on routes that do not evaluate their own
    /// preconditions (SB_ROUTE_PRECONDITIONS).
    public var hostAnswersConditionalReads: Bool {
        declaration.flags & SB_ROUTE_PRECONDITIONS == 0 && (plugin.abiMajor, plugin.abiMinor) >= (1, 8)
    }

    /// "GET /items/{item_id}"
    public var signature: String { declaration.signature }
}
