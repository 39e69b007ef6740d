import SwitchboardCore

/// A declared path, query or header parameter (a checked copy of `sb_param_spec`).
public struct ParameterSpec: Sendable {
    /// Where the value is read (`sb_param_location`).
    public enum Location: UInt8, Sendable {
        case path = 0, query = 1, header = 2
        /// The name FastAPI uses in `loc` and OpenAPI uses in `in`.
        public var name: String {
            switch self {
            case .path: "path"
            case .query: "query"
            case .header: "header"
            }
        }
    }

    /// The value's type (`sb_param_type`): `int` is an Int64, `float` a Double, `enumeration`
    /// one of `enumValues`.
    public enum Kind: UInt8, Sendable {
        case string = 0, int = 1, float = 2, bool = 3, enumeration = 4
    }

    /// The template's `{name}`, the query parameter's name, or the header field's name (matched
    /// case-insensitively).
    public var name: String
    /// Where the value is read.
    public var location: Location
    /// The type the value is converted to, and its OpenAPI schema.
    public var kind: Kind
    /// Whether an absent value is a 422 `missing`; always true for a path parameter.
    public var required: Bool
    /// Free text for the OpenAPI document; empty for none.
    public var description: String
    /// Inclusive lower bound (`>=`) of an int or float; nil for none.
    public var ge: Double?
    /// Exclusive lower bound (`>`) of an int or float; nil for none.
    public var gt: Double?
    /// Inclusive upper bound (`<=`) of an int or float; nil for none.
    public var le: Double?
    /// Exclusive upper bound (`<`) of an int or float; nil for none.
    public var lt: Double?
    /// Least length of a string, in Unicode scalars; nil for none.
    public var minLength: UInt64?
    /// Greatest length of a string, in Unicode scalars; nil for none.
    public var maxLength: UInt64?
    /// An expression a string must match somewhere in it; nil for none.
    public var pattern: Pattern?
    /// The value, as text, used when the client sends none (converted like a sent value, with
    /// `present` false); nil for none.
    public var defaultValue: String?
    /// The values an `enumeration` allows, compared exactly; empty for other kinds.
    public var enumValues: [String]

    /// A declaration as given, except that a path parameter is always `required`; `problem()` says
    /// whether it is usable.
    public init(
        name: String, location: Location, kind: Kind, required: Bool = false, description: String = "",
        ge: Double? = nil, gt: Double? = nil, le: Double? = nil, lt: Double? = nil,
        minLength: UInt64? = nil, maxLength: UInt64? = nil, pattern: Pattern? = nil,
        defaultValue: String? = nil, enumValues: [String] = []
    ) {
        self.name = name
        self.location = location
        self.kind = kind
        self.required = required || location == .path
        self.description = description
        self.ge = ge
        self.gt = gt
        self.le = le
        self.lt = lt
        self.minLength = minLength
        self.maxLength = maxLength
        self.pattern = pattern
        self.defaultValue = defaultValue
        self.enumValues = enumValues
    }

    /// A compiled regular expression. Like pydantic's `pattern`, it may match anywhere in the
    /// value; anchor it with `^…$` to constrain the whole value.
    public final class Pattern: @unchecked Sendable {  // Regex is immutable; matching from several threads at once is safe
        /// The expression as declared (Swift `Regex` syntax).
        public let source: String
        // Regex is immutable; matching from several threads at once is safe.
        private let regex: Regex<AnyRegexOutput>

        /// Compiles `source`, to match code point by code point (`.` is one Unicode scalar), as
        /// pydantic's patterns do, not by Swift's default of grapheme clusters.
        /// - Throws: the `Regex` parser's error when `source` is not a valid expression.
        public init(_ source: String) throws {
            self.source = source
            self.regex = try Regex(source).matchingSemantics(.unicodeScalar)
        }

        /// Whether the expression matches anywhere in `value` (not necessarily all of it).
        public func matches(_ value: String) -> Bool { (try? regex.firstMatch(in: value)) != nil }
    }

    /// One line for `switchboard check`: "limit: query int, default 10, ≥ 1, ≤ 100" (a string's
    /// default quoted: `q: query string, default ""`).
    public var summary: String {
        var parts: [String] = []
        let kindName =
            switch kind {
            case .string: "string"
            case .int: "int"
            case .float: "float"
            case .bool: "bool"
            case .enumeration: "enum " + enumValues.joined(separator: "|")
            }
        parts.append("\(location.name) \(kindName)")
        if let defaultValue {
            parts.append(kind == .string || kind == .enumeration ? "default \"\(defaultValue)\"" : "default \(defaultValue)")
        } else {
            parts.append(required ? "required" : "optional")
        }
        func number(_ d: Double) -> String { d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d) }
        if let ge { parts.append("≥ \(number(ge))") }
        if let gt { parts.append("> \(number(gt))") }
        if let le { parts.append("≤ \(number(le))") }
        if let lt { parts.append("< \(number(lt))") }
        if let minLength { parts.append("length ≥ \(minLength)") }
        if let maxLength { parts.append("length ≤ \(maxLength)") }
        if let pattern { parts.append("pattern \(pattern.source)") }
        return "\(name): " + parts.joined(separator: ", ")
    }

    /// Why a declaration is unusable, in words that say what to change.
    public func problem() -> String? {
        if name.isEmpty { return "a parameter has an empty name" }
        if kind == .enumeration && enumValues.isEmpty { return "enum parameter \"\(name)\" lists no values" }
        if kind != .enumeration && !enumValues.isEmpty { return "parameter \"\(name)\" lists enum values but is not of type enum" }
        let bounded = ge != nil || gt != nil || le != nil || lt != nil
        if [ge, gt, le, lt].contains(where: { $0.map { !$0.isFinite } ?? false }) {
            return "parameter \"\(name)\" has a bound that is not a finite number"
        }
        if bounded && kind != .int && kind != .float { return "parameter \"\(name)\" has numeric bounds but is not int or float" }
        if (minLength != nil || maxLength != nil || pattern != nil) && kind != .string {
            return "parameter \"\(name)\" has length or pattern constraints but is not a string"
        }
        if let minLength, let maxLength, minLength > maxLength { return "parameter \"\(name)\": min_length is above max_length" }
        if kind == .int, let bound = [ge, gt, le, lt].compactMap({ $0 }).first(where: { $0.rounded() != $0 || abs($0) > 9.2e18 }) {
            return "int parameter \"\(name)\" has the bound \(bound), which is not an integer"
        }
        if location == .path && defaultValue != nil { return "path parameter \"\(name)\" cannot have a default" }
        if let defaultValue {
            if case .failure(let issue) = ParameterValidation.convert(defaultValue, self) {
                return "the default \"\(defaultValue)\" of parameter \"\(name)\" is invalid: \(issue.msg)"
            }
        }
        return nil
    }
}

/// A validated parameter value as a handler receives it.
public struct ParameterValue: Sendable, Equatable {
    /// The declaration's type, which says which of the fields below hold the value.
    public var kind: ParameterSpec.Kind
    /// True when the client sent it; false when it is the declared default.
    public var present: Bool
    /// The value as text (percent-decoded), for every kind.
    public var text: String
    /// Int, and bool as 0 or 1.
    public var integer: Int64
    /// Float, and int converted.
    public var number: Double

    /// A bool parameter's value (`integer != 0`).
    public var bool: Bool { integer != 0 }
}

/// Checks request values against declarations, as FastAPI (pydantic v2, lax mode) does for path,
/// query and header parameters, and reports failures in FastAPI's 422 shape.
public enum ParameterValidation {
    /// A route's declarations prepared once for validating each of its requests: where each path
    /// parameter's value sits among the template's, and each default already converted (a default
    /// that does not convert is refused when the route is added: `ParameterSpec.problem`).
    public struct Plan: Sendable {
        /// The declarations, in order.
        public let specs: [ParameterSpec]
        /// For each declaration, the index of its value among the template's parameters; -1 for
        /// a query or header parameter, or a path one the template does not name.
        let pathIndex: [Int]
        /// For each declaration, its default as a value (`present` false); nil for none.
        let defaults: [ParameterValue?]

        /// `pathParameterNames`: the template's parameter names, in order (`PathTemplate`).
        public init(_ specs: [ParameterSpec], pathParameterNames: [String]) {
            self.specs = specs
            pathIndex = specs.map { spec in
                spec.location == .path ? pathParameterNames.firstIndex(where: { $0.hasSameCodePoints(as: spec.name) }) ?? -1 : -1
            }
            defaults = specs.map { spec in
                guard let fallback = spec.defaultValue, case .success(var value) = ParameterValidation.convert(fallback, spec) else { return nil }
                value.present = false
                return value
            }
        }
    }

    /// One value per declaration of `plan`, in order (nil: optional, absent, no default), or
    /// every issue (`ValidationFailure`, FastAPI's 422 `detail`), read from a request's parts as
    /// sent: the values of the template's parameters (percent-encoded; one that does not decode is
    /// validated as sent, though the host answers 400 for such a path before routing), the
    /// query's pairs (`QueryString.items`, each value `Substring.formDecoded`; the last of a
    /// repeated name counts, as in FastAPI), and the header fields (`header(name)`: the first
    /// field of that name, matched case-insensitively; called during this call only).
    /// `cStrings`: the values go to a typed C handler as NUL-terminated strings, so a string with
    /// a NUL in it (which C would silently cut short after it was validated whole) is refused.
    public static func validate(
        _ plan: Plan, pathValues: [Substring], query: [(name: Substring, value: Substring)], cStrings: Bool = false,
        header: (String) -> String?
    ) -> Result<[ParameterValue?], ValidationFailure> {
        validate(plan, cStrings: cStrings) { i in
            switch plan.specs[i].location {
            case .path:
                let j = plan.pathIndex[i]
                guard j >= 0, j < pathValues.count else { return nil }
                return pathValues[j].percentDecoded() ?? String(pathValues[j])
            case .query: return QueryString.lastValue(query, named: plan.specs[i].name)
            case .header: return header(plan.specs[i].name)
            }
        }
    }

    /// The loop: `raw(i)` reads declaration i's value as sent (decoded), nil when absent.
    private static func validate(_ plan: Plan, cStrings: Bool, raw read: (Int) -> String?) -> Result<[ParameterValue?], ValidationFailure> {
        let specs = plan.specs
        var values: [ParameterValue?] = []
        values.reserveCapacity(specs.count)
        var issues: [ValidationIssue] = []
        // By index: a declaration is read in place, not copied out of the array.
        for i in specs.indices {
            guard let raw = read(i) else {
                if specs[i].required {
                    issues.append(ValidationIssue(type: "missing", loc: [.string(specs[i].location.name), .string(specs[i].name)], msg: "Field required", input: .null))
                } else {
                    values.append(plan.defaults[i])
                }
                continue
            }
            if cStrings && (specs[i].kind == .string || specs[i].kind == .enumeration) && raw.utf8.contains(0) {
                issues.append(
                    ValidationIssue(
                        type: "value_error", loc: [.string(specs[i].location.name), .string(specs[i].name)],
                        msg: "Value error, a NUL character cannot be passed to this handler", input: .string(raw)))
                continue
            }
            switch convert(raw, specs[i]) {
            case .success(let value): values.append(value)
            case .failure(let issue):
                var issue = issue
                issue.loc = [.string(specs[i].location.name), .string(specs[i].name)]
                issues.append(issue)
            }
        }
        guard issues.isEmpty else {
            // FastAPI reports path parameters first, then query, then header; within each, in
            // declaration order.
            let order: [JSONValue] = ["path", "query", "header"]
            func rank(_ issue: ValidationIssue) -> Int { order.firstIndex(of: issue.loc[0]) ?? order.count }
            let sorted = issues.enumerated().sorted { a, b in
                let (x, y) = (rank(a.element), rank(b.element))
                return x != y ? x < y : a.offset < b.offset
            }
            return .failure(ValidationFailure(sorted.map(\.element)))
        }
        return .success(values)
    }

    /// Parses and checks one value; the issue's `loc` is left for the caller.
    static func convert(_ raw: String, _ spec: ParameterSpec) -> Result<ParameterValue, ValidationIssue> {
        func fail(_ type: String, _ msg: String, _ ctx: [(String, JSONValue)]? = nil) -> Result<ParameterValue, ValidationIssue> {
            .failure(ValidationIssue(type: type, loc: [], msg: msg, input: .string(raw), ctx: ctx))
        }
        var value = ParameterValue(kind: spec.kind, present: true, text: raw, integer: 0, number: 0)
        switch spec.kind {
        case .string:
            let length = UInt64(raw.unicodeScalars.count)
            if let min = spec.minLength, length < min {
                return fail("string_too_short", "String should have at least \(min) character\(min == 1 ? "" : "s")", [("min_length", .int(Int64(clamping: min)))])
            }
            if let max = spec.maxLength, length > max {
                return fail("string_too_long", "String should have at most \(max) character\(max == 1 ? "" : "s")", [("max_length", .int(Int64(clamping: max)))])
            }
            if let pattern = spec.pattern, !pattern.matches(raw) {
                return fail("string_pattern_mismatch", "String should match pattern '\(pattern.source)'", [("pattern", .string(pattern.source))])
            }
        case .enumeration:
            // Code point by code point, as Python compares strings: not by canonical equivalence.
            guard spec.enumValues.contains(where: { $0.hasSameCodePoints(as: raw) }) else {
                let expected = englishList(spec.enumValues.map { "'\($0)'" })
                return fail("enum", "Input should be \(expected)", [("expected", .string(expected))])
            }
        case .bool:
            guard let truth = LaxBool.value(raw) else {
                return fail("bool_parsing", "Input should be a valid boolean, unable to interpret input")
            }
            value.integer = truth ? 1 : 0
            value.number = Double(value.integer)
        case .int:
            guard let parsed = LaxNumber.integer(raw) else {
                return fail("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
            }
            value.integer = parsed
            value.number = Double(parsed)
            if let issue = checkIntegerBounds(parsed, spec, raw) { return .failure(issue) }
        case .float:
            guard let parsed = LaxNumber.float(raw) else {
                return fail("float_parsing", "Input should be a valid number, unable to parse string as a number")
            }
            value.number = parsed
            if let issue = checkBounds(parsed, spec, raw) { return .failure(issue) }
        }
        return .success(value)
    }

    /// Int bounds compared as integers (exact past 2^53); `problem()` made them integral.
    private static func checkIntegerBounds(_ x: Int64, _ spec: ParameterSpec, _ raw: String) -> ValidationIssue? {
        func bound(_ b: Double?) -> Int64? { b.flatMap { Int64(exactly: $0) } }
        if let ge = bound(spec.ge), !(x >= ge) { return boundIssue(.ge, spec.ge!, spec, raw) }
        if let gt = bound(spec.gt), !(x > gt) { return boundIssue(.gt, spec.gt!, spec, raw) }
        if let le = bound(spec.le), !(x <= le) { return boundIssue(.le, spec.le!, spec, raw) }
        if let lt = bound(spec.lt), !(x < lt) { return boundIssue(.lt, spec.lt!, spec, raw) }
        return nil
    }

    private static func checkBounds(_ x: Double, _ spec: ParameterSpec, _ raw: String) -> ValidationIssue? {
        // NaN fails every bound, as in pydantic.
        if let ge = spec.ge, !(x >= ge) { return boundIssue(.ge, ge, spec, raw) }
        if let gt = spec.gt, !(x > gt) { return boundIssue(.gt, gt, spec, raw) }
        if let le = spec.le, !(x <= le) { return boundIssue(.le, le, spec, raw) }
        if let lt = spec.lt, !(x < lt) { return boundIssue(.lt, lt, spec, raw) }
        return nil
    }

    private enum Bound: String {
        case ge, gt, le, lt
        var type: String {
            switch self {
            case .ge: "greater_than_equal"
            case .gt: "greater_than"
            case .le: "less_than_equal"
            case .lt: "less_than"
            }
        }
        var words: String {
            switch self {
            case .ge: "greater than or equal to"
            case .gt: "greater than"
            case .le: "less than or equal to"
            case .lt: "less than"
            }
        }
    }

    /// As pydantic: ctx carries the bound in the field's type (an int, or a float in Python's
    /// repr, which Swift's description matches: 1.0, 1e-07); msg spells it in plain decimal.
    private static func boundIssue(_ kind: Bound, _ bound: Double, _ spec: ParameterSpec, _ raw: String) -> ValidationIssue {
        let shown: JSONValue = spec.kind == .int ? Int64(exactly: bound).map { .int($0) } ?? .double(bound) : .double(bound)
        return ValidationIssue(
            type: kind.type, loc: [], msg: "Input should be \(kind.words) \(plainDecimal(bound))", input: .string(raw),
            ctx: [(kind.rawValue, shown)])
    }

    /// A number without exponent or trailing ".0": 1, 0.5, 0.0000001, 100000000000000000000.
    static func plainDecimal(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : (x < 0 ? "-inf" : "inf") }
        var text = "\(x)"
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            let exponent = Int(text[text.index(after: e)...])!
            var mantissa = String(text[..<e])
            let negative = mantissa.hasPrefix("-")
            if negative { mantissa.removeFirst() }
            let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
            var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
            var point = parts[0].count + exponent
            if point <= 0 {
                digits = String(repeating: "0", count: 1 - point) + digits
                point = 1
            } else if point > digits.count {
                digits += String(repeating: "0", count: point - digits.count)
            }
            let whole = digits.prefix(point)
            let fraction = digits.dropFirst(point)
            text = (negative ? "-" : "") + whole + (fraction.isEmpty ? "" : "." + fraction)
        }
        if text.hasSuffix(".0") { text.removeLast(2) }
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
        }
        return text
    }

    /// "'a', 'b' or 'c'"
    static func englishList(_ items: [String]) -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " or " + items.last!
    }
}

