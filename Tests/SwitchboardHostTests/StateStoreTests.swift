import CSwitchboard
import Foundation
import Testing
@testable import SwitchboardHost

/// The durable state store: what a plugin writes is there after a restart, a crash mid-append
/// loses only that append, and the log does not grow without bound.
@Suite struct StateStoreTests {
    static func text(_ store: StateStore, _ plugin: String, _ key: String) -> String? {
        (try? store.get(plugin: plugin, key: key)).map { String(decoding: $0.value, as: UTF8.self) }
    }

    @Test func everyChangeSurvivesReopening() throws {
        let directory = TestPaths.temporaryDirectory("state") + "/nested/state"
        do {
            let store = try StateStore(directory: directory)
            _ = try store.put(plugin: "status", key: "items/1", value: Array(#"{"name":"a"}"#.utf8))
            _ = try store.put(plugin: "status", key: "items/2", value: Array("two".utf8))
            _ = try store.put(plugin: "other", key: "items/1", value: Array("theirs".utf8))
            #expect(try store.increment(plugin: "status", key: "next_id", by: 1).number == 1)
            #expect(try store.increment(plugin: "status", key: "next_id", by: 1).number == 2)
            _ = try store.delete(plugin: "status", key: "items/2")
            _ = try store.compareAndPut(plugin: "status", key: "items/1", expected: Array(#"{"name":"a"}"#.utf8), value: Array(#"{"name":"b"}"#.utf8))
            #expect(throws: StateError.self) { try store.compareAndPut(plugin: "status", key: "items/1", expected: Array("stale".utf8), value: []) }
            #expect(throws: StateError.self) { try store.delete(plugin: "status", key: "missing") }
        }
        let reopened = try StateStore(directory: directory)
        #expect(Self.text(reopened, "status", "items/1") == #"{"name":"b"}"#)
        #expect(Self.text(reopened, "status", "items/2") == nil)
        #expect(Self.text(reopened, "other", "items/1") == "theirs")
        #expect(try reopened.increment(plugin: "status", key: "next_id", by: 1).number == 3, "ids keep counting after a restart")
        #expect(try reopened.list(plugin: "status", prefix: "items/", after: "", limit: 0).entries.map(\.key) == ["items/1"])
    }

    @Test func aTornLastRecordIsDroppedAndTheLogStaysUsable() throws {
        let directory = TestPaths.temporaryDirectory("state-torn")
        do {
            let store = try StateStore(directory: directory)
            _ = try store.put(plugin: "p", key: "kept", value: Array("1".utf8))
        }
        // A crash in the middle of an append: half a record at the end of the file.
        let record = StateStore.encode(.put("p", "lost", Array("2".utf8)))
        let handle = try #require(FileHandle(forWritingAtPath: directory + "/state.log"))
        handle.seekToEndOfFile()
        handle.write(Data(record.prefix(record.count / 2)))
        handle.closeFile()
        do {
            let store = try StateStore(directory: directory)
            #expect(Self.text(store, "p", "kept") == "1")
            #expect(Self.text(store, "p", "lost") == nil)
            _ = try store.put(plugin: "p", key: "after", value: Array("3".utf8))
        }
        let store = try StateStore(directory: directory)
        #expect(Self.text(store, "p", "after") == "3", "a record after the torn one is read back")

        // A flipped bit fails the CRC: replay stops there rather than reading garbage.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/state.log")))
        bytes[bytes.count - 1] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/state.log"))
        #expect(Self.text(try StateStore(directory: directory), "p", "after") == nil)
    }

    @Test func aFileThatIsNotAStateLogIsRefusedWithAMessage() throws {
        let directory = TestPaths.temporaryDirectory("state-foreign")
        try Data("not a log".utf8).write(to: URL(fileURLWithPath: directory + "/state.log"))
        #expect { try StateStore(directory: directory) } throws: { error in
            "\(error)".contains("is not a Switchboard state log")
        }
    }

    @Test func theLogIsCompactedAsItGrows() throws {
        let directory = TestPaths.temporaryDirectory("state-compact")
        let store = try StateStore(directory: directory, compactAt: 64 * 1024)
        let value = [UInt8](repeating: 0x61, count: 1000)
        for round in 0..<500 { _ = try store.put(plugin: "p", key: "key-\(round % 10)", value: value) }
        // 500 puts of 1 KB would be ~500 KB; ten live keys stay ~10 KB, so compaction kept it small.
        #expect(store.fileSize < 80 * 1024, "the log is \(store.fileSize) bytes")
        #expect(try store.list(plugin: "p", prefix: "", after: "", limit: 0).entries.count == 10)
        let reopened = try StateStore(directory: directory)
        #expect(try reopened.list(plugin: "p", prefix: "key-", after: "", limit: 0).entries.map(\.value) == Array(repeating: value, count: 10))
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926, "the standard CRC-32 check value")
    }

    @Test func theServerWillNotStartOnAStateLogItCannotRead() throws {
        let state = TestPaths.temporaryDirectory("state-server")
        try FileManager.default.createDirectory(atPath: state + "/state", withIntermediateDirectories: true)
        try Data("junk".utf8).write(to: URL(fileURLWithPath: state + "/state/state.log"))
        #expect {
            try ServerProcess(pluginDirectories: [], environment: ["SWITCHBOARD_STATE_DIRECTORY": state])
        } throws: { error in
            "\(error)".contains("cannot open the state store") && "\(error)".contains("is not a Switchboard state log")
        }
    }
}
