// hello-swift: the example plugin in Swift, on the Switchboard SDK, with the same routes as hello-c
// under /hello-swift.
//
//   GET /hello-swift                  text/plain greeting (plugins.config.hello-swift.greeting)
//   GET /hello-swift/json             a JSON object
//   GET /hello-swift/items/{item_id}  a JSON object echoing the path parameter
//   GET /hello-swift/count?n=5        a streamed response, one line every 10 ms, paced by a host timer
//   GET /hello-swift/lookup/{item_id}?q=&limit=10&format=json&verbose=false
//                                     typed parameters, validated by the host (422 as FastAPI's)
//   GET /hello-swift/lookup-untyped/{item_id}?…
//                                     the same lookup, its parameters read and checked by the
//                                     handler: the typed route's twin (bench/ compares the two)

import SwitchboardSDK

struct Greeting: Encodable {
    let message: String
    let language: String
}

struct Item: Encodable {
    let item_id: String
    let plugin: String
}

struct Lookup: Encodable {
    let item_id: Int
    let q: String
    let limit: Int
    let format: String
    let verbose: Bool
    let plugin: String

    /// JSON, or a line of text for `format=text`.
    func response() throws -> Response {
        if format == "text" {
            return .text("item \(item_id), q=\(q), limit \(limit)\(verbose ? ", verbose" : "")\n")
        }
        return try .json(self)
    }
}

extension Lookup {
    /// The lookup with its parameters read and checked by hand, as a route without typed
    /// parameters must: the same checks as the typed route's declarations, the last of a
    /// repeated name (as FastAPI reads it), and a 422 with one line of detail (not FastAPI's
    /// shape) for a bad value.
    init(checking req: Request) throws(HTTPError) {
        guard let id = req.pathParameter("item_id").flatMap({ Int($0) }), id >= 1 else {
            throw HTTPError(422, detail: "item_id must be an integer, at least 1")
        }
        let q = req.queryParameters("q").last ?? ""
        guard q.unicodeScalars.count <= 50 else { throw HTTPError(422, detail: "q must be at most 50 characters") }
        var limit = 10
        if let text = req.queryParameters("limit").last {
            guard let n = Int(text), (1...100).contains(n) else { throw HTTPError(422, detail: "limit must be an integer from 1 to 100") }
            limit = n
        }
        let format = req.queryParameters("format").last ?? "json"
        guard format == "json" || format == "text" else { throw HTTPError(422, detail: "format must be json or text") }
        var verbose = false
        if let text = req.queryParameters("verbose").last {
            switch text.lowercased() {
            case "1", "on", "t", "true", "y", "yes": verbose = true
            case "0", "off", "f", "false", "n", "no": verbose = false
            default: throw HTTPError(422, detail: "verbose must be a boolean")
            }
        }
        self.init(item_id: id, q: q, limit: limit, format: format, verbose: verbose, plugin: "hello-swift")
    }
}

enum Format: String, ParamEnum {
    case json, text
}

let itemID = Param<Int>.path("item_id").ge(1).description("The item to look up")
let q = Param<String>.query("q", default: "").maxLength(50)
let limit = Param<Int>.query("limit", default: 10).ge(1).le(100)
let format = Param<Format>.query("format", default: .json)
let verbose = Param<Bool>.query("verbose", default: false)
let count = Param<Int>.query("n", default: 5).ge(0).le(1000).description("How many lines")

let plugin = Plugin(name: "hello-swift", version: "2.0.0", description: "The example plugin in Swift") { app in
    let greeting = (app.config("greeting") ?? "Hello from Swift!") + "\n"

    app.get("/hello-swift", summary: "A plain-text greeting", responses: [ResponseDoc(200, "text/plain")]) { _ in
        .text(greeting)
    }

    app.get("/hello-swift/json", summary: "A JSON greeting", responses: [ResponseDoc(200, "application/json")]) { _ in
        try .json(Greeting(message: "Hello from Swift", language: "swift"))
    }

    app.get("/hello-swift/items/{item_id}", summary: "Echo a path parameter", responses: [ResponseDoc(200, "application/json")]) { req in
        try .json(Item(item_id: req.pathParameter("item_id") ?? "", plugin: "hello-swift"))
    }

    app.get("/hello-swift/count", params: [count], summary: "Stream n lines, 10 ms apart", responses: [ResponseDoc(200, "text/plain")]) { req in
        let total = try req[count]
        return .stream(contentType: "text/plain; charset=utf-8") { stream in
            let next = Counter()
            // One timer is the only writer; its callbacks never overlap.
            app.timer(after: .zero, every: .milliseconds(10)) { timer in
                let n = next.advance()
                guard n <= total, stream.write("\(n)\n") != .closed else {
                    timer.cancel()
                    stream.finish()
                    return
                }
            }
        }
    }

    app.get(
        "/hello-swift/lookup/{item_id}", params: [itemID, q, limit, format, verbose], summary: "Look up an item (typed parameters)",
        responses: [ResponseDoc(200, "application/json", "The item as JSON, or as a line of text for format=text"), ResponseDoc(200, "text/plain")]
    ) { req in
        try Lookup(
            item_id: try req[itemID], q: try req[q], limit: try req[limit], format: try req[format].rawValue,
            verbose: try req[verbose], plugin: "hello-swift"
        ).response()
    }

    app.get(
        "/hello-swift/lookup-untyped/{item_id}",
        summary: "The same lookup, its parameters read and checked by the handler (the typed route's twin)",
        responses: [
            ResponseDoc(200, "application/json", "The item as JSON, or as a line of text for format=text"),
            ResponseDoc(200, "text/plain"),
            ResponseDoc(422, "application/json", #"A parameter out of range, as {"detail": "what to fix"}"#),
        ]
    ) { req in
        try Lookup(checking: req).response()
    }
}

/// A counter touched only by one timer's callbacks (which never overlap).
final class Counter: @unchecked Sendable {  // touched only by one timer's callbacks, which never overlap
    private var value = 0
    func advance() -> Int {
        value += 1
        return value
    }
}

@_cdecl("switchboard_plugin_v1") public func entry() -> UnsafeRawPointer { plugin.entry }
