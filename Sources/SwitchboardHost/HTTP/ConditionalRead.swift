import HTTPTypes
import Hummingbird
import NIOCore
import SwitchboardCore

/// Conditional GET and HEAD evaluated by the host (RFC 9110 §13.2.2), on the response a plugin
/// gave, as nginx's `not_modified` filter does for the static files and cached responses it
/// serves: a plugin that sends a 200 with an `ETag` or a `Last-Modified` gets 304 Not Modified
/// (and 412 for a failed `If-Match` or `If-Unmodified-Since`) without reading a conditional field
/// itself. The rules are `Validators.evaluate`'s, the ones the host's file responses and plugins'
/// own evaluations use.
///
/// Only a complete representation is evaluated: a 200 to GET or HEAD whose body is one buffer,
/// with one `ETag` field at most (two are malformed: neither is the representation's tag), from a
/// plugin built for ABI 1.8 or later (earlier ones were promised their 200 as they sent it) on a
/// route without `SB_ROUTE_PRECONDITIONS` (which evaluates its own). A stream or a file (which
/// evaluates its own validators) passes unchanged, and so does every other status: a plugin that
/// answers 304 or 412 itself has decided already (RFC 9110 §15.4.5: a 304 is the 200 the request
/// would otherwise have had).
///
/// The request's tags are the plugin's own by then (`ContentCoding.uncodeTags` took the host's
/// `-gzip` off), so they compare with the tag the plugin sent; `ContentCoding.notModified` puts the
/// coded tag back on a 304 afterwards.
enum ConditionalRead {
    /// The four fields that make a request conditional on a representation's validators.
    private static let conditionalFields: [HTTPField.Name] = [.ifNoneMatch, .ifModifiedSince, .ifMatch, .ifUnmodifiedSince]

    /// Replaces `response` with a 304 or a 412 when `request`'s preconditions say so; otherwise
    /// leaves it as it is. Costs a scan of the request's fields when the request has none of the
    /// four conditional fields.
    static func evaluate(_ response: inout HostResponse, request: Request, route: RouteEntry) {
        guard response.status == .ok, request.method == .get || request.method == .head, case .bytes = response.body,
            request.headers.contains(where: { conditionalFields.contains($0.name) }), route.hostAnswersConditionalReads
        else { return }
        var etag: String? = nil
        var lastModified: Int? = nil
        for field in response.headers {
            if field.name == .eTag {
                guard etag == nil else { return }
                etag = field.value
            } else if field.name == .lastModified, lastModified == nil {
                lastModified = HTTPDate.parse(field.value)
            }
        }
        guard etag != nil || lastModified != nil else { return }
        let validators = Validators(etag: etag, lastModified: lastModified)
        switch validators.evaluate(method: request.method.rawValue, header: { request.head.fieldList(named: $0.utf8) }) {
        case .proceed:
            return
        case .notModified:
            response = HostResponse(status: .notModified, headers: fieldsWithoutContent(response.headers), body: .bytes(ByteBuffer()))
        case .preconditionFailed:
            // The host's JSON error, with the 200's fields but its content's (its Vary and
            // validators with them, as a file's 412 keeps them).
            var failed = JSONError.make(.preconditionFailed, detail: "Precondition Failed")
            var headers = fieldsWithoutContent(response.headers)
            headers.append(contentsOf: failed.headers)
            failed.headers = headers
            response = failed
        }
    }

    /// The 200's fields a 304 or a 412 keeps: all but those that describe the content it does not
    /// carry (`Content-Type`, `Content-Length`, `Content-Encoding`, `Content-Language`, …). RFC
    /// 9110 §15.4.5 lists what a 304 must keep: ETag, Vary, Cache-Control, Expires and
    /// Content-Location (kept too).
    static func fieldsWithoutContent(_ fields: HTTPFields) -> HTTPFields {
        var kept = HTTPFields()
        kept.reserveCapacity(fields.count + 2)  // and what the host adds (Content-Length, Vary)
        for field in fields where field.name == .contentLocation || !field.name.canonicalName.hasPrefix("content-") {
            kept.append(field)
        }
        return kept
    }
}
