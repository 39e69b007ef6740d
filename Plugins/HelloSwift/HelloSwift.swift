// hello-swift: the example plugin in Swift, against the raw C ABI (switchboard.h), with the same
// routes as hello-c under /hello-swift. The Swift SDK (issue #4) will wrap all of this; this file
// shows what the ABI asks of any language.
//
//   GET /hello-swift                  text/plain greeting (plugins.config.hello-swift.greeting)
//   GET /hello-swift/json             a JSON object
//   GET /hello-swift/items/{item_id}  a JSON object echoing the path parameter
//   GET /hello-swift/count?n=5        a streamed response, one line every 10 ms, paced by a host timer

import CSwitchboard

#if canImport(Glibc)
import Glibc
#endif

/// Everything the plugin keeps between init and deinit. Passed as every route's handler data.
final class HelloSwift {
    let host: UnsafePointer<sb_host_api>
    let plugin: OpaquePointer
    let greeting: [UInt8]

    init(host: UnsafePointer<sb_host_api>, plugin: OpaquePointer, greeting: String) {
        self.host = host
        self.plugin = plugin
        self.greeting = Array((greeting + "\n").utf8)
    }

    static func from(_ data: UnsafeMutableRawPointer?) -> HelloSwift {
        Unmanaged<HelloSwift>.fromOpaque(data!).takeUnretainedValue()
    }

    func send(_ req: OpaquePointer?, status: UInt16, contentType: String, body: [UInt8]) -> sb_status {
        withStr("content-type") { name in withStr(contentType) { value in _ = host.pointee.response_header_add(req, name, value) } }
        return body.withUnsafeBufferPointer { host.pointee.response_send(req, status, sb_bytes(ptr: $0.baseAddress, len: $0.count)) }
    }
}

/// Lends `text` as an sb_str for the duration of `body` (the host copies what it keeps).
func withStr<R>(_ text: String, _ body: (sb_str) -> R) -> R {
    var text = text
    return text.withUTF8 { utf8 in
        utf8.withMemoryRebound(to: CChar.self) { body(sb_str(ptr: $0.baseAddress, len: $0.count)) }
    }
}

extension sb_str {
    var string: String {
        guard let ptr, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: len), as: UTF8.self)
    }
}

/// A JSON string literal (RFC 8259 escapes).
func jsonQuote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

// MARK: Handlers

private let hello: sb_handler_fn = { data, req in
    let plugin = HelloSwift.from(data)
    return plugin.send(req, status: 200, contentType: "text/plain; charset=utf-8", body: plugin.greeting)
}

private let helloJSON: sb_handler_fn = { data, req in
    HelloSwift.from(data).send(
        req, status: 200, contentType: "application/json",
        body: Array(#"{"message":"Hello from Swift","language":"swift"}"#.utf8))
}

private let item: sb_handler_fn = { data, req in
    let plugin = HelloSwift.from(data)
    var id = sb_str()
    guard withStr("item_id", { plugin.host.pointee.request_path_param(req, $0, &id) }) == SB_OK else { return SB_ERR_INTERNAL }
    let body = "{\"item_id\":\(jsonQuote(id.string)),\"plugin\":\"hello-swift\"}"
    return plugin.send(req, status: 200, contentType: "application/json", body: Array(body.utf8))
}

/// One streamed count: owned by its timer until the stream ends.
final class Counter {
    let plugin: HelloSwift
    let stream: OpaquePointer
    var timer: OpaquePointer? = nil
    var next = 0
    let total: Int

    init(plugin: HelloSwift, stream: OpaquePointer, total: Int) {
        self.plugin = plugin
        self.stream = stream
        self.total = total
    }

    func end() {
        _ = plugin.host.pointee.timer_cancel(timer)
        _ = plugin.host.pointee.stream_finish(stream)
        Unmanaged.passUnretained(self).release()
    }
}

private let countTick: sb_timer_fn = { user, _ in
    let counter = Unmanaged<Counter>.fromOpaque(user!).takeUnretainedValue()
    guard counter.next < counter.total else { return counter.end() }
    let line = Array("\(counter.next + 1)\n".utf8)
    let status = line.withUnsafeBufferPointer {
        counter.plugin.host.pointee.stream_write(counter.stream, sb_bytes(ptr: $0.baseAddress, len: $0.count), 0)
    }
    if status == SB_ERR_CLOSED { return counter.end() }
    counter.next += 1
}

private let count: sb_handler_fn = { data, req in
    let plugin = HelloSwift.from(data)
    var total = 5
    var text = sb_str()
    if withStr("n", { plugin.host.pointee.request_query_param(req, $0, 0, &text) }) == SB_OK {
        guard let n = Int(text.string), (0...1000).contains(n) else {
            return plugin.send(
                req, status: 422, contentType: "application/json",
                body: Array(#"{"detail":"n must be between 0 and 1000"}"#.utf8))
        }
        total = n
    }
    withStr("content-type") { name in withStr("text/plain; charset=utf-8") { value in _ = plugin.host.pointee.response_header_add(req, name, value) } }
    var stream: OpaquePointer? = nil
    guard plugin.host.pointee.response_stream_begin(req, 200, &stream) == SB_OK, let stream else { return SB_ERR_INTERNAL }
    let counter = Counter(plugin: plugin, stream: stream, total: total)
    let user = Unmanaged.passRetained(counter).toOpaque()
    _ = plugin.host.pointee.timer_start(plugin.plugin, 0, 10_000_000, countTick, user, &counter.timer)
    return SB_OK
}

// MARK: Registration

private func addRoute(_ plugin: HelloSwift, _ path: String, _ handler: sb_handler_fn, summary: String, mediaType: String) -> sb_status {
    withStr("GET") { method in
        withStr(path) { path in
            withStr(summary) { summary in
                withStr(mediaType) { mediaType in
                    withStr("Successful Response") { description in
                        var response = sb_response_doc(
                            struct_size: UInt32(MemoryLayout<sb_response_doc>.size), status: 200, reserved: 0,
                            media_type: mediaType, description: description)
                        var spec = sb_route_spec()
                        spec.struct_size = UInt32(MemoryLayout<sb_route_spec>.size)
                        spec.method = method
                        spec.path = path
                        spec.handler = handler
                        spec.handler_data = Unmanaged.passUnretained(plugin).toOpaque()
                        spec.summary = summary
                        return withUnsafePointer(to: &response) { responses in
                            spec.responses = responses
                            spec.response_count = 1
                            return plugin.host.pointee.route_add(plugin.plugin, &spec)
                        }
                    }
                }
            }
        }
    }
}

private let onInit: sb_on_init_fn = { host, pluginHandle, outState in
    guard let host, let pluginHandle, let outState else { return SB_ERR_INVALID_ARGUMENT }
    var greeting = sb_str()
    let configured = withStr("greeting") { host.pointee.config_get(pluginHandle, $0, &greeting) } == SB_OK
    let plugin = HelloSwift(host: host, plugin: pluginHandle, greeting: configured ? greeting.string : "Hello from Swift!")
    outState.pointee = Unmanaged.passRetained(plugin).toOpaque()
    let routes: [(String, sb_handler_fn, String, String)] = [
        ("/hello-swift", hello, "A plain-text greeting", "text/plain"),
        ("/hello-swift/json", helloJSON, "A JSON greeting", "application/json"),
        ("/hello-swift/items/{item_id}", item, "Echo a path parameter", "application/json"),
        ("/hello-swift/count", count, "Stream n lines, 10 ms apart", "text/plain"),
    ]
    for (path, handler, summary, mediaType) in routes {
        let status = addRoute(plugin, path, handler, summary: summary, mediaType: mediaType)
        guard status == SB_OK else { return status }
    }
    return SB_OK
}

private let onDeinit: sb_on_deinit_fn = { state in
    if let state { Unmanaged<HelloSwift>.fromOpaque(state).release() }
}

/// The Swift compiler version, as the descriptor reports it (see SwiftToolchain in the host).
private let swiftCompilerVersion: UInt32 = {
    #if compiler(>=6.4)
    return 60400
    #elseif compiler(>=6.3.3)
    return 60303
    #elseif compiler(>=6.3.2)
    return 60302
    #elseif compiler(>=6.3.1)
    return 60301
    #elseif compiler(>=6.3)
    return 60300
    #else
    return 60000
    #endif
}()

/// The descriptor lives in memory that never moves or goes away while the image is loaded.
nonisolated(unsafe) private let descriptor: UnsafePointer<sb_plugin_descriptor> = {
    func cString(_ s: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
    }
    let pointer = UnsafeMutablePointer<sb_plugin_descriptor>.allocate(capacity: 1)
    pointer.initialize(
        to: sb_plugin_descriptor(
            struct_size: UInt32(MemoryLayout<sb_plugin_descriptor>.size),
            magic: SB_PLUGIN_MAGIC,
            abi_major: UInt16(SB_ABI_MAJOR),
            abi_minor: UInt16(SB_ABI_MINOR),
            swift_version: swiftCompilerVersion,
            name: cString("hello-swift"),
            version: cString("1.0.0"),
            description: cString("The example plugin in Swift"),
            on_init: onInit,
            on_deinit: onDeinit))
    return UnsafePointer(pointer)
}()

@_cdecl("switchboard_plugin_v1")
public func switchboardPluginV1() -> UnsafePointer<sb_plugin_descriptor> {
    descriptor
}
