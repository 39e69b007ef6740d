import struct SwitchboardCore.CodePointKey
import SwitchboardRouting

/// An immutable snapshot of every route the host serves, built by the registry and swapped whole.
///
/// Lookup walks a trie of path segments. A literal segment is tried before a parameter at the same
/// depth, and the walk backtracks, so `/download/binary` and `/download/{filename}` coexist and
/// the literal wins, for the methods it has. HEAD falls back to GET. A path that exists with other
/// methods answers 405.
public final class RouteTable: Sendable {
    /// The outcome of `match(method:path:)`: the route with its parameter values (still
    /// percent-encoded, in template order); the methods for `Allow` when the path exists with other
    /// methods only (405); or nothing at that path (404).
    public enum Match {
        case found(RouteEntry, parameters: [Substring])
        case methodNotAllowed(allow: [String])
        case notFound
    }

    final class Node: Sendable {
        /// The literal children by segment, compared byte for byte (a path is bytes: RFC 3986
        /// §6.2.1 compares without any Unicode normalization).
        let literals: [(segment: Substring, node: Node)]
        /// The same, hashed by code points, when there are too many children to scan (nil
        /// otherwise).
        let literalIndex: [CodePointKey: Node]?
        let parameter: Node?
        /// The routes ending here, by method: a handful at most, scanned.
        let routes: [(method: String, entry: RouteEntry)]

        init(literals: [(segment: Substring, node: Node)], parameter: Node?, routes: [(method: String, entry: RouteEntry)]) {
            self.literals = literals
            // Keys are unique: `build` groups the segments by `CodePointKey` too.
            self.literalIndex = literals.count > 8 ? Dictionary(uniqueKeysWithValues: literals.map { (CodePointKey($0.segment), $0.node) }) : nil
            self.parameter = parameter
            self.routes = routes
        }

        func literal(_ segment: Substring) -> Node? {
            if let literalIndex { return literalIndex[CodePointKey(segment)] }
            for child in literals where child.segment.hasSameCodePoints(as: segment) { return child.node }
            return nil
        }

        func route(_ method: String) -> RouteEntry? {
            for route in routes where route.method.hasSameCodePoints(as: method) { return route.entry }
            return nil
        }
    }

    let root: Node
    /// Every route, in the order given to `init` (the registry's: by plugin name, then as declared).
    public let routes: [RouteEntry]

    /// A table without routes: every lookup is `.notFound`.
    public static let empty = RouteTable(routes: [])

    /// Builds the trie. The caller guarantees no two routes share a method and template shape.
    public init(routes: [RouteEntry]) {
        self.routes = routes
        self.root = Self.build(routes.map { ($0, $0.template.segments[...]) })
    }

    private static func build(_ items: [(RouteEntry, ArraySlice<PathTemplate.Segment>)]) -> Node {
        var here: [String: RouteEntry] = [:]
        // By code points: `/café` and `/cafe\u{301}` are two paths (RFC 3986 §6.2.1 compares
        // without Unicode normalization), which `String`'s equality would make one.
        var literalItems: [CodePointKey: [(RouteEntry, ArraySlice<PathTemplate.Segment>)]] = [:]
        var parameterItems: [(RouteEntry, ArraySlice<PathTemplate.Segment>)] = []
        for (route, rest) in items {
            guard let first = rest.first else {
                here[route.method] = route
                continue
            }
            switch first {
            case .literal(let text): literalItems[CodePointKey(text), default: []].append((route, rest.dropFirst()))
            case .parameter: parameterItems.append((route, rest.dropFirst()))
            }
        }
        return Node(
            literals: literalItems.sorted { $0.key < $1.key }.map { (segment: $0.key.text, node: build($0.value)) },
            parameter: parameterItems.isEmpty ? nil : build(parameterItems),
            routes: here.sorted { $0.key < $1.key }.map { (method: $0.key, entry: $0.value) }
        )
    }

    /// Finds the route for `method` and the percent-encoded `path` (without query).
    /// Parameter values are returned still encoded, in template order.
    ///
    /// Of the templates that match the path, the most specific one that has a route for the
    /// method answers (HEAD falls back to GET), as in Starlette: `DELETE /items/new` reaches
    /// `DELETE /items/{id}` even beside `GET /items/new`. Only when none has the method is the
    /// answer 405, with every method of every matching template in `Allow` (RFC 9110 §15.5.6).
    public func match(method: String, path: String) -> Match {
        guard path.utf8.first == UInt8(ascii: "/") else { return .notFound }
        let rest = path.utf8.count == 1 ? nil : Substring(path.utf8.dropFirst())
        var parameters: [Substring] = []
        let answers: (Node) -> Bool = { node in node.route(method) != nil || (method == "HEAD" && node.route("GET") != nil) }
        if let node = Self.walk(root, rest, &parameters, accept: answers), let route = node.route(method) ?? node.route("GET") {
            return .found(route, parameters: parameters)
        }
        var allow = Set<String>()
        var ignored: [Substring] = []
        _ = Self.walk(root, rest, &ignored) { node in
            allow.formUnion(node.routes.map(\.method))
            return false  // visit every matching template
        }
        guard !allow.isEmpty else { return .notFound }
        if allow.contains("GET") { allow.insert("HEAD") }
        return .methodNotAllowed(allow: allow.sorted())
    }

    /// Depth-first: the literal child first, then the parameter child. `rest` is the path after
    /// the last "/" consumed (nil at the end). Returns the first node that matches the whole path
    /// and that `accept` takes, collecting parameter values on the way; allocates nothing for a
    /// path without them.
    private static func walk(_ node: Node, _ rest: Substring?, _ parameters: inout [Substring], accept: (Node) -> Bool) -> Node? {
        guard let rest else { return accept(node) ? node : nil }
        // Searched as bytes: "/" is ASCII, so its index is a character boundary of `rest`.
        let slash = rest.utf8.firstIndex(of: UInt8(ascii: "/"))
        let segment = rest[..<(slash ?? rest.endIndex)]
        let remainder = slash.map { rest[rest.utf8.index(after: $0)...] }
        if let child = node.literal(segment) ?? decodedLiteral(node, segment),
            let found = walk(child, remainder, &parameters, accept: accept)
        {
            return found
        }
        if let child = node.parameter, !segment.isEmpty {
            parameters.append(segment)
            if let found = walk(child, remainder, &parameters, accept: accept) { return found }
            parameters.removeLast()
        }
        return nil
    }

    /// A request may percent-encode characters of a literal segment (`/caf%C3%A9`).
    private static func decodedLiteral(_ node: Node, _ segment: Substring) -> Node? {
        guard segment.utf8.contains(UInt8(ascii: "%")), let decoded = segment.percentDecoded() else { return nil }
        return node.literal(Substring(decoded))
    }
}
