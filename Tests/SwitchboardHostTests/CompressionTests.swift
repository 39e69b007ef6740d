import CompressNIO
import Foundation
import HTTPTypes
import NIOCore
@testable import SwitchboardHost
import Testing

/// gzip for plugins' responses (issue #14): negotiated from Accept-Encoding with q-values,
/// streamed responses coded as they stream, and nothing coded that must not be.
@Suite struct CompressionTests {
    @Test(arguments: [
        ("gzip", true, false), ("gzip;q=0", false, false), ("GZIP; q=0.5", true, false), ("deflate, br", false, false),
        ("*", true, false), ("*;q=0", false, true), ("br, *;q=0.1", true, false), ("gzip, identity;q=0", true, true),
        ("identity;q=0", false, true), ("gzip;q=0, *", false, false), ("x-gzip", true, false), ("gzip;q=abc", false, false),
        // Read as bytes: U+037E (Greek question mark) is canonically equivalent to `;` but is not
        // one, and a combining mark after `,` must not glue the comma to the coding before it.
        ("gzip, *\u{37E}q=0", true, false), ("gzip\u{37E}q=0, *", true, false), ("gzip,\u{301}", true, false),
        // An element without a coding names none.
        (";gzip", false, false), ("gzip, ;identity;q=0", true, false),
    ])
    func acceptEncodingIsReadWithItsQValues(header: String, gzip: Bool, identityRefused: Bool) {
        let result = ContentCoding.negotiate(header)
        #expect(result.gzip == gzip && result.identityRefused == identityRefused, "\(header): \(result)")
    }

    @Test func withoutTheFieldNothingIsCoded() {
        #expect(ContentCoding.negotiate(nil) == (false, false))
    }

    /// The media type is compared without parameters, surrounding space or case, in place (issue
    /// #21 made it allocation-free: it runs for every response).
    @Test(arguments: [
        ("application/json", true), ("Application/JSON; charset=utf-8", true), ("  text/html ;q=1", true), ("TEXT/plain", true),
        ("application/problem+json", true), ("image/svg+XML", true), ("application/jsonx", false), ("application/js", false),
        ("text/event-stream", false), ("Text/Event-Stream; charset=utf-8", false), ("image/png", false), ("", false), (" ; x", false),
        ("text", false), ("+json", true),
    ])
    func compressibleMediaTypes(contentType: String, expected: Bool) {
        #expect(ContentCoding.compressible(contentType, CompressionSettings()) == expected, "\(contentType)")
    }

    @Test func varyListsEachFieldOnce() {
        var fields = HTTPFields()
        fields.addVary("Accept-Encoding")
        fields.addVary("accept-encoding")
        #expect(fields[values: .vary] == ["Accept-Encoding"])
        var listed: HTTPFields = [.vary: " accept ,  ACCEPT-ENCODING "]
        listed.addVary("Accept-Encoding")
        #expect(listed[values: .vary] == ["accept ,  ACCEPT-ENCODING"])
        listed.addVary("Accept")
        #expect(listed[values: .vary] == ["accept ,  ACCEPT-ENCODING"])
        var star: HTTPFields = [.vary: "*"]
        star.addVary("Accept")
        #expect(star[values: .vary] == ["*"])
        var other: HTTPFields = [.vary: "Origin"]
        other.addVary("Accept")
        #expect(other[values: .vary] == ["Origin, Accept"])
    }

    static func server(environment: [String: String] = [:]) throws -> ServerProcess {
        let dir = Fixtures.pluginDirectory("gzip", files: ["Json", "Streaming", "Status"].map(TestPaths.plugin))
        return try ServerProcess(
            pluginDirectories: [dir],
            environment: [
                "SWITCHBOARD_PLUGINS_CONFIG_STREAMING_FILES_DIRECTORY": try StreamingTests.fixtures(),
                "SWITCHBOARD_PLUGINS_CONFIG_STREAMING_INTERVAL_SCALE": "0.01",
            ].merging(environment) { $1 })
    }

    static func gunzip(_ bytes: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        let plain = try buffer.decompress(with: .gzip)
        return Array(plain.readableBytesView)
    }

    @Test func largeBodiesAndStreamsArriveCodedAndWhole() throws {
        let server = try Self.server()
        defer { server.stop() }
        let gzip = [("Accept-Encoding", "gzip, deflate")]
        let coded = try server.get("/orjson-large-data", headers: gzip)
        #expect(coded.status == 200 && coded.header("content-encoding") == "gzip" && coded.header("vary") == "Accept-Encoding")
        #expect(coded.header("content-length") == nil)
        let plain = try Self.gunzip(coded.body)
        #expect(plain.count == 146_694, "decoded \(plain.count) bytes from \(coded.body.count)")
        #expect(coded.body.count < plain.count / 3)
        let users = try JSONSerialization.jsonObject(with: Data(plain)) as? [String: Any]
        #expect(users?["count"] as? Int == 1000)

        let identity = try server.get("/orjson-large-data")
        #expect(identity.header("content-encoding") == nil && identity.header("vary") == "Accept-Encoding" && identity.body.count == 146_694)

        // A streamed export, coded chunk by chunk: whole once decoded.
        let csv = try server.get("/export/csv?rows=10000", headers: gzip)
        #expect(csv.header("content-encoding") == "gzip")
        let rows = String(decoding: try Self.gunzip(csv.body), as: UTF8.self).split(separator: "\r\n")
        #expect(rows.count == 10_001 && rows.last?.hasPrefix("10000,User 10000,") == true, "\(rows.count) rows")

        // HEAD says what GET sends.
        let head = try server.get("/orjson-large-data", method: "HEAD", headers: gzip)
        #expect(head.header("content-encoding") == "gzip" && head.header("content-length") == nil && head.body.isEmpty)
    }

    @Test func whatMustNotBeCodedIsNot() throws {
        let server = try Self.server()
        defer { server.stop() }
        let gzip = [("Accept-Encoding", "gzip")]
        #expect(try server.get("/orjson-large-data", headers: [("Accept-Encoding", "gzip;q=0, deflate")]).header("content-encoding") == nil)
        // Under the minimum size: as is, unless identity is refused.
        #expect(try server.get("/fast-api", headers: gzip).header("content-encoding") == nil)
        let forced = try server.get("/fast-api", headers: [("Accept-Encoding", "gzip, identity;q=0")])
        #expect(forced.header("content-encoding") == "gzip")
        #expect(try Self.gunzip(forced.body) == Array(#"{"message":"Fast JSON serialization!"}"#.utf8))
        // A coded representation has its own entity tag.
        let item = try server.get("/items/1", headers: [("Accept-Encoding", "gzip, identity;q=0")])
        let plainTag = try #require(try server.get("/items/1").header("etag"))
        #expect(item.header("etag") == String(plainTag.dropLast()) + "-gzip\"", "\(item.header("etag") ?? "none") vs \(plainTag)")
        // Event streams, files (ranges count identity bytes) and 304s are never coded.
        let events = try StreamClient(port: server.port, path: "/events/named", headers: gzip)
        #expect(events.read(until: "\n\n"))
        #expect(!events.text.lowercased().contains("content-encoding"))
        events.close()
        let file = try server.get("/large-file", headers: gzip)
        #expect(file.header("content-encoding") == nil && file.header("accept-ranges") == "bytes")
        let plain304 = try server.get("/items/1", headers: gzip + [("If-None-Match", plainTag)])
        #expect(plain304.status == 304 && plain304.header("content-encoding") == nil)
        // A 304 repeats the 200's Vary, for the identity tag too (RFC 9110 §15.4.5).
        let identity304 = try server.get("/items/1", headers: [("If-None-Match", plainTag)])
        #expect(identity304.status == 304 && identity304.header("vary") == "Accept-Encoding" && identity304.header("etag") == plainTag)
        // The coded tag comes back in a conditional request: it names the same resource state.
        let codedTag = try #require(item.header("etag"))
        let again = try server.get("/items/1", headers: [("Accept-Encoding", "gzip, identity;q=0"), ("If-None-Match", codedTag)])
        #expect(again.status == 304 && again.header("etag") == codedTag && again.header("vary") == "Accept-Encoding", "\(again.status) \(again.header("etag") ?? "")")
        // A client that does not take gzip is sent identity: the coded tag does not name it.
        let identityClient = try server.get("/items/1", headers: [("If-None-Match", codedTag)])
        #expect(identityClient.status == 200 && identityClient.header("etag") == plainTag, "\(identityClient.status) \(identityClient.header("etag") ?? "")")
        let json = ("Content-Type", "application/json")
        let put = try server.get("/items/1", method: "PUT", headers: [("If-Match", codedTag), json], body: Array(#"{"name":"Laptop","price":1}"#.utf8))
        #expect(put.status == 200, "If-Match with the coded tag: \(put.status) \(put.text)")
    }

    @Test func compressionCanBeTurnedOff() throws {
        let server = try Self.server(environment: ["SWITCHBOARD_COMPRESSION_ENABLED": "false"])
        defer { server.stop() }
        let response = try server.get("/orjson-large-data", headers: [("Accept-Encoding", "gzip")])
        #expect(response.header("content-encoding") == nil && response.body.count == 146_694)
    }
}
