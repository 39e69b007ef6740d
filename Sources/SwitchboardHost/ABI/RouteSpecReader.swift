import CSwitchboard
import Logging
import Synchronization

/// Reads a plugin's `sb_route_spec` (and its arrays of sized structs) into a `RouteEntry`.
///
/// Sized structs are read field by field only as far as their `struct_size` reaches, so a plugin
/// built against an older minor of the ABI (a shorter struct) reads as if the missing fields were
/// zero. Every problem is recorded on the plugin instance; the loader refuses the plugin for it.
enum RouteSpecReader {
    static func add(_ spec: UnsafePointer<sb_route_spec>, to plugin: PluginInstance, defaultMaxBody: Int) -> sb_status {
        let result = read(spec, plugin: plugin, defaultMaxBody: defaultMaxBody)
        return plugin.mutable.withLock { m in
            guard m.phase == .initializing else { return SB_ERR_STATE }
            switch result {
            case .failure(let message):
                m.routeErrors.append(message)
                plugin.logger.error("route refused: \(message)")
                return SB_ERR_INVALID_ARGUMENT
            case .success(let route):
                if let twin = m.routes.first(where: { $0.method == route.method && $0.template.shape == route.template.shape }) {
                    let message = "route \(route.signature) is declared twice in this plugin (also as \(twin.signature))"
                    m.routeErrors.append(message)
                    plugin.logger.error("route refused: \(message)")
                    return SB_ERR_CONFLICT
                }
                m.routes.append(route)
                return SB_OK
            }
        }
    }

    private enum Result {
        case success(RouteEntry)
        case failure(String)
    }

    private static func read(_ specPointer: UnsafePointer<sb_route_spec>, plugin: PluginInstance, defaultMaxBody: Int) -> Result {
        let spec = readSized(specPointer)
        let method = spec.method.string
        guard isMethodToken(method) else {
            return .failure("method \"\(method)\" must be an upper-case token such as GET or POST")
        }
        let template: PathTemplate
        do {
            template = try PathTemplate(spec.path.string)
        } catch {
            return .failure("\(method) \(error)")
        }
        if case .literal(let first) = template.segments.first, HostPaths.reservedFirstSegments.contains(first) {
            return .failure("\(method) \(template.text): paths under /\(first) belong to the host; choose another path")
        }
        guard spec.handler != nil || spec.typed_handler != nil else {
            return .failure("\(method) \(template.text) has no handler")
        }
        if spec.typed_handler != nil {
            return .failure("\(method) \(template.text) declares a typed handler, which this host does not call yet")
        }
        var parameters: [ParameterSpec] = []
        for element in sizedArray(spec.params, count: spec.param_count) {
            let p: sb_param_spec = readSized(element)
            guard let location = ParameterSpec.Location(rawValue: p.location),
                let kind = ParameterSpec.Kind(rawValue: p.type)
            else {
                return .failure("\(method) \(template.text): parameter \"\(p.name.string)\" has an unknown location or type")
            }
            let flags = UInt32(p.flags)
            func has(_ bit: UInt32) -> Bool { flags & bit != 0 }
            parameters.append(
                ParameterSpec(
                    name: p.name.string, location: location, kind: kind,
                    required: has(SB_PARAM_REQUIRED) || location == .path, description: p.description.string,
                    ge: has(SB_PARAM_HAS_GE) ? p.ge : nil, gt: has(SB_PARAM_HAS_GT) ? p.gt : nil,
                    le: has(SB_PARAM_HAS_LE) ? p.le : nil, lt: has(SB_PARAM_HAS_LT) ? p.lt : nil,
                    minLength: has(SB_PARAM_HAS_MIN_LENGTH) ? p.min_length : nil,
                    maxLength: has(SB_PARAM_HAS_MAX_LENGTH) ? p.max_length : nil,
                    pattern: p.pattern.isEmpty ? nil : p.pattern.string,
                    defaultValue: has(SB_PARAM_HAS_DEFAULT) ? p.default_value.string : nil,
                    enumValues: (0..<(p.enum_values == nil ? 0 : p.enum_count)).map { p.enum_values[$0].string }
                ))
        }
        for name in parameters.filter({ $0.location == .path }).map(\.name) where !template.parameterNames.contains(name) {
            return .failure("\(method) \(template.text) declares path parameter \"\(name)\" that is not in the template")
        }
        var responses: [ResponseDoc] = []
        for element in sizedArray(spec.responses, count: spec.response_count) {
            let r: sb_response_doc = readSized(element)
            responses.append(ResponseDoc(status: Int(r.status), mediaType: r.media_type.string, description: r.description.string))
        }
        let route = RouteEntry(
            method: method, template: template, plugin: plugin, flags: spec.flags,
            maxBodyBytes: spec.max_body_bytes == 0 ? defaultMaxBody : Int(clamping: spec.max_body_bytes),
            metadata: RouteMetadata(
                summary: spec.summary.string, description: spec.description.string,
                parameters: parameters, responses: responses),
            handler: spec.handler, handlerData: spec.handler_data, typedHandler: spec.typed_handler)
        return .success(route)
    }

    /// Copies a sized struct: as many bytes as both sides know, the rest zero.
    static func readSized<T>(_ pointer: UnsafePointer<T>) -> T {
        let declared = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
        let count = min(declared, MemoryLayout<T>.size)
        let copy = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        defer { copy.deallocate() }
        copy.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        copy.copyMemory(from: pointer, byteCount: count)
        return copy.load(as: T.self)
    }

    /// The elements of an array of sized structs, stepping by the first element's struct_size.
    static func sizedArray<T>(_ base: UnsafePointer<T>?, count: Int) -> [UnsafePointer<T>] {
        guard let base, count > 0 else { return [] }
        let stride = max(Int(UnsafeRawPointer(base).load(as: UInt32.self)), 4)
        return (0..<count).map { (UnsafeRawPointer(base) + $0 * stride).assumingMemoryBound(to: T.self) }
    }

    private static func isMethodToken(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 32 && s.utf8.allSatisfy { (0x41...0x5A).contains($0) || $0 == UInt8(ascii: "-") }
    }
}

/// Paths the host answers itself, before the plugin route table.
enum HostPaths {
    static let adminPrefix = "/_switchboard/"
    static let metrics = "/metrics"
    static let reservedFirstSegments: Set<String> = ["_switchboard", "metrics"]
}
