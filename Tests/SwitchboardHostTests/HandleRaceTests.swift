import Foundation
import Testing
@testable import SwitchboardHost
import SwitchboardSDK

/// switchboard.h rule 8 over the wire: every host function that hands out a handle or registers a
/// callback, raced against that callback with no delay, from handlers on both event loops. Before
/// the rule held, `/hello-c/count?n=0` crashed the host within a few requests (the first tick ran
/// on the other event loop before `timer_start` wrote the handle, freed its state, and the host
/// then wrote the handle into freed memory).
@Suite struct HandleRaceTests {
    static func server(_ label: String) throws -> ServerProcess {
        let dir = Fixtures.pluginDirectory(label, files: [TestPaths.plugin("HelloC"), Fixtures.built["races"]!])
        return try ServerProcess(pluginDirectories: [dir])
    }

    /// `path` from `workers` connections at once (so handlers run on both event loops), `times`
    /// each; returns every response.
    static func hammer(_ server: ServerProcess, _ path: String, workers: Int = 4, times: Int) -> [Result<RawResponse, any Error>] {
        let results = Locked<[Result<RawResponse, any Error>]>([])
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            for _ in 0..<times {
                let result = Result { try server.get(path) }
                results.withLock { $0.append(result) }
            }
        }
        return results.withLock { $0 }
    }

    @Test func theZeroDelayCounterNeverCrashesTheHost() throws {
        let server = try Self.server("race-count")
        defer { server.stop() }
        for n in [0, 1, 3] {
            for result in Self.hammer(server, "/hello-c/count?n=\(n)", times: 25) {
                let response = try result.get()
                #expect(response.status == 200)
                #expect(response.text == (0..<n).map { "\($0 + 1)\n" }.joined())
            }
        }
        #expect(server.process.isRunning)
        #expect(try server.get("/hello-c").status == 200)
    }

    @Test(arguments: ["timer", "subscribe", "state"])
    func everyCallbackFindsItsHandlePublished(_ kind: String) throws {
        let server = try Self.server("race-\(kind)")
        defer { server.stop() }
        let rounds = kind == "state" ? 100 : 1000
        for result in Self.hammer(server, "/races/\(kind)?rounds=\(rounds)", workers: 2, times: 5) {
            let response = try result.get()
            #expect(response.status == 200)
            #expect(response.text == #"{"rounds":\#(rounds),"unpublished":0}"#)
        }
        #expect(server.process.isRunning)
    }

    @Test func aStreamFinishedByItsFirstTickOnAnotherLoop() throws {
        let server = try Self.server("race-stream")
        defer { server.stop() }
        for result in Self.hammer(server, "/races/stream", times: 50) {
            let response = try result.get()
            #expect(response.status == 200)
            #expect(response.text == "ok\n")
        }
        #expect(server.process.isRunning)
    }
}
