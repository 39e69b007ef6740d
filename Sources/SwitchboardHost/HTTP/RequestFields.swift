import HTTPTypes
import SwitchboardCore

extension HTTPRequest {
    /// The value of the `index`-th line (0 is the first) of the field whose name is `name`'s
    /// bytes, compared with ASCII letters folded (RFC 9110 §5.1) and no name made; nil when the
    /// request has no such line. Host is one of the fields: swift-http-types keeps it as the
    /// `:authority` pseudo-header, apart from `headerFields`, where a lookup by name misses it.
    /// A request has one Host line at most (the connection answers 400 to two).
    func fieldValue(named name: some Collection<UInt8>, index: Int = 0) -> String? {
        guard index >= 0 else { return nil }
        if name.isHost { return index == 0 ? authority : nil }
        var seen = 0
        for field in headerFields where name.names(field) {
            if seen == index { return field.value }
            seen += 1
        }
        return nil
    }

    /// Every line of the field named `name` (compared as `fieldValue` compares), joined with
    /// ", " in the order received: a list-valued field (If-Match, Accept) may arrive on several
    /// lines, read as one list (RFC 9110 §5.3). nil when the request has none. One pass; a
    /// string is made only for a second line.
    func fieldList(named name: some Collection<UInt8>) -> String? {
        if name.isHost { return authority }
        var list: String? = nil
        for field in headerFields where name.names(field) {
            list = list.map { $0 + ", " + field.value } ?? field.value
        }
        return list
    }

    /// How many lines `fieldLine(at:)` lists: the fields, and Host when the request has it.
    var fieldLineCount: Int { headerFields.count + (authority == nil ? 0 : 1) }

    /// The `index`-th line as received (names in lower case): Host first, when the request has
    /// it, then the other fields in their order. nil past the last.
    func fieldLine(at index: Int) -> (name: String, value: String)? {
        guard index >= 0 else { return nil }
        var index = index
        if let authority {
            if index == 0 { return ("host", authority) }
            index -= 1
        }
        guard index < headerFields.count else { return nil }
        let field = headerFields[headerFields.index(headerFields.startIndex, offsetBy: index)]
        return (field.name.canonicalName, field.value)
    }
}

extension Collection<UInt8> {
    /// Whether these bytes name Host, ASCII letters folded.
    fileprivate var isHost: Bool { equalsIgnoringASCIICase("host".utf8) }

    /// Whether these bytes are `field`'s name, ASCII letters folded (RFC 9110 §5.1).
    fileprivate func names(_ field: HTTPField) -> Bool { equalsIgnoringASCIICase(field.name.canonicalName.utf8) }
}
