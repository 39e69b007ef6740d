import Foundation
import SwitchboardSDK
import Testing

/// Answers that were wrong (issue #13), each as the kind it stands for: every bundled route, both
/// languages, the SDK and the C path.
@Suite struct WrongAnswerTests {
    /// Every bundled plugin, streaming 100× faster, its files from the streaming fixtures.
    static func server(state: String = TestPaths.temporaryDirectory("wrong-state")) throws -> ServerProcess {
        let dir = Fixtures.pluginDirectory(
            "wrong", files: ["HelloC", "HelloSwift", "Status", "Streaming"].map(TestPaths.plugin))
        return try ServerProcess(
            pluginDirectories: [dir],
            environment: [
                "SWITCHBOARD_STATE_DIRECTORY": state,
                "SWITCHBOARD_PLUGINS_CONFIG_STREAMING_FILES_DIRECTORY": try StreamingTests.fixtures(),
                "SWITCHBOARD_PLUGINS_CONFIG_STREAMING_INTERVAL_SCALE": "0.01",
            ])
    }

    static func json(_ response: RawResponse) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
    }

    @Test func aPathThatDoesNotDecodeIsA400InEveryRouteAndLanguage() throws {
        let server = try Self.server()
        defer { server.stop() }
        for prefix in ["/hello-c/items/", "/hello-swift/items/", "/hello-c/lookup/", "/hello-swift/lookup/", "/items/", "/download/", "/"] {
            for bad in ["%zz", "%", "%F", "%FF", "%C3", "%e2%82", "a%00b", "%C0%AF"] {
                let response = try server.get(prefix + bad)
                #expect(response.status == 400, "\(prefix)\(bad): \(response.status) \(response.text)")
                #expect(response.header("content-type") == "application/json", "\(prefix)\(bad)")
                #expect((Self.json(response)?["detail"] as? String)?.contains("path is not valid") == true, "\(prefix)\(bad)")
            }
        }
        for language in ["c", "swift"] {
            let decoded = try server.get("/hello-\(language)/items/caf%C3%A9%20%2F")
            #expect(decoded.status == 200 && Self.json(decoded)?["item_id"] as? String == "café /", "\(language): \(decoded.text)")
        }
    }

    /// Walks /openapi.json: every operation that changes state, sent with a stale `If-Match`,
    /// answers 412 and changes nothing, whether its handler evaluates preconditions (the status
    /// plugin's items) or the host does for it (every other route).
    @Test func everyStateChangingRouteEvaluatesItsPreconditions() throws {
        let server = try Self.server()
        defer { server.stop() }
        let before = try server.get("/items").text
        let document = try #require(Self.json(try server.get("/openapi.json")))
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var checked: [String] = []
        for (template, operations) in paths {
            for (method, operation) in operations where !["get", "head", "options", "trace"].contains(method) {
                let operation = operation as! [String: Any]
                var path = template
                var query: [String] = []
                for parameter in operation["parameters"] as? [[String: Any]] ?? [] {
                    let name = parameter["name"] as! String
                    let schema = parameter["schema"] as? [String: Any] ?? [:]
                    let value = schema["type"] as? String == "integer" ? "1" : "x"
                    if parameter["in"] as? String == "path" { path = path.replacingOccurrences(of: "{\(name)}", with: value) }
                    if parameter["in"] as? String == "query", parameter["required"] as? Bool == true { query.append("\(name)=\(value)") }
                }
                let target = path + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
                let body = (operation["requestBody"] != nil) ? Array(#"{"id":5,"name":"a","price":1,"username":"u"}"#.utf8) : []
                for condition in [("If-Match", #""stale""#), ("If-Match", "stale, W/\"weak\""), ("If-None-Match", "*")] {
                    let response = try server.get(
                        target, method: method.uppercased(), headers: [condition, ("Content-Type", "application/json")], body: body)
                    #expect(response.status == 412, "\(method.uppercased()) \(target) with \(condition): \(response.status) \(response.text)")
                    #expect(response.header("content-type")?.hasPrefix("application/json") == true, "\(method) \(target)")
                }
                checked.append("\(method.uppercased()) \(template)")
            }
        }
        for expected in ["DELETE /items/{item_id}", "PUT /items/{item_id}", "PATCH /items/{item_id}", "POST /items", "POST /users", "PUT /conditional", "POST /logs/add"] {
            #expect(checked.contains(expected), "\(expected) was not walked: \(checked)")
        }
        #expect(try server.get("/items").text == before, "a refused request changed the items")
        #expect(try server.get("/users/5").status == 404)

        // The right tag, or `*`, goes through, for DELETE as for PUT.
        let item = try server.get("/items/1")
        let etag = try #require(item.header("etag"))
        #expect(try server.get("/items/1", method: "DELETE", headers: [("If-Match", "W/" + etag)]).status == 412, "a weak tag never matches If-Match")
        #expect(try server.get("/items/1", method: "DELETE", headers: [("If-Match", #""other", "# + etag)]).status == 204)
        #expect(try server.get("/items/1").status == 404)
        #expect(try server.get("/items/2", method: "DELETE", headers: [("If-Match", "*")]).status == 204)
        // A missing item is a 404 whatever its preconditions say (RFC 9110 §13.2.1).
        #expect(try server.get("/items/2", method: "DELETE", headers: [("If-Match", #""stale""#)]).status == 404)
        #expect(try server.get("/items", method: "POST", headers: [("If-Match", "*"), ("Content-Type", "application/json")], body: Array(#"{"name":"a","price":1}"#.utf8)).status == 201)
    }

    /// Two If-Match lines are one list (RFC 9110 §5.3), in either order; a plugin built before
    /// ABI 1.4 evaluates its own preconditions, untouched by the host's default.
    @Test func preconditionsReadEveryLineAndLeaveOlderPluginsAlone() throws {
        let dir = Fixtures.pluginDirectory(
            "wrong-lines", files: [TestPaths.plugin("Status"), Fixtures.built["legacy_preconditions"]!])
        let server = try ServerProcess(pluginDirectories: [dir])
        defer { server.stop() }
        for id in [1, 2] {
            let etag = try #require(try server.get("/items/\(id)").header("etag"))
            let lines = id == 1 ? [#""stale""#, etag] : [etag, #""stale""#]
            let deleted = try server.get("/items/\(id)", method: "DELETE", headers: lines.map { ("If-Match", $0) })
            #expect(deleted.status == 204, "If-Match lines \(lines): \(deleted.status) \(deleted.text)")
        }
        let json = ("Content-Type", "application/json")
        #expect(try server.get("/items", method: "POST", headers: [("If-Match", #""a""#), ("If-Match", #""b""#), json], body: Array(#"{"name":"a","price":1}"#.utf8)).status == 412)
        let legacy = try server.get("/legacy/doc", method: "PUT", headers: [("If-Match", #""v1""#)])
        #expect(legacy.status == 200 && legacy.text == #"{"saved":true}"#, "\(legacy.status) \(legacy.text)")
        let stale = try server.get("/legacy/doc", method: "PUT", headers: [("If-Match", #""v0""#)])
        #expect(stale.status == 412 && stale.text.contains("from the plugin"), "\(stale.status) \(stale.text)")
    }

    /// A Last-Event-ID past every id these streams send: 204 for the finite ones, a stream that
    /// goes on (and a server that stays up) for /sse, whose ids would overflow from Int.max.
    @Test func anyLastEventIDIsSafe() throws {
        let server = try Self.server()
        defer { server.stop() }
        for id in ["9223372036854775807", "99999999999999999999", "1099511627776"] {
            #expect(try server.get("/events", headers: [("Last-Event-ID", id)]).status == 204, "\(id)")
            let sse = try StreamClient(port: server.port, path: "/sse", headers: [("Last-Event-ID", id)])
            #expect(sse.read(until: "\n\n"), "/sse after \(id)")
            #expect(sse.text.contains("HTTP/1.1 200"), "/sse after \(id): \(sse.text.prefix(200))")
            sse.close()
        }
        for id in ["abc", "-1", "+3", "0x10", "1e3", ""] {
            let resumed = try StreamClient(port: server.port, path: "/events/named", headers: [("Last-Event-ID", id)])
            #expect(resumed.read(until: "id: 1\n"), "\(id) should start from the first event")
            resumed.close()
        }
        #expect(try server.get("/hello-c").status == 200)
    }

    @Test func eventDataCannotStartAFieldOfItsOwn() {
        let injected = ServerSentEvent(data: "hi\revent: admin\rid: 999\r\nretry: 1\n\ndata: x", event: "log\r\nevent: admin", id: "7\r\n8\0")
        #expect(injected.encoded == "id: 78\nevent: logevent: admin\ndata: hi\ndata: event: admin\ndata: id: 999\ndata: retry: 1\ndata: \ndata: data: x\n\n")
        #expect(ServerSentEvent(data: "").encoded == "data: \n\n")
        #expect(ServerSentEvent(data: "a\r").encoded == "data: a\ndata: \n\n")
    }

    @Test func aLogLineCannotInjectAnEventIntoTheStream() throws {
        let server = try Self.server()
        defer { server.stop() }
        let logs = try StreamClient(port: server.port, path: "/logs/stream")
        defer { logs.close() }
        #expect(logs.read(until: ": connected"))
        for message in ["hi%0Devent:%20admin%0Did:%20999", "two%0D%0Aevent:%20admin", "three%0Aid:%20999"] {
            #expect(try server.get("/logs/add?message=" + message, method: "POST").status == 200)
        }
        #expect(logs.read(until: "three\ndata: id: 999\n\n"))
        // Past the head, every line is a chunk size, a data line, a comment or the blank line
        // that ends an event: no `event:` or `id:` field ever reaches the subscriber.
        let body = logs.text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        // (Split as bytes: CR LF is one Character in Swift, the very mistake this test is about.)
        for bytes in body.utf8.split(whereSeparator: { $0 == 10 || $0 == 13 }) {
            let line = String(decoding: bytes, as: UTF8.self)
            if !(line.hasPrefix("data: ") || line.hasPrefix(":") || line.allSatisfy(\.isHexDigit)) { Issue.record("not a data line: [\(line)]") }
        }
    }

    @Test func aResumedStreamWithNothingLeftIs204() throws {
        let server = try Self.server()
        defer { server.stop() }
        for (path, last) in [("/events", 11), ("/events/named", 5)] {
            for id in [last, last + 1, 1000] {
                let response = try server.get(path, headers: [("Last-Event-ID", String(id))])
                #expect(response.status == 204 && response.body.isEmpty, "\(path) after \(id): \(response.status)")
            }
            let resumed = try StreamClient(port: server.port, path: path, headers: [("Last-Event-ID", String(last - 1))])
            #expect(resumed.read(until: "id: \(last)\n"), "\(path) resumed before its last event")
            resumed.close()
        }
    }

    @Test func theDocumentDeclaresRequestBodiesAndInt64Ranges() throws {
        let server = try Self.server()
        defer { server.stop() }
        let document = try #require(Self.json(try server.get("/openapi.json")))
        let paths = try #require(document["paths"] as? [String: [String: [String: Any]]])
        for (path, method, required) in [
            ("/items", "post", ["name", "price"]), ("/items/{item_id}", "put", ["name", "price"]), ("/items/{item_id}", "patch", []),
            ("/users", "post", ["id", "username"]), ("/variants/items-method1", "post", ["id", "name"]),
        ] {
            let body = paths[path]?[method]?["requestBody"] as? [String: Any]
            let schema = ((body?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
            #expect(schema?["type"] as? String == "object", "\(method) \(path): \(String(describing: body))")
            #expect((schema?["required"] as? [String] ?? []) == required, "\(method) \(path)")
            #expect(body?["required"] as? Bool == true, "\(method) \(path)")
        }
        let lookup = try #require(paths["/hello-c/lookup/{item_id}"]?["get"]?["parameters"] as? [[String: Any]])
        let limit = try #require(lookup.first { $0["name"] as? String == "limit" }?["schema"] as? [String: Any])
        #expect(limit["format"] as? String == "int64")
        let users = try #require(paths["/users/{user_id}"]?["get"]?["parameters"] as? [[String: Any]])
        let userID = try #require(users.first?["schema"] as? [String: Any])
        #expect((userID["minimum"] as? NSNumber)?.int64Value == Int64.min && (userID["maximum"] as? NSNumber)?.int64Value == Int64.max)
        #expect(try server.get("/users/9223372036854775808").status == 422)
    }

    /// Two servers on one state directory (a handover, issue #18): SQLite locks the database, so
    /// each sees what the other wrote and they never hand out the same id.
    @Test func twoServersOnOneStateDirectoryShareIt() async throws {
        let state = TestPaths.temporaryDirectory("shared-state")
        let first = try Self.server(state: state)
        defer { first.stop() }
        let second = try Self.server(state: state)
        defer { second.stop() }
        let json = [("Content-Type", "application/json")]
        let before = try #require(Self.json(try first.get("/items"))?["total"] as? Int)
        let ids = await Blocking.concurrently(40) { i -> Int? in
            let server = i % 2 == 0 ? first : second
            guard let created = try? server.get("/items", method: "POST", headers: json, body: Array(#"{"name":"Pen \#(i)","price":1.5}"#.utf8)),
                created.status == 201
            else { return nil }
            return Self.json(created)?["id"] as? Int
        }
        #expect(ids.allSatisfy { $0 != nil }, "every creation answered 201")
        #expect(Set(ids.compactMap { $0 }).count == 40, "no id handed out twice: \(ids)")
        for server in [first, second] {
            #expect(Self.json(try server.get("/items?limit=100"))?["total"] as? Int == before + 40)
        }
    }
}
