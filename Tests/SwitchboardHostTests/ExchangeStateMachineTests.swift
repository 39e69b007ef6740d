import HTTPTypes
import Testing
@testable import SwitchboardHost

/// `ExchangeStateMachine` without sockets (issue #20): responses are strings, waiters numbers.
@Suite struct ExchangeStateMachineTests {
    typealias Machine = ExchangeStateMachine<String, Int>

    static func ok(_ headers: HTTPFields, _ negotiated: Bool) -> String {
        "200 \(headers.map { "\($0.name)=\($0.value)" }.joined(separator: ","))\(negotiated ? " vary" : "")"
    }

    @Test func aHandlerThatRespondsBeforeReturning() {
        var m = Machine()
        #expect(m.addHeader(HTTPField(name: .cacheControl, value: "no-cache")) == true)
        #expect(m.negotiate() == true)
        let first = m.respond(Self.ok)
        #expect(first.accepted && first.releaseHandle && first.resume == nil)
        #expect(m.addHeader(HTTPField(name: .eTag, value: "\"x\"")) == false, "headers after the response call are refused")
        #expect(m.negotiate() == false)
        let second = m.respond(Self.ok)
        #expect(!second.accepted && !second.releaseHandle, "one response call; the handle went back once")
        let returned = m.handlerReturned()
        #expect(returned.response == "200 Cache-Control=no-cache vary" && !returned.failed && !returned.releaseHandle)
        #expect(m.leaseHeld, "the lease goes back when the exchange is gone")
    }

    /// A plugin's field from its bytes: a common media type is the host's shared string, any
    /// other value (one byte off, another case, longer) is kept exactly as sent, and a value that
    /// is not UTF-8 or not a field value is refused.
    @Test(arguments: [
        ("content-type", Array("application/json".utf8), "application/json"),
        ("content-type", Array("text/plain; charset=utf-8".utf8), "text/plain; charset=utf-8"),
        ("content-type", Array("application/jsoN".utf8), "application/jsoN"),
        ("content-type", Array("application/json5".utf8), "application/json5"),
        ("content-type", Array("application/jso".utf8), "application/jso"),
        ("etag", Array("\"efb5ab0167cd0492\"".utf8), "\"efb5ab0167cd0492\""),
        ("x-utf8", Array("café ✓ application/j".utf8), "café ✓ application/j"),
        ("content-type", [0x61, 0x70, 0x70, 0xFF] + Array("lication/json".utf8), nil),
        ("content-type", Array("application/json\r\nx: y".utf8), nil),
        ("bad name", Array("application/json".utf8), nil),
    ] as [(String, [UInt8], String?)])
    func aPluginFieldFromBytes(name: String, value: [UInt8], expected: String?) {
        var name = name
        let field = name.withUTF8 { name in value.withUnsafeBytes { HTTPField(pluginName: UnsafeRawBufferPointer(name), value: $0) } }
        #expect(field?.value == expected)
        if let field { #expect(Array(field.value.utf8) == value, "byte for byte") }
    }

    @Test func aPendingHandlerAnsweredLater() {
        var m = Machine()
        #expect(m.awaitResponse(7) == nil, "nothing yet: the responder waits")
        let action = m.respond(Self.ok)
        #expect(action.accepted && action.releaseHandle)
        #expect(action.resume?.0 == 7 && action.resume?.1 == "200 ")
    }

    @Test func aPendingHandlerThatAnsweredBeforeTheWait() {
        // The response call raced ahead of the responder's wait (another thread answered).
        var m = Machine()
        _ = m.respond(Self.ok)
        #expect(m.awaitResponse(7) == "200 ")
    }

    @Test func aHandlerThatFailsWithoutResponding() {
        var m = Machine()
        let returned = m.handlerReturned()
        #expect(returned.failed && returned.response == nil && returned.releaseHandle)
        // A late call on the handle (a plugin bug) is refused and releases nothing twice.
        let late = m.respond(Self.ok)
        #expect(!late.accepted && !late.releaseHandle)
    }

    @Test func theDrainDeadlineAnswersAWaitingResponder() {
        var m = Machine()
        _ = m.negotiate()
        #expect(m.awaitResponse(3) == nil)
        let drain = m.endForDrain { negotiated in negotiated ? "503 vary" : "503" }
        #expect(drain.resume?.0 == 3 && drain.resume?.1 == "503 vary" && drain.returnLease)
        #expect(!m.leaseHeld, "returned early: the generation need not wait for the plugin")
        // The plugin answers late: refused, and its handle's reference goes back then.
        let late = m.respond(Self.ok)
        #expect(!late.accepted && late.releaseHandle)
        #expect(m.endForDrain { _ in "503" }.returnLease == false, "a second deadline does nothing")
    }

    @Test func theDrainDeadlineBeforeTheHandlerReturns() {
        // A blocking handler still running at the deadline: the host's answer waits for its return.
        var m = Machine()
        let drain = m.endForDrain { _ in "503" }
        #expect(drain.resume == nil && drain.returnLease)
        #expect(!m.respond(Self.ok).accepted)
        #expect(m.handlerReturned().response == "503")
    }

    @Test func theDrainDeadlineAfterTheResponseChangesNothing() {
        var m = Machine()
        _ = m.respond(Self.ok)
        let drain = m.endForDrain { _ in "503" }
        #expect(drain.resume == nil && !drain.returnLease && m.leaseHeld)
        #expect(m.handlerReturned().response == "200 ")
    }
}
