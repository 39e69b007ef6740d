#!/usr/bin/env bash
# Heap allocations per request: the same routes as bench/run.sh (bare SwiftNIO, the native
# Hummingbird twins, the plugins through the host) and GET /items/1, counted, not timed. Each
# server runs under `perf stat` with uprobes on glibc's malloc, calloc, realloc, posix_memalign
# and aligned_alloc (every way Swift, NIO and the plugins get heap memory), while wrk sends
# requests for a few seconds; the count over the requests wrk completed is the figure. Unlike
# requests per second it does not move with the load on this shared machine: two runs agree to
# within the connections' own setup (64 connections over thousands of requests, well under 1 %).
#
#   bench/allocs.sh [seconds-per-target]      (default 2; needs root for the uprobes)
#
# The uprobes slow each allocation by microseconds, so the servers serve far fewer requests per
# second here than in bench/run.sh: read only the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-2}
CONNECTIONS=${CONNECTIONS:-64}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }

LIBC=$(ldconfig -p | awk '/libc\.so\.6 .*x86-64/ {print $NF; exit}')
EVENTS=()
for symbol in malloc calloc realloc posix_memalign aligned_alloc; do
  perf probe -q -x "$LIBC" --add "sb_$symbol=$symbol" 2>/dev/null || perf probe -l 2>/dev/null | grep -q "probe_libc:sb_$symbol " \
    || { echo "perf could not add a uprobe on $symbol in $LIBC (run as root)" >&2; exit 1; }
  EVENTS+=("probe_libc:sb_$symbol")
done
remove_probes() { for event in "${EVENTS[@]}"; do perf probe -q -d "$event" 2>/dev/null || true; done; }

swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins"
cp "$BIN/libHelloC.so" "$BIN/libHelloSwift.so" "$BIN/libStatus.so" "$WORK/plugins/"

PIDS=()
trap 'bench_cleanup; remove_probes' EXIT

HOST_PORT=$(pick_port)
NATIVE_PORT=$(pick_port "$HOST_PORT")
NIO_PORT=$(pick_port "$HOST_PORT" "$NATIVE_PORT")
SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/state" \
  taskset -c 1 "$BIN/switchboard" serve --single-process --port "$HOST_PORT" --plugins "$WORK/plugins" 2>"$WORK/host.log" &
PIDS+=($!)
HOST_PID=$!
taskset -c 1 "$BIN/switchboard-native-baseline" "$NATIVE_PORT" 2>"$WORK/native.log" &
PIDS+=($!)
NATIVE_PID=$!
taskset -c 1 "$BIN/switchboard-nio-baseline" "$NIO_PORT" 2>"$WORK/nio.log" &
PIDS+=($!)
NIO_PID=$!
wait_port "$HOST_PORT" /items/1 "$WORK/host.log"
wait_port "$NATIVE_PORT" /hello-c "$WORK/native.log"
wait_port "$NIO_PORT" /hello-c "$WORK/nio.log"

# name|pid|port|path
TARGETS=(
  "bare NIO text|$NIO_PID|$NIO_PORT|/hello-c"
  "native C text|$NATIVE_PID|$NATIVE_PORT|/hello-c"
  "plugin C text|$HOST_PID|$HOST_PORT|/hello-c"
  "native Swift text|$NATIVE_PID|$NATIVE_PORT|/hello-swift"
  "plugin Swift text|$HOST_PID|$HOST_PORT|/hello-swift"
  "native C JSON|$NATIVE_PID|$NATIVE_PORT|/hello-c/json"
  "plugin C JSON|$HOST_PID|$HOST_PORT|/hello-c/json"
  "native Swift JSON|$NATIVE_PID|$NATIVE_PORT|/hello-swift/json"
  "plugin Swift JSON|$HOST_PID|$HOST_PORT|/hello-swift/json"
  "native C path param|$NATIVE_PID|$NATIVE_PORT|/hello-c/items/42"
  "plugin C path param|$HOST_PID|$HOST_PORT|/hello-c/items/42"
  "native Swift path param|$NATIVE_PID|$NATIVE_PORT|/hello-swift/items/42"
  "plugin Swift path param|$HOST_PID|$HOST_PORT|/hello-swift/items/42"
  "plugin C typed|$HOST_PID|$HOST_PORT|/hello-c/lookup/42?q=abc&limit=3&verbose=yes"
  "plugin C untyped twin|$HOST_PID|$HOST_PORT|/hello-c/lookup-untyped/42?q=abc&limit=3&verbose=yes"
  "plugin Swift typed|$HOST_PID|$HOST_PORT|/hello-swift/lookup/42?q=abc&limit=3&verbose=yes"
  "plugin Swift untyped twin|$HOST_PID|$HOST_PORT|/hello-swift/lookup-untyped/42?q=abc&limit=3&verbose=yes"
  "status GET /items/1|$HOST_PID|$HOST_PORT|/items/1"
)

declare -A PER_REQUEST
for target in "${TARGETS[@]}"; do
  IFS='|' read -r name pid port path <<<"$target"
  # Warm, uncounted: first-request work (caches, lazily made metadata, connection pools) is not
  # a per-request cost.
  taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:$port$path" >/dev/null
  perf stat -x, -o "$WORK/stat" -p "$pid" $(printf -- '-e %s ' "${EVENTS[@]}") &
  perf_pid=$!
  sleep 0.5  # perf attaches to every thread before the first request
  out=$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port$path")
  sleep 0.2  # the last responses written
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx responses" >&2; exit 1; fi
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  allocations=$(awk -F, '$3 ~ /probe_libc:sb_/ {sum += $1} END {print sum + 0}' "$WORK/stat")
  PER_REQUEST[$name]=$(awk -v a="$allocations" -v n="$requests" 'BEGIN {printf "%.1f", a / n}')
done

printf '\n%-28s %14s   %s\n' "target" "allocs/request" "(wrk -t1 -c$CONNECTIONS, ${DURATION}s each; lower is better)"
row() {  # name baseline-name
  local value=${PER_REQUEST[$1]} base=${PER_REQUEST[$2]}
  printf '%-28s %14s   %s/%s = %s\n' "$1" "$value" "$1" "$2" "$(ratio "$value" "$base")"
  goal_row "$1 allocations" "$value" "allocs/req" "$2" "$base" ""
}
printf '%-28s %14s\n' "bare NIO text" "${PER_REQUEST[bare NIO text]}"
for kind in "text" "JSON" "path param"; do
  for lang in C Swift; do
    printf '%-28s %14s\n' "native $lang $kind" "${PER_REQUEST[native $lang $kind]}"
    row "plugin $lang $kind" "native $lang $kind"
  done
done
for lang in C Swift; do
  printf '%-28s %14s\n' "plugin $lang untyped twin" "${PER_REQUEST[plugin $lang untyped twin]}"
  row "plugin $lang typed" "plugin $lang untyped twin"
done
row "status GET /items/1" "plugin C path param"
