import Testing
import CSwitchboard
@testable import SwitchboardHost
@testable import SwitchboardRouting
import SwitchboardSDK

@Suite struct PathTemplateTests {
    @Test func parsesLiteralsAndParameters() throws {
        let template = try PathTemplate("/items/{item_id}/tags/{tag}")
        #expect(template.segments == [.literal("items"), .parameter("item_id"), .literal("tags"), .parameter("tag")])
        #expect(template.parameterNames == ["item_id", "tag"])
        #expect(try PathTemplate("/").segments.isEmpty)
        // Split at the byte '/': a combining mark after it stays in the next segment (as
        // Characters, "/" and the mark were one, and "/a/\u{301}b" one literal with a slash in it).
        let marked = try PathTemplate("/a/\u{301}b")
        #expect(marked.segments.count == 2)
        if case .literal(let text) = marked.segments[1] { #expect(text.unicodeScalars.first == "\u{301}") } else { Issue.record("\(marked.segments)") }
        #expect(try PathTemplate("/\u{301}b").segments.count == 1, "starts with '/' as bytes")
    }

    @Test func equivalentTemplatesShareAShape() throws {
        #expect(try PathTemplate("/items/{id}").shape == PathTemplate("/items/{item_id}").shape)
        #expect(try PathTemplate("/items/{id}").shape != PathTemplate("/items/special").shape)
    }

    @Test(arguments: [
        ("items", "must start with"),
        ("/items/", "empty segment"),
        ("//items", "empty segment"),
        ("/items/{id", "must be \"{name}\""),
        ("/items/x{id}", "mixes text and a parameter"),
        ("/items/{1d}", "must match"),
        ("/a/{id}/b/{id}", "appears twice"),
        ("/items?x=1", "without query"),
        ("/caf%C3%A9", "percent-encoded"),
        ("/a b", "space or control"),
    ])
    func refusesInvalidTemplates(text: String, reason: String) {
        #expect {
            try PathTemplate(text)
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".contains(text)
        }
    }

    /// The non-generic UTF-8 check answers as `String(validating:as:)` does, bytes for bytes.
    @Test(arguments: [
        [], Array("item_id".utf8), Array("café ✓ 𝄞".utf8), [0xFF], [0x61, 0xC3], [0xE2, 0x9C], [0xED, 0xA0, 0x80],
        [0xC0, 0xAF], [0xF4, 0x90, 0x80, 0x80], [0x61, 0x00, 0x62], [0xEF, 0xBF, 0xBD], [0x80, 0x61],
    ] as [[UInt8]])
    func utf8IsValidatedAsTheStandardLibraryDoes(bytes: [UInt8]) {
        let expected = String(validating: bytes, as: UTF8.self)
        #expect(bytes.withUnsafeBytes { String(utf8Bytes: $0) } == expected)
        if let expected { #expect(Array(expected.utf8) == bytes) }
        #expect(String(utf8Bytes: UnsafeRawBufferPointer(start: nil, count: 0)) == "", "an empty sb_str may have no pointer")
        // The in-place check (a state key read inline) answers the same.
        #expect(bytes.withUnsafeBytes { $0.isValidUTF8 } == (expected != nil))
        #expect(UnsafeRawBufferPointer(start: nil, count: 0).isValidUTF8)
    }

    @Test func decodesPercentEscapes() {
        #expect("caf%C3%A9%20x"[...].percentDecoded() == "café x")
        #expect("a+b"[...].percentDecoded() == "a+b", "+ is itself in a path")
        #expect("%zz"[...].percentDecoded() == nil)
        #expect("%FF"[...].percentDecoded() == nil)
    }

    /// A form value decodes as Python's `parse_qsl` decodes it for Starlette (each expectation is
    /// what `urllib.parse.parse_qsl` gives for the same bytes): a malformed escape is kept as sent
    /// and the escapes around it still decode; bytes that are not UTF-8 become U+FFFD.
    @Test func formValuesDecodeAsStarletteDecodesThem() {
        let cases: [(sent: Substring, decoded: String)] = [
            ("50%zz+off", "50%zz off"), ("%zz%41", "%zzA"), ("%FF", "\u{FFFD}"), ("caf%C3%A9%E9x", "caf\u{E9}\u{FFFD}x"),
            ("%4", "%4"), ("%", "%"), ("a%2Bb+c", "a+b c"), ("%C3", "\u{FFFD}"), ("plain", "plain"), ("", ""),
        ]
        for (sent, decoded) in cases {
            #expect(sent.formDecoded() == decoded, "\(sent)")
        }
    }

    /// A query string splits as Starlette splits it: at `&`, each pair at its first `=`, empty
    /// pairs dropped; a name matches by its decoded code points; a repeated name's last value
    /// counts, and only that one is decoded.
    @Test func queryStringsSplitAndMatchAsStarletteDoes() {
        let items = QueryString.items("a=1&&b&c=x=y&a=2&q+x=%20z&caf%C3%A9=1&e%CC%81=2&=v&bad=%zz&mixed=%zz%41")
        #expect(items.map { "\($0.name)|\($0.value)" } == ["a|1", "b|", "c|x=y", "a|2", "q+x|%20z", "caf%C3%A9|1", "e%CC%81|2", "|v", "bad|%zz", "mixed|%zz%41"])
        #expect(QueryString.items("").isEmpty && QueryString.items("&&").isEmpty)
        func value(_ items: [(name: Substring, value: Substring)], _ name: String, _ index: Int) -> String? {
            var name = name
            return name.withUTF8 { QueryString.value(items, namedUTF8: UnsafeRawBufferPointer($0), at: index) }
        }
        #expect(value(items, "caf\u{E9}", 0) == "1" && value(items, "e\u{301}", 0) == "2" && value(items, "\u{E9}", 0) == nil, "by code points")
        #expect(QueryString.lastValue(items, named: "a") == "2" && value(items, "a", 0) == "1" && value(items, "a", 1) == "2" && value(items, "a", 2) == nil && value(items, "a", -1) == nil)
        #expect(QueryString.lastValue(items, named: "b") == "" && QueryString.lastValue(items, named: "c") == "x=y")
        #expect(QueryString.lastValue(items, named: "q x") == " z", "+ is a space, in names too")
        #expect(QueryString.lastValue(items, named: "café") == "1")
        #expect(QueryString.lastValue(items, named: "e\u{301}") == "2" && QueryString.lastValue(items, named: "\u{E9}") == nil, "code points, not canonical equivalence")
        #expect(QueryString.lastValue(items, named: "") == "v" && QueryString.lastValue(items, named: "bad") == "%zz")
        #expect(QueryString.lastValue(items, named: "mixed") == "%zzA", "the escapes beside a malformed one still decode")
        #expect(QueryString.lastValue(items, named: "missing") == nil)
    }

    /// A string is checked code point by code point, as pydantic checks it: `e` + U+0301 is two
    /// characters to a pattern and is not the enum value U+00E9, though Swift's `String` calls
    /// them equal and its `Regex` counts one grapheme.
    @Test func stringsAreCheckedCodePointByCodePoint() throws {
        let decomposed = "e\u{301}"
        let pattern = try ParameterSpec.Pattern("^.$")
        #expect(pattern.matches("\u{E9}") && !pattern.matches(decomposed))
        let choice = ParameterSpec(name: "c", location: .query, kind: .enumeration, enumValues: ["\u{E9}"])
        guard case .failure(let issue) = ParameterValidation.convert(decomposed, choice) else { Issue.record("a decomposed é matched the enum's é"); return }
        #expect(issue.type == "enum")
        #expect((try? ParameterValidation.convert("\u{E9}", choice).get())?.text == "\u{E9}")
    }

    /// A route's plan converts each default once, finds each path parameter by its place in the
    /// template, and validates as the closure-based form does.
    @Test func aValidationPlanReadsTheRequestsPartsAsSent() throws {
        let specs = [
            ParameterSpec(name: "id", location: .path, kind: .int, ge: 1),
            ParameterSpec(name: "limit", location: .query, kind: .int, defaultValue: "10"),
            ParameterSpec(name: "q", location: .query, kind: .string),
            ParameterSpec(name: "x-token", location: .header, kind: .string, required: true),
        ]
        let plan = ParameterValidation.Plan(specs, pathParameterNames: ["other", "id"])
        func validate(_ path: [Substring], _ query: Substring, token: String?) -> Result<[ParameterValue?], ValidationFailure> {
            ParameterValidation.validate(plan, pathValues: path, query: QueryString.items(query), header: { $0 == "x-token" ? token : nil })
        }
        let values = try validate(["a", "4%32"], "q=hi+there&limit=3&limit=5", token: "t").get()
        #expect(values.map { $0?.text } == ["42", "5", "hi there", "t"] && values[0]?.integer == 42 && values[1]?.present == true)
        let defaults = try validate(["a", "7"], "", token: "t").get()
        #expect(defaults[1]?.present == false && defaults[1]?.integer == 10 && defaults[1]?.text == "10" && defaults[2] == nil)
        guard case .failure(let failure) = validate(["a", "0"], "limit=x", token: nil) else { Issue.record("invalid values passed"); return }
        #expect(failure.body.contains("greater_than_equal") && failure.body.contains("int_parsing") && failure.body.contains("missing"))
        guard case .failure(let sent) = validate(["a", "%zz"], "", token: "t") else { Issue.record("a malformed escape passed"); return }
        #expect(sent.body.contains(#""input":"%zz""#), "a malformed escape is validated as sent")
    }
}

/// `sb_route_spec` as the host reads it (ABI 1.4's body fields, and sizes it must refuse).
@Suite struct RouteSpecTests {
    /// Reads a spec for `POST /things` with the given body fields and struct size.
    static func read(schema: String = "", mediaType: String = "", flags: UInt32 = 0, size: Int = MemoryLayout<sb_route_spec>.size) -> Result<RouteDeclaration, RouteDeclaration.Invalid> {
        let strings = ["POST", "/things", schema, mediaType].map { Array($0.utf8) }
        return strings[0].withUnsafeBufferPointer { method in
            strings[1].withUnsafeBufferPointer { path in
                strings[2].withUnsafeBufferPointer { schema in
                    strings[3].withUnsafeBufferPointer { media in
                        func str(_ b: UnsafeBufferPointer<UInt8>) -> sb_str {
                            sb_str(ptr: UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), len: b.count)
                        }
                        var spec = sb_route_spec()
                        spec.struct_size = UInt32(size)
                        spec.method = str(method)
                        spec.path = str(path)
                        spec.handler = { _, _ in SB_OK }
                        spec.body_schema = str(schema)
                        spec.body_media_type = str(media)
                        spec.body_flags = flags
                        return Result { () throws(RouteDeclaration.Invalid) in try RouteDeclaration.read(&spec) }
                    }
                }
            }
        }
    }

    /// Reads `GET <path>` declaring one query parameter named `name`, an enum of `values`: each
    /// given as bytes, so they need not be UTF-8.
    static func read(path: [UInt8], name: [UInt8], values: [[UInt8]]) -> Result<RouteDeclaration, RouteDeclaration.Invalid> {
        let storage = ([Array("GET".utf8), path, name] + values).map { bytes in
            let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
            _ = copy.initialize(from: bytes)
            return (copy, bytes.count)
        }
        defer { for (buffer, _) in storage { buffer.deallocate() } }
        let strs = storage.map { sb_str(ptr: UnsafeRawPointer($0.0.baseAddress)?.assumingMemoryBound(to: CChar.self), len: $0.1) }
        let enumValues = Array(strs[3...])
        return enumValues.withUnsafeBufferPointer { enumValues in
            var param = sb_param_spec()
            param.struct_size = UInt32(MemoryLayout<sb_param_spec>.size)
            param.location = UInt8(SB_PARAM_QUERY.rawValue)
            param.type = UInt8(SB_TYPE_ENUM.rawValue)
            param.name = strs[2]
            param.enum_values = enumValues.baseAddress
            param.enum_count = enumValues.count
            return withUnsafePointer(to: param) { param in
                var spec = sb_route_spec()
                spec.struct_size = UInt32(MemoryLayout<sb_route_spec>.size)
                spec.method = strs[0]
                spec.path = strs[1]
                spec.handler = { _, _ in SB_OK }
                spec.params = param
                spec.param_count = 1
                return Result { () throws(RouteDeclaration.Invalid) in try RouteDeclaration.read(&spec) }
            }
        }
    }

    /// A path, a parameter's name or an enum value that is not UTF-8 is refused with what to fix:
    /// repaired, "\xFF" and "\xFE" would both be U+FFFD, and match a request that sent U+FFFD.
    @Test func namesThatAreNotUTF8AreRefusedNotRepaired() throws {
        let fine = try Self.read(path: Array("/caf\u{E9}".utf8), name: Array("q".utf8), values: [Array("a".utf8)]).get()
        #expect(fine.metadata.parameters.map(\.enumValues) == [["a"]])
        let cases: [(path: [UInt8], name: [UInt8], values: [[UInt8]], says: String)] = [
            (Array("/a".utf8) + [0xFF], Array("q".utf8), [Array("a".utf8)], "the path is not UTF-8"),
            (Array("/a".utf8), Array("q".utf8) + [0xFE], [Array("a".utf8)], "the name of parameter"),
            (Array("/a".utf8), Array("q".utf8), [Array("a".utf8), [0xC3]], "the enum value 1 of parameter \"q\" is not UTF-8"),
        ]
        for c in cases {
            guard case .failure(let invalid) = Self.read(path: c.path, name: c.name, values: c.values) else {
                Issue.record("accepted \(c)")
                continue
            }
            #expect(invalid.description.contains(c.says), "\(invalid)")
        }
    }

    @Test func aBodySchemaIsKeptAsTheJSONItIs() throws {
        let route = try Self.read(schema: #"{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}"#).get()
        let body = try #require(route.metadata.requestBody)
        #expect(body.mediaType == "application/json" && body.required)
        #expect(body.schema.text == #"{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}"#)
        let optional = try Self.read(mediaType: "application/octet-stream", flags: UInt32(SB_BODY_OPTIONAL)).get()
        #expect(optional.metadata.requestBody?.mediaType == "application/octet-stream" && optional.metadata.requestBody?.required == false)
        #expect(try Self.read().get().metadata.requestBody == nil)
    }

    @Test(arguments: ["{not json", "[1,2]", "\"object\"", "{} x"])
    func aBodySchemaThatIsNotAJSONObjectIsRefused(schema: String) {
        guard case .failure(let invalid) = Self.read(schema: schema) else {
            Issue.record("accepted \(schema)")
            return
        }
        #expect(invalid.description.contains("POST /things: body_schema"), "\(invalid)")
    }

    /// A 1.0–1.3 spec (no body fields) reads as one without a body; a smaller one is refused.
    @Test func olderSpecsReadAsZeroAndTooSmallOnesAreRefused() throws {
        let old = try Self.read(schema: #"{"type":"object"}"#, size: RouteDeclaration.firstRouteSpecSize).get()
        #expect(old.metadata.requestBody == nil, "fields past struct_size were read")
        guard case .failure(let invalid) = Self.read(size: 0) else {
            Issue.record("a spec with struct_size 0 was read")
            return
        }
        #expect(invalid.description.contains("sb_route_spec.struct_size is 0"))
    }
}
