import CSwitchboard

/// One route of one plugin instance, copied out of the plugin's `sb_route_spec`.
///
/// The C pointers (handler, handler data, typed handler) belong to the plugin image. A dispatcher
/// calls them only while holding a lease on `plugin` (`PluginInstance.enter()`), and the image is
/// unmapped only after the last lease is returned. The entry holds its instance strongly; the
/// instance drops its routes when it retires, which breaks the cycle.
public final class RouteEntry: @unchecked Sendable {
    public let method: String
    public let template: PathTemplate
    public let plugin: PluginInstance
    public let flags: UInt32
    public let maxBodyBytes: Int
    public let metadata: RouteMetadata
    let handler: sb_handler_fn?
    let handlerData: UnsafeMutableRawPointer?
    let typedHandler: sb_typed_handler_fn?
    /// Request counters and latency, set by the registry before the entry is published in a table.
    nonisolated(unsafe) var instruments: HostMetrics.RouteInstruments? = nil

    init(
        method: String, template: PathTemplate, plugin: PluginInstance, flags: UInt32, maxBodyBytes: Int,
        metadata: RouteMetadata, handler: sb_handler_fn?, handlerData: UnsafeMutableRawPointer?,
        typedHandler: sb_typed_handler_fn?
    ) {
        self.method = method
        self.template = template
        self.plugin = plugin
        self.flags = flags
        self.maxBodyBytes = maxBodyBytes
        self.metadata = metadata
        self.handler = handler
        self.handlerData = handlerData
        self.typedHandler = typedHandler
    }

    public var isBlocking: Bool { flags & SB_ROUTE_BLOCKING != 0 }
    public var streamsBody: Bool { flags & SB_ROUTE_STREAM_BODY != 0 }

    /// "GET /items/{item_id}"
    public var signature: String { "\(method) \(template.text)" }
}

/// Documentation of a route, for generated docs and the admin API.
public struct RouteMetadata: Sendable {
    public var summary: String
    public var description: String
    public var parameters: [ParameterSpec]
    public var responses: [ResponseDoc]
}

/// A declared parameter (a copy of `sb_param_spec`).
public struct ParameterSpec: Sendable, Equatable {
    public enum Location: UInt8, Sendable { case path = 0, query = 1, header = 2 }
    public enum Kind: UInt8, Sendable { case string = 0, int = 1, float = 2, bool = 3, enumeration = 4 }

    public var name: String
    public var location: Location
    public var kind: Kind
    public var required: Bool
    public var description: String
    public var ge: Double?
    public var gt: Double?
    public var le: Double?
    public var lt: Double?
    public var minLength: UInt64?
    public var maxLength: UInt64?
    public var pattern: String?
    public var defaultValue: String?
    public var enumValues: [String]
}

/// A documented response (a copy of `sb_response_doc`).
public struct ResponseDoc: Sendable, Equatable {
    public var status: Int
    public var mediaType: String
    public var description: String
}
