import struct SwitchboardCore.Locked
import CSwitchboard
import Logging
import SwitchboardRouting

/// Adds a plugin's `sb_route_spec` to the instance being initialised.
///
/// The spec is read and checked by `RouteDeclaration`; here the host adds its own rules (paths it
/// answers itself, one route per method and shape within a plugin) and prepares a typed handler's
/// libffi call. Every problem is recorded on the instance; the loader refuses the plugin for it.
enum RouteSpecReader {
    static func add(_ spec: UnsafePointer<sb_route_spec>, to plugin: PluginInstance, defaultMaxBody: Int) -> sb_status {
        let result = Result { () throws(RouteDeclaration.Invalid) in try entry(spec, plugin: plugin, defaultMaxBody: defaultMaxBody) }
        return plugin.mutable.withLock { m in
            guard m.phase == .initializing else { return SB_ERR_STATE }
            switch result {
            case .failure(let invalid):
                m.routeErrors.append(invalid.description)
                plugin.logger.error("route refused: \(invalid.description)")
                return SB_ERR_INVALID_ARGUMENT
            case .success(let route):
                if let twin = m.routes.first(where: { $0.method == route.method && $0.template.shape.hasSameCodePoints(as: route.template.shape) }) {
                    let message = "route \(route.signature) is declared twice in this plugin (also as \(twin.signature))"
                    m.routeErrors.append(message)
                    plugin.logger.error("route refused: \(message)")
                    return SB_ERR_CONFLICT
                }
                m.routes.append(route)
                return SB_OK
            }
        }
    }

    private static func entry(_ spec: UnsafePointer<sb_route_spec>, plugin: PluginInstance, defaultMaxBody: Int) throws(RouteDeclaration.Invalid) -> RouteEntry {
        let declaration = try RouteDeclaration.read(spec)
        if let problem = declaration.reservedPathProblem { throw RouteDeclaration.Invalid(description: problem) }
        return RouteEntry(
            declaration: declaration, plugin: plugin, defaultMaxBody: defaultMaxBody, typedCall: try TypedHandlerCall(declaration))
    }
}
