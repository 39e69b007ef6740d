/// One entry of a 422 `detail` array, in pydantic v2's shape. The host reports parameter errors
/// with it and `BodySchema` reports body errors with it, so a client sees one shape.
public struct ValidationIssue: Error, Sendable, Equatable {
    /// pydantic's error type: `missing`, `int_parsing`, `greater_than_equal`, `json_invalid`…
    public var type: String
    /// Where: `["query", "limit"]`, `["body", "price"]`, `["body", 12]` (a JSON syntax error's offset).
    public var loc: [JSONValue]
    /// The message in pydantic's words, e.g. `Field required`.
    public var msg: String
    /// The value that failed, as received: the string sent for a parameter, the member for a body
    /// field; for `missing`, the enclosing object (null for a parameter or an empty body).
    public var input: JSONValue
    /// Details, for the error types pydantic gives them to (`{"ge": 1}`,
    /// `{"error": "Expecting value"}`), in order; nil for the others.
    public var ctx: [(String, JSONValue)]?

    /// An issue with these fields, as pydantic v2 names them.
    public init(type: String, loc: [JSONValue], msg: String, input: JSONValue, ctx: [(String, JSONValue)]? = nil) {
        self.type = type
        self.loc = loc
        self.msg = msg
        self.input = input
        self.ctx = ctx
    }

    /// Every field equal, `ctx` in order; a nil `ctx` equals an empty one.
    public static func == (a: ValidationIssue, b: ValidationIssue) -> Bool {
        a.type == b.type && a.loc == b.loc && a.msg == b.msg && a.input == b.input
            && JSONValue.object(a.ctx ?? []) == JSONValue.object(b.ctx ?? [])
    }

    /// One element of `detail`: `type`, `loc`, `msg`, `input`, then `ctx` when there is one.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("type", .string(type)), ("loc", .array(loc)), ("msg", .string(msg)), ("input", input)]
        if let ctx { members.append(("ctx", .object(ctx))) }
        return .object(members)
    }

    /// `{"detail":[…]}` for `issues`.
    public static func body(_ issues: [ValidationIssue]) -> String {
        JSONValue.object([("detail", .array(issues.map(\.json)))]).text
    }
}

/// Every issue a validation found (a 422's `detail`).
public struct ValidationFailure: Error, Sendable {
    /// The issues, in the order they are reported.
    public var issues: [ValidationIssue]
    /// A failure reporting `issues`.
    public init(_ issues: [ValidationIssue]) { self.issues = issues }
    /// `{"detail":[…]}`
    public var body: String { ValidationIssue.body(issues) }
}

/// The fields a JSON request body must have, checked as FastAPI checks a pydantic model in lax
/// mode: numbers from numeric strings and booleans, integers from integral floats, unknown keys
/// ignored; every failure reported at once, in the 422 shape of the host's parameter errors.
///
///     let item = BodySchema(.string("name"), .number("price"))
///     let body = try req.validate(item)           // 422 unless {"name": str, "price": number}
///     let price = body.double("price")!
///
/// Unlike pydantic, a number must be finite: `1e400` or `"nan"` is refused (`finite_number`)
/// rather than stored as something JSON cannot carry.
public struct BodySchema: Sendable {
    /// A field's type: `number` is a finite Double, `integer` an Int64; `validate` converts as
    /// pydantic's lax mode does.
    public enum Kind: Sendable {
        case string, number, integer, boolean
    }

    /// One member the body's object may or must have.
    public struct Field: Sendable {
        /// The member's name in the JSON object, matched exactly (case-sensitive).
        public var name: String
        /// The type its value is converted to.
        public var kind: Kind
        /// Whether an absent member is a `missing` issue; an absent optional one is left out of
        /// `Body`.
        public var required: Bool

        /// A string member; no other JSON type converts to it (`string_type`).
        public static func string(_ name: String, required: Bool = true) -> Field { Field(name: name, kind: .string, required: required) }
        /// A number member: a finite Double, also read from a numeric string or a boolean.
        public static func number(_ name: String, required: Bool = true) -> Field { Field(name: name, kind: .number, required: required) }
        /// An Int64 member, also read from an integral float, a numeric string or a boolean.
        public static func integer(_ name: String, required: Bool = true) -> Field { Field(name: name, kind: .integer, required: required) }
        /// A boolean member, also read from 0 or 1 and from the strings pydantic accepts
        /// (`true`/`false`, `yes`/`no`, `on`/`off`, `t`/`f`, `y`/`n`, `1`/`0`, any case).
        public static func boolean(_ name: String, required: Bool = true) -> Field { Field(name: name, kind: .boolean, required: required) }
    }

    /// The members, in the order `validate` checks them and `jsonSchema` lists them.
    public var fields: [Field]

    /// A schema of `fields`, in order.
    public init(_ fields: Field...) { self.fields = fields }

    /// The JSON Schema (2020-12) of the bodies this schema accepts, as OpenAPI 3.1's
    /// `requestBody` shows it: an object with these properties (others allowed), the required
    /// ones listed. What `validate` also takes in lax mode (a numeric string for a number, say) is
    /// not advertised: the schema says what a client should send.
    public var jsonSchema: JSONValue {
        var properties: [(String, JSONValue)] = []
        for field in fields {
            var schema: [(String, JSONValue)] = []
            switch field.kind {
            case .string: schema.append(("type", "string"))
            case .number: schema.append(("type", "number"))
            case .integer:
                schema += [("type", "integer"), ("format", "int64"), ("minimum", .int(Int64.min)), ("maximum", .int(Int64.max))]
            case .boolean: schema.append(("type", "boolean"))
            }
            schema.append(("title", .string(Self.title(field.name))))
            properties.append((field.name, .object(schema)))
        }
        var members: [(String, JSONValue)] = [("type", "object"), ("properties", .object(properties))]
        let required = fields.filter(\.required).map { JSONValue.string($0.name) }
        if !required.isEmpty { members.append(("required", .array(required))) }
        return .object(members)
    }

    /// "item_id" → "Item Id", as pydantic titles a model's fields.
    static func title(_ name: String) -> String {
        name.split(whereSeparator: { $0 == "_" || $0 == "-" }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " ")
    }

    /// The same fields, none required: what a partial update (PATCH) accepts.
    public var partial: BodySchema {
        var copy = self
        for i in copy.fields.indices { copy.fields[i].required = false }
        return copy
    }

    /// Checks `body` (sent with `contentType`, nil when none); the converted values, or every
    /// issue found. A body that is not a JSON object is one issue: `model_attributes_type` (as a
    /// pydantic model reports it) or, with `asDictionary`, `dict_type` (as a `dict` parameter does).
    public func validate(_ body: [UInt8], contentType: String?, asDictionary: Bool = false) -> Result<Body, ValidationFailure> {
        guard !body.isEmpty else {
            return .failure(ValidationFailure([ValidationIssue(type: "missing", loc: ["body"], msg: "Field required", input: .null)]))
        }
        // FastAPI parses the body as JSON when it is declared so, or when nothing is declared.
        let input: JSONValue
        if contentType.map(Self.isJSON) ?? true {
            do {
                input = try JSONValue.parse(body)
            } catch {
                return .failure(ValidationFailure([
                    ValidationIssue(
                        type: "json_invalid", loc: ["body", .int(Int64(error.offset))], msg: "JSON decode error",
                        input: .object([]), ctx: [("error", .string(error.message))])
                ]))
            }
        } else {
            input = .string(String(decoding: body, as: UTF8.self))
        }
        guard case .object(let members) = input else {
            return .failure(ValidationFailure([
                asDictionary
                    ? ValidationIssue(type: "dict_type", loc: ["body"], msg: "Input should be a valid dictionary", input: input)
                    : ValidationIssue(type: "model_attributes_type", loc: ["body"], msg: "Input should be a valid dictionary or object to extract fields from", input: input)
            ]))
        }
        var values: [(String, Value)] = []
        var issues: [ValidationIssue] = []
        for field in fields {
            guard let raw = members.first(where: { $0.0.hasSameCodePoints(as: field.name) })?.1 else {
                if field.required { issues.append(ValidationIssue(type: "missing", loc: ["body", .string(field.name)], msg: "Field required", input: input)) }
                continue
            }
            switch Self.convert(raw, to: field.kind) {
            case .success(let value): values.append((field.name, value))
            case .failure(let issue):
                var issue = issue
                issue.loc = ["body", .string(field.name)]
                issues.append(issue)
            }
        }
        return issues.isEmpty ? .success(Body(values: values)) : .failure(ValidationFailure(issues))
    }

    /// `application/json` or any `+json` type, parameters ignored.
    static func isJSON(_ contentType: String) -> Bool {
        // As bytes: a combining mark after `;` must not hide it (as one Character with it).
        let utf8 = contentType.utf8
        let type = utf8[..<(utf8.firstIndex(of: UInt8(ascii: ";")) ?? utf8.endIndex)].trimmingHTTPSpace
        return type.equalsIgnoringASCIICase("application/json".utf8)
            || (type.hasPrefixIgnoringASCIICase("application/".utf8) && type.hasSuffixIgnoringASCIICase("+json".utf8))
    }

    /// A value converted to a field's kind as pydantic's lax mode converts it.
    public enum Value: Sendable, Equatable {
        case string(String)
        case number(Double)
        case integer(Int64)
        case boolean(Bool)
    }

    static func convert(_ raw: JSONValue, to kind: Kind) -> Result<Value, ValidationIssue> {
        func fail(_ type: String, _ msg: String) -> Result<Value, ValidationIssue> {
            .failure(ValidationIssue(type: type, loc: [], msg: msg, input: raw))
        }
        switch kind {
        case .string:
            if case .string(let text) = raw { return .success(.string(text)) }
            return fail("string_type", "Input should be a valid string")
        case .number:
            let number: Double
            switch raw {
            case .int(let i): number = Double(i)
            case .double(let d): number = d
            case .bool(let b): number = b ? 1 : 0
            case .string(let text):
                guard let parsed = LaxNumber.float(text) else {
                    return fail("float_parsing", "Input should be a valid number, unable to parse string as a number")
                }
                number = parsed
            default: return fail("float_type", "Input should be a valid number")
            }
            guard number.isFinite else { return fail("finite_number", "Input should be a finite number") }
            return .success(.number(number))
        case .integer:
            switch raw {
            case .int(let i): return .success(.integer(i))
            case .bool(let b): return .success(.integer(b ? 1 : 0))
            case .double(let d):
                guard d.isFinite else { return fail("finite_number", "Input should be a finite number") }
                guard d.rounded() == d else {
                    return fail("int_from_float", "Input should be a valid integer, got a number with a fractional part")
                }
                // Integral literals past Int64 reach here as doubles, rounded: -2^63 - 1 reads as
                // -2^63. Only values strictly inside the range are exact (ints are 64-bit here).
                guard abs(d) < 9.223372036854775808e18, let exact = Int64(exactly: d) else {
                    return fail("int_parsing", "Input should be a valid integer, unable to parse it as a 64-bit integer")
                }
                return .success(.integer(exact))
            case .string(let text):
                if let exact = LaxNumber.integer(text) { return .success(.integer(exact)) }
                return fail("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
            default: return fail("int_type", "Input should be a valid integer")
            }
        case .boolean:
            switch raw {
            case .bool(let b): return .success(.boolean(b))
            case .int(let i) where i == 0 || i == 1: return .success(.boolean(i == 1))
            case .string(let text):
                guard let truth = LaxBool.value(text) else {
                    return fail("bool_parsing", "Input should be a valid boolean, unable to interpret input")
                }
                return .success(.boolean(truth))
            default: return fail("bool_type", "Input should be a valid boolean")
            }
        }
    }

    /// A body that passed: the fields present, converted, in schema order.
    public struct Body: Sendable {
        /// The members present and their converted values, in schema order.
        public let values: [(String, Value)]

        /// The converted value of field `name`; nil when it was absent.
        public subscript(name: String) -> Value? { values.first { $0.0.hasSameCodePoints(as: name) }?.1 }

        /// The value of the `.string` field `name`; nil when absent or of another kind.
        public func string(_ name: String) -> String? {
            if case .string(let s) = self[name] { return s }
            return nil
        }

        /// The value of the `.number` field `name`; nil when absent or of another kind.
        public func double(_ name: String) -> Double? {
            if case .number(let d) = self[name] { return d }
            return nil
        }

        /// The value of the `.integer` field `name`; nil when absent or of another kind.
        public func int(_ name: String) -> Int64? {
            if case .integer(let i) = self[name] { return i }
            return nil
        }

        /// The value of the `.boolean` field `name`; nil when absent or of another kind.
        public func bool(_ name: String) -> Bool? {
            if case .boolean(let b) = self[name] { return b }
            return nil
        }
    }
}
