// negotiation: content negotiation from section 8.4 of the chapter, the complete multi-format
// products API, and exercise 4, on the SDK. The media type of a negotiated response is chosen by
// the host (`req.negotiate`, RFC 9110 §12.5.1), which also adds `Vary: Accept` to it.
//
//   GET /resource/{resource_id}                    JSON, HTML, plain text or XML by Accept; 406
//   GET /products?category=&format=                json | html | text | csv (streamed attachment)
//   GET /products/{product_id}?format=             json | html | text; 404 Product not found
//   GET /catalog/products?format=                  exercise 4: JSON, XML, HTML or CSV by Accept,
//   GET /catalog/products/{product_id}?format=     ?format= overriding it; ETag, Last-Modified,
//                                                  Cache-Control and 304 per representation
//
// Where the chapter is wrong this plugin is not: its Accept matching is substring search, so
// `application/json;q=0` got JSON, `*/*;q=0.8`, `application/*` and `TEXT/HTML` got 406, and no
// response said `Vary: Accept`; its HTML and XML put the data in unescaped. For one product in
// `format=text` and `format=html` the chapter prints a Python dict's repr (`{'id': 1, ...}`); this
// plugin writes the same fields readably (a text card, a one-row table).

import SwitchboardSDK

// MARK: The chapter's data

struct Product: Sendable, JSONWritable {
    let id: Int
    let name: String
    let price: Double
    let category: String
    let inStock: Bool

    func write(to w: inout JSONWriter) throws {
        try w.object { w in
            w.member("id", id)
            w.member("name", name)
            try w.member("price", price)
            w.member("category", category)
            try w.member("in_stock", inStock)
        }
    }

    /// Python's `str(float)` for these prices: the shortest text that reads back the same.
    var priceText: String { price.description }
}

let catalog: [Product] = [
    Product(id: 1, name: "Laptop", price: 999.99, category: "Electronics", inStock: true),
    Product(id: 2, name: "Mouse", price: 29.99, category: "Electronics", inStock: true),
    Product(id: 3, name: "Desk", price: 199.99, category: "Furniture", inStock: false),
    Product(id: 4, name: "Chair", price: 149.99, category: "Furniture", inStock: true),
    Product(id: 5, name: "Monitor", price: 399.99, category: "Electronics", inStock: true),
]

struct ProductList: Sendable, JSONWritable {
    let products: [Product]
    func write(to w: inout JSONWriter) throws {
        try w.object { w in
            try w.member("products", products)
            w.member("total", products.count)
        }
    }
}

// MARK: Parameters

let resourceID = Param<Int>.path("resource_id")
let productID = Param<Int>.path("product_id").ge(1)
let category = OptionalParam<String>.query("category", description: "Only products of this category (any case)")
let listFormat = Param<String>.query("format", default: "json", description: "json, html, text or csv").pattern("^(json|html|text|csv)$")
let itemFormat = Param<String>.query("format", default: "json", description: "json, html or text").pattern("^(json|html|text)$")
let catalogFormat = OptionalParam<String>.query("format", description: "json, xml, html or csv: overrides Accept").pattern("^(json|xml|html|csv)$")

// MARK: Media types

let jsonType = "application/json"
let htmlType = "text/html; charset=utf-8"
let textType = "text/plain; charset=utf-8"
let xmlType = "application/xml"
let csvType = "text/csv; charset=utf-8"

enum Representation: String, Sendable {
    case json, html, text, xml, csv

    var mediaType: String {
        switch self {
        case .json: jsonType
        case .html: htmlType
        case .text: textType
        case .xml: xmlType
        case .csv: csvType
        }
    }
}

/// /resource/{id}: the chapter's order, JSON first (also what a request without Accept gets).
let resourceOffers: Offers<Representation> = [jsonType: .json, htmlType: .html, textType: .text, xmlType: .xml]
/// Exercise 4's four formats, JSON first.
let catalogOffers: Offers<Representation> = [jsonType: .json, xmlType: .xml, htmlType: .html, csvType: .csv]

let plugin = Plugin(name: "negotiation", version: "1.0.0", description: "Section 8.4's content negotiation, the multi-format products API, and exercise 4") { app in
    let resourceDocs = [jsonType, htmlType, textType, xmlType].map { ResponseDoc(200, $0, "The resource in the negotiated format") }
        + [ResponseDoc(406, jsonType, "None of the four formats is acceptable")]
    app.get(
        "/resource/{resource_id}", params: [resourceID], summary: "One resource as JSON, HTML, plain text or XML, by Accept",
        responses: resourceDocs
    ) { req in
        let id = try req[resourceID]
        let resource = Resource(id: id)
        switch try req.negotiate(resourceOffers) {
        case .json: return try .json(resource)
        case .html: return .html(resource.html)
        case .text: return .text(resource.text)
        default: return .xml(resource.xml)
        }
    }

    // MARK: The complete multi-format example

    app.get(
        "/products", params: [category, listFormat], summary: "Products as JSON, HTML, text or CSV (?format=)",
        responses: [jsonType, htmlType, textType, csvType].map { ResponseDoc(200, $0, "The products in the format asked for (CSV: an attachment, streamed)") }
    ) { req in
        // The chapter's `if category:`: an empty value filters nothing.
        let wanted = req[category].flatMap { $0.isEmpty ? nil : $0.lowercased() }
        let list = ProductList(products: wanted.map { c in catalog.filter { $0.category.lowercased() == c } } ?? catalog)
        switch try req[listFormat] {
        case "html": return .html(Pages.table(list.products, title: "Products (\(list.products.count) items)"))
        case "text": return .text(Pages.textTable(list.products))
        case "csv":
            let rows = list.products
            return Response.stream(contentType: csvType) { stream in
                // Rows go out as the chapter's generator yields them, batched into chunks of up
                // to 16 KiB (one chunk for the five products): a chunk per row would cost a
                // write and a flush each.
                let next = Box(-1)
                stream.produce {
                    guard next.value < rows.count else { return nil }
                    var csv = CSVWriter(capacity: 16 * 1024)
                    if next.value < 0 {
                        csv.row("ID", "Name", "Price", "Category", "In Stock")
                        next.value = 0
                    }
                    while next.value < rows.count, csv.bytes.count < 16 * 1024 {
                        let p = rows[next.value]
                        csv.row(String(p.id), p.name, p.priceText, p.category, p.inStock ? "True" : "False")
                        next.value += 1
                    }
                    return (csv.bytes, next.value == rows.count)
                }
            }.header("content-disposition", "attachment; filename=products.csv")
        default: return try .json(list)
        }
    }

    app.get(
        "/products/{product_id}", params: [productID, itemFormat], summary: "One product as JSON, HTML or text (?format=)",
        responses: [jsonType, htmlType, textType].map { ResponseDoc(200, $0, "The product in the format asked for") } + [ResponseDoc(404, jsonType, "Product not found")]
    ) { req in
        let id = try req[productID]
        guard let product = catalog.first(where: { $0.id == id }) else { throw HTTPError(404, detail: "Product not found") }
        switch try req[itemFormat] {
        case "html": return .html(Pages.table([product], title: "Product \(product.id): \(product.name)"))
        case "text": return .text(Pages.card(product))
        default: return try .json(product)
        }
    }

    // MARK: Exercise 4

    let catalogDocs = [jsonType, xmlType, htmlType, csvType].map { ResponseDoc(200, $0, "In the negotiated format, or the one ?format= names") } + [
        ResponseDoc(304, "", "The client's copy of this representation is current"),
        ResponseDoc(406, jsonType, "None of the four formats is acceptable"),
    ]
    app.get(
        "/catalog/products", params: [catalogFormat], summary: "The catalog as JSON, XML, HTML or CSV, by Accept or ?format=",
        responses: catalogDocs
    ) { req in
        try CatalogRepresentation.respond(to: req, products: catalog, single: false, name: "catalog", title: "Catalog (\(catalog.count) products)")
    }

    app.get(
        "/catalog/products/{product_id}", params: [productID, catalogFormat],
        summary: "One catalog product as JSON, XML, HTML or CSV, by Accept or ?format=",
        responses: catalogDocs + [ResponseDoc(404, jsonType, "Product not found")]
    ) { req in
        let id = try req[productID]
        guard let product = catalog.first(where: { $0.id == id }) else { throw HTTPError(404, detail: "Product not found") }
        return try CatalogRepresentation.respond(to: req, products: [product], single: true, name: "product-\(id)", title: "Product \(id): \(product.name)")
    }
}

@_cdecl("switchboard_plugin_v1")
public func switchboardPluginV1() -> UnsafeRawPointer { plugin.entry }

// MARK: /resource/{id}

struct Resource: Sendable, JSONWritable {
    let id: Int
    var name: String { "Resource \(id)" }
    let description = "This is a sample resource"
    let createdAt = "2024-01-15T12:00:00Z"

    func write(to w: inout JSONWriter) {
        w.object { w in
            w.member("id", id)
            w.member("name", name)
            w.member("description", description)
            w.member("created_at", createdAt)
        }
    }

    /// The chapter's page, its indentation included, with every value escaped.
    var html: String {
        """

                <!DOCTYPE html>
                <html>
                <body>
                    <h1>\(HTML.escape(name))</h1>
                    <p>ID: \(id)</p>
                    <p>\(HTML.escape(description))</p>
                    <p>Created: \(HTML.escape(createdAt))</p>
                </body>
                </html>
                \("")
        """
    }

    var text: String {
        "Resource ID: \(id)\nName: \(name)\nDescription: \(description)\nCreated: \(createdAt)"
    }

    var xml: String {
        """
        <?xml version="1.0"?>
        <resource>
            <id>\(id)</id>
            <name>\(XML.escape(name))</name>
            <description>\(XML.escape(description))</description>
            <created_at>\(XML.escape(createdAt))</created_at>
        </resource>
        """
    }
}

// MARK: Pages

enum Pages {
    /// The chapter's products table (its style sheet included), values escaped.
    static func table(_ products: [Product], title: String) -> String {
        var rows = ""
        for p in products {
            rows += "<tr><td>\(p.id)</td><td>\(HTML.escape(p.name))</td><td>$\(p.priceText)</td>"
            rows += "<td>\(HTML.escape(p.category))</td><td>\(p.inStock ? "✓" : "✗")</td></tr>"
        }
        return """

                <!DOCTYPE html>
                <html>
                <head><title>Products</title>
                <style>
                    table { border-collapse: collapse; width: 100%; }
                    th, td { border: 1px solid #ddd; padding: 8px; text-align: left; }
                    th { background-color: #4CAF50; color: white; }
                    tr:nth-child(even) { background-color: #f2f2f2; }
                </style>
                </head>
                <body>
                    <h1>\(HTML.escape(title))</h1>
                    <table>
                        <tr><th>ID</th><th>Name</th><th>Price</th><th>Category</th><th>In Stock</th></tr>
                        \(rows)
                    </table>
                </body>
                </html>
        """
    }

    /// The chapter's text table: a header, 50 dashes, one `|`-separated line per product.
    static func textTable(_ products: [Product]) -> String {
        var lines = ["ID | Name | Price | Category | In Stock", String(repeating: "-", count: 50)]
        for p in products {
            lines.append("\(p.id) | \(p.name) | $\(p.priceText) | \(p.category) | \(p.inStock ? "Yes" : "No")")
        }
        return lines.joined(separator: "\n")
    }

    /// One product as text, one field per line (where the chapter prints a dict's repr).
    static func card(_ p: Product) -> String {
        "ID: \(p.id)\nName: \(p.name)\nPrice: $\(p.priceText)\nCategory: \(p.category)\nIn Stock: \(p.inStock ? "Yes" : "No")"
    }

    /// Products as XML, one element per field, as the chapter's dict_to_xml writes them.
    static func xml(_ products: [Product], single: Bool) -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        func element(_ p: Product) -> String {
            "<product><id>\(p.id)</id><name>\(XML.escape(p.name))</name><price>\(p.priceText)</price>"
                + "<category>\(XML.escape(p.category))</category><in_stock>\(p.inStock)</in_stock></product>"
        }
        if single, let p = products.first {
            out += element(p)
        } else {
            out += "<products total=\"\(products.count)\">"
            for p in products { out += element(p) }
            out += "</products>"
        }
        return out + "\n"
    }

    static func csv(_ products: [Product]) -> [UInt8] {
        var csv = CSVWriter(capacity: 64 * (products.count + 1))
        csv.row("ID", "Name", "Price", "Category", "In Stock")
        for p in products { csv.row(String(p.id), p.name, p.priceText, p.category, p.inStock ? "True" : "False") }
        return csv.bytes
    }
}

// MARK: Exercise 4's representations

enum CatalogRepresentation {
    /// When the catalog's data last changed (it is compiled in): the Last-Modified of every
    /// representation, and part of its tag, so a new build with new data gets new tags.
    static let revision = 1
    static let lastModified = 1_705_320_000  // 2024-01-15T12:00:00Z
    static let cacheControl = "public, max-age=60"

    /// The representation of `products` that the request asks for, with its own validators: a
    /// strong ETag per format (`"catalog-r1-xml"`), so a 304 answers only for the
    /// representation the client holds, never for another format of the same resource.
    static func respond(to req: Request, products: [Product], single: Bool, name: String, title: String) throws(HTTPError) -> Response {
        let format: Representation
        if let override = req[catalogFormat] {
            format = Representation(rawValue: override) ?? .json
        } else {
            format = try req.negotiate(catalogOffers)
        }
        let validators = Validators(etag: ETagList.strong("\(name)-r\(revision)-\(format.rawValue)"), lastModified: lastModified)
        let headers = validators.headers + [("cache-control", cacheControl)]
        switch validators.evaluate(req) {
        case .notModified: return validators.notModified(also: [("cache-control", cacheControl)])
        case .preconditionFailed: throw StateStore.preconditionFailed
        case .proceed: break
        }
        let body: [UInt8]
        do {
            switch format {
            case .json: body = single ? try JSONEncoding.encode(products[0]) : try JSONEncoding.encode(ProductList(products: products))
            case .xml: body = Array(Pages.xml(products, single: single).utf8)
            case .html: body = Array(Pages.table(products, title: title).utf8)
            case .csv, .text: body = Pages.csv(products)
            }
        } catch {
            throw HTTPError(500, detail: "Internal Server Error")
        }
        return Response(status: 200, headers: [("content-type", format.mediaType)] + headers, body: body)
    }
}

/// A value a stream's producer updates between calls (they never overlap).
final class Box<Value>: @unchecked Sendable {  // updated by a stream's producer between calls, which never overlap
    var value: Value
    init(_ value: Value) { self.value = value }
}
