extension String {
    /// `bytes` as a string, or nil unless they are UTF-8: what `String(validating:as: UTF8.self)`
    /// answers, through the standard library's non-generic UTF-8 path. That initializer is
    /// generic over the encoding and looks its metadata up on every call, which cost about 0.6 %
    /// of a state read's request each time a plugin's key or header value was read, and every string
    /// a JSON body holds paid it too (perf,
    /// bench/RESULTS.md, issue #21). The bytes are checked in place (`isValidUTF8`), then decoded
    /// (nothing to repair). `bytes` is read, not kept.
    package init?(utf8Bytes bytes: UnsafeRawBufferPointer) {
        guard bytes.isValidUTF8 else { return nil }
        self = String(decoding: bytes, as: UTF8.self)
    }
}

extension UnsafeRawBufferPointer {
    /// Whether these bytes are UTF-8, checked in place (the standard library's `UTF8Span`
    /// validation: nothing is copied or allocated). Empty bytes are.
    package var isValidUTF8: Bool {
        do {
            _ = try UTF8Span(validating: Span<UInt8>(_unsafeBytes: self))
            return true
        } catch {
            return false
        }
    }
}
