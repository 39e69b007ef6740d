import HTTPTypes
import Hummingbird
import NIOCore
import SwitchboardRouting
import enum SwitchboardCore.JSONValue

/// `/openapi.json` and `/docs`: the OpenAPI 3.1 document of every route served right now, and a
/// page that reads it. Built from the route table on each request, so it changes with every swap.
/// Public, as FastAPI's are; `docs.enabled: false` turns both off.
struct DocsAPI: Sendable {
    let registry: PluginRegistry
    let version: String

    func respond(to request: Request) -> Response {
        guard request.method == .get || request.method == .head else {
            var response = JSONError.response(.methodNotAllowed, detail: "Method Not Allowed")
            response.headers[.allow] = "GET, HEAD"
            return response
        }
        if request.uri.path == HostPaths.openAPI {
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: document().text)))
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                // The page runs only its own inline script and talks only to this host.
                .contentSecurityPolicy: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: DocsPage.html)))
    }

    func document() -> JSONValue {
        var byPlugin: [ObjectIdentifier: (PluginInstance, [RouteDeclaration])] = [:]
        for route in registry.routeTable.routes {
            byPlugin[ObjectIdentifier(route.plugin), default: (route.plugin, [])].1.append(route.declaration)
        }
        let plugins = byPlugin.values.map { instance, routes in
            OpenAPIDocument.Plugin(
                name: instance.name, version: instance.version, description: instance.summary,
                generation: UInt64(instance.generation), routes: routes)
        }
        return OpenAPIDocument.build(title: "Switchboard", version: version, plugins: plugins)
    }
}
