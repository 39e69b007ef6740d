import Foundation
import SwitchboardRouting
import SwitchboardSDK
import SwitchboardTesting
import Testing

/// Proactive negotiation (issue #17): the host's rules as a table (RFC 9110 §12.5.1, and the
/// Accept fields well-known libraries got wrong), the ABI call from C, the SDK's wrapper in the
/// test host, and the negotiation plugin's routes over the wire.
@Suite struct NegotiationTests {
    static let four = ["application/json", "text/html; charset=utf-8", "text/plain; charset=utf-8", "application/xml"]

    /// (Accept, offered, expected index; nil: 406).
    static let table: [(String?, [String], Int?)] = [
        // No Accept, or one that says nothing usable: any type, so the route's first.
        (nil, four, 0), ("", four, 0), ("garbage", four, 0), ("text", four, 0), (",, ,", four, 0),
        ("application/json", four, 0), ("text/html", four, 1), ("text/plain", four, 2), ("application/xml", four, 3),
        // Case-insensitive types, subtypes and parameter names.
        ("TEXT/HTML", four, 1), ("Application/XML", four, 3), ("application/json;Q=0, text/plain", four, 2),
        // Wildcards: the chapter's substring match 406ed these.
        ("*/*", four, 0), ("*/*;q=0.8", four, 0), ("application/*", four, 0), ("text/*", four, 1),
        // q=0 excludes, also on */*; a missing type is not acceptable.
        ("application/json;q=0", four, nil), ("*/*;q=0", four, nil), ("image/png", four, nil),
        ("application/json;q=0, */*", four, 1), ("*/*;q=0, text/plain", four, 2),
        ("text/html;q=0.9, application/json;q=0.1", four, 1),
        // A browser's, and Edge's: HTML, not the application/xml a looser match prefers.
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", four, 1),
        ("text/html, application/xhtml+xml, image/jxr, */*", four, 1),
        ("application/xml,application/xhtml+xml,text/html;q=0.9,text/plain;q=0.8,image/png,*/*;q=0.5", four, 3),
        // The most specific range decides, even with a lower quality.
        ("text/*;q=0.5, text/html", ["text/plain", "text/html"], 1),
        ("text/*;q=0.5, text/html;q=0.1", ["text/html", "text/plain"], 1),
        ("text/html;q=0, text/*", ["text/html", "text/plain"], 1),
        // Equal qualities: the type named more specifically, then the route's order.
        ("text/plain;q=0.5, */*;q=0.5", four, 2), ("application/*, application/xml", four, 3),
        ("application/json;q=0.5, application/xml;q=0.5", ["application/xml", "application/json"], 0),
        ("text/plain, text/html", ["text/html", "text/plain"], 0),
        // Parameters: charset (utf-8 satisfied by a type without one), others exact.
        ("application/json; charset=utf-8", four, 0), ("application/json; charset=\"UTF-8\"", four, 0),
        ("application/json; charset=iso-8859-1", four, nil), ("text/html; charset=utf-8", four, 1),
        ("text/html;charset=ascii, text/plain;q=0.2", four, 2),
        ("application/ld+json;profile=\"http://www.w3.org/ns/json-ld#compacted\"",
         ["application/ld+json; profile=\"http://www.w3.org/ns/json-ld#expanded\"", "application/ld+json;profile=\"http://www.w3.org/ns/json-ld#compacted\""], 1),
        ("application/ld+json", ["application/ld+json;profile=\"http://www.w3.org/ns/json-ld#expanded\"", "application/json"], 0),
        ("application/ld+json;profile=\"http://www.w3.org/ns/json-ld#flattened\", application/json;q=0.5",
         ["application/ld+json;profile=\"http://www.w3.org/ns/json-ld#expanded\"", "application/json"], 1),
        // RFC 9110 §12.5.1's example: text/plain;format=flowed 1, text/plain 0.7, */* 0.5, fixed 0.4, text/html 0.3.
        (rfcExample, ["text/html;level=2", "image/jpeg"], 1), (rfcExample, ["text/plain;format=fixed", "text/html"], 0),
        (rfcExample, ["text/html", "text/plain"], 1), (rfcExample, ["text/plain", "text/plain;format=flowed"], 1),
        // Accept extensions after q are ignored, their quoted commas included.
        ("application/json;q=0.5;ext=\"a,b\", text/html;q=0.4", four, 0),
        ("application/json;q=0.5;ext=\"a,b\";q=1, text/html;q=0.6", four, 1),
        // Malformed elements are ignored; the rest still count.
        ("*/json, text/html", four, 1), ("application/json;q=2, text/html", four, 1),
        ("application/json;q=0.1234, text/plain", four, 2), ("application/json;q=, text/plain", four, 2),
        ("application/json;q=\"0.5\", text/plain", four, 2), ("application/json;=x, text/plain", four, 2),
        ("app lication/json, text/plain", four, 2), ("application/json;q=1.001, text/plain", four, 2),
        ("application/json;q=1.000;, text/plain;q=0.999", four, 0), ("\u{7F}/\u{0}, text/xml, application/xml", four, 3),
        ("text/html;level=\"1, application/json", four, 0),  // unterminated: nothing usable, so the first
        // Java's default header: a quality with a leading point, a lone `*` for */*.
        ("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2", ["application/json"], 0),
        ("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2", four, 1),
        ("application/json;q=.5, text/plain;q=.4", four, 0), ("*", four, 0), ("*;q=0", four, nil),
        ("text/plain;q=., application/xml", four, 3), ("text/plain;q=0., application/xml", four, 3),
        ("text/plain;q=1., application/xml;q=.999", four, 2), ("*/plain", four, 0),
        // Spaces and tabs where the grammar allows them; empty list elements.
        ("  text/plain \t; q=0.5 ,\tapplication/xml ; q = 0.4", four, 2), (", ,text/html,,", four, 1),
    ]
    static let rfcExample = "text/*;q=0.3, text/plain;q=0.7, text/plain;format=flowed, text/plain;format=fixed;q=0.4, */*;q=0.5"

    @Test(arguments: table.indices)
    func theTable(_ row: Int) throws {
        let (accept, offered, expected) = Self.table[row]
        #expect(try ProactiveNegotiation.choose(accept: accept, offered: offered) == expected, "Accept: \(accept ?? "(none)") of \(offered)")
    }

    /// The same table through the real host's function table, from C, over the wire (rows whose
    /// Accept holds control characters cannot be sent).
    @Test func theTableThroughTheHost() throws {
        let server = try ServerProcess(pluginDirectories: [Fixtures.pluginDirectory("negotiate-table", files: [Fixtures.built["negotiate"]!])])
        defer { server.stop() }
        for (accept, offered, expected) in Self.table where !(accept ?? "").unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            let query = offered.map { "o=" + $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }.joined(separator: "&")
            let response = try server.get("/negotiate/table?" + query, headers: accept.map { [("Accept", $0)] } ?? [])
            let got = response.status == 406 ? nil : Int(response.text)
            #expect(got == expected && (response.status == 200 || response.status == 406), "Accept: \(accept ?? "(none)") of \(offered): \(response.status) \(response.text)")
            #expect(response.varies(by: "accept"))
        }
    }

    /// And through the SDK in the test host.
    @Test func theTableThroughTheSDK() async throws {
        let plugin = Plugin(name: "table", version: "1") { app in
            app.get("/table") { req in
                let index: Int = try req.negotiate(req.queryParameters("o"))
                return .text(String(index))
            }
        }
        let host = try TestHost(plugin)
        defer { host.shutdown() }
        for (accept, offered, expected) in Self.table {
            let query = offered.map { "o=" + $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }.joined(separator: "&")
            let response = try await host.get("/table?" + query, headers: accept.map { [("Accept", $0)] } ?? [])
            #expect((response.status == 406 ? nil : Int(response.text)) == expected, "Accept: \(accept ?? "(none)") of \(offered)")
        }
    }

    @Test func aBoundedNumberOfElements() throws {
        // The first 64 elements count; later ones are ignored.
        let within = (0..<63).map { "x/y\($0)" } + ["text/plain"]
        #expect(try ProactiveNegotiation.choose(accept: within.joined(separator: ", "), offered: Self.four) == 2)
        let five = (0..<500).map { "x/y\($0)" } + ["text/plain"]
        #expect(try ProactiveNegotiation.choose(accept: five.joined(separator: ", "), offered: Self.four) == nil)
        // A refusal repeated 500 times is still a refusal.
        let excluded = Array(repeating: "application/json;q=0", count: 500).joined(separator: ",")
        #expect(try ProactiveNegotiation.choose(accept: excluded, offered: ["application/json"]) == nil)
        // The first 8 KiB count: an element past them is ignored, one cut by them too.
        let long = "text/plain;q=0.1, x/y;p=\"" + String(repeating: "a", count: 9000) + "\", application/xml"
        #expect(try ProactiveNegotiation.choose(accept: long, offered: Self.four) == 2)
        let cut = "text/plain;q=0.1, " + String(repeating: "x/y, ", count: 1700) + "application/xml"
        #expect(try ProactiveNegotiation.choose(accept: cut, offered: Self.four) == 2)
        // Parameters are bounded too: an element with 17 is malformed.
        let heavy = "text/plain;" + (0..<17).map { "p\($0)=v" }.joined(separator: ";") + ", application/xml"
        #expect(try ProactiveNegotiation.choose(accept: heavy, offered: Self.four) == 3)
        // A field of 64 KiB of garbage: nothing usable, so the first.
        let junk = String(repeating: "a;b=\"\\\"", count: 8192)
        #expect(try ProactiveNegotiation.choose(accept: junk, offered: Self.four) == 0)
        // Lines joined with LF: an unterminated quoted string ends with its line.
        #expect(try ProactiveNegotiation.choose(accept: "text/html;a=\"x\ntext/plain", offered: Self.four) == 2)
    }

    @Test func offersThePluginGetsWrongAreRefused() throws {
        #expect(throws: ProactiveNegotiation.OfferError.count(0)) { try ProactiveNegotiation.choose(accept: nil, offered: []) }
        #expect(throws: ProactiveNegotiation.OfferError.count(65)) {
            try ProactiveNegotiation.choose(accept: nil, offered: Array(repeating: "text/plain", count: 65))
        }
        for bad in ["text/*", "*/*", "*", "json", "text/html x", "text/html;q", "text/html;q=0.5", "text/html, text/plain", ""] {
            #expect(throws: ProactiveNegotiation.OfferError.malformed(index: 1), "\(bad)") {
                try ProactiveNegotiation.choose(accept: "text/html", offered: ["text/plain", bad])
            }
        }
        // Checked also when the request has no Accept: the mistake shows on every request.
        #expect(throws: ProactiveNegotiation.OfferError.malformed(index: 1)) {
            try ProactiveNegotiation.choose(accept: nil, offered: ["text/plain", "text/*"])
        }
        #expect(try ProactiveNegotiation.choose(accept: "text/html", offered: ["text/html;"]) == 0, "an empty parameter is allowed")
    }

    // MARK: From C, over the wire

    @Test func aCPluginNegotiatesThroughTheABI() throws {
        let server = try ServerProcess(pluginDirectories: [Fixtures.pluginDirectory("negotiate", files: [Fixtures.built["negotiate"]!])])
        defer { server.stop() }
        let html = try server.get("/negotiate/pick", headers: [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")])
        #expect(html.status == 200 && html.text == "1" && html.header("content-type") == "text/html; charset=utf-8")
        #expect(html.varies(by: "accept"), "\(html.headers)")
        let none = try server.get("/negotiate/pick")
        #expect(none.text == "0" && none.varies(by: "accept"))
        // Two Accept lines are one list.
        let lines = try server.get("/negotiate/pick", headers: [("Accept", "application/json;q=0"), ("Accept", "text/plain")])
        #expect(lines.text == "2")
        let refused = try server.get("/negotiate/pick", headers: [("Accept", "application/json;q=0, image/*")])
        #expect(refused.status == 406 && refused.varies(by: "accept"))
        let body = try #require(try JSONSerialization.jsonObject(with: Data(refused.body)) as? [String: Any])
        #expect(body["detail"] as? String == "Acceptable formats: application/json, text/html, text/plain")
        #expect(body["available"] as? [String] == ["application/json", "text/html", "text/plain"])

        // An unterminated quoted string ends with its line.
        let quoted = try server.get("/negotiate/pick", headers: [("Accept", "text/html;a=\"x"), ("Accept", "text/plain")])
        #expect(quoted.text == "2")
        // A handler that fails after negotiating: the host's 500 varies by Accept too.
        let failed = try server.get("/negotiate/fail")
        #expect(failed.status == 500 && failed.varies(by: "accept"))
        // The kit's 406 names the types bare, as the SDK does.
        let spaced = try server.get("/negotiate/spaced", headers: [("Accept", "image/png")])
        #expect(spaced.status == 406 && spaced.text.hasSuffix(#""available":["text/html","text/plain"]}"#), "\(spaced.text)")

        // Misuse is a status, never a crash; after the response call it is SB_ERR_STATE (-7).
        #expect(try server.get("/negotiate/late").status == 200)
        let misuse = try server.get("/negotiate/misuse")
        #expect(misuse.text == "-1 -1 -1 -1 -1 -1 -1 -7 7", "every refusal, and the out-parameter untouched: \(misuse.text)")
        #expect(!misuse.varies(by: "accept"), "no negotiation happened")
    }

    // MARK: The SDK, in the test host

    @Test func theSDKWrapsItAndThe406IsTheKitsBody() async throws {
        let plugin = Plugin(name: "offers", version: "1") { app in
            app.get("/pick") { req in
                let format = try req.negotiate(["application/json": "json", "text/csv": "csv"])
                return .text(format)
            }
            app.get("/vary") { req in
                _ = try req.negotiate(["text/plain"])
                return Response.text("already").header("Vary", "accept")
            }
        }
        let host = try TestHost(plugin)
        defer { host.shutdown() }
        let csv = try await host.get("/pick", headers: [("Accept", "text/csv, application/json;q=0.9")])
        // The test host is the real server: its content coding adds Accept-Encoding (gzip may apply).
        #expect(csv.status == 200 && csv.text == "csv" && csv.header("vary") == "Accept, Accept-Encoding")
        let json = try await host.get("/pick")
        #expect(json.text == "json")
        let refused = try await host.get("/pick", headers: [("Accept", "text/html")])
        #expect(refused.status == 406 && refused.header("vary") == "Accept")
        #expect(refused.text == #"{"detail":"Acceptable formats: application/json, text/csv","available":["application/json","text/csv"]}"#)
        let vary = try await host.get("/vary")
        #expect(vary.headers.filter { $0.name.lowercased() == "vary" }.map { $0.value } == ["accept, Accept-Encoding"], "not named twice")
    }

    // MARK: The negotiation plugin

    static func server() throws -> ServerProcess {
        try ServerProcess(pluginDirectories: [Fixtures.pluginDirectory("negotiation", files: [TestPaths.plugin("Negotiation")])])
    }

    /// Each body through xmllint, a real XML parser.
    static func wellFormed(_ responses: [RawResponse]) async throws {
        guard let xmllint = ExternalTool.xmllint.require(for: "XML well-formedness") else { return }
        for response in responses {
            let file = try MarkupTests.save(response, "negotiated.xml")
            let (status, output) = try await ScaffoldTests.run(xmllint, ["--noout", file], in: TestPaths.repositoryRoot)
            #expect(status == 0, "\(output)")
        }
    }

    @Test func resourceInEachFormat() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let cases: [(String?, String, String)] = [
            (nil, "application/json", #"{"id":7,"name":"Resource 7","description":"This is a sample resource","created_at":"2024-01-15T12:00:00Z"}"#),
            ("text/html", "text/html; charset=utf-8", "<h1>Resource 7</h1>"),
            ("text/plain", "text/plain; charset=utf-8", "Resource ID: 7\nName: Resource 7\nDescription: This is a sample resource\nCreated: 2024-01-15T12:00:00Z"),
            ("application/xml", "application/xml", "<resource>\n    <id>7</id>\n    <name>Resource 7</name>"),
            ("*/*;q=0.8", "application/json", #"{"id":7,"#), ("TEXT/HTML", "text/html; charset=utf-8", "<p>ID: 7</p>"),
            ("text/html;q=0.9, application/json;q=0.1", "text/html; charset=utf-8", "<!DOCTYPE html>"),
        ]
        for (accept, type, body) in cases {
            let response = try server.get("/resource/7", headers: accept.map { [("Accept", $0)] } ?? [])
            #expect(response.status == 200 && response.header("content-type") == type, "\(accept ?? "none")")
            #expect(response.text.contains(body), "\(accept ?? "none"): \(response.text)")
            #expect(response.varies(by: "accept"), "\(response.headers)")
        }
        try await Self.wellFormed([try server.get("/resource/7", headers: [("Accept", "application/xml")])])
        for accept in ["application/json;q=0", "*/*;q=0", "image/png"] {
            let refused = try server.get("/resource/7", headers: [("Accept", accept)])
            #expect(refused.status == 406 && refused.varies(by: "accept"), "\(accept)")
            #expect(refused.text.hasPrefix(#"{"detail":"Acceptable formats: application/json, text/html, text/plain, application/xml","#))
        }
        // The document names every media type of the negotiated 200, under one status.
        let document = try #require(try JSONSerialization.jsonObject(with: Data(server.get("/openapi.json").body)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let get = try #require((paths["/resource/{resource_id}"] as? [String: Any])?["get"] as? [String: Any])
        let ok = try #require((get["responses"] as? [String: Any])?["200"] as? [String: Any])
        #expect((ok["content"] as? [String: Any]).map { Set($0.keys) } == Set(Self.four), "\(ok)")
        #expect(try server.get("/resource/abc").status == 422)
        #expect(try server.get("/resource/-3").text.contains(#""id":-3"#))
    }

    @Test func productsAsTheChapterLaysThemOut() throws {
        let server = try Self.server()
        defer { server.stop() }
        let json = try server.get("/products")
        #expect(json.header("content-type") == "application/json")
        #expect(json.text.hasPrefix(#"{"products":[{"id":1,"name":"Laptop","price":999.99,"category":"Electronics","in_stock":true},"#))
        #expect(json.text.hasSuffix(#""in_stock":true}],"total":5}"#))
        #expect(json.varies(by: "accept") == false, "?format= is not negotiation")

        let furniture = try server.get("/products?category=FURNITURE&format=text")
        #expect(furniture.text == "ID | Name | Price | Category | In Stock\n" + String(repeating: "-", count: 50)
            + "\n3 | Desk | $199.99 | Furniture | No\n4 | Chair | $149.99 | Furniture | Yes")
        let html = try server.get("/products?format=html&category=electronics")
        #expect(html.header("content-type") == "text/html; charset=utf-8")
        #expect(html.text.contains("<h1>Products (3 items)</h1>") && html.text.contains("<td>$999.99</td><td>Electronics</td><td>✓</td>"))
        let csv = try server.get("/products?format=csv")
        #expect(csv.header("content-type") == "text/csv; charset=utf-8")
        #expect(csv.header("content-disposition") == "attachment; filename=products.csv")
        #expect(csv.header("transfer-encoding") == "chunked", "streamed")
        #expect(csv.text.hasPrefix("ID,Name,Price,Category,In Stock\r\n1,Laptop,999.99,Electronics,True\r\n"))
        #expect(csv.text.hasSuffix("3,Desk,199.99,Furniture,False\r\n4,Chair,149.99,Furniture,True\r\n5,Monitor,399.99,Electronics,True\r\n"))
        #expect(try server.get("/products?category=garden").text == #"{"products":[],"total":0}"#)
        #expect(try server.get("/products?category=").text == json.text, "an empty category filters nothing, as the chapter's `if category:`")

        for format in ["JSON", "xml", ""] {
            let bad = try server.get("/products?format=\(format)")
            #expect(bad.status == 422 && bad.text.contains("string_pattern_mismatch") && bad.text.contains("^(json|html|text|csv)$"), "\(format)")
        }
        #expect(try server.get("/products/1?format=csv").status == 422)
        #expect(try server.get("/products/2").text == #"{"id":2,"name":"Mouse","price":29.99,"category":"Electronics","in_stock":true}"#)
        #expect(try server.get("/products/3?format=text").text == "ID: 3\nName: Desk\nPrice: $199.99\nCategory: Furniture\nIn Stock: No")
        #expect(try server.get("/products/4?format=html").text.contains("<h1>Product 4: Chair</h1>"))
        let missing = try server.get("/products/6")
        #expect(missing.status == 404 && missing.text == #"{"detail":"Product not found"}"#)
        #expect(try server.get("/products/0").status == 422)
    }

    @Test func exerciseFourEachRepresentationItsOwnValidators() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let formats: [(accept: String, query: String, type: String)] = [
            ("application/json", "json", "application/json"), ("application/xml", "xml", "application/xml"),
            ("text/html", "html", "text/html; charset=utf-8"), ("text/csv", "csv", "text/csv; charset=utf-8"),
        ]
        var tags: Set<String> = []
        for path in ["/catalog/products", "/catalog/products/3"] {
            for f in formats {
                let negotiated = try server.get(path, headers: [("Accept", f.accept), ("Accept-Encoding", "identity")])
                let overridden = try server.get(path + "?format=" + f.query, headers: [("Accept", "image/png")])
                for response in [negotiated, overridden] {
                    #expect(response.status == 200 && response.header("content-type") == f.type, "\(path) \(f.accept)")
                    #expect(response.header("cache-control") == "public, max-age=60")
                    #expect(response.header("last-modified") == "Mon, 15 Jan 2024 12:00:00 GMT")
                }
                #expect(negotiated.varies(by: "accept"))
                let etag = try #require(negotiated.header("etag"))
                #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"), "strong")
                #expect(overridden.header("etag") == etag, "the same representation, the same tag")
                tags.insert(etag)
                // 304 for this representation, with its validators and Vary.
                let revalidated = try server.get(path, headers: [("Accept", f.accept), ("If-None-Match", etag), ("Accept-Encoding", "identity")])
                #expect(revalidated.status == 304 && revalidated.body.isEmpty, "\(path) \(f.accept)")
                #expect(revalidated.header("etag") == etag && revalidated.varies(by: "accept"))
                #expect(revalidated.header("cache-control") == "public, max-age=60")
                // Never across representations: another format with this tag is a 200.
                for other in formats where other.accept != f.accept {
                    let crossed = try server.get(path, headers: [("Accept", other.accept), ("If-None-Match", etag)])
                    #expect(crossed.status == 200 && crossed.header("content-type") == other.type, "\(f.accept) tag sent for \(other.accept)")
                }
            }
        }
        #expect(tags.count == 8, "one tag per resource and format: \(tags)")
        let refused = try server.get("/catalog/products", headers: [("Accept", "image/png")])
        #expect(refused.status == 406 && refused.varies(by: "accept"))
        #expect(refused.text.contains(#""available":["application/json","application/xml","text/html","text/csv"]"#))
        #expect(try server.get("/catalog/products?format=yaml").status == 422)
        #expect(try server.get("/catalog/products/9").status == 404)

        let csv = try server.get("/catalog/products", headers: [("Accept", "text/csv")])
        #expect(csv.text.hasPrefix("ID,Name,Price,Category,In Stock\r\n1,Laptop,999.99,Electronics,True\r\n"))
        let xml = try server.get("/catalog/products", headers: [("Accept", "application/xml")])
        #expect(xml.text.contains(#"<products total="5"><product><id>1</id><name>Laptop</name><price>999.99</price>"#))
        try await Self.wellFormed([xml, try server.get("/catalog/products/2?format=xml")])
        // A browser gets the HTML table.
        let browser = try server.get("/catalog/products", headers: [("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")])
        #expect(browser.header("content-type") == "text/html; charset=utf-8" && browser.text.contains("<h1>Catalog (5 products)</h1>"))
    }
}

extension RawResponse {
    /// Whether a Vary field lists `field` (case-insensitive, element by element).
    func varies(by field: String) -> Bool {
        headers.contains { name, value in
            name.lowercased() == "vary" && value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == field }
        }
    }
}
