public import CSwitchboard

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One HTTP request, as a handler sees it. Valid until the handler's response is sent.
///
/// Strings read from it are copies; the host validated every declared parameter before the
/// handler runs, so `request[param]` never fails for a `Param`.
public struct Request: @unchecked Sendable {  // the request handle is a C pointer the ABI lets any thread use until the response call
    /// The generation serving the request: its configuration, log and services.
    public let app: App
    let handle: OpaquePointer

    init(app: App, handle: OpaquePointer) {
        self.app = app
        self.handle = handle
    }

    var api: sb_host_api { app.api }

    private func read(_ call: (UnsafeMutablePointer<sb_str>) -> sb_status) -> String? {
        var out = sb_str()
        return call(&out) == SB_OK ? out.text : nil
    }

    /// "GET", "POST", …
    public var method: String { read { api.request_method(handle, $0) } ?? "" }
    /// The path as sent (percent-encoded), without the query.
    public var path: String { read { api.request_path(handle, $0) } ?? "" }
    /// The raw query string, without "?".
    public var query: String { read { api.request_query(handle, $0) } ?? "" }

    /// The percent-decoded value of a path parameter of the matched template.
    public func pathParameter(_ name: String) -> String? {
        read { out in withSBStr(name) { api.request_path_param(handle, $0, out) } }
    }

    /// The `index`-th value of query parameter `name`, decoded as form data is (`+` is a space, a
    /// malformed escape is kept as sent; `request_query_param`).
    public func queryParameter(_ name: String, index: Int = 0) -> String? {
        read { out in withSBStr(name) { api.request_query_param(handle, $0, index, out) } }
    }

    /// Every value of query parameter `name`, in order.
    public func queryParameters(_ name: String) -> [String] {
        var values: [String] = []
        while let value = queryParameter(name, index: values.count) { values.append(value) }
        return values
    }

    /// The `index`-th line (from 0) of header `name` (case-insensitive); nil when there are fewer.
    public func header(_ name: String, index: Int = 0) -> String? {
        read { out in withSBStr(name) { api.request_header(handle, $0, index, out) } }
    }

    /// Every line of header `name` joined with ", ": a list-valued field (If-Match, Accept, …)
    /// may arrive on several lines, and RFC 9110 §5.3 reads them as one list. nil when absent.
    public func headerList(_ name: String) -> String? {
        var lines: [String] = []
        while let line = header(name, index: lines.count) { lines.append(line) }
        return lines.isEmpty ? nil : lines.joined(separator: ", ")
    }

    /// Every header line, names in lower case: Host first, then the others in the order received.
    public var headers: [(name: String, value: String)] {
        var count = 0
        guard api.request_header_count(handle, &count) == SB_OK else { return [] }
        return (0..<count).compactMap { i in
            var name = sb_str()
            var value = sb_str()
            guard api.request_header_at(handle, i, &name, &value) == SB_OK else { return nil }
            return (name.text, value.text)
        }
    }

    /// The buffered request body (empty when none was sent).
    public var body: [UInt8] {
        var out = sb_bytes()
        return api.request_body(handle, &out) == SB_OK ? out.array : []
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body decoded as JSON; a body that does not decode is the client's error (422).
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws(HTTPError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw HTTPError(422, detail: "The request body is not valid JSON for \(T.self): \(error)")
        }
    }

    // MARK: Declared parameters

    /// The validated value of a declared parameter. Throws (a 500, logged) only when `param` is
    /// not declared on this route: a bug in the plugin, which must never crash the host.
    @inlinable  // specialised in the plugin: no generic metadata made per read
    public subscript<Value>(_ param: Param<Value>) -> Value {
        get throws(HTTPError) {
            guard let raw = paramValue(param.spec.name), let value = Value(param: raw) else {
                app.log(.error, "parameter \"\(param.spec.name)\" is read by \(method) \(path) but not declared on its route")
                throw HTTPError(500, detail: "Internal Server Error")
            }
            return value
        }
    }

    /// The validated value of a declared optional parameter; nil when absent.
    @inlinable
    public subscript<Value>(_ param: OptionalParam<Value>) -> Value? {
        guard let raw = paramValue(param.spec.name) else { return nil }
        return Value(param: raw)
    }

    /// The raw validated value of the declared parameter `name` (`request_param`); nil when no
    /// parameter of that name is declared, or an optional one without a default was not sent.
    /// `text` is borrowed until the request handle becomes invalid (the response is sent).
    public func paramValue(_ name: String) -> sb_param_value? {
        var out = sb_param_value()
        out.struct_size = UInt32(MemoryLayout<sb_param_value>.size)
        return withSBStr(name) { api.request_param(handle, $0, &out) } == SB_OK ? out : nil
    }
}
