// The SDK's JSON encoder against itself and Foundation, on the chapter's 1,000-user payload
// (/orjson-large-data with fixed timestamps and UUIDs, so every encoder writes the same bytes).
// bench/json.sh runs it beside Python's orjson on the same data and prints the ratios.
//
//   switchboard-json-bench ITERATIONS OUT_FILE   → one line per encoder: name, bytes, MB/s
import Foundation
import SwitchboardSDK

struct User: Encodable {
    let id: Int
    let name: String
    let email: String
    let created_at: String
    let uuid: String
}

struct Payload: Encodable {
    let users: [User]
    let count: Int
}

/// The payload bench/json.sh also builds in Python.
extension User: JSONWritable {
    func write(to w: inout JSONWriter) {
        w.object { w in
            w.member("id", id)
            w.member("name", name)
            w.member("email", email)
            w.member("created_at", created_at)
            w.member("uuid", uuid)
        }
    }
}

extension Payload: JSONWritable {
    func write(to w: inout JSONWriter) throws {
        try w.object { w in
            try w.member("users", users)
            w.member("count", count)
        }
    }
}

let users = (0..<1000).map { i in
    User(
        id: i, name: "User \(i)", email: "user\(i)@example.com",
        created_at: "2024-01-15T12:00:00.\(String(100_000 + i).suffix(6))",
        uuid: "00000000-0000-4000-8000-\(String(1_000_000_000_000 + i).suffix(12))")
}
let payload = Payload(users: users, count: users.count)

let iterations = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 2000
let outFile = CommandLine.arguments.dropFirst(2).first

/// Best of 5 runs of `iterations` encodings; bytes per second of output.
/// JSONBENCH_ONLY=name runs one encoder (for a profiler).
func measure(_ name: String, _ encode: () throws -> Int) rethrows {
    if let only = ProcessInfo.processInfo.environment["JSONBENCH_ONLY"], only != name { return }
    var best = Double.infinity
    var size = 0
    for _ in 0..<5 {
        let start = ContinuousClock.now
        for _ in 0..<iterations { size = try encode() }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        best = min(best, seconds)
    }
    let rate = Double(size) * Double(iterations) / best / 1e6
    print("\(name) \(size) \(String(format: "%.1f", rate))")
}

/// `Response.json`'s path for a type that is only `Encodable`.
func viaCodable<T: Encodable>(_ value: T) throws -> [UInt8] { try JSONEncoding.encode(value, options: .compact) }

guard try viaCodable(payload) == JSONEncoding.encode(payload, options: .compact) else {
    fatalError("the Codable and JSONWritable paths wrote different bytes")
}
if let outFile {
    try Data(try JSONEncoding.encode(payload, options: .compact)).write(to: URL(fileURLWithPath: outFile))
}
try measure("sdk-writable") { try JSONEncoding.encode(payload, options: .compact).count }
try measure("sdk-codable") { try viaCodable(payload).count }
measure("sdk-writer") {
    var w = JSONWriter(capacity: 160_000)
    w.beginObject()
    w.key("users")
    w.beginArray()
    for user in users {
        w.beginObject()
        w.key("id"); w.int(user.id)
        w.key("name"); w.string(user.name)
        w.key("email"); w.string(user.email)
        w.key("created_at"); w.string(user.created_at)
        w.key("uuid"); w.string(user.uuid)
        w.endObject()
    }
    w.endArray()
    w.key("count"); w.int(users.count)
    w.endObject()
    return w.bytes.count
}
try measure("foundation") { try JSONEncoder().encode(payload).count }
