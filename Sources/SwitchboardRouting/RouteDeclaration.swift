import CSwitchboard
import SwitchboardCore

/// A route as a plugin declared it: a checked copy of its `sb_route_spec`.
///
/// The C pointers (handler, handler data, typed handler) belong to the plugin image and are valid
/// only while it is loaded; everything else is copied.
public struct RouteDeclaration: @unchecked Sendable {  // its C pointers are immutable and valid while the image is loaded; the rest are values
    /// The method: 1 to 32 bytes of `A`–`Z` and `-` (`GET`, `PURGE`).
    public var method: String
    /// The path template, already checked (`PathTemplate.init`).
    public var template: PathTemplate
    /// `SB_ROUTE_*` bits as the plugin set them (blocking, streamed body, preconditions).
    public var flags: UInt32
    /// 0: the host's default limit.
    public var maxBodyBytes: UInt64
    /// What the route documents, its declared (and validated) parameters included.
    public var metadata: RouteMetadata
    /// The handler; nil when only `typedHandler` is set.
    public var handler: sb_handler_fn?
    /// The plugin's `handler_data`, passed back to the handler unchanged; the plugin's, valid until
    /// its `on_deinit`.
    public var handlerData: UnsafeMutableRawPointer?
    /// The native typed handler, called through libffi (`TypedHandlerCall`) instead of `handler`;
    /// nil for none.
    public var typedHandler: sb_typed_handler_fn?

    /// "GET /items/{item_id}"
    public var signature: String { "\(method) \(template.text)" }

    /// Why a spec was refused, in words that say what to change.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        /// The route and what to change, e.g. `GET /items has no handler`.
        public let description: String
        /// A refusal saying `description`.
        public init(description: String) { self.description = description }
    }

    /// Reads and checks a plugin's spec. Sized structs are read only as far as their `struct_size`
    /// reaches, so a plugin built against an older minor reads as if later fields were zero.
    public static func read(_ pointer: UnsafePointer<sb_route_spec>) throws(Invalid) -> RouteDeclaration {
        let declaredSize = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
        guard declaredSize >= firstRouteSpecSize else {
            throw Invalid(description: "sb_route_spec.struct_size is \(declaredSize); set it to sizeof(sb_route_spec) (\(MemoryLayout<sb_route_spec>.size) with this host's header)")
        }
        let spec = readSized(pointer)
        let method = spec.method.string
        guard isMethodToken(method) else {
            throw Invalid(description: "method \"\(method)\" must be an upper-case token such as GET or POST")
        }
        guard let path = spec.path.validatedString else {
            throw Invalid(description: "\(method) \"\(spec.path.string)\": the path is not UTF-8 (a route's path is text, as the request paths it matches are once decoded)")
        }
        let template: PathTemplate
        do {
            template = try PathTemplate(path)
        } catch {
            throw Invalid(description: "\(method) \(error)")
        }
        let where_ = "\(method) \(template.text)"
        guard spec.handler != nil || spec.typed_handler != nil else {
            throw Invalid(description: "\(where_) has no handler")
        }
        var parameters: [ParameterSpec] = []
        for (i, element) in sizedArray(spec.params, count: spec.param_count).enumerated() {
            let size = Int(UnsafeRawPointer(element).load(as: UInt32.self))
            guard size >= firstParamSpecSize else {
                throw Invalid(description: "\(where_): params[\(i)].struct_size is \(size); set it to sizeof(sb_param_spec) (\(MemoryLayout<sb_param_spec>.size)), in every element")
            }
            let p: sb_param_spec = readSized(element)
            guard let location = ParameterSpec.Location(rawValue: p.location), let kind = ParameterSpec.Kind(rawValue: p.type) else {
                throw Invalid(description: "\(where_): parameter \"\(p.name.string)\" has an unknown location (\(p.location)) or type (\(p.type))")
            }
            let flags = UInt32(p.flags)
            func has(_ bit: UInt32) -> Bool { flags & bit != 0 }
            guard p.enum_values == nil || (0...4096).contains(p.enum_count) else {
                throw Invalid(description: "\(where_): parameter \"\(p.name.string)\" has an enum_count of \(p.enum_count)")
            }
            // Names, patterns, defaults and enum values are matched against requests: read as
            // UTF-8, never repaired (two names that differ in invalid bytes would become one).
            func text(_ field: sb_str, _ what: String) throws(Invalid) -> String {
                guard let text = field.validatedString else {
                    throw Invalid(description: "\(where_): the \(what) of parameter \"\(p.name.string)\" is not UTF-8")
                }
                return text
            }
            let name = try text(p.name, "name")
            let defaultValue = has(SB_PARAM_HAS_DEFAULT) ? try text(p.default_value, "default value") : nil
            var enumValues: [String] = []
            if p.enum_values != nil {
                for j in 0..<p.enum_count { enumValues.append(try text(p.enum_values[j], "enum value \(j)")) }
            }
            var pattern: ParameterSpec.Pattern? = nil
            if !p.pattern.isEmpty {
                let source = try text(p.pattern, "pattern")
                do {
                    pattern = try ParameterSpec.Pattern(source)
                } catch {
                    throw Invalid(description: "\(where_): the pattern of parameter \"\(p.name.string)\" is not a valid regular expression: \(error)")
                }
            }
            let parameter = ParameterSpec(
                name: name, location: location, kind: kind,
                required: has(SB_PARAM_REQUIRED), description: p.description.string,
                ge: has(SB_PARAM_HAS_GE) ? p.ge : nil, gt: has(SB_PARAM_HAS_GT) ? p.gt : nil,
                le: has(SB_PARAM_HAS_LE) ? p.le : nil, lt: has(SB_PARAM_HAS_LT) ? p.lt : nil,
                minLength: has(SB_PARAM_HAS_MIN_LENGTH) ? p.min_length : nil,
                maxLength: has(SB_PARAM_HAS_MAX_LENGTH) ? p.max_length : nil,
                pattern: pattern,
                defaultValue: defaultValue, enumValues: enumValues)
            if let problem = parameter.problem() { throw Invalid(description: "\(where_): \(problem)") }
            // Names by code points, as a request's are matched (`QueryString.name`).
            if parameters.contains(where: { $0.name.hasSameCodePoints(as: parameter.name) }) {
                throw Invalid(description: "\(where_): parameter \"\(parameter.name)\" is declared twice")
            }
            if location == .path && !template.parameterNames.contains(where: { $0.hasSameCodePoints(as: parameter.name) }) {
                throw Invalid(description: "\(where_) declares path parameter \"\(parameter.name)\" that is not in the template")
            }
            if spec.typed_handler != nil && !parameter.required && parameter.defaultValue == nil {
                throw Invalid(description: "\(where_): parameter \"\(parameter.name)\" of a typed handler must be required or have a default")
            }
            parameters.append(parameter)
        }
        if spec.typed_handler != nil, let missing = template.parameterNames.first(where: { name in !parameters.contains { $0.name.hasSameCodePoints(as: name) } }) {
            throw Invalid(description: "\(where_): a typed handler must declare path parameter \"\(missing)\"")
        }
        var responses: [ResponseDoc] = []
        for (i, element) in sizedArray(spec.responses, count: spec.response_count).enumerated() {
            let size = Int(UnsafeRawPointer(element).load(as: UInt32.self))
            guard size >= firstResponseDocSize else {
                throw Invalid(description: "\(where_): responses[\(i)].struct_size is \(size); set it to sizeof(sb_response_doc) (\(MemoryLayout<sb_response_doc>.size)), in every element")
            }
            let r: sb_response_doc = readSized(element)
            responses.append(ResponseDoc(status: Int(r.status), mediaType: r.media_type.string, description: r.description.string))
        }
        var body: RequestBodyDoc? = nil
        if !spec.body_schema.isEmpty || !spec.body_media_type.isEmpty {
            var schema = JSONValue.object([])
            if !spec.body_schema.isEmpty {
                do {
                    schema = try JSONValue.parse(UnsafeRawBufferPointer(start: spec.body_schema.ptr, count: spec.body_schema.len))
                } catch {
                    throw Invalid(description: "\(where_): body_schema is not valid JSON (\(error)); give a JSON Schema object such as {\"type\":\"object\"}")
                }
                guard case .object = schema else {
                    throw Invalid(description: "\(where_): body_schema must be a JSON object (a JSON Schema), not \(schema.text)")
                }
            }
            let mediaType = spec.body_media_type.isEmpty ? "application/json" : spec.body_media_type.string
            body = RequestBodyDoc(mediaType: mediaType, schema: schema, required: spec.body_flags & SB_BODY_OPTIONAL == 0)
        }
        return RouteDeclaration(
            method: method, template: template, flags: spec.flags, maxBodyBytes: spec.max_body_bytes,
            metadata: RouteMetadata(
                summary: spec.summary.string, description: spec.description.string, parameters: parameters, responses: responses, requestBody: body),
            handler: spec.handler, handlerData: spec.handler_data, typedHandler: spec.typed_handler)
    }

    /// Why this route's path belongs to the host (`HostPaths`), or nil.
    public var reservedPathProblem: String? {
        if case .literal(let first) = template.segments.first, HostPaths.reservedFirstSegments.contains(first) {
            return "\(signature): paths under /\(first) belong to the host; choose another path"
        }
        if HostPaths.reservedExact.contains(template.text) {
            return "\(signature): \(template.text) belongs to the host; choose another path"
        }
        return nil
    }

    /// The size of the ABI 1.0–1.3 `sb_route_spec` (through `max_body_bytes`; C's
    /// SB_ROUTE_SPEC_V1_SIZE): the least a plugin's spec may declare.
    public static let firstRouteSpecSize = MemoryLayout<sb_route_spec>.offset(of: \.max_body_bytes)! + MemoryLayout<UInt64>.size
    /// The 1.0 `sb_param_spec` (through `enum_count`; SB_PARAM_SPEC_V1_SIZE). Fields appended
    /// later read as zero from a plugin that declares this size.
    static let firstParamSpecSize = MemoryLayout<sb_param_spec>.offset(of: \.enum_count)! + MemoryLayout<Int>.size
    /// The 1.0 `sb_response_doc` (through `description`; SB_RESPONSE_DOC_V1_SIZE).
    static let firstResponseDocSize = MemoryLayout<sb_response_doc>.offset(of: \.description)! + MemoryLayout<sb_str>.size

    /// Copies a sized struct: as many bytes as both sides know, the rest zero.
    public static func readSized<T>(_ pointer: UnsafePointer<T>) -> T {
        let declared = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
        let count = min(declared, MemoryLayout<T>.size)
        let copy = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        defer { copy.deallocate() }
        copy.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        copy.copyMemory(from: pointer, byteCount: count)
        return copy.load(as: T.self)
    }

    /// Writes a host-filled sized struct: only as many bytes as the caller's `struct_size` allows.
    public static func writeSized<T>(_ value: T, to pointer: UnsafeMutablePointer<T>) {
        let declared = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
        var value = value
        withUnsafeBytes(of: &value) { bytes in
            let count = min(declared, bytes.count)
            // struct_size itself is the caller's; everything after it is ours to fill.
            guard count > 4 else { return }
            UnsafeMutableRawPointer(pointer).advanced(by: 4).copyMemory(from: bytes.baseAddress! + 4, byteCount: count - 4)
        }
    }

    /// The elements of an array of sized structs, stepping by the first element's struct_size.
    public static func sizedArray<T>(_ base: UnsafePointer<T>?, count: Int) -> [UnsafePointer<T>] {
        guard let base, count > 0 else { return [] }
        let stride = max(Int(UnsafeRawPointer(base).load(as: UInt32.self)), 4)
        return (0..<count).map { (UnsafeRawPointer(base) + $0 * stride).assumingMemoryBound(to: T.self) }
    }

    private static func isMethodToken(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 32 && s.utf8.allSatisfy { (0x41...0x5A).contains($0) || $0 == UInt8(ascii: "-") }
    }
}

/// Paths a host answers itself, before its plugins' routes; no plugin may declare them.
public enum HostPaths {
    /// The admin API's prefix; every path under it is the host's.
    public static let adminPrefix = "/_switchboard/"
    /// The Prometheus metrics (text exposition format 0.0.4).
    public static let metrics = "/metrics"
    /// The generated OpenAPI 3.1 document (`OpenAPIDocument`).
    public static let openAPI = "/openapi.json"
    /// The documentation page, which reads `/openapi.json`.
    public static let docs = "/docs"
    /// A plugin path may not start with these segments...
    public static let reservedFirstSegments: Set<String> = ["_switchboard", "metrics"]
    /// ...nor be one of these.
    public static let reservedExact: Set<String> = [openAPI, docs]
}

/// Documentation of a route, for generated docs and the admin API.
public struct RouteMetadata: Sendable {
    /// One line for the operation; empty: the OpenAPI document shows the route's signature.
    public var summary: String
    /// Longer free text; empty for none.
    public var description: String
    /// The declared parameters, in declaration order (the order a typed handler receives them in).
    public var parameters: [ParameterSpec]
    /// The documented responses, in declaration order; several with one status list its media
    /// types.
    public var responses: [ResponseDoc]
    /// The documented request body (ABI 1.4), or nil.
    public var requestBody: RequestBodyDoc?

    /// Metadata as given; every part may be left empty.
    public init(
        summary: String = "", description: String = "", parameters: [ParameterSpec] = [], responses: [ResponseDoc] = [],
        requestBody: RequestBodyDoc? = nil
    ) {
        self.summary = summary
        self.description = description
        self.parameters = parameters
        self.responses = responses
        self.requestBody = requestBody
    }
}

/// A documented request body (`sb_route_spec.body_*`): what OpenAPI's `requestBody` says.
public struct RequestBodyDoc: Sendable {
    /// "application/json"
    public var mediaType: String
    /// A JSON Schema object, as the plugin gave it.
    public var schema: JSONValue
    /// Whether the body must be sent (false with `SB_BODY_OPTIONAL`); documented, not enforced.
    public var required: Bool

    /// A documented body as given.
    public init(mediaType: String, schema: JSONValue, required: Bool) {
        self.mediaType = mediaType
        self.schema = schema
        self.required = required
    }
}

/// A documented response (a copy of `sb_response_doc`).
public struct ResponseDoc: Sendable, Equatable {
    /// The HTTP status code, e.g. 200.
    public var status: Int
    /// The body's media type, e.g. `application/json`; empty for none.
    public var mediaType: String
    /// Free text; empty: the OpenAPI document uses a standard phrase for the status.
    public var description: String
}

extension sb_str {
    /// The text, copied; nil when the bytes are not UTF-8. How a name, key, path or value a
    /// plugin passes is read: `string` repairs invalid bytes, which would make different
    /// names one (`"a\xFF"` and `"a\xFE"` both `"a\u{FFFD}"`).
    public var validatedString: String? {
        guard let ptr, len > 0 else { return "" }
        return String(utf8Bytes: UnsafeRawBufferPointer(start: ptr, count: len))
    }

    /// The text, copied (invalid UTF-8 repaired): for what is only shown (log lines, summaries).
    public var string: String {
        guard let ptr, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: len), as: UTF8.self)
    }

    /// Whether it holds no bytes (`len` is 0, whatever `ptr` is).
    public var isEmpty: Bool { len == 0 }
}

/// The preconditions of a request to a route whose handler does not evaluate them itself
/// (no `SB_ROUTE_PRECONDITIONS`).
public enum RoutePreconditions {
    /// Whether the request's preconditions fail for a resource that exists and has no validators
    /// (RFC 9110 §13.2.2): `If-Match` other than `*` (no tag can match), or `If-None-Match: *`.
    /// Only methods that change state are checked: a GET, HEAD, OPTIONS or TRACE is answered as
    /// if the fields were absent. `header` looks a field up by its lower-case name.
    public static func failWithoutValidators(method: String, header: (String) -> String?) -> Bool {
        switch method {
        case "GET", "HEAD", "OPTIONS", "TRACE": return false
        default: return Validators().evaluate(method: method, header: header) == .preconditionFailed
        }
    }

    /// The `detail` of the 412 JSON body the host answers when `failWithoutValidators` is true.
    public static let failedDetail = "Precondition Failed: this route keeps no validators (ETag), so an If-Match naming a tag, or If-None-Match: *, cannot hold"
}
