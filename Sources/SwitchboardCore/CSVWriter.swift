/// RFC 4180 rows as Python's csv.writer writes them (QUOTE_MINIMAL: a field holding a comma,
/// quote or line break is quoted, its quotes doubled; CRLF line ends), built as bytes: an export
/// makes no String per field.
public struct CSVWriter: Sendable {
    /// The rows written so far.
    public private(set) var bytes: [UInt8]
    /// Where the current field began; nil at the start of a row.
    private var fieldStart: Int? = nil

    /// - Parameter capacity: bytes to reserve.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Starts the next field of the current row.
    public mutating func nextField() {
        if fieldStart != nil {
            closeField()
            bytes.append(UInt8(ascii: ","))
        }
        fieldStart = bytes.count
    }

    /// Ends the row with CRLF.
    public mutating func endRow() {
        closeField()
        bytes.append(13)
        bytes.append(10)
        fieldStart = nil
    }

    /// Appends to the current field.
    public mutating func text(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// `value` in decimal, zero-padded to `width` digits.
    public mutating func decimal(_ value: Int, width: Int = 1) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var n = value.magnitude
        var count = 1
        var rest = n
        while rest >= 10 { rest /= 10; count += 1 }
        for _ in count..<max(count, width) { bytes.append(UInt8(ascii: "0")) }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        var k = start + count - 1
        repeat {
            bytes[k] = UInt8(ascii: "0") + UInt8(n % 10)
            n /= 10
            k -= 1
        } while n > 0
    }

    private mutating func closeField() {
        guard let start = fieldStart else { return }
        let special: (UInt8) -> Bool = { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }
        guard bytes[start...].contains(where: special) else { return }
        var quoted: [UInt8] = [UInt8(ascii: "\"")]
        for byte in bytes[start...] {
            quoted.append(byte)
            if byte == UInt8(ascii: "\"") { quoted.append(byte) }
        }
        quoted.append(UInt8(ascii: "\""))
        bytes.replaceSubrange(start..., with: quoted)
    }

    /// One row of fields, each written as text.
    public mutating func row(_ fields: String...) {
        for field in fields {
            nextField()
            text(field)
        }
        endRow()
    }

    /// Empties the writer, keeping its capacity (a stream's next chunk).
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        fieldStart = nil
    }
}

