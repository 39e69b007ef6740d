import HTTPTypes
@testable import SwitchboardHost
import Testing

/// A request's fields looked up by the bytes of a name, Host included (HTTPTypes keeps it as the
/// authority, outside `headerFields`).
@Suite struct RequestFieldsTests {
    let request = HTTPRequest(
        method: .put, scheme: "http", authority: "example.org:8080", path: "/x",
        headerFields: [
            .init("If-Match")!: #""a""#, .init("X-Other")!: "1", .init("if-match")!: #"W/"b", "c""#,
            .init("If-Unmodified-Since-Long-Name")!: "v",
        ])

    @Test func linesAreFoundByNameInAnyCaseHostIncluded() {
        #expect(request.fieldValue(named: "IF-MATCH".utf8) == #""a""#)
        #expect(request.fieldValue(named: "if-match".utf8, index: 1) == #"W/"b", "c""#)
        #expect(request.fieldValue(named: "if-match".utf8, index: 2) == nil)
        #expect(request.fieldValue(named: "if-match".utf8, index: -1) == nil)
        #expect(request.fieldValue(named: "if-unmodified-since-long-name".utf8) == "v")
        #expect(request.fieldValue(named: "HoSt".utf8) == "example.org:8080")
        #expect(request.fieldValue(named: "host".utf8, index: 1) == nil)
        #expect(request.fieldValue(named: "if-none-match".utf8) == nil)
    }

    @Test func aListFieldsLinesAreReadAsOneList() {
        #expect(request.fieldList(named: "If-Match".utf8) == #""a", W/"b", "c""#)
        #expect(request.fieldList(named: "x-other".utf8) == "1")
        #expect(request.fieldList(named: "host".utf8) == "example.org:8080")
        #expect(request.fieldList(named: "accept".utf8) == nil)
    }

    @Test func everyLineIsListedHostFirst() {
        let lines = (0..<request.fieldLineCount).compactMap { request.fieldLine(at: $0) }
        #expect(lines.map(\.name) == ["host", "if-match", "x-other", "if-match", "if-unmodified-since-long-name"])
        #expect(request.fieldLine(at: request.fieldLineCount) == nil && request.fieldLine(at: -1) == nil)
        var noHost = request
        noHost.authority = nil  // HTTP/1.0 without Host
        #expect(noHost.fieldLineCount == 4 && noHost.fieldLine(at: 0)?.name == "if-match")
        #expect(noHost.fieldValue(named: "host".utf8) == nil && noHost.fieldList(named: "host".utf8) == nil)
    }
}

/// The admin API's access checks fold ASCII letters only: host names and schemes compare as
/// their bytes do, never by Unicode's case rules.
@Suite struct AdminAccessFoldingTests {
    @Test func onlyASCIILettersAreFolded() {
        #expect(AdminAPI.isOwnOrigin("HTTP://K.LocalHost:1", authority: "k.localhost:1"))
        // U+212A KELVIN SIGN lower-cases to "k" by Unicode's rules: not the same host.
        #expect(!AdminAPI.isOwnOrigin("http://k.localhost:1", authority: "\u{212A}.localhost:1"))
        #expect(!AdminAPI.isOwnOrigin("http://\u{212A}.localhost:1", authority: "k.localhost:1"))
    }
}
