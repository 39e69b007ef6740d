import Foundation
import Testing

/// The status plugin (issue #6) over the wire: every status code of the chapter's section 8.1,
/// FastAPI's 422 bodies (captured from the chapter's app), conditional requests as RFC 9110 has
/// them, and items that outlive hot swaps and restarts.
@Suite struct StatusTests {
    static func server(state: String = TestPaths.temporaryDirectory("status-state"), plugins: String? = nil, reportDelay: Int = 100) throws -> ServerProcess {
        try ServerProcess(
            pluginDirectories: [plugins ?? Fixtures.pluginDirectory("status", files: [TestPaths.plugin("Status")])],
            environment: ["SWITCHBOARD_STATE_DIRECTORY": state, "SWITCHBOARD_PLUGINS_CONFIG_STATUS_REPORT_DELAY_MS": String(reportDelay)])
    }

    static let json = [("Content-Type", "application/json")]

    @Test func itemsCRUD() throws {
        let server = try Self.server()
        defer { server.stop() }
        let list = try server.get("/items")
        #expect(list.status == 200)
        #expect(list.text == #"{"items":[{"id":1,"name":"Laptop","price":999.99},{"id":2,"name":"Mouse","price":29.99}],"count":2,"total":2}"#)

        let created = try server.get("/items", method: "POST", headers: Self.json, body: Array(#"{"name":"Pen","price":"1.5","id":99}"#.utf8))
        #expect(created.status == 201)
        #expect(created.header("location") == "/items/3")
        #expect(created.text == #"{"id":3,"name":"Pen","price":1.5}"#)
        #expect(try server.get("/items/3").text == created.text)
        #expect(try server.get("/items?skip=1&limit=1").text == #"{"items":[{"id":2,"name":"Mouse","price":29.99}],"count":1,"total":3}"#)
        #expect(try server.get("/items?limit=0").text == #"{"items":[],"count":0,"total":3}"#)
        #expect(try server.get("/items?skip=10").text == #"{"items":[],"count":0,"total":3}"#)

        let replaced = try server.get("/items/3", method: "PUT", headers: Self.json, body: Array(#"{"name":"Quill","price":2}"#.utf8))
        #expect(replaced.status == 200 && replaced.text == #"{"id":3,"name":"Quill","price":2.0}"#)
        let patched = try server.get("/items/3", method: "PATCH", headers: Self.json, body: Array(#"{"price":2.5,"id":7,"colour":"red"}"#.utf8))
        #expect(patched.status == 200 && patched.text == #"{"id":3,"name":"Quill","price":2.5}"#)

        #expect(try server.get("/items/3", method: "DELETE").status == 204)
        #expect(try server.get("/items/3", method: "DELETE").text == #"{"detail":"Item 3 not found"}"#)
        for (method, body) in [("GET", ""), ("PUT", #"{"name":"a","price":1}"#), ("PATCH", #"{"price":1}"#), ("DELETE", "")] {
            let missing = try server.get("/items/3", method: method, headers: Self.json, body: Array(body.utf8))
            #expect(missing.status == 404 && missing.text == #"{"detail":"Item 3 not found"}"#, "\(method)")
        }
        // Ids are never reused, even after a delete.
        #expect(try server.get("/items", method: "POST", headers: Self.json, body: Array(#"{"name":"Ink","price":1}"#.utf8)).header("location") == "/items/4")
    }

    /// Bodies as the chapter's FastAPI app (pydantic 2) answers them, byte for byte.
    @Test func invalidBodiesAre422InFastAPIsShape() throws {
        let server = try Self.server()
        defer { server.stop() }
        let cases: [(String, String, [(String, String)], String, String)] = [
            ("POST", "/items", Self.json, #"{"name":"Pen","price":"abc"}"#,
             #"{"detail":[{"type":"float_parsing","loc":["body","price"],"msg":"Input should be a valid number, unable to parse string as a number","input":"abc"}]}"#),
            ("POST", "/items", Self.json, #"{"name":5,"price":true}"#,
             #"{"detail":[{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":5}]}"#),
            ("POST", "/items", Self.json, #"{"price":[1]}"#,
             #"{"detail":[{"type":"missing","loc":["body","name"],"msg":"Field required","input":{"price":[1]}},{"type":"float_type","loc":["body","price"],"msg":"Input should be a valid number","input":[1]}]}"#),
            ("POST", "/items", Self.json, #"{"name":null,"price":null}"#,
             #"{"detail":[{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":null},{"type":"float_type","loc":["body","price"],"msg":"Input should be a valid number","input":null}]}"#),
            ("POST", "/items", Self.json, #"{"name":"x","#,
             #"{"detail":[{"type":"json_invalid","loc":["body",12],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting property name enclosed in double quotes"}}]}"#),
            ("POST", "/items", Self.json, "[1]",
             #"{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":[1]}]}"#),
            ("POST", "/items", [], "", #"{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}"#),
            ("POST", "/items", [("Content-Type", "text/plain")], #"{"name":"a","price":1}"#,
             #"{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":"{\"name\":\"a\",\"price\":1}"}]}"#),
            ("PATCH", "/items/2", Self.json, "[1]",
             #"{"detail":[{"type":"dict_type","loc":["body"],"msg":"Input should be a valid dictionary","input":[1]}]}"#),
            ("POST", "/users", Self.json, #"{"id":1.5,"username":"ann"}"#,
             #"{"detail":[{"type":"int_from_float","loc":["body","id"],"msg":"Input should be a valid integer, got a number with a fractional part","input":1.5}]}"#),
            ("GET", "/items/0", [], "",
             #"{"detail":[{"type":"greater_than_equal","loc":["path","item_id"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}"#),
            ("DELETE", "/items/abc", [], "",
             #"{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#),
            // Not FastAPI's answer (pydantic stores infinity, which JSON then writes as null).
            ("POST", "/items", Self.json, #"{"name":"Pen","price":1e400}"#,
             #"{"detail":[{"type":"finite_number","loc":["body","price"],"msg":"Input should be a finite number","input":null}]}"#),
        ]
        for (method, path, headers, body, expected) in cases {
            let response = try server.get(path, method: method, headers: headers, body: Array(body.utf8))
            #expect(response.status == 422, "\(method) \(path) \(body)")
            #expect(response.header("content-type") == "application/json")
            #expect(response.text == expected, "\(method) \(path) \(body)")
        }
        #expect(try server.get("/items?skip=-1").status == 422)
        #expect(try server.get("/items?limit=-1").status == 422)
        #expect(try server.get("/items").text.hasSuffix(#""total":2}"#), "a refused body stored something")
    }

    /// The chapter stores {"price":"abc"} and then answers 500 for that item forever.
    @Test func aBadPatchStoresNothing() throws {
        let server = try Self.server()
        defer { server.stop() }
        let before = try server.get("/items/2")
        let bad = try server.get("/items/2", method: "PATCH", headers: Self.json, body: Array(#"{"price":"abc","name":"Rat"}"#.utf8))
        #expect(bad.status == 422)
        let after = try server.get("/items/2")
        #expect(after.status == 200 && after.text == before.text && after.header("etag") == before.header("etag"))
        let good = try server.get("/items/2", method: "PATCH", headers: Self.json, body: Array(#"{"price":"12"}"#.utf8))
        #expect(good.text == #"{"id":2,"name":"Mouse","price":12.0}"#)
    }

    @Test func itemETagsAnd304And412() throws {
        let server = try Self.server()
        defer { server.stop() }
        let item = try server.get("/items/1")
        let etag = try #require(item.header("etag"))
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count == 18)
        for condition in [etag, "W/\(etag)", "\"other\", \(etag)", "*"] {
            let cached = try server.get("/items/1", headers: [("If-None-Match", condition)])
            #expect(cached.status == 304, "\(condition)")
            #expect(cached.body.isEmpty && cached.header("etag") == etag && cached.header("content-length") == nil, "\(condition)")
        }
        #expect(try server.get("/items/1", headers: [("If-None-Match", "\"other\"")]).status == 200)
        let head = try server.get("/items/1", method: "HEAD", headers: [("If-None-Match", etag)])
        #expect(head.status == 304)
        // The plugin reads no conditional field: the host evaluates them on its 200 (ABI 1.8).
        let wrongTag = try server.get("/items/1", headers: [("If-Match", "\"other\"")])
        #expect(wrongTag.status == 412 && wrongTag.text == #"{"detail":"Precondition Failed"}"#)
        #expect(try server.get("/items/1", headers: [("If-Match", etag)]).status == 200)

        let body = Array(#"{"name":"Laptop Pro","price":1299}"#.utf8)
        let stale = try server.get("/items/1", method: "PUT", headers: Self.json + [("If-Match", "\"stale\"")], body: body)
        #expect(stale.status == 412 && stale.text == #"{"error":"Resource has been modified"}"#)
        #expect(try server.get("/items/1").text == item.text, "a failed precondition changed the item")
        #expect(try server.get("/items/1", method: "PUT", headers: Self.json + [("If-Match", "W/\(etag)")], body: body).status == 412, "If-Match compares strongly")
        let fresh = try server.get("/items/1", method: "PUT", headers: Self.json + [("If-Match", etag)], body: body)
        #expect(fresh.status == 200 && fresh.text == #"{"id":1,"name":"Laptop Pro","price":1299.0}"#)
        #expect(fresh.header("etag") != etag)
        // The old tag no longer matches: a second writer with it loses.
        #expect(try server.get("/items/1", method: "PATCH", headers: Self.json + [("If-Match", etag)], body: Array(#"{"price":1}"#.utf8)).status == 412)
        #expect(try server.get("/items/1", headers: [("If-None-Match", etag)]).status == 200)
    }

    @Test func conditionalGetAndPut() throws {
        let server = try Self.server()
        defer { server.stop() }
        let original = try server.get("/conditional")
        #expect(original.status == 200)
        #expect(original.text == #"{"id":1,"content":"Hello, World!","etag":"abc123","last_modified":"Mon, 15 Jan 2024 12:00:00 GMT"}"#)
        #expect(original.header("etag") == "\"abc123\"")
        #expect(original.header("last-modified") == "Mon, 15 Jan 2024 12:00:00 GMT")

        let notModified: [[(String, String)]] = [
            [("If-None-Match", "\"abc123\"")], [("If-None-Match", "W/\"abc123\"")], [("If-None-Match", "\"x\", \"abc123\"")],
            [("If-None-Match", "*")], [("If-None-Match", "abc123")],  // as a reader of the chapter sends it
            [("If-Modified-Since", "Mon, 15 Jan 2024 12:00:00 GMT")], [("If-Modified-Since", "Tue, 16 Jan 2024 00:00:00 GMT")],
            [("If-Modified-Since", "Monday, 15-Jan-24 12:00:00 GMT")], [("If-Modified-Since", "Mon Jan 15 12:00:00 2024")],
        ]
        for headers in notModified {
            let response = try server.get("/conditional", headers: headers)
            #expect(response.status == 304, "\(headers)")
            #expect(response.body.isEmpty && response.header("etag") == "\"abc123\"" && response.header("last-modified") != nil, "\(headers)")
        }
        let modified: [[(String, String)]] = [
            [("If-None-Match", "\"other\"")], [("If-Modified-Since", "Mon, 15 Jan 2024 11:59:59 GMT")],
            [("If-Modified-Since", "yesterday")],  // not a date: ignored
            // If-None-Match decides when both are sent (RFC 9110 §13.2.2).
            [("If-None-Match", "\"other\""), ("If-Modified-Since", "Mon, 15 Jan 2024 12:00:00 GMT")],
        ]
        for headers in modified {
            #expect(try server.get("/conditional", headers: headers).status == 200, "\(headers)")
        }

        let refused = try server.get("/conditional?content=new", method: "PUT", headers: [("If-Match", "\"nope\"")])
        #expect(refused.status == 412 && refused.text == #"{"error":"Resource has been modified"}"#)
        let unmodifiedSince = try server.get("/conditional?content=new", method: "PUT", headers: [("If-Unmodified-Since", "Sun, 14 Jan 2024 00:00:00 GMT")])
        #expect(unmodifiedSince.status == 412)
        #expect(try server.get("/conditional").text == original.text, "a refused PUT changed the resource")
        #expect(try server.get("/conditional", method: "PUT").status == 422, "content is required")

        let put = try server.get("/conditional?content=hi", method: "PUT", headers: [("If-Match", "\"abc123\"")])
        #expect(put.status == 200)
        #expect(put.header("etag") == "\"49f68a5c8493ec2c0bf489821c21fc3b\"", "the chapter's tag: md5 of the content")
        #expect(put.text.hasPrefix(#"{"id":1,"content":"hi","etag":"49f68a5c8493ec2c0bf489821c21fc3b","last_modified":""#))
        let moved = try #require(put.header("last-modified"))
        #expect(moved != "Mon, 15 Jan 2024 12:00:00 GMT", "a PUT moves Last-Modified")
        #expect(try server.get("/conditional", headers: [("If-None-Match", "\"abc123\"")]).status == 200)
        #expect(try server.get("/conditional", headers: [("If-Modified-Since", "Mon, 15 Jan 2024 12:00:00 GMT")]).status == 200)
        #expect(try server.get("/conditional", headers: [("If-Modified-Since", moved)]).status == 304)
        #expect(try server.get("/conditional?content=again", method: "PUT").status == 200, "no If-Match: unconditional")
    }

    @Test func usersErrorsVariantsAndAcceptedReports() throws {
        let server = try Self.server()
        defer { server.stop() }
        let user = Array(#"{"id":7,"username":"ann"}"#.utf8)
        let created = try server.get("/users", method: "POST", headers: Self.json, body: user)
        #expect(created.status == 201 && created.header("location") == "/users/7" && created.text == #"{"id":7,"username":"ann"}"#)
        let again = try server.get("/users", method: "POST", headers: Self.json, body: Array(#"{"id":"7","username":"bob"}"#.utf8))
        #expect(again.status == 409 && again.text == #"{"error":"User already exists"}"#)
        #expect(try server.get("/users/7").text == #"{"id":7,"username":"ann"}"#)
        #expect(try server.get("/users/8").status == 404)

        let errors: [(String, Int, String)] = [
            ("-3", 400, #"{"code":"INVALID_ID","message":"Item ID must be positive","details":{"provided_id":-3}}"#),
            ("0", 400, #"{"code":"INVALID_ID","message":"Item ID must be positive","details":{"provided_id":0}}"#),
            ("50", 403, #"{"code":"ACCESS_DENIED","message":"You don't have permission to access this item","details":null}"#),
            ("101", 404, #"{"code":"NOT_FOUND","message":"Item 101 does not exist","details":null}"#),
            ("7", 200, #"{"id":7,"name":"Item 7"}"#),
        ]
        for (id, status, body) in errors {
            let response = try server.get("/variants/items-apierror/\(id)")
            #expect(response.status == status && response.text == body, "\(id)")
            #expect(response.header("content-type") == "application/json")
        }
        let empty = try server.get("/variants/items-method3?name=", method: "POST")
        #expect(empty.status == 400 && empty.text == #"{"code":"INVALID_INPUT","message":"Name is required"}"#)
        let method3 = try server.get("/variants/items-method3?name=pen", method: "POST")
        #expect(method3.status == 201 && method3.header("location") == "/items/1" && method3.text == #"{"id":1,"name":"pen"}"#)
        let method1 = try server.get("/variants/items-method1", method: "POST", headers: Self.json, body: Array(#"{"id":3,"name":"x"}"#.utf8))
        #expect(method1.status == 201 && method1.text == #"{"id":3,"name":"x"}"#)
        #expect(try server.get("/status-demo").text.contains(#""304":"Not Modified - Resource unchanged since last request""#))

        let accepted = try server.get("/reports", method: "POST")
        #expect(accepted.status == 202)
        #expect(accepted.header("location") == "/reports/1" && accepted.header("retry-after") == "1")
        #expect(accepted.text == #"{"id":1,"status":"pending","status_url":"/reports/1"}"#)
        var done = ""
        #expect(waitUntil(timeout: 5) {
            done = (try? server.get("/reports/1").text) ?? ""
            return done.contains(#""status":"done""#)
        })
        #expect(done == #"{"id":1,"status":"done","status_url":"/reports/1","result":{"items":2,"total_value":1029.98}}"#)
        #expect(try server.get("/reports/2").status == 404)
    }

    /// A report pending when its generation is replaced: the old generation retires with its
    /// timer outstanding (the host cancels it) and the new one, which resumes the reports left
    /// pending, finishes it. (`PluginKitTests.aRetiredGenerationsServicesRefuse` covers work
    /// that would run after retirement.)
    @Test func aPendingReportOutlivesItsGeneration() throws {
        let plugins = Fixtures.pluginDirectory("status-report-swap", files: [TestPaths.plugin("Status")])
        let server = try Self.server(plugins: plugins, reportDelay: 1500)
        defer { server.stop() }
        #expect(try server.get("/reports", method: "POST").status == 202)
        var bytes = try #require(FileManager.default.contents(atPath: TestPaths.plugin("Status")))
        bytes.append(contentsOf: Array("switchboard-report-swap".utf8))
        FileManager.default.createFile(atPath: plugins + "/.staged", contents: bytes)
        #expect(rename(plugins + "/.staged", plugins + "/libStatus.so") == 0)
        #expect(waitUntil { (try? server.plugin("status"))??["generation"] as? Int == 2 })
        #expect(waitUntil(timeout: 10) { (try? server.get("/reports/1").text)?.contains(#""status":"done""#) == true })
        #expect(server.isRunning)
        #expect(server.stop() == 0)
    }

    /// 200 concurrent creations while the plugin is replaced 20 times: every one answered 201, every
    /// id distinct and readable, all of them still there after a restart, and ids go on from there.
    @Test func itemsSurviveTwentySwapsAndARestart() throws {
        let state = TestPaths.temporaryDirectory("status-swaps")
        let plugins = Fixtures.pluginDirectory("status-swaps", files: [TestPaths.plugin("Status")])
        let server = try Self.server(state: state, plugins: plugins)
        defer { server.stop() }
        let original = try #require(FileManager.default.contents(atPath: TestPaths.plugin("Status")))

        final class Progress: @unchecked Sendable {
            let lock = NSLock()
            var issued = 0
            var swaps = 0
            var created: [Int] = []
            var failures: [String] = []
        }
        let progress = Progress()
        let total = 200
        let swapper = Thread {
            for swap in 1...20 {
                // Each swap lands while creations are in flight: workers run ahead of it by at
                // most 10 requests.
                _ = waitUntil(timeout: 30) { progress.lock.withLock { progress.issued >= swap * 10 - 5 } }
                var bytes = original
                bytes.append(contentsOf: Array("switchboard-swap-\(swap)".utf8))
                FileManager.default.createFile(atPath: plugins + "/.staged", contents: bytes)
                rename(plugins + "/.staged", plugins + "/libStatus.so")
                let serving = waitUntil(timeout: 20) { (try? server.plugin("status"))??["generation"] as? Int == swap + 1 }
                progress.lock.withLock {
                    if !serving { progress.failures.append("swap \(swap) did not serve") }
                    progress.swaps = swap
                }
            }
        }
        swapper.start()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            while true {
                let n: Int? = progress.lock.withLock {
                    guard progress.issued < total else { return nil }
                    guard progress.issued < (progress.swaps + 1) * 10 || progress.swaps == 20 else { return -1 }
                    progress.issued += 1
                    return progress.issued
                }
                guard let n else { return }
                if n < 0 { usleep(1000); continue }
                let body = Array(#"{"name":"item \#(n)","price":\#(n)}"#.utf8)
                do {
                    let response = try server.get("/items", method: "POST", headers: Self.json, body: body)
                    let id = response.header("location").flatMap { Int($0.dropFirst("/items/".count)) }
                    progress.lock.withLock {
                        if response.status == 201, let id { progress.created.append(id) } else { progress.failures.append("\(n): \(response.status) \(response.text)") }
                    }
                } catch {
                    progress.lock.withLock { progress.failures.append("\(n): \(error)") }
                }
            }
        }
        #expect(waitUntil(timeout: 60) { progress.lock.withLock { progress.swaps == 20 } })
        let (created, failures) = progress.lock.withLock { (progress.created, progress.failures) }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(created.count == total && Set(created).count == total, "\(created.count) created, \(Set(created).count) distinct")
        #expect(try server.plugin("status")?["generation"] as? Int == 21)

        func check(_ server: ServerProcess, _ when: String) throws {
            let list = try server.get("/items?limit=1000")
            #expect(list.text.hasSuffix(#""count":\#(total + 2),"total":\#(total + 2)}"#), "\(when): \(list.text.suffix(60))")
            for id in created {
                let item = try server.get("/items/\(id)")
                #expect(item.status == 200 && item.text.hasPrefix(#"{"id":\#(id),"name":"item "#), "\(when): item \(id)")
            }
        }
        try check(server, "after the swaps")
        #expect(server.stop() == 0)

        let restarted = try Self.server(state: state, plugins: plugins)
        defer { restarted.stop() }
        try check(restarted, "after a restart")
        let next = try restarted.get("/items", method: "POST", headers: Self.json, body: Array(#"{"name":"after","price":1}"#.utf8))
        #expect(next.header("location") == "/items/\(created.max()! + 1)")
    }
}
