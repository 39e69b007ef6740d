// The example plugins' handlers written as native Hummingbird routes: the baseline that
// bench/run.sh compares the plugin boundary against. Same paths, headers and bodies as hello-c.
import Hummingbird

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

let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "switchboard"))
try await app.runService()
