import Foundation
import SwitchboardSDK
import Testing

/// The SDK's JSON writer and encoder, checked against Python's `json` (the reference the chapter's
/// readers compare with) and Foundation's parser, on input chosen to break encoders.
@Suite struct JSONWriterTests {
    /// Runs a Python program with `input` on stdin; its stdout.
    static func python(_ program: String, input: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", program]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python3 failed")
        return String(decoding: data, as: UTF8.self)
    }

    static func text(_ write: (inout JSONWriter) throws -> Void, options: JSONOptions = .compact) rethrows -> String {
        var writer = JSONWriter(options: options)
        try write(&writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Doubles that break formatters, plus 2,000 random bit patterns (a fixed seed): each written
    /// exactly as Python's repr writes it.
    @Test func doublesAreWrittenAsPythonsRepr() throws {
        var values: [Double] = [
            0.1, 0.5, 1, 100, 1e-7, 1e-5, 1e-4, 0.001, 1e15, 1e16, 1e17, 1234567890123456, 12345678901234567,
            2.0e53, 9007199254740993, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 123.456, -0.0, -1.5,
            1.0 / 3, 2.0 / 3, 1e22, 1e23, 4.35, 0.3, 299792458, 6.02214076e23, 1.5e300, 9.999999999999999e15,
        ]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        while values.count < 2_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let value = Double(bitPattern: state)
            if value.isFinite { values.append(value) }
        }
        let ours = try values.map { v in try Self.text { try $0.double(v) } }
        let input = values.map { String($0.bitPattern, radix: 16) }.joined(separator: "\n")
        let theirs = try Self.python(
            "import sys, struct\nfor line in sys.stdin.read().split():\n    print(repr(struct.unpack('<d', int(line, 16).to_bytes(8, 'little'))[0]))",
            input: input
        ).split(separator: "\n").map(String.init)
        #expect(theirs.count == values.count)
        for (i, (a, b)) in zip(ours, theirs).enumerated() where a != b {
            Issue.record("\(values[i].bitPattern): ours \(a), Python \(b)")
        }
        #expect(throws: JSONWriter.NonFiniteNumber.self) { _ = try Self.text { try $0.double(.nan) } }
        #expect(throws: JSONWriter.NonFiniteNumber.self) { _ = try Self.text { try $0.double(-.infinity) } }
    }

    /// Strings with every control character, quotes and backslashes around the 8-byte words the
    /// escaper tests at once, surrogate pairs, U+2028: byte for byte what
    /// `json.dumps(s, ensure_ascii=False, separators=(",", ":"))` writes, and read back equal.
    @Test func stringsAreEscapedAsPythonEscapesThem() throws {
        var strings = ["", "plain", "quote\"", "back\\slash", "\u{2028}\u{2029}", "emoji 😀 é ß", "/slash", "\u{7F}"]
        strings.append(String((0..<32).map { Character(Unicode.Scalar(UInt8($0))) }))
        for position in 0..<17 {
            for special in ["\"", "\\", "\n", "\u{1}", "\u{1F}", "😀"] {
                strings.append(String(repeating: "a", count: position) + special + String(repeating: "b", count: 16 - position))
            }
        }
        let ours = strings.map { s in Self.text { $0.string(s) } }
        let theirs = try Self.python(
            "import sys, json\nfor s in json.loads(sys.stdin.read()):\n    print(json.dumps(s, ensure_ascii=False, separators=(',', ':')))",
            input: Self.text { w in
                w.beginArray()
                for s in strings { w.string(s) }
                w.endArray()
            }
        ).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(ours == theirs)
        for (s, json) in zip(strings, ours) {
            let back = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed) as? String
            #expect(back == s, "\(json)")
        }
    }

    struct Inner: Encodable { let x: Int; let y: [Double?] }
    enum Shape: Encodable { case circle(radius: Double), square(Int) }
    class Base: Encodable {
        var base = 1
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(base, forKey: .base)
        }
        enum K: CodingKey { case base, extra }
    }
    final class Derived: Base, @unchecked Sendable {
        override func encode(to encoder: any Encoder) throws {
            try super.encode(to: encoder)
            var c = encoder.container(keyedBy: K.self)
            try c.encode("more", forKey: .extra)
        }
    }
    struct Everything: Encodable {
        let name = "Alice"
        let id: Int64 = Int64.min
        let big: UInt64 = UInt64.max
        let ok = true
        let none: String? = nil
        let inner = Inner(x: 2, y: [1.5, nil, -0.0, 1e-7])
        let shapes: [Shape] = [.circle(radius: 2), .square(3)]
        let empty: [Int] = []
        let nested: [[String]] = [[], ["a"], ["b", "c"]]
        let derived = Derived()
        let when = Date(timeIntervalSince1970: 1_705_320_000.123456)
        let uuid = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
        let price = Decimal(string: "19.99")!
        let raw: JSONValue = .object([("z", 1), ("a", .array([.null, .bool(false)]))])
    }

    @Test func codableValuesKeepTheirOrderAndForms() throws {
        let json = try JSONEncoding.encode(Everything())
        #expect(json == #"{"name":"Alice","id":-9223372036854775808,"big":18446744073709551615,"ok":true,"inner":{"x":2,"y":[1.5,null,-0.0,1e-07]},"shapes":[{"circle":{"radius":2.0}},{"square":{"_0":3}}],"empty":[],"nested":[[],["a"],["b","c"]],"derived":{"base":1,"extra":"more"},"when":"2024-01-15T12:00:00.123456+00:00","uuid":"e621e1f8-c36c-495a-93fc-0c247a3e6e5f","price":19.99,"raw":{"z":1,"a":[null,false]}}"#)
        // Foundation's encoder agrees on everything it writes the same way.
        struct Plain: Encodable { let inner = Inner(x: 2, y: [1.5, nil]); let shapes: [Shape] = [.circle(radius: 2), .square(3)]; let nested = [["a"], []] }
        let ours = try JSONSerialization.jsonObject(with: Data(try JSONEncoding.encode(Plain()).utf8)) as? NSDictionary
        let foundation = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(Plain())) as? NSDictionary
        #expect(ours == foundation)
        struct Nothing: Encodable { func encode(to encoder: any Encoder) throws {} }
        #expect(try JSONEncoding.encode(Nothing()) == "{}")
        struct Bad: Encodable { let list = [1.0, .nan] }
        let error = #expect(throws: JSONWriter.NonFiniteNumber.self) { _ = try JSONEncoding.encode(Bad()) }
        #expect(error?.codingPath == "list.1", "\(String(describing: error))")
    }

    /// Pretty as Python's `json.dumps(indent=2)` (orjson's OPT_INDENT_2 writes the same), sorted as
    /// `sort_keys=True`, camelCase as the chapter's `to_camel_case`.
    @Test func optionsMatchWhatPythonWrites() throws {
        let value: JSONValue = .object([
            ("message", "pretty"), ("user_id", 1), ("nested", .object([("data", .array([1, 2, 3])), ("empty_list", .array([])), ("empty", .object([]))])),
            ("a__b", .bool(true)), ("created_at", "x"), ("is_active", .null), ("hTTP_sERVER", 2),
        ])
        let compact = value.text
        let program = """
            import sys, json
            v = json.loads(sys.stdin.read())
            def camel(s):
                c = s.split("_")
                return c[0] + "".join(x.title() for x in c[1:])
            def keys(o):
                if isinstance(o, dict): return {camel(k): keys(x) for k, x in o.items()}
                if isinstance(o, list): return [keys(x) for x in o]
                return o
            print(json.dumps(v, indent=2, ensure_ascii=False))
            print(json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
            print(json.dumps(keys(v), separators=(",", ":"), ensure_ascii=False))
            """
        let python = try Self.python(program, input: compact)
        let pretty = try Self.text({ try $0.value(value) }, options: JSONOptions(pretty: true))
        let sorted = try Self.text({ try $0.value(value) }, options: JSONOptions(sortedKeys: true))
        let camel = try Self.text({ try $0.value(value) }, options: JSONOptions(keys: .camelCase))
        #expect(python == pretty + "\n" + sorted + "\n" + camel + "\n")
        // The Codable path writes the same as the tree.
        #expect(String(decoding: try JSONEncoding.encode(value, options: JSONOptions(pretty: true)), as: UTF8.self) == pretty)
        #expect(String(decoding: try JSONEncoding.encode(value, options: JSONOptions(sortedKeys: true)), as: UTF8.self) == sorted)
    }

    /// Codable lets a value write to a nested container after its parent moved on; written as
    /// it arrives, that value would land in the wrong place (or, through a stale key stack,
    /// trap): it is an error instead, and nothing is served.
    @Test func writingToAContainerAfterALaterSiblingIsAnError() {
        enum K: String, CodingKey { case list, at }
        struct OutOfOrder: Encodable {
            let generic: Bool
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                var list = c.nestedUnkeyedContainer(forKey: .list)
                if generic {
                    try c.encode(Date(timeIntervalSince1970: 0), forKey: .at)
                    try list.encode(Date(timeIntervalSince1970: 1))
                } else {
                    try c.encode("s", forKey: .at)
                    try list.encode("x")
                }
            }
        }
        struct NestedAfter: Encodable {
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                var list = c.nestedUnkeyedContainer(forKey: .list)
                try c.encode(1, forKey: .at)
                _ = list.nestedContainer(keyedBy: K.self)
            }
        }
        for value in [OutOfOrder(generic: false), OutOfOrder(generic: true)] {
            #expect(throws: EncodingError.self) { _ = try JSONEncoding.encode(value) }
        }
        #expect(throws: EncodingError.self) { _ = try JSONEncoding.encode(NestedAfter()) }
    }

    @Test func deepNestingAndLargeIntegersRoundTrip() throws {
        var deep: JSONValue = .int(1)
        for _ in 0..<400 { deep = .array([deep]) }
        let text = deep.text
        #expect(text.hasPrefix(String(repeating: "[", count: 400) + "1"))
        #expect(try JSONValue.parse(Array(text.utf8)) == deep)
        let numbers: JSONValue = .array([.int(9_007_199_254_740_993), .int(Int64.max), .int(Int64.min), .double(5e-324), .double(1e-7)])
        #expect(try Self.python("import sys, json\nprint(json.dumps(json.loads(sys.stdin.read()), separators=(',', ':')))", input: numbers.text) == numbers.text + "\n")
    }

    @Test func datesAreISO8601AsPythonWritesThem() throws {
        var stamps: [Double] = [0, 1_705_320_000, 1_705_320_000.123456, -1, -86_400.5, 951_782_400, 4_102_444_800, -2_208_988_800.25]
        var state: UInt64 = 42
        for _ in 0..<200 {
            state = state &* 6_364_136_223_846_793_005 &+ 1
            stamps.append(Double(Int64(truncatingIfNeeded: state >> 30) % 4_000_000_000) + Double(state % 1_000_000) / 1_000_000)
        }
        let ours = try stamps.map { try ISO8601.format(Date(timeIntervalSince1970: $0)) }
        let theirs = try Self.python(
            "import sys\nfrom datetime import datetime, timezone, timedelta\nfor s in sys.stdin.read().split():\n    print((datetime(1970,1,1,tzinfo=timezone.utc) + timedelta(microseconds=round(float(s)*1e6))).isoformat())",
            input: stamps.map { String($0) }.joined(separator: "\n")
        ).split(separator: "\n").map(String.init)
        #expect(ours == theirs)
        #expect(try ISO8601.format(Date(timeIntervalSince1970: 0), offset: false) == "1970-01-01T00:00:00")
        #expect(try ISO8601.format(Date(timeIntervalSince1970: -62_135_596_800)) == "0001-01-01T00:00:00+00:00")
        // What a client can send a plugin that decodes dates: never a crash, an error.
        for seconds in [Double.nan, .infinity, 1e300, -1e19, -62_135_596_801, 253_402_300_800] {
            #expect(throws: ISO8601.OutOfRange.self) { _ = try ISO8601.format(Date(timeIntervalSince1970: seconds)) }
            struct Stamped: Encodable { let at: Date }
            #expect(throws: (any Error).self) { _ = try JSONEncoding.encode(Stamped(at: Date(timeIntervalSince1970: seconds))) }
        }
        struct Price: Encodable { let value = Decimal.nan }
        #expect(throws: JSONWriter.NonFiniteNumber.self) { _ = try JSONEncoding.encode(Price()) }
    }

    /// A model both `Encodable` and `JSONWritable`: the two paths must write the same bytes.
    struct Model: Encodable, JSONWritable {
        struct Inner: Encodable, JSONWritable {
            let user_id: Int
            let tags: [String]
            func write(to w: inout JSONWriter) throws {
                try w.object { w in
                    w.member("user_id", user_id)
                    try w.member("tags", tags)
                }
            }
        }
        let id: Int
        let display_name: String
        let ratio: Double
        let maybe: [String?]
        let at: Date
        let stamp: NaiveUTC
        let uuid: UUID
        let price: Decimal
        let inner: [Inner]
        let flag: Bool
        func write(to w: inout JSONWriter) throws {
            try w.object { w in
                w.member("id", id)
                w.member("display_name", display_name)
                try w.member("ratio", ratio)
                try w.member("maybe", maybe)
                try w.member("at", at)
                try w.member("stamp", stamp)
                try w.member("uuid", uuid)
                try w.member("price", price)
                try w.member("inner", inner)
                try w.member("flag", flag)
            }
        }
    }

    static func viaCodable<T: Encodable>(_ value: T, _ options: JSONOptions) throws -> [UInt8] {
        try JSONEncoding.encode(value, options: options)
    }

    /// Models with strings that need every escape, at lengths around the writer's 8-byte steps
    /// and its buffer's growth, written under each option: the same bytes both ways, and JSON
    /// that Foundation's parser reads back to the same strings.
    @Test func writableAndCodableWriteTheSameBytes() throws {
        var state: UInt64 = 7
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let alphabet: [String] = ["a", "\"", "\\", "\n", "\u{1}", "\u{1f}", "é", "😀", "/", "\u{2028}", "\r\n", "xyz01234"]
        let models = (0..<300).map { i -> Model in
            let name = (0..<Int(next() % 40)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }.joined()
            return Model(
                id: i * (i % 2 == 0 ? 1 : -7919), display_name: name, ratio: Double(i) / 7, maybe: i % 3 == 0 ? [nil] : [name, nil],
                at: Date(timeIntervalSince1970: 1_705_320_000.5 + Double(i)), stamp: NaiveUTC(Date(timeIntervalSince1970: Double(i))),
                uuid: UUID(), price: Decimal(i) / 100, inner: (0..<(i % 4)).map { Model.Inner(user_id: $0, tags: [name, "t\($0)"]) },
                flag: i % 2 == 0)
        }
        let options: [JSONOptions] = [
            .compact, JSONOptions(pretty: true), JSONOptions(keys: .camelCase), JSONOptions(sortedKeys: true),
            JSONOptions(pretty: true, keys: .camelCase, sortedKeys: true),
        ]
        for option in options {
            let fast = try JSONEncoding.encode(models, options: option)
            let slow = try Self.viaCodable(models, option)
            let differ = zip(fast, slow).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(fast.count, slow.count)
            #expect(fast.count == slow.count && differ == fast.count, "options \(option): from byte \(differ), \(String(decoding: fast.dropFirst(differ).prefix(80), as: UTF8.self)) against \(String(decoding: slow.dropFirst(differ).prefix(80), as: UTF8.self))")
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(fast)) as? [[String: Any]])
            let nameKey = option.keys == .camelCase ? "displayName" : "display_name"
            #expect(parsed.map { $0[nameKey] as? String } == models.map { $0.display_name })
        }
        // An empty model list, nil, and errors from inside an element.
        #expect(try JSONEncoding.encode([Model](), options: .compact) == Array("[]".utf8))
        #expect(try JSONEncoding.encode(String?.none, options: .compact) == Array("null".utf8))
        #expect(throws: JSONWriter.NonFiniteNumber.self) { _ = try JSONEncoding.encode([1.0, .nan], options: .compact) }
        // The text form takes the fast path too.
        let text: String = try JSONEncoding.encode(models[1])
        #expect(Array(text.utf8) == (try JSONEncoding.encode(models[1], options: .compact)))
    }

    /// A conformance that writes no value, two, an unclosed container or an end without its
    /// begin is an error (a 500 for the route), never broken JSON on the wire, and never a trap.
    @Test func malformedConformancesThrow() {
        struct Writes: JSONWritable {
            let body: (inout JSONWriter) -> Void
            func write(to w: inout JSONWriter) { body(&w) }
        }
        let broken: [Writes] = [
            Writes { _ in },
            Writes { $0.int(1); $0.int(2) },
            Writes { $0.beginObject(); $0.key("a"); $0.int(1) },
            Writes { $0.beginArray(); $0.endArray(); $0.endArray() },
            Writes { $0.beginObject(); $0.key("a") },
        ]
        for (i, value) in broken.enumerated() {
            for options in [JSONOptions.compact, JSONOptions(pretty: true), JSONOptions(sortedKeys: true)] {
                #expect(throws: JSONEncoding.MalformedDocument.self, "case \(i), \(options)") {
                    _ = try JSONEncoding.encode(value, options: options)
                }
            }
        }
        #expect(throws: JSONEncoding.MalformedDocument.self) { _ = try Response.json(broken[0]) }
    }
}
