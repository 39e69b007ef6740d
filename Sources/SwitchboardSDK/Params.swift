public import CSwitchboard

/// A type a declared parameter can have: Int, Double, Bool, String, or a String-backed enum
/// (`ParamEnum`).
public protocol ParamValue: Sendable {
    static var paramType: sb_param_type { get }
    /// The enum's allowed values; empty for other types.
    static var allowedValues: [String] { get }
    /// The value from the host's validated `sb_param_value` (nil only if the host broke its contract).
    init?(param: sb_param_value)
    /// The value as text, for a declared default.
    var paramText: String { get }
}

extension ParamValue {
    public static var allowedValues: [String] { [] }
}

extension Int: ParamValue {
    public static var paramType: sb_param_type { SB_TYPE_INT }
    public init?(param: sb_param_value) { self = Int(truncatingIfNeeded: param.integer) }
    public var paramText: String { String(self) }
}

extension Double: ParamValue {
    public static var paramType: sb_param_type { SB_TYPE_FLOAT }
    public init?(param: sb_param_value) { self = param.number }
    public var paramText: String { "\(self)" }
}

extension Bool: ParamValue {
    public static var paramType: sb_param_type { SB_TYPE_BOOL }
    public init?(param: sb_param_value) { self = param.integer != 0 }
    public var paramText: String { self ? "true" : "false" }
}

extension String: ParamValue {
    public static var paramType: sb_param_type { SB_TYPE_STRING }
    public init?(param: sb_param_value) { self = param.text.text }
    public var paramText: String { self }
}

/// A parameter restricted to a fixed set of strings: `enum Format: String, ParamEnum { case json, xml }`.
public protocol ParamEnum: ParamValue, CaseIterable, RawRepresentable where RawValue == String {}

extension ParamEnum {
    public static var paramType: sb_param_type { SB_TYPE_ENUM }
    public static var allowedValues: [String] { allCases.map(\.rawValue) }
    public init?(param: sb_param_value) { self.init(rawValue: param.text.text) }
    public var paramText: String { rawValue }
}

/// A declaration the host validates and documents. Made with `Param` or `OptionalParam`.
public protocol AnyParam: Sendable {
    var spec: ParamSpec { get set }
}

/// The declaration as the ABI carries it (`sb_param_spec`).
public struct ParamSpec: Sendable {
    public enum Location: UInt8, Sendable { case path = 0, query = 1, header = 2 }

    public var name: String
    public var location: Location
    public var type: sb_param_type
    public var required: Bool
    public var description = ""
    public var ge: Double? = nil
    public var gt: Double? = nil
    public var le: Double? = nil
    public var lt: Double? = nil
    public var minLength: Int? = nil
    public var maxLength: Int? = nil
    public var pattern: String? = nil
    public var defaultText: String? = nil
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
    public var spec: ParamSpec

    public static func path(_ name: String, description: String = "") -> Param {
        Param(spec: ParamSpec(name: name, location: .path, type: Value.paramType, required: true, description: description, enumValues: Value.allowedValues))
    }

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

    public static func header(_ name: String, description: String = "") -> Param {
        Param(spec: ParamSpec(name: name, location: .header, type: Value.paramType, required: true, description: description, enumValues: Value.allowedValues))
    }
}

/// A query or header parameter that may be absent: `request[param]` is a `Value?`.
public struct OptionalParam<Value: ParamValue>: AnyParam {
    public var spec: ParamSpec

    public static func query(_ name: String, description: String = "") -> OptionalParam {
        OptionalParam(spec: ParamSpec(name: name, location: .query, type: Value.paramType, required: false, description: description, enumValues: Value.allowedValues))
    }

    public static func header(_ name: String, description: String = "") -> OptionalParam {
        OptionalParam(spec: ParamSpec(name: name, location: .header, type: Value.paramType, required: false, description: description, enumValues: Value.allowedValues))
    }
}

/// Constraints, chained: `Param<Int>.query("limit", default: 10).ge(0).le(100)`.
extension AnyParam {
    public func ge(_ bound: Double) -> Self { with { $0.ge = bound } }
    public func gt(_ bound: Double) -> Self { with { $0.gt = bound } }
    public func le(_ bound: Double) -> Self { with { $0.le = bound } }
    public func lt(_ bound: Double) -> Self { with { $0.lt = bound } }
    public func minLength(_ n: Int) -> Self { with { $0.minLength = n } }
    public func maxLength(_ n: Int) -> Self { with { $0.maxLength = n } }
    /// A regular expression that must match somewhere in the value (anchor it with ^…$).
    public func pattern(_ regex: String) -> Self { with { $0.pattern = regex } }
    public func description(_ text: String) -> Self { with { $0.description = text } }

    private func with(_ change: (inout ParamSpec) -> Void) -> Self {
        var copy = self
        change(&copy.spec)
        return copy
    }
}
