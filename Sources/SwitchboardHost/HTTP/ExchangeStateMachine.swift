import HTTPTypes

/// The rules of one exchange (`Exchange`, the plugin's `sb_request`), as a value: who may respond
/// when, who is resumed, and when the plugin's handle and the generation's lease are given back.
/// The shell calls it under its lock and acts on the returned action outside it;
/// `ExchangeStateMachineTests` drive it through every order (a response before, during and after
/// the responder waits; a drain deadline before and after the response; a late response).
///
/// `Response` is what the responder sends, `Waiter` how a responder waits for a pending handler.
struct ExchangeStateMachine<Response, Waiter> {
    enum Phase {
        /// The handler runs (or has returned SB_PENDING and no one waits yet): no response yet.
        case handling
        /// The response call was made; the responder has not taken it yet.
        case responded(Response)
        /// The handler returned SB_PENDING and the responder waits for the response.
        case awaiting(Waiter)
        /// The responder has the response (or the host answered in the plugin's stead).
        case delivered
        /// The handler returned without responding and without SB_PENDING: the request failed.
        case failed
    }

    private(set) var phase = Phase.handling
    /// Headers added before the response call, in order; empty after it (they move into the
    /// response).
    private(set) var headers = HTTPFields()
    /// The plugin negotiated the media type (`request_negotiate`): the response varies by Accept.
    private(set) var negotiated = false
    /// The plugin's handle holds a reference on the exchange until its one response call
    /// (accepted or refused) or until its handler fails without one.
    private(set) var handleHeld = true
    /// The exchange holds a lease on its generation until it ends, or until a drain deadline
    /// answers for the plugin.
    private(set) var leaseHeld = true

    /// Whether a response call would still be accepted.
    var mayRespond: Bool {
        if case .handling = phase { return true }
        if case .awaiting = phase { return true }
        return false
    }

    /// `add_header`: false once the response call has been made.
    mutating func addHeader(_ field: HTTPField) -> Bool {
        guard mayRespond else { return false }
        // Room from the first, in one allocation, for a few more and what the host adds on the
        // way out (`HostResponse`): the fields move into the response without a copy.
        if headers.isEmpty { headers.reserveCapacity(8) }
        headers.append(field)
        return true
    }

    /// `request_negotiate` chose a type: false once the response call has been made.
    mutating func negotiate() -> Bool {
        guard mayRespond else { return false }
        negotiated = true
        return true
    }

    struct RespondAction {
        /// Whether the response was accepted (SB_OK) or refused (SB_ERR_STATE).
        var accepted: Bool
        /// The responder waits: resume it with the response.
        var resume: (Waiter, Response)? = nil
        /// Give back the handle's reference: this was the plugin's one response call.
        var releaseHandle: Bool
    }

    /// The plugin's response call. `build` makes the response from the headers added so far
    /// (handed over: the machine keeps none, so changing them copies nothing) and whether it was
    /// negotiated; it runs only when the call is accepted.
    mutating func respond(_ build: (consuming HTTPFields, _ negotiated: Bool) -> Response) -> RespondAction {
        let releaseHandle = handleHeld
        handleHeld = false
        switch phase {
        case .handling:
            phase = .responded(build(takeHeaders(), negotiated))
            return RespondAction(accepted: true, releaseHandle: releaseHandle)
        case .awaiting(let waiter):
            phase = .delivered
            return RespondAction(accepted: true, resume: (waiter, build(takeHeaders(), negotiated)), releaseHandle: releaseHandle)
        case .responded, .delivered, .failed:
            return RespondAction(accepted: false, releaseHandle: releaseHandle)
        }
    }

    private mutating func takeHeaders() -> HTTPFields {
        defer { headers = HTTPFields() }
        return headers
    }

    struct HandlerReturnedAction {
        /// The response to send now (nil: wait, or the request failed; see `failed`).
        var response: Response? = nil
        /// The handler failed without responding: answer 500.
        var failed = false
        var releaseHandle = false
    }

    /// The handler returned without SB_PENDING: its response, or a failure.
    mutating func handlerReturned() -> HandlerReturnedAction {
        switch phase {
        case .responded(let response):
            phase = .delivered
            return HandlerReturnedAction(response: response)
        case .handling:
            phase = .failed
            defer { handleHeld = false }
            return HandlerReturnedAction(failed: true, releaseHandle: handleHeld)
        case .awaiting, .delivered, .failed:
            preconditionFailure("ExchangeStateMachine: the handler returned twice")
        }
    }

    /// The handler returned SB_PENDING and the responder waits with `waiter`: the response when it
    /// is there already (resume at once with it), else nil (the response call resumes the waiter).
    mutating func awaitResponse(_ waiter: Waiter) -> Response? {
        switch phase {
        case .responded(let response):
            phase = .delivered
            return response
        case .handling:
            phase = .awaiting(waiter)
            return nil
        case .awaiting, .delivered, .failed:
            preconditionFailure("ExchangeStateMachine: a second wait for one response")
        }
    }

    struct DrainAction {
        /// The responder waits: resume it with the host's answer.
        var resume: (Waiter, Response)? = nil
        /// Give back the generation's lease now: the plugin's late response will be refused.
        var returnLease = false
    }

    /// The drain deadline passed while the plugin had not answered: the host answers instead
    /// (`unavailable`, made from whether the plugin negotiated), and the lease goes back at once.
    /// Nothing when the plugin has responded or the request failed.
    mutating func endForDrain(_ unavailable: (_ negotiated: Bool) -> Response) -> DrainAction {
        switch phase {
        case .handling:
            phase = .responded(unavailable(negotiated))
        case .awaiting(let waiter):
            phase = .delivered
            leaseHeld = false
            return DrainAction(resume: (waiter, unavailable(negotiated)), returnLease: true)
        case .responded, .delivered, .failed:
            return DrainAction()
        }
        leaseHeld = false
        return DrainAction(returnLease: true)
    }
}
