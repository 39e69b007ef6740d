import CSwitchboard

/// Serves `response_file`. Declared in ABI 1.0; the host implementation arrives with the
/// streaming module (issue #5). Until then the call answers SB_ERR_UNSUPPORTED, as the header
/// allows for any service a host does not provide, and the plugin responds otherwise.
enum FileResponder {
    static func respond(_ exchange: Exchange, spec: sb_file_spec) -> sb_status {
        SB_ERR_UNSUPPORTED
    }
}
