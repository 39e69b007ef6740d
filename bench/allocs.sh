#!/usr/bin/env bash
# Heap allocations per request: the same routes as bench/run.sh (bare SwiftNIO, the native
# Hummingbird twins, the plugins through the host) and GET /items/1, counted, not timed. Each
# server runs under `perf stat` with uprobes on glibc's malloc, calloc, realloc, posix_memalign
# and aligned_alloc (every way Swift, NIO and the plugins get heap memory), while wrk sends
# requests for a few seconds; the count over the requests wrk completed is the figure. Unlike
# requests per second it hardly moves with the load on this shared machine: what it also counts,
# the 64 connections' setup and the requests still in flight when wrk stops, is spread over
# thousands of requests (tens of allocations a connection: under 1 % of the figure). GET /items/1
# is the exception: the uprobes slow the thread that answers a state read inline, so more of
# its reads queue than without them (each one queued costs about 35 more allocations); the
# share answered inline during the count is printed beside it.
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

swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
# The C library the host loads, as the dynamic linker resolves it for this binary.
LIBC=$(ldd "$BIN/switchboard" | awk '$1 ~ /^libc\.so/ {print $3}')
[ -n "$LIBC" ] || { echo "could not find the C library $BIN/switchboard loads" >&2; exit 1; }
EVENTS=()
remove_probes() { for event in "${EVENTS[@]}"; do perf probe -q -d "$event" 2>/dev/null || true; done; }
trap remove_probes EXIT
for symbol in malloc calloc realloc posix_memalign aligned_alloc; do
  perf probe -q -d "probe_libc:sb_$symbol" 2>/dev/null || true  # left by a run that was killed
  perf probe -q -x "$LIBC" --add "sb_$symbol=$symbol" \
    || { echo "perf could not add a uprobe on $symbol in $LIBC (it needs root)" >&2; exit 1; }
  EVENTS+=("probe_libc:sb_$symbol")
done

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
  PIDS+=("$perf_pid")
  sleep 0.5  # perf attaches to every thread before the first request
  out=$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port$path")
  sleep 0.2  # the last responses written
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx responses" >&2; exit 1; fi
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  [ "${requests:-0}" -gt 0 ] || { echo "$name: wrk completed no request" >&2; exit 1; }
  if grep -q "not counted" "$WORK/stat"; then echo "$name: perf did not count every probe" >&2; exit 1; fi
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
inline=$(curl -s "http://127.0.0.1:$HOST_PORT/metrics" | awk '
  /^switchboard_state_inline_reads_total\{/ { total += $NF; if ($0 ~ /outcome="inline"/) inline += $NF }
  END { if (total) printf "%.3f", inline / total }') || true
echo "  (GET /items/1's state reads answered inline under the uprobes: ${inline:-?} of them)"
