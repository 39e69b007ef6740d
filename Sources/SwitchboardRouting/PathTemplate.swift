/// A route's path template, such as `/items/{item_id}`.
///
/// A template is a sequence of segments separated by `/`. A segment is either literal text or a
/// parameter `{name}` that spans the whole segment and matches any one non-empty segment of a
/// request path. Two templates are *equivalent* when they differ only in parameter names; the
/// registry refuses equivalent templates for the same method in two plugins.
public struct PathTemplate: Hashable, Sendable, CustomStringConvertible {
    /// One `/`-separated segment of a template.
    public enum Segment: Hashable, Sendable {
        /// Text a request's segment must equal, decoded or percent-encoded.
        case literal(String)
        /// `{name}`, holding the name without braces: matches any one non-empty segment.
        case parameter(String)
    }

    /// Why a template was refused; the message says what to write instead.
    public struct Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        /// The template as given.
        public let template: String
        /// What is wrong with it, and what to write instead.
        public let reason: String
        /// `invalid path template "…": reason`, for the log and the plugin's refusal.
        public var description: String { "invalid path template \"\(template)\": \(reason)" }
    }

    /// The template as declared, e.g. `/items/{item_id}`.
    public let text: String
    /// Its segments, in order; empty for `/`.
    public let segments: [Segment]

    /// The parameter names, in order of appearance.
    public var parameterNames: [String] {
        segments.compactMap { if case .parameter(let name) = $0 { name } else { nil } }
    }

    /// The template with parameter names erased: equal shapes mean equivalent templates.
    public var shape: String {
        "/" + segments.map { if case .literal(let s) = $0 { s } else { "{}" } }.joined(separator: "/")
    }

    /// The template as declared (`text`).
    public var description: String { text }

    /// Parses and checks `text`.
    /// - Throws: `Invalid` when it does not start with `/`, exceeds 2048 bytes, or has an empty
    ///   segment, a malformed or repeated parameter, or a `?`, `#`, `%`, space or control character.
    public init(_ text: String) throws(Invalid) {
        func fail(_ reason: String) -> Invalid { Invalid(template: text, reason: reason) }
        // Read as bytes: a combining mark after `/` makes one Character of the two.
        guard text.utf8.first == UInt8(ascii: "/") else { throw fail("it must start with \"/\"") }
        guard text.utf8.count <= 2048 else { throw fail("it is longer than 2048 bytes") }
        if text == "/" {
            self.text = text
            self.segments = []
            return
        }
        var segments: [Segment] = []
        var names = Set<String>()
        for part in text.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            let raw = Substring(part)
            guard !raw.isEmpty else {
                throw fail("it has an empty segment (a doubled or trailing \"/\")")
            }
            if part.first == UInt8(ascii: "{") {
                guard part.last == UInt8(ascii: "}"), part.count > 2 else {
                    throw fail("parameter segment \"\(raw)\" must be \"{name}\" and span the whole segment")
                }
                let name = String(Substring(part.dropFirst().dropLast()))
                guard Self.isIdentifier(name) else {
                    throw fail("parameter name \"\(name)\" must match [A-Za-z_][A-Za-z0-9_]*")
                }
                guard names.insert(name).inserted else { throw fail("parameter \"\(name)\" appears twice") }
                segments.append(.parameter(name))
            } else {
                for scalar in raw.unicodeScalars {
                    switch scalar {
                    case "{", "}":
                        throw fail("segment \"\(raw)\" mixes text and a parameter; a parameter must be a whole segment")
                    case "?", "#":
                        throw fail("it contains \"\(scalar)\"; a template is a path only, without query or fragment")
                    case "%":
                        throw fail("segment \"\(raw)\" is percent-encoded; write the decoded text")
                    default:
                        if scalar.value < 0x21 || scalar.value == 0x7F {
                            throw fail("segment \"\(raw)\" contains a space or control character")
                        }
                    }
                }
                segments.append(.literal(String(raw)))
            }
        }
        self.text = text
        self.segments = segments
    }

    private static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, first == UInt8(ascii: "_") || isLetter(first) else { return false }
        return s.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || (0x30...0x39).contains($0) }
    }

    private static func isLetter(_ c: UInt8) -> Bool { (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }
}
