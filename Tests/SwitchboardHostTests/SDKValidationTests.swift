import Foundation
import Testing
import SwitchboardSDK

/// The SDK's JSON parser, body schemas and RFC 9110 preconditions, in process. The wording and
/// offsets of syntax errors are Python's `json` module's (what FastAPI reports).
@Suite struct SDKValidationTests {
    /// The one Server-Sent Events encoder (SDK events, topic streams, lifecycle events): every
    /// line end a client reads starts a new `data:` line, and no field escapes its line.
    @Test func eventStreamFormatKeepsEachFieldOnItsLine() {
        var out: [UInt8] = []
        EventStreamFormat.appendEvent(data: Array("a\r\nb\rc\nd".utf8), event: "up\ndate", id: "1\r\0", retry: 1500, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "id: 1\nevent: update\nretry: 1500\ndata: a\ndata: b\ndata: c\ndata: d\n\n")
        out = []
        EventStreamFormat.appendComment("ping\ndata: forged", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == ": pingdata: forged\n\n")
        #expect(ServerSentEvent(data: "x\r\n").encoded == "data: x\ndata: \n\n")
    }

    @Test func parsesJSON() throws {
        let value = try JSONValue.parse(Array(#" {"a": [1, -2.5e1, true, false, null], "b": "x\u00e9\ud83d\ude00\n\"", "a": 3, "big": 12345678901234567890} "#.utf8))
        #expect(value.text == #"{"a":3,"b":"xé😀\n\"","big":1.2345678901234567e+19}"#)
        #expect(value["b"] == .string("xé😀\n\""))
        #expect(try JSONValue.parse(Array("-0".utf8)) == .int(0))
        #expect(try JSONValue.parse(Array("9223372036854775807".utf8)) == .int(.max))
        #expect(try JSONValue.parse(Array("1e400".utf8)) == .double(.infinity))
    }

    @Test(arguments: [
        ("", "Expecting value", 0),
        ("{", "Expecting property name enclosed in double quotes", 1),
        (#"{"name":"x","#, "Expecting property name enclosed in double quotes", 12),
        (#"{"a" 1}"#, "Expecting ':' delimiter", 5),
        (#"{"a":1 "b":2}"#, "Expecting ',' delimiter", 7),
        ("[1 2]", "Expecting ',' delimiter", 3),
        (#"{"a":"#, "Expecting value", 5),
        (#""abc"#, "Unterminated string starting at", 0),
        (#"["é", x]"#, "Expecting value", 6),  // characters, not bytes
        ("[1] 2", "Extra data", 4),
        (#""a\qb""#, "Invalid \\escape", 2),
        ("\"a\u{01}\"", "Invalid control character at", 2),
        ("tru", "Expecting value", 0),
        ("-", "Expecting value", 0),
        ("[1,]", "Expecting value", 3),
        (#"{"a":1,}"#, "Expecting property name enclosed in double quotes", 7),
        (#""\u12""#, "Invalid \\uXXXX escape", 2),
    ])
    func syntaxErrorsAsPythonWordsThem(text: String, message: String, offset: Int) {
        #expect(throws: JSONValue.ParseError(message: message, offset: offset)) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func hostileNestingIsAnErrorNotACrash() {
        let deep = Array(repeating: UInt8(ascii: "["), count: 1_000_000)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(deep) }
        let ok = Array(repeating: UInt8(ascii: "["), count: 500) + Array(repeating: UInt8(ascii: "]"), count: 500)
        #expect(throws: Never.self) { try JSONValue.parse(ok) }
    }

    @Test func bodySchemaConvertsAsPydanticLaxModeDoes() throws {
        let schema = BodySchema(.string("s"), .number("n"), .integer("i"), .boolean("b"), .string("o", required: false))
        let body = try schema.validate(Array(#"{"s":"x","n":" 2.5 ","i":"3.0","b":"yes","extra":1}"#.utf8), contentType: "application/json; charset=utf-8").get()
        #expect(body["s"] == .string("x") && body["n"] == .number(2.5) && body["i"] == .integer(3) && body["b"] == .boolean(true))
        #expect(body["o"] == nil && body["extra"] == nil)
        let numbers = try schema.validate(Array(#"{"s":"","n":true,"i":4.0,"b":0}"#.utf8), contentType: nil).get()
        #expect(numbers.double("n") == 1 && numbers.int("i") == 4 && numbers.bool("b") == false)

        func issues(_ json: String, _ schema: BodySchema = schema) -> [String] {
            switch schema.validate(Array(json.utf8), contentType: "application/json") {
            case .success: return []
            case .failure(let failure): return failure.issues.map { "\($0.type)@\($0.loc.map(\.text).joined(separator: "."))" }
            }
        }
        #expect(issues(#"{"s":1,"n":"x","i":1.5,"b":"maybe"}"#) == [
            "string_type@\"body\".\"s\"", "float_parsing@\"body\".\"n\"", "int_from_float@\"body\".\"i\"", "bool_parsing@\"body\".\"b\"",
        ])
        #expect(issues(#"{"n":"nan","i":"x","b":[]}"#) == [
            "missing@\"body\".\"s\"", "finite_number@\"body\".\"n\"", "int_parsing@\"body\".\"i\"", "bool_type@\"body\".\"b\"",
        ])
        // Hexadecimal is not a number to pydantic (Swift's Double(String) would take it).
        #expect(issues(#"{"s":"","n":"0x10","i":"0x1p3","b":true}"#) == ["float_parsing@\"body\".\"n\"", "int_parsing@\"body\".\"i\""])
        #expect(issues(#"{}"#, schema.partial) == [])
        #expect(issues(#"{"n":{}}"#, schema.partial) == ["float_type@\"body\".\"n\""])
        // The same number rules as parameters (LaxNumber): separators, Unicode white space, and no
        // exponent in an integer.
        let lax = try schema.validate(Array(#"{"s":"","n":"1_000.5","i":"1_0\r\n","b":true}"#.utf8), contentType: nil).get()
        #expect(lax.double("n") == 1000.5 && lax.int("i") == 10)
        #expect(issues(#"{"s":"","n":1,"i":"1e3","b":true}"#) == ["int_parsing@\"body\".\"i\""])
    }

    /// Member names compare code point by code point, as Python's dict and pydantic compare them:
    /// `K` (U+212A) is canonically equivalent to `K` but another name, and `é` and `e` + U+0301
    /// are two members.
    @Test func memberNamesCompareCodePointByCodePoint() throws {
        let schema = BodySchema(.string("apiKey"), .string("caf\u{E9}", required: false))
        guard case .failure(let failure) = schema.validate(Array(#"{"api\u212Aey":"x"}"#.utf8), contentType: nil) else {
            Issue.record("a Kelvin sign matched K"); return
        }
        #expect(failure.issues.map(\.type) == ["missing"])
        let both = try JSONValue.parse(Array(#"{"caf\u00e9":1,"cafe\u0301":2}"#.utf8))
        guard case .object(let members) = both else { Issue.record("not an object"); return }
        #expect(members.count == 2 && both["caf\u{E9}"] == .int(1) && both["cafe\u{301}"] == .int(2))
        let body = try schema.validate(Array(#"{"apiKey":"k","cafe\u0301":"no","caf\u00e9":"yes"}"#.utf8), contentType: nil).get()
        #expect(body["caf\u{E9}"] == .string("yes"))
    }

    /// `Content-Type` is read as bytes: U+037E is not the `;` before parameters.
    @Test func aJSONMediaTypeIsReadAsBytes() {
        let schema = BodySchema(.string("s"))
        func accepted(_ contentType: String) -> Bool {
            if case .success = schema.validate(Array(#"{"s":"x"}"#.utf8), contentType: contentType) { return true }
            return false
        }
        #expect(accepted("application/json") && accepted("Application/JSON; charset=utf-8") && accepted("application/problem+json"))
        #expect(!accepted("application/json\u{37E} charset=utf-8") && !accepted("text/plain"))
    }

    @Test func preconditionsFollowRFC9110() {
        let v = Validators(etag: "\"v1\"", lastModified: 1_000_000)
        func outcome(_ method: String, _ headers: [String: String]) -> Validators.Outcome {
            v.evaluate(method: method) { headers[$0] }
        }
        func outcome(_ headers: [String: String]) -> Validators.Outcome { outcome("GET", headers) }
        let date = HTTPDate.format(1_000_000)
        #expect(HTTPDate.parse(date) == 1_000_000)
        #expect(outcome([:]) == .proceed)
        #expect(outcome(["if-none-match": "\"v1\""]) == .notModified)
        #expect(outcome(["if-none-match": "W/\"v1\""]) == .notModified)
        #expect(outcome(["if-none-match": "\"a\", \"v1\""]) == .notModified)
        #expect(outcome(["if-none-match": "*"]) == .notModified)
        #expect(outcome(["if-none-match": "v1"]) == .notModified)  // a bare token, as clients copy unquoted tags
        #expect(outcome(["if-none-match": "\"v2\", *"]) == .proceed)  // `*` only as the whole value (as the C kit reads it)
        #expect(outcome("PUT", ["if-none-match": "*"]) == .preconditionFailed)
        #expect(outcome(["if-none-match": "\"v2\"", "if-modified-since": date]) == .proceed)
        #expect(outcome(["if-modified-since": date]) == .notModified)
        #expect(outcome(["if-modified-since": HTTPDate.format(999_999)]) == .proceed)
        #expect(outcome(["if-modified-since": "garbage"]) == .proceed)
        #expect(outcome("POST", ["if-modified-since": date]) == .proceed)
        #expect(outcome("PUT", ["if-match": "\"v1\""]) == .proceed)
        #expect(outcome("PUT", ["if-match": "W/\"v1\""]) == .preconditionFailed)
        #expect(outcome("PUT", ["if-match": "\"v2\""]) == .preconditionFailed)
        #expect(outcome("PUT", ["if-match": "*"]) == .proceed)
        #expect(Validators(exists: false).evaluate(method: "PUT") { $0 == "if-match" ? "*" : nil } == .preconditionFailed)
        // Tags compare character by character (§8.8.3.2), not by canonical equivalence.
        let composed = Validators(etag: "\"caf\u{E9}\"")
        #expect(composed.evaluate(method: "GET") { $0 == "if-none-match" ? "\"cafe\u{301}\"" : nil } == .proceed)
        #expect(composed.evaluate(method: "PUT") { $0 == "if-match" ? "\"cafe\u{301}\"" : nil } == .preconditionFailed)
        #expect(composed.evaluate(method: "GET") { $0 == "if-none-match" ? "\"caf\u{E9}\"" : nil } == .notModified)
        // A list is split as bytes: a combining mark after a comma does not hide it, and a tag that
        // starts with one is still a quoted tag.
        #expect(v.evaluate(method: "GET") { $0 == "if-none-match" ? "\"v1\",\u{301}" : nil } == .notModified)
        // A comma inside a quoted tag is part of it.
        let comma = Validators(etag: "\"a,b\"")
        #expect(comma.evaluate(method: "GET") { $0 == "if-none-match" ? "\"x\", \"a,b\"" : nil } == .notModified)
        #expect(comma.evaluate(method: "PUT") { $0 == "if-match" ? "\"a,b\"" : nil } == .proceed)
        #expect(comma.evaluate(method: "GET") { $0 == "if-none-match" ? "\"a\", b" : nil } == .proceed)
        let marked = Validators(etag: "\"\u{301}x\"")
        #expect(marked.evaluate(method: "GET") { $0 == "if-none-match" ? "\"\u{301}x\"" : nil } == .notModified)
        #expect(marked.evaluate(method: "PUT") { $0 == "if-match" ? "\"\u{301}x\"" : nil } == .proceed)
        #expect(outcome("PUT", ["if-unmodified-since": HTTPDate.format(999_999)]) == .preconditionFailed)
        #expect(outcome("PUT", ["if-unmodified-since": date]) == .proceed)
        let notModified = v.notModified()
        #expect(notModified.status == 304 && notModified.headers.map(\.name) == ["etag", "last-modified"])
    }
}
