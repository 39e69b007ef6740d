import HTTPTypes
import SwitchboardCore

extension HTTPFields {
    /// Adds `name` to the response's `Vary` (RFC 9110 §12.5.5) unless a Vary field already lists
    /// it (compared case-insensitively, element by element) or is `*`: appended to the last Vary
    /// line as one more list element, or as the first Vary line.
    mutating func addVary(_ name: String) {
        var last: Index? = nil
        for i in indices where self[i].name == .vary {
            for element in self[i].value.utf8.split(separator: UInt8(ascii: ",")) {
                let field = element.trimmingHTTPSpace
                if field.elementsEqual("*".utf8) || field.equalsFoldingASCIICase(name.utf8) { return }
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
    /// Whether the request declares a body (`Content-Length` or `Transfer-Encoding`, RFC 9112 §6.3):
    /// one pass over the fields, nothing joined or copied.
    var declaresBody: Bool {
        contains { $0.name == .contentLength || $0.name == .transferEncoding }
    }
}
