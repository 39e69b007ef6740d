/// Encodes `Encodable` values to compact JSON with object keys in the order they are encoded
/// (declaration order for synthesised conformances), as FastAPI keeps a model's field order.
/// Slashes are not escaped; non-finite floats, which JSON cannot carry, are an error.
public enum JSONEncoding {
    public static func encode(_ value: some Encodable) throws -> String {
        let root = Node()
        try value.encode(to: NodeEncoder(box: root, codingPath: []))
        var out = ""
        root.write(into: &out)
        return out
    }

    public struct NonFiniteNumber: Error, CustomStringConvertible {
        public let codingPath: String
        public var description: String { "\(codingPath): JSON cannot carry NaN or infinity" }
    }
}

/// One value being built. Arrays and objects keep their children in `items` and `members`.
final class Node {
    enum Kind {
        case unset, null, array, object
        case literal(String)  // numbers and booleans, already spelled
        case string(String)
    }

    var kind: Kind = .unset
    var items: [Node] = []
    var members: [(String, Node)] = []

    func write(into out: inout String) {
        switch kind {
        case .null, .unset: out += "null"
        case .literal(let text): out += text
        case .string(let text): out += JSON.quote(text)
        case .array:
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object:
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                out += JSON.quote(key)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        }
    }
}

/// A finite double as Python's json spells it (Swift's description matches: 1.0, 0.5, 1e+16).
private func spell(_ value: Double, _ path: [any CodingKey]) throws -> Node.Kind {
    guard value.isFinite else { throw JSONEncoding.NonFiniteNumber(codingPath: path.map(\.stringValue).joined(separator: ".")) }
    return .literal("\(value)")
}

private struct NodeEncoder: Encoder {
    let box: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = box.kind {} else { box.kind = .object }
        return KeyedEncodingContainer(Keyed<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = box.kind {} else { box.kind = .array }
        return Unkeyed(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { Single(box: box, codingPath: codingPath) }
}

private struct Single: SingleValueEncodingContainer {
    let box: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { box.kind = .null }
    mutating func encode(_ value: Bool) throws { box.kind = .literal(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { box.kind = .string(value) }
    mutating func encode(_ value: Double) throws { box.kind = try spell(value, codingPath) }
    mutating func encode(_ value: Float) throws { box.kind = try spell(Double(value), codingPath) }
    mutating func encode(_ value: Int) throws { box.kind = .literal(String(value)) }
    mutating func encode(_ value: Int8) throws { box.kind = .literal(String(value)) }
    mutating func encode(_ value: Int16) throws { box.kind = .literal(String(value)) }
    mutating func encode(_ value: Int32) throws { box.kind = .literal(String(value)) }
    mutating func encode(_ value: Int64) throws { box.kind = .literal(String(value)) }
    mutating func encode(_ value: UInt) throws { box.kind = .literal(String(value)) }
    mutating func encode(_ value: UInt8) throws { box.kind = .literal(String(value)) }
    mutating func encode(_ value: UInt16) throws { box.kind = .literal(String(value)) }
    mutating func encode(_ value: UInt32) throws { box.kind = .literal(String(value)) }
    mutating func encode(_ value: UInt64) throws { box.kind = .literal(String(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try value.encode(to: NodeEncoder(box: box, codingPath: codingPath)) }
}

private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: Node
    let codingPath: [any CodingKey]

    private func child(_ key: Key) -> Node {
        if let existing = box.members.first(where: { $0.0 == key.stringValue }) { return existing.1 }
        let child = Node()
        box.members.append((key.stringValue, child))
        return child
    }

    private func single(_ key: Key) -> Single { Single(box: child(key), codingPath: codingPath + [key]) }

    mutating func encodeNil(forKey key: Key) throws { child(key).kind = .null }
    mutating func encode(_ value: Bool, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { var s = single(key); try s.encode(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try value.encode(to: NodeEncoder(box: child(key), codingPath: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(box: child(key), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        NodeEncoder(box: child(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { NodeEncoder(box: box, codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { NodeEncoder(box: child(key), codingPath: codingPath + [key]) }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { String(intValue ?? 0) }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct Unkeyed: UnkeyedEncodingContainer {
    let box: Node
    let codingPath: [any CodingKey]
    var count: Int { box.items.count }

    private func next() -> Node {
        let child = Node()
        box.items.append(child)
        return child
    }

    mutating func encodeNil() throws { next().kind = .null }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = IndexKey(box.items.count)
        try value.encode(to: NodeEncoder(box: next(), codingPath: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(box: next(), codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        NodeEncoder(box: next(), codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { NodeEncoder(box: next(), codingPath: codingPath) }
}
