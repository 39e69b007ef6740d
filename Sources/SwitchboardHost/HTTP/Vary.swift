import HTTPTypes
import SwitchboardCore

extension HTTPFields {
    /// Adds `name` to the response's `Vary` (RFC 9110 §12.5.5) unless a Vary field already lists
    /// it (compared case-insensitively, element by element) or is `*`: appended to the last Vary
    /// line as one more list element, or as the first Vary line.
    mutating func addVary(_ name: String) {
        var last: Index? = nil
        for i in indices where self[i].name == .vary {
            let wanted = Array(name.lowercased().utf8)
            for element in self[i].value.utf8.split(separator: UInt8(ascii: ",")) {
                let field = element.trimmingHTTPSpace
                if field.elementsEqual("*".utf8) || field.equalsIgnoringASCIICase(wanted) { return }
            }
            last = i
        }
        if let last {
            let value = self[last].value.trimmedHTTPSpace
            self[last].value = value.isEmpty ? name : value + ", " + name
        } else {
            append(HTTPField(name: .vary, value: name))
        }
    }
}

extension HTTPFields {
    /// Whether a field named `name` is present: one pass, nothing joined or copied (the name
    /// subscript joins every value into a new string).
    func has(_ name: HTTPField.Name) -> Bool {
        contains { $0.name == name }
    }

    /// Sets the one field `name` to `value`: appended when absent (the common case, and a cheap
    /// one), otherwise through the subscript, which replaces every line of it.
    /// Whether the request declares a body (`Content-Length` or `Transfer-Encoding`, RFC 9112 §6.3).
    var declaresBody: Bool {
        contains { $0.name == .contentLength || $0.name == .transferEncoding }
    }

    mutating func setSingle(_ name: HTTPField.Name, _ value: String) {
        if has(name) { self[name] = value } else { append(HTTPField(name: name, value: value)) }
    }
}
