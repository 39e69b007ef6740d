#!/usr/bin/env bash
# The plugin boundary's cost: requests per second of the example plugin routes (C and Swift,
# loaded by the host with dlopen) against the same handlers as native Hummingbird routes (each
# plugin's own: hello-c's bytes by hand, hello-swift's through the SDK's encoder), side by
# side in one run, with wrk on loopback. Prints each figure and the ratio plugin/native, the
# tiny text route against a bare SwiftNIO server (the floor), and the cost of typed parameters
# (validation, libffi): the typed lookup against its untyped twin, the same lookup in the same
# plugin reading and checking its five parameters itself.
#
#   bench/run.sh [seconds-per-run] [rounds]      (defaults: 10 s, 3 rounds)
#
# Each round runs every target once, in turn, so drift on a shared machine hits all of them;
# the median over rounds is reported. The servers are pinned to CPU 1 and wrk to CPU 0.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-10}
ROUNDS=${2:-3}
CONNECTIONS=${CONNECTIONS:-64}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins"
cp "$BIN/libHelloC.so" "$BIN/libHelloSwift.so" "$WORK/plugins/"

PIDS=()
trap bench_cleanup EXIT

HOST_PORT=$(pick_port)
NATIVE_PORT=$(pick_port "$HOST_PORT")
NIO_PORT=$(pick_port "$HOST_PORT" "$NATIVE_PORT")
SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/state" \
  taskset -c 1 "$BIN/switchboard" serve --port "$HOST_PORT" --plugins "$WORK/plugins" 2>"$WORK/host.log" &
PIDS+=($!)
taskset -c 1 "$BIN/switchboard-native-baseline" "$NATIVE_PORT" 2>"$WORK/native.log" &
PIDS+=($!)
taskset -c 1 "$BIN/switchboard-nio-baseline" "$NIO_PORT" 2>"$WORK/nio.log" &
PIDS+=($!)
wait_port "$HOST_PORT" /hello-c "$WORK/host.log"
wait_port "$NATIVE_PORT" /hello-c "$WORK/native.log"
wait_port "$NIO_PORT" /hello-c "$WORK/nio.log"

# name|port|path
TARGETS=(
  "bare NIO text|$NIO_PORT|/hello-c"
  "native C text|$NATIVE_PORT|/hello-c"
  "plugin C text|$HOST_PORT|/hello-c"
  "native Swift text|$NATIVE_PORT|/hello-swift"
  "plugin Swift text|$HOST_PORT|/hello-swift"
  "native C JSON|$NATIVE_PORT|/hello-c/json"
  "plugin C JSON|$HOST_PORT|/hello-c/json"
  "native Swift JSON|$NATIVE_PORT|/hello-swift/json"
  "plugin Swift JSON|$HOST_PORT|/hello-swift/json"
  "native C path param|$NATIVE_PORT|/hello-c/items/42"
  "plugin C path param|$HOST_PORT|/hello-c/items/42"
  "native Swift path param|$NATIVE_PORT|/hello-swift/items/42"
  "plugin Swift path param|$HOST_PORT|/hello-swift/items/42"
  "plugin C typed|$HOST_PORT|/hello-c/lookup/42?q=abc&limit=3&verbose=yes"
  "plugin Swift typed|$HOST_PORT|/hello-swift/lookup/42?q=abc&limit=3&verbose=yes"
  "plugin C untyped twin|$HOST_PORT|/hello-c/lookup-untyped/42?q=abc&limit=3&verbose=yes"
  "plugin Swift untyped twin|$HOST_PORT|/hello-swift/lookup-untyped/42?q=abc&limit=3&verbose=yes"
)

for target in "${TARGETS[@]}"; do  # warm-up
  IFS='|' read -r name port path <<<"$target"
  taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port$path" >/dev/null
done
for round in $(seq "$ROUNDS"); do
  for target in "${TARGETS[@]}"; do
    IFS='|' read -r name port path <<<"$target"
    out=$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port$path")
    if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx responses" >&2; exit 1; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    RESULTS[$name]="${RESULTS[$name]:-} $rps"
  done
done

printf '\n%-26s %12s   %s\n' "target" "req/s" "(median of $ROUNDS × ${DURATION}s, wrk -t1 -c$CONNECTIONS)"
for kind in "text" "JSON" "path param"; do
  for lang in C Swift; do
    native=$(median "${RESULTS[native $lang $kind]}")
    value=$(median "${RESULTS[plugin $lang $kind]}")
    ratio=$(awk -v a="$value" -v b="$native" 'BEGIN {printf "%.3f", a/b}')
    printf '%-26s %12.0f\n' "native $lang $kind" "$native"
    printf '%-26s %12.0f   ratio %s\n' "plugin $lang $kind" "$value" "$ratio"
    goal_row "plugin $lang $kind" "$value" "req/s" "native $lang $kind" "$native" ">=0.95"
  done
done

# The floor: a bare SwiftNIO server (NIOHTTP1 and one handler) answering the same bytes.
nio=$(median "${RESULTS[bare NIO text]}")
printf '%-26s %12.0f\n' "bare NIO text" "$nio"
for lang in C Swift; do
  value=$(median "${RESULTS[plugin $lang text]}")
  printf '%-26s %12.0f   ratio %s to bare NIO\n' "plugin $lang text" "$value" "$(awk -v a="$value" -v b="$nio" 'BEGIN {printf "%.3f", a/b}')"
  goal_row "plugin $lang text" "$value" "req/s" "bare SwiftNIO text" "$nio" ">=0.9"
done

# Typed parameters: five declared parameters validated by the host (and, for C, a libffi call),
# against the untyped twin (the same answer, its parameters read through the ABI and checked by
# the handler). The path-parameter route, which reads one parameter and answers a shorter body,
# is printed beside it for comparison with earlier runs.
for lang in C Swift; do
  twin=$(median "${RESULTS[plugin $lang untyped twin]}")
  plain=$(median "${RESULTS[plugin $lang path param]}")
  value=$(median "${RESULTS[plugin $lang typed]}")
  printf '%-26s %12.0f\n' "plugin $lang untyped twin" "$twin"
  printf '%-26s %12.0f   ratio %s to its untyped twin, %s to its path-param route\n' "plugin $lang typed (5 params)" "$value" \
    "$(awk -v a="$value" -v b="$twin" 'BEGIN {printf "%.3f", a/b}')" "$(awk -v a="$value" -v b="$plain" 'BEGIN {printf "%.3f", a/b}')"
  goal_row "plugin $lang typed (5 params)" "$value" "req/s" "its untyped twin" "$twin" ">=0.9"
done
