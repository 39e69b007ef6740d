// Plugins see `Locked` and the other shared primitives through the SDK alone.
@_exported public import SwitchboardCore
