import Foundation
import Testing

/// The json plugin (issue #14): section 8.2 of the chapter over the wire, each route's status,
/// media type and body as the chapter's FastAPI app gives them (bodies that do not depend on the
/// clock byte for byte, the rest by shape), and exercise 2's stream in flat memory.
@Suite struct JsonTests {
    static func server() throws -> ServerProcess {
        try ServerProcess(pluginDirectories: [Fixtures.pluginDirectory("json", files: [TestPaths.plugin("Json")])])
    }

    static func object(_ response: RawResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any], "\(response.text.prefix(300))")
    }

    /// isoformat() leaves the fraction out when it is zero (one time in a million).
    nonisolated(unsafe) static let naive = #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/#
    nonisolated(unsafe) static let aware = #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/#
    nonisolated(unsafe) static let uuid4 = #/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/#

    @Test func theChaptersBodiesAsFastAPISendsThem() throws {
        let server = try Self.server()
        defer { server.stop() }
        let exact: [(String, String)] = [
            ("/json-response", #"{"message":"Hello from JSONResponse","data":[1,2,3,4,5]}"#),
            ("/json-with-model", #"{"id":1,"name":"Alice","email":"alice@example.com"}"#),
            ("/fast-api", #"{"message":"Fast JSON serialization!"}"#),
            ("/camel-case", #"{"userId":1,"userName":"Alice","createdAt":"2024-01-15T12:00:00","isActive":true}"#),
        ]
        for (path, body) in exact {
            let response = try server.get(path)
            #expect(response.status == 200 && response.header("content-type") == "application/json", "\(path)")
            #expect(response.text == body, "\(path)")
        }
        #expect(try server.get("/json-response").header("x-custom") == "value")

        let orjson = try Self.object(try server.get("/orjson-response"))
        #expect(orjson["message"] as? String == "Hello from ORJSONResponse")
        #expect((orjson["timestamp"] as? String)?.wholeMatch(of: Self.naive) != nil, "\(orjson["timestamp"] ?? "")")
        let items = try #require(orjson["data"] as? [[String: Any]])
        #expect(items.count == 100 && items[99]["id"] as? Int == 99 && items[99]["value"] as? String == "item-99")

        let large = try server.get("/orjson-large-data")
        #expect(large.text.hasPrefix(#"{"users":[{"id":0,"name":"User 0","email":"user0@example.com","created_at":""#))
        #expect(large.text.hasSuffix(#"],"count":1000}"#))
        let users = try #require(try Self.object(large)["users"] as? [[String: Any]])
        #expect(users.count == 1000)
        let uuids = Set(users.compactMap { $0["uuid"] as? String })
        #expect(uuids.count == 1000 && uuids.allSatisfy { $0.wholeMatch(of: Self.uuid4) != nil }, "UUIDv4s, fresh, lower-case")
        #expect(users.allSatisfy { ($0["created_at"] as? String)?.wholeMatch(of: Self.naive) != nil })

        let features = try server.get("/orjson-features")
        let f = try Self.object(features)
        #expect((f["timestamp"] as? String)?.wholeMatch(of: Self.aware) != nil, "\(features.text)")
        #expect((f["uuid"] as? String)?.wholeMatch(of: Self.uuid4) != nil)
        #expect(features.text.contains(#""price":19.99,"#), "Decimal as the number 19.99: \(features.text)")
        #expect(f["data"] as? String == "binary data", "bytes as FastAPI sends them")

        let pretty = try server.get("/pretty")
        let lines = pretty.text.split(separator: "\n").map(String.init)
        #expect(lines.count == 11 && lines[0] == "{" && lines[1] == #"  "message": "This is pretty printed JSON","# && lines[3] == #"    "data": ["#)
        #expect(lines[4] == "      1," && lines[9] == "  }" && lines[10] == "}", "\(pretty.text)")
        #expect(lines[8].contains(#""timestamp": ""#))
    }

    @Test func benchmarksTimeRealWorkInTheChaptersShape() throws {
        let server = try Self.server()
        defer { server.stop() }
        let foundation = try Self.object(try server.get("/benchmark/json"))
        #expect(foundation.keys.sorted() == ["items", "library", "time_ms"])
        #expect(foundation["items"] as? Int == 1000 && (foundation["time_ms"] as? Double ?? 0) > 0)
        let sdk = try server.get("/benchmark/orjson")
        let s = try Self.object(sdk)
        #expect(s["items"] as? Int == 1000 && (s["time_ms"] as? Double ?? 0) > 0)
        let first = try #require(s["data"] as? [[String: Any]])
        #expect(first.count == 5)
        #expect(sdk.text.contains(#"{"id":1,"name":"Item 1","value":1.5,"tags":["tag-0","tag-1","tag-2","tag-3","tag-4","tag-5","tag-6","tag-7","tag-8","tag-9"],"metadata":{"key-0":"value-0","key-1":"value-1","key-2":"value-2","key-3":"value-3","key-4":"value-4"}}"#))
        let compare = try Self.object(try server.get("/exercises/compare?count=200"))
        #expect(compare["items"] as? Int == 200)
        for key in ["foundation_ms", "switchboard_ms", "speedup"] { #expect((compare[key] as? Double ?? 0) > 0, "\(key)") }
        #expect(try server.get("/exercises/compare?count=0").status == 422)
    }

    @Test func theLargeDatasetStreamsInFlatMemory() throws {
        let server = try Self.server()
        defer { server.stop() }
        #expect(try server.get("/exercises/large-dataset?count=0").text == #"{"items":[],"count":0}"#)
        let three = try server.get("/exercises/large-dataset?count=3")
        #expect(three.header("transfer-encoding") == "chunked" && three.header("content-type") == "application/json")
        #expect(try Self.object(three)["count"] as? Int == 3)
        #expect(try server.get("/exercises/large-dataset?count=1000001").status == 422)

        // 200,000 items (about 48 MB) read at the client's pace while the server's memory is
        // sampled: a buffered body would show as tens of megabytes.
        let pid = try server.workerPID()  // the process that serves (the supervisor only supervises)
        let before = residentBytes(pid)
        // Sampled every 10 ms on a thread of its own while the client reads to the end.
        final class Peak: @unchecked Sendable {
            let lock = NSLock()
            var bytes = 0, done = false
        }
        let peak = Peak()
        peak.bytes = before
        let sampler = Thread {
            while true {
                let rss = residentBytes(pid)
                let stop = peak.lock.withLock { () -> Bool in
                    peak.bytes = max(peak.bytes, rss)
                    return peak.done
                }
                if stop { return }
                usleep(10_000)
            }
        }
        sampler.start()
        let client = try StreamClient(port: server.port, path: "/exercises/large-dataset?count=200000")
        _ = client.read(until: "", limit: 60 << 20, toEnd: true)
        peak.lock.withLock { peak.done = true }
        let grown = peak.lock.withLock { peak.bytes } - before
        // The end, as bytes: searching 48 MB as a String costs minutes under the sanitizers.
        let tail = String(decoding: client.received.suffix(600), as: UTF8.self)
        #expect(tail.contains(#"],"count":200000}"#), "\(tail)")
        #expect(tail.contains(#"{"id":199999,"name":"Item 199999","value":299998.5,"#), "\(tail)")
        // (AddressSanitizer keeps freed memory in quarantine: no measure of a leak there.)
        #expect(!residentMemoryIsMeaningful || grown < 24 << 20, "the server grew \(grown >> 20) MiB while streaming 48 MB")
    }
}
