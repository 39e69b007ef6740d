// The example plugins' handlers written as native Hummingbird routes: the baseline that
// bench/run.sh compares the plugin boundary against. Same paths, headers and bodies as hello-c
// and hello-swift, each answered by the same work as the plugin's handler: hello-c's by hand,
// hello-swift's through the SDK's encoder (`JSONEncoding`, what `Response.json` calls).
import Hummingbird
import SwitchboardCore

let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 8001
let router = Router()

router.get("/hello-c") { _, _ in
    Response(
        status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: "Hello from C!\n")))
}
router.get("/hello-c/json") { _, _ in
    Response(
        status: .ok, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: #"{"message":"Hello from C","language":"c"}"#)))
}
router.get("/hello-c/items/:item_id") { _, context in
    let id = context.parameters.get("item_id") ?? ""
    var escaped = ""
    for scalar in id.unicodeScalars {
        switch scalar {
        case "\"": escaped += "\\\""
        case "\\": escaped += "\\\\"
        default: escaped.unicodeScalars.append(scalar)
        }
    }
    return Response(
        status: .ok, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: "{\"item_id\":\"\(escaped)\",\"plugin\":\"hello-c\"}")))
}

struct Greeting: Encodable {
    let message: String
    let language: String
}

struct Item: Encodable {
    let item_id: String
    let plugin: String
}

func json(_ value: some Encodable) throws -> Response {
    Response(
        status: .ok, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoding.encode(value, options: .compact))))
}

router.get("/hello-swift") { _, _ in
    Response(
        status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: "Hello from Swift!\n")))
}
router.get("/hello-swift/json") { _, _ in
    try json(Greeting(message: "Hello from Swift", language: "swift"))
}
router.get("/hello-swift/items/:item_id") { _, context in
    try json(Item(item_id: context.parameters.get("item_id") ?? "", plugin: "hello-swift"))
}

let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "switchboard"))
try await app.runService()
