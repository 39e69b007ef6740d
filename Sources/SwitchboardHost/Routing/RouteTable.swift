import SwitchboardRouting

/// An immutable snapshot of every route the host serves, built by the registry and swapped whole.
///
/// Lookup walks a trie of path segments. A literal segment is tried before a parameter at the same
/// depth, and the walk backtracks, so `/download/binary` and `/download/{filename}` coexist and
/// the literal wins. HEAD falls back to GET. A path that exists with other methods answers 405.
public final class RouteTable: Sendable {
    public enum Match {
        case found(RouteEntry, parameters: [Substring])
        case methodNotAllowed(allow: [String])
        case notFound
    }

    final class Node: Sendable {
        let literals: [Substring: Node]
        let parameter: Node?
        let routes: [String: RouteEntry]

        init(literals: [Substring: Node], parameter: Node?, routes: [String: RouteEntry]) {
            self.literals = literals
            self.parameter = parameter
            self.routes = routes
        }
    }

    let root: Node
    public let routes: [RouteEntry]

    public static let empty = RouteTable(routes: [])

    /// Builds the trie. The caller guarantees no two routes share a method and template shape.
    public init(routes: [RouteEntry]) {
        self.routes = routes
        self.root = Self.build(routes.map { ($0, $0.template.segments[...]) })
    }

    private static func build(_ items: [(RouteEntry, ArraySlice<PathTemplate.Segment>)]) -> Node {
        var here: [String: RouteEntry] = [:]
        var literalItems: [Substring: [(RouteEntry, ArraySlice<PathTemplate.Segment>)]] = [:]
        var parameterItems: [(RouteEntry, ArraySlice<PathTemplate.Segment>)] = []
        for (route, rest) in items {
            guard let first = rest.first else {
                here[route.method] = route
                continue
            }
            switch first {
            case .literal(let text): literalItems[Substring(text), default: []].append((route, rest.dropFirst()))
            case .parameter: parameterItems.append((route, rest.dropFirst()))
            }
        }
        return Node(
            literals: literalItems.mapValues { build($0) },
            parameter: parameterItems.isEmpty ? nil : build(parameterItems),
            routes: here
        )
    }

    /// Finds the route for `method` and the percent-encoded `path` (without query).
    /// Parameter values are returned still encoded, in template order.
    public func match(method: String, path: String) -> Match {
        guard path.first == "/" else { return .notFound }
        var parameters: [Substring] = []
        guard let node = Self.walk(root, path == "/" ? nil : path.dropFirst(), &parameters) else { return .notFound }
        if let route = node.routes[method] {
            return .found(route, parameters: parameters)
        }
        if method == "HEAD", let route = node.routes["GET"] {
            return .found(route, parameters: parameters)
        }
        var allow = Set(node.routes.keys)
        if allow.contains("GET") { allow.insert("HEAD") }
        return .methodNotAllowed(allow: allow.sorted())
    }

    /// Depth-first: the literal child first, then the parameter child. `rest` is the path after
    /// the last "/" consumed (nil at the end). Returns the node whose routes answer the whole
    /// path, collecting parameter values on the way; allocates nothing for a path without them.
    private static func walk(_ node: Node, _ rest: Substring?, _ parameters: inout [Substring]) -> Node? {
        guard let rest else { return node.routes.isEmpty ? nil : node }
        let slash = rest.firstIndex(of: "/")
        let segment = rest[..<(slash ?? rest.endIndex)]
        let remainder = slash.map { rest[rest.index(after: $0)...] }
        if let child = node.literals[segment] ?? decodedLiteral(node, segment),
            let found = walk(child, remainder, &parameters)
        {
            return found
        }
        if let child = node.parameter, !segment.isEmpty {
            parameters.append(segment)
            if let found = walk(child, remainder, &parameters) { return found }
            parameters.removeLast()
        }
        return nil
    }

    /// A request may percent-encode characters of a literal segment (`/caf%C3%A9`).
    private static func decodedLiteral(_ node: Node, _ segment: Substring) -> Node? {
        guard segment.utf8.contains(UInt8(ascii: "%")), let decoded = segment.percentDecoded() else { return nil }
        return node.literals[Substring(decoded)]
    }
}
