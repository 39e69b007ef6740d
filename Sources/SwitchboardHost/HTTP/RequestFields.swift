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
        if name.equalsIgnoringASCIICase("host".utf8) { return index == 0 ? authority : nil }
        var seen = 0
        for field in headerFields where name.equalsIgnoringASCIICase(field.name.canonicalName.utf8) {
            if seen == index { return field.value }
            seen += 1
        }
        return nil
    }

    /// Every line of the field named `name` (compared as `fieldValue` compares), joined with
    /// ", ": a list-valued field (If-Match, Accept) may arrive on several lines, read as one list
    /// (RFC 9110 §5.3). nil when the request has none.
    func fieldList(named name: some Collection<UInt8>) -> String? {
        guard let first = fieldValue(named: name) else { return nil }
        guard fieldValue(named: name, index: 1) != nil else { return first }
        var lines = [first]
        while let line = fieldValue(named: name, index: lines.count) { lines.append(line) }
        return lines.joined(separator: ", ")
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
