public import CSwitchboard

/// A type a declared parameter can have: Int, Double, Bool, String, or a String-backed enum
/// (`ParamEnum`).
public protocol ParamValue: Sendable {
    /// The `sb_param_type` the host validates the value as.
    static var paramType: sb_param_type { get }
    /// The enum's allowed values; empty for other types.
    static var allowedValues: [String] { get }
    /// The value from the host's validated `sb_param_value` (nil only if the host broke its contract).
    init?(param: sb_param_value)
    /// The value as text, for a declared default.
    var paramText: String { get }
}

extension ParamValue {
    /// None: only a `ParamEnum` restricts its values.
    public static var allowedValues: [String] { [] }
}

extension Int: ParamValue {
    /// `SB_TYPE_INT`: a 64-bit integer.
    public static var paramType: sb_param_type { SB_TYPE_INT }
    /// The validated `integer`; never nil.
    public init?(param: sb_param_value) { self = Int(truncatingIfNeeded: param.integer) }
    /// Decimal, as the host reads a default.
    public var paramText: String { String(self) }
}

extension Double: ParamValue {
    /// `SB_TYPE_FLOAT`: a Double.
    public static var paramType: sb_param_type { SB_TYPE_FLOAT }
    /// The validated `number`; never nil.
    public init?(param: sb_param_value) { self = param.number }
    /// Swift's shortest round-trip spelling (`0.5`, `1e-07`, `inf`), which the host reads back.
    public var paramText: String { "\(self)" }
}

extension Bool: ParamValue {
    /// `SB_TYPE_BOOL`.
    public static var paramType: sb_param_type { SB_TYPE_BOOL }
    /// `integer != 0`; never nil.
    public init?(param: sb_param_value) { self = param.integer != 0 }
    /// `true` or `false`.
    public var paramText: String { self ? "true" : "false" }
}

extension String: ParamValue {
    /// `SB_TYPE_STRING`.
    public static var paramType: sb_param_type { SB_TYPE_STRING }
    /// A copy of the validated `text` (decoded as `sb_param_value.text` says); never nil.
    public init?(param: sb_param_value) { self = param.text.text }
    /// The string itself.
    public var paramText: String { self }
}

/// A parameter restricted to a fixed set of strings: `enum Format: String, ParamEnum { case json, xml }`.
public protocol ParamEnum: ParamValue, CaseIterable, RawRepresentable where RawValue == String {}

extension ParamEnum {
    /// `SB_TYPE_ENUM`: one of `allowedValues`.
    public static var paramType: sb_param_type { SB_TYPE_ENUM }
    /// Every case's raw value, in `allCases` order.
    public static var allowedValues: [String] { allCases.map(\.rawValue) }
    /// The case whose raw value is the validated `text`; nil for none (the host checked that
    /// there is one).
    public init?(param: sb_param_value) { self.init(rawValue: param.text.text) }
    /// The raw value.
    public var paramText: String { rawValue }
}

/// A declaration the host validates and documents. Made with `Param` or `OptionalParam`.
public protocol AnyParam: Sendable {
    /// The declaration sent to the host; the constraint methods (`ge`, `pattern`, …) change a
    /// copy.
    var spec: ParamSpec { get set }
}

/// The declaration as the ABI carries it (`sb_param_spec`).
public struct ParamSpec: Sendable {
    /// Where the value is read (`sb_param_location`).
    public enum Location: UInt8, Sendable { case path = 0, query = 1, header = 2 }

    /// The template's `{name}`, the query parameter's name, or the header field's name (matched
    /// case-insensitively).
    public var name: String
    /// Where the value is read.
    public var location: Location
    /// The type the host validates the value as.
    public var type: sb_param_type
    /// Whether an absent value is a 422 `missing` (always true for a path parameter).
    public var required: Bool
    /// Free text for /openapi.json; empty for none.
    public var description = ""
    /// Inclusive lower bound (`>=`) of an int or float; nil for none.
    public var ge: Double? = nil
    /// Exclusive lower bound (`>`) of an int or float; nil for none.
    public var gt: Double? = nil
    /// Inclusive upper bound (`<=`) of an int or float; nil for none.
    public var le: Double? = nil
    /// Exclusive upper bound (`<`) of an int or float; nil for none.
    public var lt: Double? = nil
    /// Least length of a string, in Unicode scalars; nil for none (a negative one is sent as 0).
    public var minLength: Int? = nil
    /// Greatest length of a string, in Unicode scalars; nil for none (a negative one is sent as 0).
    public var maxLength: Int? = nil
    /// A regular expression (Swift `Regex` syntax) the string must match somewhere; nil for none.
    public var pattern: String? = nil
    /// The default, as text, used when the client sends none; nil for none.
    public var defaultText: String? = nil
    /// The values an enum parameter allows; empty for other types.
    public var enumValues: [String] = []

    func c(_ strings: CStrings) -> sb_param_spec {
        var flags: UInt32 = 0
        var p = sb_param_spec()
        p.struct_size = UInt32(MemoryLayout<sb_param_spec>.size)
        p.location = location.rawValue
        p.type = UInt8(type.rawValue)
        p.name = strings.str(name)
        p.description = strings.str(description)
        if required { flags |= UInt32(SB_PARAM_REQUIRED) }
        if let ge { p.ge = ge; flags |= UInt32(SB_PARAM_HAS_GE) }
        if let gt { p.gt = gt; flags |= UInt32(SB_PARAM_HAS_GT) }
        if let le { p.le = le; flags |= UInt32(SB_PARAM_HAS_LE) }
        if let lt { p.lt = lt; flags |= UInt32(SB_PARAM_HAS_LT) }
        if let minLength { p.min_length = UInt64(max(0, minLength)); flags |= UInt32(SB_PARAM_HAS_MIN_LENGTH) }
        if let maxLength { p.max_length = UInt64(max(0, maxLength)); flags |= UInt32(SB_PARAM_HAS_MAX_LENGTH) }
        if let pattern { p.pattern = strings.str(pattern) }
        if let defaultText { p.default_value = strings.str(defaultText); flags |= UInt32(SB_PARAM_HAS_DEFAULT) }
        p.enum_values = strings.strs(enumValues)
        p.enum_count = enumValues.count
        p.flags = UInt16(flags)
        return p
    }
}

/// A parameter that always has a value: a path parameter, or a query or header parameter that is
/// required or has a default. `request[param]` is a `Value`.
///
///     let itemID = Param<Int>.path("item_id").ge(1)
///     let format = Param<Format>.query("format", default: .json)
public struct Param<Value: ParamValue>: AnyParam {
    /// The declaration as the host receives it.
    public var spec: ParamSpec

    /// A path parameter, always required: `name` must appear as `{name}` in the route's template.
    public static func path(_ name: String, description: String = "") -> Param {
        Param(spec: ParamSpec(name: name, location: .path, type: Value.paramType, required: true, description: description, enumValues: Value.allowedValues))
    }

    /// A query parameter that is `value` when absent (a default the host cannot convert refuses the
    /// route).
    public static func query(_ name: String, default value: Value, description: String = "") -> Param {
        Param(spec: ParamSpec(name: name, location: .query, type: Value.paramType, required: false, description: description, defaultText: value.paramText, enumValues: Value.allowedValues))
    }

    /// A required query parameter: absent gives 422 `missing`.
    public static func query(_ name: String, description: String = "") -> Param {
        Param(spec: ParamSpec(name: name, location: .query, type: Value.paramType, required: true, description: description, enumValues: Value.allowedValues))
    }

    /// `name` is the header field name, e.g. "x-token" (matched case-insensitively).
    public static func header(_ name: String, default value: Value, description: String = "") -> Param {
        Param(spec: ParamSpec(name: name, location: .header, type: Value.paramType, required: false, description: description, defaultText: value.paramText, enumValues: Value.allowedValues))
    }

    /// A required header: absent gives 422 `missing`. `name` is the field name, e.g. "x-token"
    /// (matched case-insensitively).
    public static func header(_ name: String, description: String = "") -> Param {
        Param(spec: ParamSpec(name: name, location: .header, type: Value.paramType, required: true, description: description, enumValues: Value.allowedValues))
    }
}

/// A query or header parameter that may be absent: `request[param]` is a `Value?`.
public struct OptionalParam<Value: ParamValue>: AnyParam {
    /// The declaration as the host receives it.
    public var spec: ParamSpec

    /// A query parameter that may be absent (then nil).
    public static func query(_ name: String, description: String = "") -> OptionalParam {
        OptionalParam(spec: ParamSpec(name: name, location: .query, type: Value.paramType, required: false, description: description, enumValues: Value.allowedValues))
    }

    /// A header that may be absent (then nil); `name` is the field name, matched
    /// case-insensitively.
    public static func header(_ name: String, description: String = "") -> OptionalParam {
        OptionalParam(spec: ParamSpec(name: name, location: .header, type: Value.paramType, required: false, description: description, enumValues: Value.allowedValues))
    }
}

/// Constraints, chained: `Param<Int>.query("limit", default: 10).ge(0).le(100)`.
extension AnyParam {
    /// Requires `>= bound`: int or float parameters only, and an integral bound for an int (the
    /// host refuses the route otherwise).
    public func ge(_ bound: Double) -> Self { with { $0.ge = bound } }
    /// Requires `> bound`: int or float parameters only, and an integral bound for an int (the
    /// host refuses the route otherwise).
    public func gt(_ bound: Double) -> Self { with { $0.gt = bound } }
    /// Requires `<= bound`: int or float parameters only, and an integral bound for an int (the
    /// host refuses the route otherwise).
    public func le(_ bound: Double) -> Self { with { $0.le = bound } }
    /// Requires `< bound`: int or float parameters only, and an integral bound for an int (the
    /// host refuses the route otherwise).
    public func lt(_ bound: Double) -> Self { with { $0.lt = bound } }
    /// Requires a string of at least `n` Unicode scalars (string parameters only).
    public func minLength(_ n: Int) -> Self { with { $0.minLength = n } }
    /// Requires a string of at most `n` Unicode scalars (string parameters only).
    public func maxLength(_ n: Int) -> Self { with { $0.maxLength = n } }
    /// A regular expression that must match somewhere in the value (anchor it with ^…$).
    public func pattern(_ regex: String) -> Self { with { $0.pattern = regex } }
    /// Sets the text shown for the parameter in /openapi.json.
    public func description(_ text: String) -> Self { with { $0.description = text } }

    private func with(_ change: (inout ParamSpec) -> Void) -> Self {
        var copy = self
        change(&copy.spec)
        return copy
    }
}
