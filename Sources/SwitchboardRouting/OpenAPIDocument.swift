import SwitchboardCore

/// The OpenAPI 3.1 document of every route the host serves, built from the plugins' declarations.
///
/// Shaped as FastAPI shapes its own: one operation per method and template, parameters with their
/// JSON Schema constraints, a 422 response referring to `HTTPValidationError` wherever parameters
/// are validated, and one tag per plugin.
public enum OpenAPIDocument {
    /// One loaded plugin as the document describes it.
    public struct Plugin: Sendable {
        /// The plugin's name as it registered it (`[a-z0-9][a-z0-9_-]{0,63}`): its operations'
        /// tag, and the start of their `operationId`s.
        public var name: String
        /// Its free-form version text, shown in its tag's description.
        public var version: String
        /// Its description, shown before the version in its tag's; empty for none.
        public var description: String
        /// The loaded generation's number, shown in its tag's description.
        public var generation: UInt64
        /// Its routes; one whose method OpenAPI has no operation for is left out.
        public var routes: [RouteDeclaration]

        /// A plugin as described; nothing is checked.
        public init(name: String, version: String, description: String, generation: UInt64, routes: [RouteDeclaration]) {
            self.name = name
            self.version = version
            self.description = description
            self.generation = generation
            self.routes = routes
        }
    }

    static let operationMethods: Set<String> = ["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"]

    /// The document as a JSON tree: OpenAPI 3.1.0, `info` from `title` and `version`, paths
    /// sorted by template, plugins (tags) sorted by name, and FastAPI's validation schemas under
    /// `components` only when some operation validates parameters or documents a body.
    public static func build(title: String, version: String, plugins: [Plugin]) -> JSONValue {
        var paths: [(String, [(String, JSONValue)])] = []
        var pathIndex: [CodePointKey: Int] = [:]
        var validates = false
        let plugins = plugins.sorted { $0.name < $1.name }
        for plugin in plugins {
            for route in plugin.routes where operationMethods.contains(route.method) {
                let (operation, hasParameters) = self.operation(route, plugin: plugin.name)
                validates = validates || hasParameters
                let key = CodePointKey(route.template.text)
                if let i = pathIndex[key] {
                    paths[i].1.append((route.method.lowercased(), operation))
                } else {
                    pathIndex[key] = paths.count
                    paths.append((key.string, [(route.method.lowercased(), operation)]))
                }
            }
        }
        paths.sort { $0.0 < $1.0 }
        var document: [(String, JSONValue)] = [
            ("openapi", .string("3.1.0")),
            ("info", .object([("title", .string(title)), ("version", .string(version))])),
            ("paths", .object(paths.map { ($0.0, .object($0.1)) })),
        ]
        if validates {
            document.append(("components", .object([("schemas", .object(validationSchemas))])))
        }
        document.append((
            "tags",
            .array(plugins.map { plugin in
                let about = plugin.description.isEmpty ? "" : plugin.description + " "
                return .object([
                    ("name", .string(plugin.name)),
                    ("description", .string("\(about)(version \(plugin.version), generation \(plugin.generation))")),
                ])
            })
        ))
        return .object(document)
    }

    private static func operation(_ route: RouteDeclaration, plugin: String) -> (JSONValue, Bool) {
        let metadata = route.metadata
        var members: [(String, JSONValue)] = [("tags", .array([.string(plugin)]))]
        members.append(("summary", .string(metadata.summary.isEmpty ? route.signature : metadata.summary)))
        if !metadata.description.isEmpty { members.append(("description", .string(metadata.description))) }
        members.append(("operationId", .string(operationID(route, plugin: plugin))))
        var parameters = metadata.parameters.map(parameter)
        // Template parameters a raw handler reads without declaring them are still strings in the path.
        for name in route.template.parameterNames where !metadata.parameters.contains(where: { $0.name.hasSameCodePoints(as: name) && $0.location == .path }) {
            parameters.append(
                .object([
                    ("name", .string(name)), ("in", .string("path")), ("required", .bool(true)),
                    ("schema", .object([("type", .string("string")), ("title", .string(title(name)))])),
                ]))
        }
        if !parameters.isEmpty { members.append(("parameters", .array(parameters))) }
        if let body = metadata.requestBody {
            members.append((
                "requestBody",
                .object([
                    ("content", .object([(body.mediaType, .object([("schema", body.schema)]))])),
                    ("required", .bool(body.required)),
                ])
            ))
        }
        // Several documented responses of one status are one response with several media types
        // (a negotiated route's 200), described by the first.
        var responses: [(String, JSONValue)] = []
        var statuses: [Int] = []
        for doc in metadata.responses where !statuses.contains(doc.status) {
            statuses.append(doc.status)
            let same = metadata.responses.filter { $0.status == doc.status }
            var response: [(String, JSONValue)] = [("description", .string(doc.description.isEmpty ? reason(doc.status) : doc.description))]
            var types: [String] = []
            for type in same.map(\.mediaType) where !type.isEmpty && !types.contains(type) { types.append(type) }
            if !types.isEmpty {
                response.append(("content", .object(types.map { ($0, .object([("schema", .object([]))])) })))
            }
            responses.append((String(doc.status), .object(response)))
        }
        if responses.isEmpty { responses.append(("200", .object([("description", .string("Successful Response"))]))) }
        let validated = !metadata.parameters.isEmpty || metadata.requestBody != nil
        if validated && !responses.contains(where: { $0.0 == "422" }) {
            responses.append((
                "422",
                .object([
                    ("description", .string("Validation Error")),
                    ("content", .object([("application/json", .object([("schema", .object([("$ref", .string("#/components/schemas/HTTPValidationError"))]))]))])),
                ])
            ))
        }
        members.append(("responses", .object(responses)))
        return (.object(members), validated)
    }

    private static func parameter(_ spec: ParameterSpec) -> JSONValue {
        var schema: [(String, JSONValue)] = []
        switch spec.kind {
        case .string: schema.append(("type", .string("string")))
        case .int:
            // 64-bit on the wire (a longer number is a 422 int_parsing): say so, so a client
            // generating values from the document stays inside what the host accepts.
            schema.append(("type", .string("integer")))
            schema.append(("format", .string("int64")))
            if spec.ge == nil && spec.gt == nil { schema.append(("minimum", .int(Int64.min))) }
            if spec.le == nil && spec.lt == nil { schema.append(("maximum", .int(Int64.max))) }
        case .float: schema.append(("type", .string("number")))
        case .bool: schema.append(("type", .string("boolean")))
        case .enumeration:
            schema.append(("type", .string("string")))
            schema.append(("enum", .array(spec.enumValues.map { .string($0) })))
        }
        if let ge = spec.ge { schema.append(("minimum", .number(ge))) }
        if let gt = spec.gt { schema.append(("exclusiveMinimum", .number(gt))) }
        if let le = spec.le { schema.append(("maximum", .number(le))) }
        if let lt = spec.lt { schema.append(("exclusiveMaximum", .number(lt))) }
        if let minLength = spec.minLength { schema.append(("minLength", .int(Int64(clamping: minLength)))) }
        if let maxLength = spec.maxLength { schema.append(("maxLength", .int(Int64(clamping: maxLength)))) }
        if let pattern = spec.pattern { schema.append(("pattern", .string(pattern.source))) }
        if let text = spec.defaultValue, case .success(let value) = ParameterValidation.convert(text, spec) {
            let typed: JSONValue =
                switch spec.kind {
                case .int: .int(value.integer)
                case .float: .number(value.number)
                case .bool: .bool(value.bool)
                case .string, .enumeration: .string(value.text)
                }
            schema.append(("default", typed))
        }
        schema.append(("title", .string(title(spec.name))))
        var members: [(String, JSONValue)] = [
            ("name", .string(spec.name)), ("in", .string(spec.location.name)), ("required", .bool(spec.required)),
        ]
        if !spec.description.isEmpty { members.append(("description", .string(spec.description))) }
        members.append(("schema", .object(schema)))
        return .object(members)
    }

    /// "item_id" → "Item Id", as FastAPI titles its parameters.
    static func title(_ name: String) -> String {
        name.split(whereSeparator: { $0 == "_" || $0 == "-" }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " ")
    }

    /// Unique per operation: "hello_c_get_items_item_id".
    static func operationID(_ route: RouteDeclaration, plugin: String) -> String {
        let raw = "\(plugin)_\(route.method.lowercased())_\(route.template.text)"
        var out = ""
        var lastUnderscore = false
        for scalar in raw.unicodeScalars {
            let keep = scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
            if keep {
                out.unicodeScalars.append(scalar)
                lastUnderscore = false
            } else if !lastUnderscore {
                out += "_"
                lastUnderscore = true
            }
        }
        return lastUnderscore ? String(out.dropLast()) : out
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "Successful Response"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301, 302, 303, 307, 308: "Redirect"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 409: "Conflict"
        case 412: "Precondition Failed"
        case 416: "Range Not Satisfiable"
        case 422: "Validation Error"
        default: "Response \(status)"
        }
    }

    /// FastAPI's two validation schemas, as its own documents carry them.
    static let validationSchemas: [(String, JSONValue)] = [
        (
            "HTTPValidationError",
            .object([
                ("properties", .object([("detail", .object([("items", .object([("$ref", .string("#/components/schemas/ValidationError"))])), ("type", .string("array")), ("title", .string("Detail"))]))])),
                ("type", .string("object")), ("title", .string("HTTPValidationError")),
            ])
        ),
        (
            "ValidationError",
            .object([
                ("properties", .object([
                    ("loc", .object([("items", .object([("anyOf", .array([.object([("type", .string("string"))]), .object([("type", .string("integer"))])]))])), ("type", .string("array")), ("title", .string("Location"))])),
                    ("msg", .object([("type", .string("string")), ("title", .string("Message"))])),
                    ("type", .object([("type", .string("string")), ("title", .string("Error Type"))])),
                    ("input", .object([("title", .string("Input"))])),
                    ("ctx", .object([("type", .string("object")), ("title", .string("Context"))])),
                ])),
                ("type", .string("object")), ("required", .array([.string("loc"), .string("msg"), .string("type")])), ("title", .string("ValidationError")),
            ])
        ),
    ]
}
