#!/usr/bin/env python3
"""Shares of a Switchboard host's perf samples by component.

Reads `perf script` output (demangled: `perf script | swift demangle --simplified`) of a
`perf record -g` and gives each sample to the innermost frame that names a component below,
so a handler's own work is not counted in the NIO pipeline that called it, nor the socket write
in the handler that asked for it. Kernel samples are counted apart.

    python3 bench/perf_shares.py perf.txt
"""
import collections
import sys

NIO = ["HTTPResponseEncoder", "HTTPDecoder", "BetterHTTPParser", "llhttp", "PendingWritesManager",
       "BaseSocketChannel", "BaseStreamSocketChannel", "Socket.", "SelectableEventLoop",
       "ByteToMessageHandler", "HeadChannelHandler", "__GI___writev", "NIOPooledRecvBufferAllocator",
       "ChannelPipeline.SynchronousOperations.fire"]
COMPONENTS = [
    # A plugin's own code: its image is a copy under the state directory, which perf cannot
    # symbolize once the host has unlinked it; an async Swift handler runs inside Task.immediate.
    ("state store (inline reads, SQLite)", ["StateCalls.", "StateStore.", "SQLiteStateStorage", "GRDB", "sqlite3"]),
    ("plugin code (its image)", ["/state/images/", "swift_task_immediate"]),
    ("plugin handler and exchange", ["PluginResponder.call("]),
    ("content coding (deciding on gzip)", ["ContentCoding."]),
    ("Date and Server fields", ["ServerFields.", "ConnectionResponder.addDateAndServer"]),
    ("route match and parameters", ["RouteTable.match", "PluginResponder.prepare"]),
    ("responder: start, metrics, Request", ["PluginResponder.", "EventLoopResponder.answer"]),
    # (The older builds' names are kept, so their profiles still compare.)
    ("HTTP types: request conversion", ["HTTPRequest.init(_:secure:splitCookie:)", "HTTPTypesRequestDecoder.request",
                                        "HTTPTypesServerCodec.request"]),
    ("HTTP types: response conversion (builds before d139a7f)", ["HTTP1ToHTTPServerCodec.write", "HTTPTypesServerCodec.write"]),
    ("HTTP types: codec read", ["HTTP1ToHTTPServerCodec.channelRead", "HTTPTypesRequestDecoder.channelRead",
                                "HTTPTypesServerCodec.channelRead"]),
    ("HTTP/1 response encoding (the host's)", ["HTTP1ResponseEncoding."]),
    ("ConnectionGuard and its state machine", ["ConnectionGuard.", "ConnectionStateMachine."]),
    ("NIOAsyncChannel", ["NIOAsyncChannel"]),
    ("Hummingbird request loop, tasks", ["HTTPChannelHandler", "handleHTTP", "ResponseWriter", "NIOAsyncWriter",
                                         "NIOAsyncSequenceProducer", "swift_task", "swift_job", "Hummingbird"]),
    ("EventLoopResponder", ["EventLoopResponder."]),
    ("NIO: parser, encoder, socket, loop", NIO),
]


def stacks(path):
    frames = []
    for line in open(path, errors="replace"):
        if not line.strip():
            if frames:
                yield frames
            frames = []
        elif line[0] in " \t":
            parts = line.strip().split(" ", 1)
            if len(parts) == 2:
                frames.append(parts[1])
        else:
            frames = []
    if frames:
        yield frames


def component(frames):
    if "kernel.kallsyms" in frames[0]:
        # A system call made for the state store (SQLite's file locks) is the store's.
        if any(key in frame for frame in frames for key in COMPONENTS[0][1]):
            return COMPONENTS[0][0]
        return "kernel: syscalls, TCP"
    for frame in frames:
        for name, keys in COMPONENTS:
            if any(key in frame for key in keys):
                return name
    return "other"


counts = collections.Counter(component(frames) for frames in stacks(sys.argv[1]))
total = sum(counts.values())
for name, count in counts.most_common():
    print(f"{100 * count / total:5.1f} %  {name}")
print(f"({total} samples)")
