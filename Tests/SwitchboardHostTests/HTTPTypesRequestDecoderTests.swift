import HTTPTypes
import NIOHTTP1
import NIOHTTPTypesHTTP1
@testable import SwitchboardHost
import Testing

/// The host's request decoder reads a request head as swift-nio-extras' `HTTP1ToHTTPServerCodec` does
/// (`HTTPRequest(_:secure:splitCookie:)`), origin-form targets without `URLComponents`.
@Suite struct HTTPTypesRequestDecoderTests {
    @Test(arguments: [
        "/", "/hello-c", "/a?b=c&d", "/caf%C3%A9/x?q=%20", "//evil.example/path", "/a b", "/?", "/#frag",
        "*", "http://example.org/p?q=1", "http://example.org", "https://example.org:8443/x", "relative/x",
    ])
    func readsEveryTargetAsTheLibraryDoes(target: String) throws {
        for headers in [
            HTTPHeaders([("Host", "example.org"), ("Cookie", "a=1; b=2"), ("X-Two", "1"), ("x-two", "2")]),
            HTTPHeaders([("host", "first"), ("Host", "second")]),
            HTTPHeaders(),
        ] {
            for method in [HTTPMethod.GET, .HEAD, .POST, .RAW(value: "PURGE")] {
                let head = HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers)
                let library = try HTTPRequest(head, secure: false, splitCookie: false)
                let ours = try HTTPTypesRequestDecoder.request(head)
                #expect(ours == library, "\(method) \(target) \(headers)")
                #expect(ours.path == library.path && ours.authority == library.authority && ours.scheme == library.scheme)
                #expect(ours.headerFields.elementsEqual(library.headerFields) { $0.name.rawName == $1.name.rawName && $0.value == $1.value })
            }
        }
    }

    @Test func refusesAMethodThatIsNotAToken() {
        let head = HTTPRequestHead(version: .http1_1, method: .RAW(value: "GE T"), uri: "/", headers: [:])
        #expect(throws: HTTP1TypeConversionError.invalidMethod) { try HTTPTypesRequestDecoder.request(head) }
    }
}
