/// The Server-Sent Events wire form (WHATWG HTML §9.2.6, "Interpreting an event stream"), written
/// once for the SDK's `ServerSentEvent`, the host's topic streams and its lifecycle events.
public enum EventStreamFormat {
    /// Appends one event to `out` (UTF-8 bytes): `id:`, `event:` and `retry:` (milliseconds) when
    /// given, one `data:` line per line of `data` (split at CR LF, LF and CR alike, the three line
    /// ends a client reads, so nothing in `data` can start a field of its own), and the blank line
    /// that dispatches it. `id` and `event` lose their CR, LF and NUL (a client ignores an id with
    /// NUL). An empty `data` gives one empty `data:` line, which a client does not dispatch.
    public static func appendEvent(
        data: some Sequence<UInt8>, event: String? = nil, id: String? = nil, retry: Int? = nil, to out: inout [UInt8]
    ) {
        if let id { field("id", id, to: &out) }
        if let event { field("event", event, to: &out) }
        if let retry { out += Array("retry: \(retry)\n".utf8) }
        out += Array("data: ".utf8)
        var afterCR = false
        for byte in data {
            switch byte {
            case UInt8(ascii: "\r"): out += Array("\ndata: ".utf8)
            case UInt8(ascii: "\n") where afterCR: break  // the LF of a CR LF
            case UInt8(ascii: "\n"): out += Array("\ndata: ".utf8)
            default: out.append(byte)
            }
            afterCR = byte == UInt8(ascii: "\r")
        }
        out += [UInt8(ascii: "\n"), UInt8(ascii: "\n")]
    }

    /// Appends a comment (`: <text>` and a blank line), which a client ignores: it keeps a
    /// connection in use. `text` loses its CR, LF and NUL.
    public static func appendComment(_ text: String, to out: inout [UInt8]) {
        out += [UInt8(ascii: ":"), UInt8(ascii: " ")]
        out += text.utf8.lazy.filter(Self.staysOnItsLine)
        out += [UInt8(ascii: "\n"), UInt8(ascii: "\n")]
    }

    /// `text` without CR, LF and NUL.
    public static func oneLine(_ text: String) -> String {
        String(decoding: text.utf8.lazy.filter(Self.staysOnItsLine), as: UTF8.self)
    }

    private static func field(_ name: String, _ value: String, to out: inout [UInt8]) {
        out += name.utf8
        out += [UInt8(ascii: ":"), UInt8(ascii: " ")]
        out += value.utf8.lazy.filter(Self.staysOnItsLine)
        out.append(UInt8(ascii: "\n"))
    }

    private static func staysOnItsLine(_ byte: UInt8) -> Bool {
        byte != UInt8(ascii: "\n") && byte != UInt8(ascii: "\r") && byte != 0
    }
}
