import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import SwitchboardHost

/// Host services are per server (issue #20, item 2): plugins reach topics, the state store and
/// the default body limit through their handle, so two servers in one process share nothing.
@Suite struct HostServicesTests {
    @Test func twoServersInOneProcessAreIndependent() async throws {
        let small = InProcessHost("services-a", files: [TestPaths.plugin("Status")]) { $0.maxBodyBytes = 64 }
        let large = InProcessHost("services-b", files: [TestPaths.plugin("Status")])
        #expect(small.refused.isEmpty && large.refused.isEmpty, "\(small.refused) \(large.refused)")
        #expect(small.server.registry.services !== large.server.registry.services)
        let json: HTTPFields = [.contentType: "application/json"]
        let item = ByteBuffer(string: #"{"name":"Pen","price":1}"#)
        let padded = ByteBuffer(string: #"{"name":"\#(String(repeating: "p", count: 100))","price":1}"#)
        try await small.test { client in
            for expected in ["/items/3", "/items/4"] {
                let created = try await client.execute(uri: "/items", method: .post, headers: json, body: item)
                #expect(created.status == .created && created.headers[.location] == expected, "\(created.text)")
            }
            // Server A's limit is its own: 64 bytes.
            let tooLarge = try await client.execute(uri: "/items", method: .post, headers: json, body: padded)
            #expect(tooLarge.status == .contentTooLarge)
        }
        try await large.test { client in
            // Server B's store is its own: its first new item is 3 (after the two seeded), and
            // A's second is not here.
            #expect(try await client.execute(uri: "/items/4", method: .get).status == .notFound)
            let created = try await client.execute(uri: "/items", method: .post, headers: json, body: item)
            #expect(created.headers[.location] == "/items/3", "\(created.text)")
            let accepted = try await client.execute(uri: "/items", method: .post, headers: json, body: padded)
            #expect(accepted.status == .created, "\(accepted.text)")
        }
    }
}
