import CSwitchboard
import CSwitchboardFFI

/// A typed handler's libffi call interface, prepared once per route:
/// `fn(handler_data, req, p0, p1, …)` with one native argument per declared parameter.
public final class TypedHandlerCall: @unchecked Sendable {  // the prepared libffi interface is immutable and only read
    private let call: OpaquePointer
    private let kinds: [ParameterSpec.Kind]

    /// nil when the route has no typed handler; throws when libffi refuses the signature.
    public init?(_ route: RouteDeclaration) throws(RouteDeclaration.Invalid) {
        guard route.typedHandler != nil else { return nil }
        kinds = route.metadata.parameters.map(\.kind)
        let raw = kinds.map(\.rawValue)
        guard let call = raw.withUnsafeBufferPointer({ sbh_typed_call_prepare($0.baseAddress, $0.count) }) else {
            throw RouteDeclaration.Invalid(description: "\(route.signature): libffi could not prepare a call for its typed handler")
        }
        self.call = call
    }

    deinit { sbh_typed_call_free(call) }

    /// Calls `fn` with the validated values (every one present: `RouteDeclaration.read` requires a
    /// typed route's parameters to be required or defaulted). `lend` copies a string so it stays
    /// valid, NUL-terminated, for the request.
    public func invoke(
        _ fn: sb_typed_handler_fn, handlerData: UnsafeMutableRawPointer?, request: OpaquePointer,
        values: [ParameterValue?], lend: (String) -> UnsafePointer<CChar>?
    ) -> sb_status {
        var args: [sbh_typed_arg] = []
        args.reserveCapacity(kinds.count)
        for (kind, value) in zip(kinds, values) {
            guard let value else { return SB_ERR_INTERNAL }
            switch kind {
            case .int: args.append(sbh_typed_arg(i64: value.integer))
            case .float: args.append(sbh_typed_arg(f64: value.number))
            case .bool: args.append(sbh_typed_arg(i32: Int32(value.integer)))
            case .string, .enumeration: args.append(sbh_typed_arg(str: lend(value.text)))
            }
        }
        return args.withUnsafeBufferPointer { sbh_typed_call_invoke(call, fn, handlerData, UnsafeMutableRawPointer(request), $0.baseAddress) }
    }
}

extension ParameterValue {
    /// Fills a plugin's `sb_param_value` (request_param), no further than its `struct_size`;
    /// `text` is the value's text lent for the request.
    public func write(to out: UnsafeMutablePointer<sb_param_value>, text: sb_str) {
        RouteDeclaration.writeSized(
            sb_param_value(
                struct_size: out.pointee.struct_size, type: kind.rawValue, present: present ? 1 : 0, reserved: 0,
                integer: integer, number: number, text: text),
            to: out)
    }
}
