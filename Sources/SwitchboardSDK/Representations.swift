// What the SDK adds to the shared representation types of SwitchboardCore: the forms that take a
// plugin's `Request`, answer with a `Response` or throw an `HTTPError`.
#if canImport(Glibc)
import Glibc
#endif

extension Request {
    /// The body checked against `schema`: a 422 in FastAPI's shape, listing every issue, unless
    /// it passes. `asDictionary`: the body stands for a `dict` (PATCH), not a model.
    public func validate(_ schema: BodySchema, asDictionary: Bool = false) throws(HTTPError) -> BodySchema.Body {
        switch schema.validate(body, contentType: header("content-type"), asDictionary: asDictionary) {
        case .success(let body): return body
        case .failure(let failure): throw HTTPError(422, json: failure.body)
        }
    }
}

extension Validators {
    /// `evaluate(method:header:)` for a plugin's request, each field's lines read as one list
    /// (`Request.headerList`): two `If-Match` lines are one list of tags.
    public func evaluate(_ request: Request) -> Outcome {
        evaluate(method: request.method, header: { request.headerList($0) })
    }

    /// A 304: no body, and the fields RFC 9110 §15.4.5 asks for (the validators, and whatever
    /// `also` the 200 would have sent among Cache-Control, Content-Location, Expires and Vary).
    public func notModified(also: [(name: String, value: String)] = []) -> Response {
        Response(status: 304, headers: headers + also)
    }
}

extension StateStore {
    /// What a conditional change does with the value it read.
    public enum Change: Sendable {
        /// Store these bytes instead.
        case replace([UInt8])
        /// Remove the key.
        case delete
    }

    /// 412 `{"detail":"Precondition Failed"}`.
    public static let preconditionFailed = HTTPError(412, detail: "Precondition Failed")

    /// Changes the value at `key` only if `request`'s preconditions hold for it (RFC 9110 §13.2.2):
    /// reads the value, evaluates the request's If-Match, If-Unmodified-Since and If-None-Match
    /// against `validators(current)`, then writes `change(current)` with compare-and-put (or
    /// compare-and-delete), so a change made meanwhile makes it read and evaluate again. The one
    /// way for every state-changing method (PUT, PATCH, DELETE, POST) to honour a client's
    /// validators; declare the route with `evaluatesPreconditions: true`, or the host answers
    /// 412 for any tag in If-Match on its own.
    ///
    /// - Returns: the value stored now; nil after `.delete`.
    /// - Throws: `notFound` when `key` is absent (its preconditions are then not evaluated, as
    ///   RFC 9110 §13.2.1 asks for a response that would not be 2xx); `preconditionFailed` when
    ///   they fail; what `change` throws (nothing is written then); 503 with `Retry-After: 1`
    ///   when the store fails (logged with the plugin's name), or when 64 attempts in a row met a
    ///   value changed meanwhile.
    @discardableResult
    public func update(
        _ key: String, request: Request, validators: ([UInt8]) -> Validators, notFound: HTTPError,
        preconditionFailed: HTTPError = StateStore.preconditionFailed, _ change: ([UInt8]) throws(HTTPError) -> Change
    ) async throws(HTTPError) -> [UInt8]? {
        func unavailable(_ failure: Failure) -> HTTPError {
            app.log(.error, "state store: \(failure) for \(request.method) \(request.path)")
            return HTTPError(503, detail: "The store is unavailable; retry the request", headers: [("retry-after", "1")])
        }
        // A value that changes under every attempt is contention no client should wait out.
        for _ in 0..<64 {
            let fetched: [UInt8]?
            do { fetched = try await get(key) } catch { throw unavailable(error) }
            guard let current = fetched else { throw notFound }
            guard validators(current).evaluate(request) == .proceed else {
                throw preconditionFailed
            }
            let next = try change(current)
            do {
                switch next {
                case .replace(let value):
                    try await compareAndPut(key, expected: current, value)
                    return value
                case .delete:
                    try await compareAndDelete(key, expected: current)
                    return nil
                }
            } catch .conflict {
                continue
            } catch .notFound {
                throw notFound  // deleted meanwhile
            } catch {
                throw unavailable(error)
            }
        }
        throw HTTPError(503, detail: "The resource changed under 64 attempts to update it; retry the request", headers: [("retry-after", "1")])
    }
}
