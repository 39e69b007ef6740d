// status: section 8.1 of the chapter ("Status Codes") and its first exercise, as one plugin on the
// SDK, with its data in the host's state store (it survives hot swaps and restarts).
//
//   GET    /status-demo                     the status codes an API uses, by class
//   GET    /items?skip=0&limit=10           a page of items, with the total
//   POST   /items                           201 + Location; 422 for a body that is not an Item
//   GET    /items/{item_id}                 200 with an ETag (If-None-Match → 304, If-Match → 412: the host's), or 404
//   PUT    /items/{item_id}                 full replace; If-Match that does not match → 412
//   PATCH  /items/{item_id}                 partial update, types checked (422 stores nothing)
//   DELETE /items/{item_id}                 204, or 404
//   POST   /users                           201 + Location, 409 when the id exists
//   GET    /users/{user_id}                 what that Location names
//   GET    /conditional                     ETag + Last-Modified; If-None-Match / If-Modified-Since → 304
//   PUT    /conditional?content=            If-Match / If-Unmodified-Since that fail → 412
//   GET    /variants/items-apierror/{id}    the chapter's APIError body {code, message, details}: 400, 403, 404
//   POST   /variants/items-method1          the chapter's "Method 1" create (201)
//   POST   /variants/items-method3?name=    the chapter's "Method 3" create (201 + Location, 400)
//   POST   /reports                         202 Accepted + Location of a report computed in the background
//   GET    /reports/{report_id}             its status: pending (with Retry-After), then done
//
// Where the chapter is wrong this plugin is not: ETags are quoted and compared as RFC 9110 says
// (weakly for If-None-Match, with lists and *), a 304 has no body, PATCH validates what it stores.
// plugins.config.status.report_delay_ms (default 1000) is how long a report takes.

import Crypto
import Synchronization
import SwitchboardSDK

#if canImport(Glibc)
import Glibc
#endif

let itemID = Param<Int>.path("item_id").ge(1).description("The item's id")
let userID = Param<Int>.path("user_id").description("The user's id")
let reportID = Param<Int>.path("report_id").ge(1).description("The report's id")
let skip = Param<Int>.query("skip", default: 0).ge(0).description("Items to skip")
let limit = Param<Int>.query("limit", default: 10).ge(0).le(1000).description("Items to return at most")
let content = Param<String>.query("content").maxLength(4096).description("The resource's new content")
let anyItemID = Param<Int>.path("item_id").description("Any integer: the chapter's APIError example checks it")
let name = Param<String>.query("name").description("The item's name; empty is the chapter's 400")

let itemSchema = BodySchema(.string("name"), .number("price"))
let userSchema = BodySchema(.integer("id"), .string("username"))
let method1Schema = BodySchema(.integer("id"), .string("name"))

let plugin = Plugin(name: "status", version: "1.0.0", description: "Section 8.1 of the chapter: status codes, CRUD, conditional requests, error bodies") { app in
    let store = Store(app: app)
    let reportDelay = Duration.milliseconds(max(0, Int(app.config("report_delay_ms") ?? "") ?? 1000))
    let reports = Reports(app: app, store: store, delay: reportDelay)
    store.whenReady { reports.resumePending() }

    app.get("/status-demo", summary: "Common HTTP status codes for APIs") { _ in
        .json(raw: statusDemo)
    }

    // MARK: Items

    app.get("/items", params: [skip, limit], summary: "List items", responses: [ResponseDoc(200, "application/json")]) { req in
        let (skip, limit) = (try req[skip], try req[limit])
        let page = try await store.page(prefix: Keys.items, skip: skip, limit: limit)
        var body = Array(#"{"items":["#.utf8)
        for (i, item) in page.entries.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += item
        }
        body += Array(#"],"count":\#(page.entries.count),"total":\#(page.total)}"#.utf8)
        return .bytes(body, contentType: "application/json")
    }

    app.post("/items", summary: "Create an item", responses: [ResponseDoc(201, "application/json"), ResponseDoc(422)], body: itemSchema) { req in
        let body = try req.validate(itemSchema)
        let item = Item(id: try await store.nextItemID(), name: body.string("name")!, price: body.double("price")!)
        try await store.createNew(Keys.item(item.id), item.json)
        return Response(status: 201, headers: [("content-type", "application/json"), ("location", "/items/\(item.id)"), ("etag", ETag.of(item.json))], body: item.json)
    }

    app.get("/items/{item_id}", params: [itemID], summary: "Get an item", responses: [ResponseDoc(200, "application/json"), ResponseDoc(304), ResponseDoc(404), ResponseDoc(412, "application/json")]) { req in
        let id = try req[itemID]
        return try store.answer(req, from: Keys.item(id)) { stored, req throws(HTTPError) in
            guard let stored else { throw Item.notFound(id) }
            // The host answers If-None-Match (304) and If-Match (412) from the ETag (ABI 1.8).
            return representation(Item.validators(stored), stored)
        }
    }

    app.put("/items/{item_id}", params: [itemID], summary: "Replace an item; If-Match that does not match → 412", responses: [ResponseDoc(200, "application/json"), ResponseDoc(404), ResponseDoc(412), ResponseDoc(422)], body: itemSchema, evaluatesPreconditions: true) { req in
        let id = try req[itemID]
        let body = try req.validate(itemSchema)
        let item = Item(id: id, name: body.string("name")!, price: body.double("price")!)
        let stored = try await store.update(Keys.item(id), request: req, validators: Item.validators, notFound: Item.notFound(id)) { _ in .replace(item.json) }
        guard let stored else { throw Item.notFound(id) }
        return Response(status: 200, headers: [("content-type", "application/json"), ("etag", ETag.of(stored))], body: stored)
    }

    app.patch("/items/{item_id}", params: [itemID], summary: "Update some fields of an item; If-Match that does not match → 412", responses: [ResponseDoc(200, "application/json"), ResponseDoc(404), ResponseDoc(412), ResponseDoc(422)], body: itemSchema.partial, evaluatesPreconditions: true) { req in
        let id = try req[itemID]
        // The chapter takes a dict and copies the keys an item has: here their types are checked
        // first, so a bad value is a 422 and nothing is stored.
        let body = try req.validate(itemSchema.partial, asDictionary: true)
        let stored = try await store.update(Keys.item(id), request: req, validators: Item.validators, notFound: Item.notFound(id)) { (current: [UInt8]) throws(HTTPError) -> StateStore.Change in
            guard var item = Item(json: current) else { throw HTTPError(500, detail: "Item \(id) is stored in a form this plugin cannot read") }
            if let name = body.string("name") { item.name = name }
            if let price = body.double("price") { item.price = price }
            return .replace(item.json)
        }
        guard let stored else { throw Item.notFound(id) }
        return Response(status: 200, headers: [("content-type", "application/json"), ("etag", ETag.of(stored))], body: stored)
    }

    app.delete("/items/{item_id}", params: [itemID], summary: "Delete an item; If-Match that does not match → 412", responses: [ResponseDoc(204), ResponseDoc(404), ResponseDoc(412)], evaluatesPreconditions: true) { req in
        let id = try req[itemID]
        try await store.update(Keys.item(id), request: req, validators: Item.validators, notFound: Item.notFound(id)) { _ in .delete }
        return .empty(status: 204)
    }

    // MARK: Users (Method 2: the status set on the response)

    app.post("/users", summary: "Create a user; 409 when the id is taken", responses: [ResponseDoc(201, "application/json"), ResponseDoc(409, "application/json"), ResponseDoc(422)], body: userSchema) { req in
        let body = try req.validate(userSchema)
        let id = body.int("id")!
        let user = Array(#"{"id":\#(id),"username":\#(JSON.quote(body.string("username")!))}"#.utf8)
        guard try await store.createNew(Keys.user(id), user, orConflict: true) else {
            return .json(raw: #"{"error":"User already exists"}"#, status: 409)
        }
        return Response(status: 201, headers: [("content-type", "application/json"), ("location", "/users/\(id)")], body: user)
    }

    app.get("/users/{user_id}", params: [userID], summary: "Get a user", responses: [ResponseDoc(200, "application/json"), ResponseDoc(404)]) { req in
        let id = try req[userID]
        guard let user = try await store.get(Keys.user(id)) else { throw HTTPError(404, detail: "User \(id) not found") }
        return .bytes(user, contentType: "application/json")
    }

    // MARK: Conditional requests

    app.get("/conditional", summary: "Conditional GET: If-None-Match and If-Modified-Since give 304", responses: [ResponseDoc(200, "application/json"), ResponseDoc(304)]) { req in
        try store.answer(req, from: Keys.conditional) { stored, req throws(HTTPError) in
            // The stored bytes are the representation; parsed only for its validators. The plugin
            // seeds the resource, so its absence is the server's fault.
            guard let stored, let resource = Resource(json: stored) else { throw HTTPError(500, detail: "Internal Server Error") }
            return try conditionalRead(req, resource.validators, stored)
        }
    }

    app.put("/conditional", params: [content], summary: "Conditional PUT: If-Match that does not match gives 412", responses: [ResponseDoc(200, "application/json"), ResponseDoc(412, "application/json")], evaluatesPreconditions: true) { req in
        let text = try req[content]
        let stored = try await store.update(Keys.conditional, request: req, validators: { Resource(json: $0)?.validators ?? Validators() }, notFound: HTTPError(500, detail: "The resource is missing")) { _ in
            .replace(Resource(content: text, etag: Insecure.MD5.hex(Array(text.utf8)), lastModified: HTTPDate.now).json)
        }
        guard let stored, let resource = Resource(json: stored) else { throw HTTPError(500, detail: "Internal Server Error") }
        return Response(status: 200, headers: [("content-type", "application/json")] + resource.validators.headers, body: stored)
    }

    // MARK: The chapter's other variants

    app.get("/variants/items-apierror/{item_id}", params: [anyItemID], summary: "Custom error bodies: {code, message, details}", responses: [ResponseDoc(200, "application/json"), ResponseDoc(400, "application/json"), ResponseDoc(403, "application/json"), ResponseDoc(404, "application/json")]) { req in
        let id = try req[anyItemID]
        if id <= 0 { throw APIError(400, code: "INVALID_ID", message: "Item ID must be positive", details: #"{"provided_id":\#(id)}"#) }
        if id > 100 { throw APIError(404, code: "NOT_FOUND", message: "Item \(id) does not exist") }
        if id == 50 { throw APIError(403, code: "ACCESS_DENIED", message: "You don't have permission to access this item") }
        return .json(raw: #"{"id":\#(id),"name":"Item \#(id)"}"#)
    }

    app.post("/variants/items-method1", summary: "Method 1: status_code=201 on the route", responses: [ResponseDoc(201, "application/json"), ResponseDoc(422)], body: method1Schema) { req in
        let body = try req.validate(method1Schema)
        return .json(raw: #"{"id":\#(body.int("id")!),"name":\#(JSON.quote(body.string("name")!))}"#, status: 201)
    }

    app.post("/variants/items-method3", params: [name], summary: "Method 3: an explicit JSONResponse", responses: [ResponseDoc(201, "application/json"), ResponseDoc(400, "application/json")]) { req in
        let name = try req[name]
        if name.isEmpty { return .json(raw: #"{"code":"INVALID_INPUT","message":"Name is required"}"#, status: 400) }
        return Response.json(raw: #"{"id":1,"name":\#(JSON.quote(name))}"#, status: 201).header("location", "/items/1")
    }

    // MARK: 202 Accepted (exercise 1)

    app.post("/reports", summary: "Start a report on the items: 202 and where to poll", responses: [ResponseDoc(202, "application/json")]) { _ in
        let report = try await reports.start()
        return Response(
            status: 202, headers: [("content-type", "application/json"), ("location", report.url), ("retry-after", reports.retryAfter)],
            body: report.json)
    }

    app.get("/reports/{report_id}", params: [reportID], summary: "A report's status: pending, then done with its result", responses: [ResponseDoc(200, "application/json"), ResponseDoc(404)]) { req in
        let id = try req[reportID]
        guard let stored = try await store.get(Keys.report(id)), let report = Report(json: stored) else {
            throw HTTPError(404, detail: "Report \(id) not found")
        }
        var response = Response.bytes(stored, contentType: "application/json")
        if report.status == .pending { response = response.header("retry-after", reports.retryAfter) }
        return response
    }
}

@_cdecl("switchboard_plugin_v1") public func entry() -> UnsafeRawPointer { plugin.entry }

let preconditionFailed = HTTPError(412, json: #"{"error":"Resource has been modified"}"#)

/// A JSON representation answered as its validators and the request's preconditions say: 200
/// with `ETag` (and `Last-Modified`), 304 without a body, or 412.
func conditionalRead(_ req: Request, _ validators: Validators, _ body: [UInt8]) throws(HTTPError) -> Response {
    switch validators.evaluate(req) {
    case .notModified: return validators.notModified()
    case .preconditionFailed: throw preconditionFailed
    case .proceed: return representation(validators, body)
    }
}

/// A JSON representation's 200 with its `ETag` (and `Last-Modified`).
func representation(_ validators: Validators, _ body: [UInt8]) -> Response {
    var headers = validators.headers  // room for one more: no copy
    headers.insert(("content-type", "application/json"), at: 0)
    return Response(status: 200, headers: headers, body: body)
}

/// The chapter's APIError: a status and the body `{code, message, details}`.
func APIError(_ status: Int, code: String, message: String, details: String = "null") -> HTTPError {
    HTTPError(status, json: #"{"code":\#(JSON.quote(code)),"message":\#(JSON.quote(message)),"details":\#(details)}"#)
}

// MARK: Keys

/// Where everything lives in the store. Item and report ids are zero-padded so that key order is
/// id order.
enum Keys {
    static let items = "items/"
    static let nextItem = "counters/items"
    static let nextReport = "counters/reports"
    static let reports = "reports/"
    static let conditional = "conditional"
    static let seeded = "seeded"

    static func item(_ id: Int) -> String { padded(id, after: items) }
    static func report(_ id: Int) -> String { padded(id, after: reports) }
    static func user(_ id: some BinaryInteger) -> String { "users/\(id)" }

    /// `prefix` and `id` in at least 19 digits, zero-padded: one string, made in place (every
    /// read of an item makes one).
    static func padded(_ id: Int, after prefix: String) -> String {
        let digits = String(id).utf8
        let width = max(19, digits.count)
        return String(unsafeUninitializedCapacity: prefix.utf8.count + width) { buffer in
            let start = buffer.initialize(fromContentsOf: prefix.utf8)
            let zeros = start + width - digits.count
            buffer[start..<zeros].initialize(repeating: UInt8(ascii: "0"))
            _ = buffer[zeros...].initialize(fromContentsOf: digits)
            return zeros + digits.count
        }
    }
}

// MARK: Values

/// The chapter's ItemResponse: {id, name, price}, price a float as Python writes it.
struct Item {
    var id: Int
    var name: String
    var price: Double

    var json: [UInt8] { Array(#"{"id":\#(id),"name":\#(JSON.quote(name)),"price":\#(JSONValue.double(price).text)}"#.utf8) }

    init(id: Int, name: String, price: Double) {
        self.id = id
        self.name = name
        self.price = price
    }

    init?(json: [UInt8]) {
        guard let value = try? JSONValue.parse(json), case .int(let id)? = value["id"], case .string(let name)? = value["name"] else { return nil }
        switch value["price"] {
        case .double(let d)?: price = d
        case .int(let i)?: price = Double(i)
        default: return nil
        }
        self.id = Int(id)
        self.name = name
    }

    static func notFound(_ id: Int) -> HTTPError { HTTPError(404, detail: "Item \(id) not found") }

    /// A stored item's validator: a strong tag of its bytes.
    @Sendable static func validators(_ stored: [UInt8]) -> Validators { Validators(etag: ETag.of(stored)) }
}

/// The chapter's conditional resource. Its body keeps the chapter's fields (the tag there is the
/// bare MD5 of the content); the ETag header is quoted, and a PUT moves Last-Modified.
struct Resource {
    var content: String
    var etag: String
    var lastModified: Int

    static let initial = Resource(content: "Hello, World!", etag: "abc123", lastModified: HTTPDate.parse("Mon, 15 Jan 2024 12:00:00 GMT")!)

    var json: [UInt8] {
        Array(#"{"id":1,"content":\#(JSON.quote(content)),"etag":\#(JSON.quote(etag)),"last_modified":"\#(HTTPDate.format(lastModified))"}"#.utf8)
    }

    var validators: Validators { Validators(etag: ETagList.strong(etag), lastModified: lastModified) }

    init(content: String, etag: String, lastModified: Int) {
        self.content = content
        self.etag = etag
        self.lastModified = lastModified
    }

    init?(json: [UInt8]) {
        guard let value = try? JSONValue.parse(json), case .string(let content)? = value["content"], case .string(let etag)? = value["etag"],
            case .string(let date)? = value["last_modified"], let seconds = HTTPDate.parse(date)
        else { return nil }
        self.init(content: content, etag: etag, lastModified: seconds)
    }
}

/// A background report on the items (exercise 1's asynchronous processing).
struct Report {
    enum Status: String { case pending, done }
    var id: Int
    var status: Status
    /// The result's JSON object, once done.
    var result: String?

    var url: String { "/reports/\(id)" }

    var json: [UInt8] {
        var text = #"{"id":\#(id),"status":"\#(status.rawValue)","status_url":"\#(url)""#
        if let result { text += #","result":\#(result)"# }
        return Array((text + "}").utf8)
    }

    init(id: Int, status: Status, result: String? = nil) {
        self.id = id
        self.status = status
        self.result = result
    }

    init?(json: [UInt8]) {
        guard let value = try? JSONValue.parse(json), case .int(let id)? = value["id"], case .string(let status)? = value["status"],
            let status = Status(rawValue: status)
        else { return nil }
        self.init(id: Int(id), status: status, result: value["result"]?.text)
    }
}

/// Strong entity tags for stored bytes: 64-bit FNV-1a, quoted.
enum ETag {
    /// `"` and 16 lower-case hex digits and `"`, written in place (every read of an item makes one).
    static func of(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return String(unsafeUninitializedCapacity: 18) { tag in
            tag[0] = UInt8(ascii: "\"")
            for i in 0..<16 {
                let nibble = UInt8(truncatingIfNeeded: hash >> (60 - 4 * i)) & 0xF
                tag[1 + i] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            }
            tag[17] = UInt8(ascii: "\"")
            return 18
        }
    }
}

// MARK: The store

/// The plugin's data in the host's state store. Every handler waits until this generation has
/// seeded the chapter's two items and its resource (once per store: later generations find the
/// marker).
final class Store: Sendable {
    let app: App
    private let ready: Task<Void, any Error>
    /// Set once seeding has succeeded: a request then reads without waiting on `ready`.
    private let seeded: Flag

    init(app: App) {
        self.app = app
        let state = app.state
        let seeded = Flag()
        self.seeded = seeded
        ready = Task {
            try await Self.seed(state)
            seeded.set()
        }
    }

    /// Writes the chapter's items and resource into an empty store, once.
    private static func seed(_ state: StateStore) async throws {
        guard try await state.get(Keys.seeded) == nil else { return }
        // One transaction: the chapter's items, its resource and the marker, all or none, so
        // two generations (or two hosts) seeding at once cannot half-seed or seed twice.
        let items: [StateStore.Step] = [Item(id: 1, name: "Laptop", price: 999.99), Item(id: 2, name: "Mouse", price: 29.99)].map {
            .put(Keys.item($0.id), $0.json)
        }
        do throws(StateStore.Failure) {
            // Each key only if absent: a store seeded in part by an earlier version (before
            // its marker) keeps what it holds, and is completed below.
            let absent: [StateStore.Step] = [Keys.seeded, Keys.item(1), Keys.item(2), Keys.conditional].map { .expectAbsent($0) }
            try await state.transaction(absent + items + [.put(Keys.conditional, Resource.initial.json), .put(Keys.seeded, Array("1".utf8))])
        } catch {
            guard error == .conflict else { throw error }
            guard try await state.get(Keys.seeded) == nil else { return }  // seeded meanwhile
            for case .put(let key, let value) in items + [.put(Keys.conditional, Resource.initial.json)] {
                try? await state.compareAndPut(key, expected: nil, value)
            }
            try await state.put(Keys.seeded, Array("1".utf8))
        }
    }

    private final class Flag: Sendable {
        private let value = Atomic(false)
        var isSet: Bool { value.load(ordering: .acquiring) }
        func set() { value.store(true, ordering: .releasing) }
    }

    /// Runs `body` once seeding is done (whatever its outcome).
    func whenReady(_ body: @escaping @Sendable () -> Void) {
        let ready = self.ready
        Task {
            _ = try? await ready.value
            body()
        }
    }

    private var state: StateStore {
        get async throws(HTTPError) {
            if seeded.isSet { return app.state }
            do {
                try await ready.value
            } catch {
                app.log(.error, "seeding the store failed: \(error)")
                throw Self.unavailable
            }
            return app.state
        }
    }

    private static let unavailable = HTTPError(503, detail: "The store is unavailable; retry the request", headers: [("retry-after", "1")])

    private func failed(_ error: StateStore.Failure) -> HTTPError {
        app.log(.error, "state store: \(error)")
        return Self.unavailable
    }

    /// Answers `req` from the value under `key` (nil when absent): inside the handler's call, on
    /// its thread, while the host has the value at hand (`StateStore.lookup`, once seeded), so a
    /// synchronous handler needs no task; otherwise from a task once the read completes
    /// (`Response.later(task:)`). A store failure is the 503 `failed` gives.
    func answer(
        _ req: Request, from key: String, _ respond: @escaping @Sendable ([UInt8]?, Request) throws(HTTPError) -> Response
    ) throws(HTTPError) -> Response {
        guard seeded.isSet else { return .later(task: { req in try respond(try await self.get(key), req) }) }
        switch app.state.lookup(key) {
        case .value(let stored): return try respond(stored, req)
        case .pending(let read):
            return .later(task: { req in
                let stored: [UInt8]?
                do throws(StateStore.Failure) { stored = try await read.value } catch { throw self.failed(error) }
                return try respond(stored, req)
            })
        case .failed(let failure): throw failed(failure)
        }
    }

    func get(_ key: String) async throws(HTTPError) -> [UInt8]? {
        let state = try await self.state
        do { return try await state.get(key) } catch { throw failed(error) }
    }

    /// Ids after the chapter's two: 3, 4, … never reused, also across restarts.
    func nextItemID() async throws(HTTPError) -> Int {
        let state = try await self.state
        do { return Int(try await state.increment(Keys.nextItem)) + 2 } catch { throw failed(error) }
    }

    func nextReportID() async throws(HTTPError) -> Int {
        let state = try await self.state
        do { return Int(try await state.increment(Keys.nextReport)) } catch { throw failed(error) }
    }

    /// Writes `value` only where nothing is; false (with `orConflict`) when something was.
    @discardableResult
    func createNew(_ key: String, _ value: [UInt8], orConflict: Bool = false) async throws(HTTPError) -> Bool {
        let state = try await self.state
        do {
            try await state.compareAndPut(key, expected: nil, value)
            return true
        } catch {
            if error == .conflict && orConflict { return false }
            throw failed(error)
        }
    }

    /// The SDK's conditional change (`StateStore.update`) once the store is seeded, with the
    /// chapter's 412 body.
    @discardableResult
    func update(
        _ key: String, request: Request, validators: ([UInt8]) -> Validators, notFound: HTTPError,
        _ change: ([UInt8]) throws(HTTPError) -> StateStore.Change
    ) async throws(HTTPError) -> [UInt8]? {
        try await state.update(key, request: request, validators: validators, notFound: notFound, preconditionFailed: preconditionFailed, change)
    }

    /// A page of values under `prefix` and how many there are in all.
    func page(prefix: String, skip: Int, limit: Int) async throws(HTTPError) -> (entries: [[UInt8]], total: Int) {
        let state = try await self.state
        do {
            // The store skips: the plugin gets the page only.
            let page = try await state.page(prefix: prefix, skip: skip, limit: limit)
            return (page.entries.map(\.value), page.total)
        } catch {
            throw failed(error)
        }
    }

}

// MARK: Reports

/// Reports computed in the background. A report is stored as pending, then a timer computes it
/// and stores it as done (compare-and-put, so two generations finishing the same report agree).
/// A new generation picks up the reports its predecessor left pending.
final class Reports: Sendable {
    let app: App
    let store: Store
    let delay: Duration
    /// Whole seconds a client should wait before polling (at least 1).
    let retryAfter: String

    init(app: App, store: Store, delay: Duration) {
        self.app = app
        self.store = store
        self.delay = delay
        let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
        retryAfter = String(max(1, Int(seconds.rounded(.up))))
    }

    func start() async throws(HTTPError) -> Report {
        let report = Report(id: try await store.nextReportID(), status: .pending)
        try await store.createNew(Keys.report(report.id), report.json)
        schedule(report.id, after: delay)
        return report
    }

    func resumePending() {
        Task {
            guard let pending = try? await app.state.list(prefix: Keys.reports, limit: 0x7fff_ffff) else { return }
            for (_, value) in pending {
                if let report = Report(json: value), report.status == .pending { schedule(report.id, after: .zero) }
            }
        }
    }

    private func schedule(_ id: Int, after delay: Duration) {
        app.timer(after: delay) { [self] _ in
            Task { await complete(id) }
        }
    }

    private func complete(_ id: Int) async {
        let state = app.state
        guard let stored = try? await state.get(Keys.report(id)), let report = Report(json: stored), report.status == .pending else { return }
        guard let items = try? await state.list(prefix: Keys.items, limit: 0x7fff_ffff) else { return }
        var count = 0
        var value = 0.0
        for (_, json) in items {
            guard let item = Item(json: json) else { continue }
            count += 1
            value += item.price
        }
        let result = #"{"items":\#(count),"total_value":\#(JSONValue.double((value * 100).rounded() / 100).text)}"#
        let done = Report(id: id, status: .done, result: result)
        try? await state.compareAndPut(Keys.report(id), expected: stored, done.json)
    }
}

// MARK: The status codes, as the chapter lists them

let statusDemo = JSONValue.object([
    ("2xx Success", .object([
        ("200", "OK - Standard success response"),
        ("201", "Created - Resource successfully created"),
        ("202", "Accepted - Request accepted for processing"),
        ("204", "No Content - Success with no response body"),
        ("206", "Partial Content - Partial resource returned"),
    ])),
    ("3xx Redirection", .object([
        ("301", "Moved Permanently - Resource moved to new URL"),
        ("302", "Found - Resource temporarily at different URL"),
        ("304", "Not Modified - Resource unchanged since last request"),
        ("307", "Temporary Redirect - Temporary redirect with same method"),
        ("308", "Permanent Redirect - Permanent redirect with same method"),
    ])),
    ("4xx Client Errors", .object([
        ("400", "Bad Request - Malformed request syntax"),
        ("401", "Unauthorized - Authentication required"),
        ("403", "Forbidden - Authentication succeeded but no permission"),
        ("404", "Not Found - Resource does not exist"),
        ("405", "Method Not Allowed - HTTP method not supported"),
        ("409", "Conflict - Request conflicts with current state"),
        ("422", "Unprocessable Entity - Validation error"),
        ("429", "Too Many Requests - Rate limit exceeded"),
    ])),
    ("5xx Server Errors", .object([
        ("500", "Internal Server Error - Generic server error"),
        ("501", "Not Implemented - Server doesn't support functionality"),
        ("502", "Bad Gateway - Invalid response from upstream server"),
        ("503", "Service Unavailable - Server temporarily unavailable"),
        ("504", "Gateway Timeout - Upstream server timeout"),
    ])),
]).text

// MARK: MD5

extension Insecure.MD5 {
    /// MD5 (RFC 1321, by swift-crypto) as 32 lowercase hex digits, for the chapter's `/conditional`
    /// tags (`hashlib.md5(content).hexdigest()`): an identifier here, not a security measure.
    static func hex(_ bytes: [UInt8]) -> String {
        hash(data: bytes).lowercaseHex
    }
}
