import Foundation
import Testing

/// The whole response in one call (`response_send_fields`, ABI 1.8) and the host's conditional GET
/// (RFC 9110 §13.2.2) on a plugin's 200, from the `fields` C fixture, which reads no conditional
/// field itself.
@Suite struct ConditionalReadTests {
    static let lastModified = "Mon, 15 Jan 2024 12:00:00 GMT"
    static let earlier = "Mon, 15 Jan 2024 11:59:59 GMT"
    static let later = "Mon, 15 Jan 2024 12:00:01 GMT"

    static func server(_ fixture: String = "fields") throws -> ServerProcess {
        try ServerProcess(pluginDirectories: [Fixtures.pluginDirectory(fixture, files: [Fixtures.built[fixture]!])])
    }

    /// The plugin's fields as they arrived, in order, without the ones the host adds.
    static func pluginFields(_ response: RawResponse) -> [String] {
        let host: Set = ["content-length", "vary", "date", "server", "connection"]
        return response.headers.map { $0.0.lowercased() }.filter { !host.contains($0) }
    }

    @Test(arguments: ["send", "fields", "mixed", "wide"])
    func aTaggedTwoHundredIsAnsweredConditionally(via: String) throws {
        let server = try Self.server()
        defer { server.stop() }
        let path = "/fields/tagged?via=\(via)"
        let plain = try server.get(path)
        #expect(plain.status == 200 && plain.text == "tagged")
        #expect(
            Self.pluginFields(plain) == ["content-type", "etag", "last-modified", "cache-control", "content-language", "content-location"],
            "\(plain.headers)")
        #expect(plain.header("etag") == "\"v1\"" && plain.header("content-type") == "text/plain; charset=utf-8")

        // 304: weak comparison for If-None-Match; the 200's fields but those describing content.
        for condition in [[("If-None-Match", "\"v1\"")], [("If-None-Match", "W/\"v1\"")], [("If-None-Match", "\"v0\", \"v1\"")],
            [("If-None-Match", "*")], [("If-None-Match", "v1")], [("If-Modified-Since", Self.lastModified)], [("If-Modified-Since", Self.later)],
            [("If-Match", "\"v1\""), ("If-None-Match", "\"v1\"")]]
        {
            let cached = try server.get(path, headers: condition)
            #expect(cached.status == 304 && cached.body.isEmpty, "\(condition): \(cached.status)")
            #expect(
                Self.pluginFields(cached) == ["etag", "last-modified", "cache-control", "content-location"], "\(condition): \(cached.headers)")
        }
        let head = try server.get(path, method: "HEAD", headers: [("If-None-Match", "\"v1\"")])
        #expect(head.status == 304 && head.body.isEmpty && head.header("content-length") == nil)

        // 200 as before: another tag, an older copy, a date that does not parse, If-None-Match
        // deciding over If-Modified-Since (§13.2.2 step 4 only without it).
        for condition in [[("If-None-Match", "\"v2\"")], [("If-Modified-Since", Self.earlier)],
            [("If-Modified-Since", "yesterday")], [("If-None-Match", "\"v2\""), ("If-Modified-Since", Self.later)],
            [("If-Match", "\"v1\"")], [("If-Match", "*")], [("If-Unmodified-Since", Self.lastModified)]]
        {
            let full = try server.get(path, headers: condition)
            #expect(full.status == 200 && full.text == "tagged", "\(condition): \(full.status)")
        }

        // 412: If-Match compares strongly; If-Unmodified-Since before the last change.
        for condition in [[("If-Match", "\"v2\"")], [("If-Match", "W/\"v1\"")], [("If-Unmodified-Since", Self.earlier)],
            [("If-Match", "\"v2\""), ("If-None-Match", "\"v1\"")]]
        {
            let failed = try server.get(path, headers: condition)
            #expect(failed.status == 412 && failed.text == #"{"detail":"Precondition Failed"}"#, "\(condition): \(failed.status)")
            // The 200's fields but its content's, as a 304 keeps them, and the JSON body's type.
            #expect(
                Self.pluginFields(failed) == ["etag", "last-modified", "cache-control", "content-location", "content-type"]
                    && failed.header("content-type") == "application/json", "\(condition): \(failed.headers)")
        }
    }

    @Test func onlyAGetOrHeadAnsweredTwoHundredIsEvaluated() throws {
        let server = try Self.server()
        defer { server.stop() }
        // (An If-Match naming a tag would be the route's 412 before its handler: it keeps no validators.)
        let post = try server.get("/fields/tagged", method: "POST", headers: [("If-None-Match", "\"v1\""), ("If-Modified-Since", Self.later)])
        #expect(post.status == 200 && post.text == "tagged", "a POST is the plugin's to evaluate: \(post.status)")
        let created = try server.get("/fields/created", headers: [("If-None-Match", "\"v1\"")])
        #expect(created.status == 201 && created.text == "tagged")
        // The plugin's own 304 stands as it made it.
        for headers in [[], [("If-None-Match", "\"v1\"")], [("If-Match", "\"v2\"")]] {
            let own = try server.get("/fields/own", headers: headers)
            #expect(own.status == 304 && own.header("x-own") == "1" && own.header("etag") == "\"v1\"", "\(headers)")
        }
    }

    @Test func aRefusedCallAddsNothingAndLeavesTheRequestUnanswered() throws {
        let server = try Self.server()
        defer { server.stop() }
        let misuse = try server.get("/fields/misuse")
        // A bad name, a CR LF in a value, NULL fields, 1025 fields, a size below sb_field's,
        // sizes that differ, a NUL in a value, status 99, a count of (size_t)-1: each
        // SB_ERR_INVALID_ARGUMENT.
        #expect(misuse.status == 200 && misuse.text == "-1 -1 -1 -1 -1 -1 -1 -1 -1", "\(misuse.text)")
        #expect(misuse.header("x-ok") == "yes" && misuse.header("content-type") == "text/plain")
        #expect(misuse.header("x-leak") == nil && misuse.header("x-value") == nil && misuse.header("x-injected") == nil, "\(misuse.headers)")
        // A second response call, after the first was accepted: SB_ERR_STATE.
        #expect(try server.get("/fields/late").text == "-7")
    }

    @Test func whatTheHostLeavesAlone() throws {
        // A plugin built for ABI 1.7 was promised its 200 as it sent it.
        let legacy = try Self.server("fields_legacy")
        defer { legacy.stop() }
        for condition in [("If-None-Match", "\"v1\""), ("If-Match", "\"v2\"")] {
            let full = try legacy.get("/fields/tagged?via=send", headers: [condition])
            #expect(full.status == 200 && full.text == "tagged", "\(condition): \(full.status)")
        }
        let server = try Self.server()
        defer { server.stop() }
        // A route that evaluates its own preconditions, and a 200 with two tags (malformed).
        for path in ["/fields/own-rules", "/fields/two-tags"] {
            let full = try server.get(path, headers: [("If-None-Match", "\"v1\"")])
            #expect(full.status == 200 && full.text == "tagged", "\(path): \(full.status)")
        }
    }

    @Test func aNegotiatedResponseVariesOnceByAcceptWhateverItBecomes() throws {
        let server = try Self.server()
        defer { server.stop() }
        // The plugin's own Vary (sent in the one call) gains nothing: it names Accept already.
        for (condition, status) in [(nil, 200), (("If-None-Match", "\"v1\""), 304), (("If-Match", "\"v2\""), 412)] {
            let response = try server.get("/fields/negotiated", headers: condition.map { [$0] } ?? [])
            let vary = response.headers.filter { $0.0.lowercased() == "vary" }.map(\.1)
            let named = vary.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            #expect(
                response.status == status && vary.count == 1 && named.filter { $0 == "accept" }.count == 1,
                "\(String(describing: condition)): \(response.status) \(vary)")
        }
    }
}
