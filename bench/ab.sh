#!/usr/bin/env bash
# Two builds of the host side by side in one run: A (another build's bin directory, e.g. a
# worktree of the commit before a change, built with `swift build -c release`) against B (this
# tree's release build), each serving its own build of the example plugins. Every round runs each
# target on A then on B, so drift on a shared machine hits both; prints the median req/s of each
# and the ratio B/A.
#
#   bench/ab.sh A_BIN_DIR [seconds-per-run] [rounds]      (defaults: 5 s, 5 rounds)
#
# Example:  git worktree add /tmp/before HEAD~5 && (cd /tmp/before && swift build -c release)
#           bench/ab.sh /tmp/before/.build/release
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
A_BIN=${1:?usage: bench/ab.sh A_BIN_DIR [seconds] [rounds]}
DURATION=${2:-5}
ROUNDS=${3:-5}
CONNECTIONS=${CONNECTIONS:-64}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
B_BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
PIDS=()
trap bench_cleanup EXIT

declare -A PORT
for side in A B; do
  bin=$A_BIN; [ "$side" = B ] && bin=$B_BIN
  mkdir -p "$WORK/$side/plugins"
  cp "$bin/libHelloC.so" "$bin/libHelloSwift.so" "$bin/libStatus.so" "$WORK/$side/plugins/"
  PORT[$side]=$(pick_port)
  SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/$side/state" \
    taskset -c 1 "$bin/switchboard" serve --port "${PORT[$side]}" --plugins "$WORK/$side/plugins" 2>"$WORK/$side.log" &
  PIDS+=($!)
  wait_port "${PORT[$side]}" /hello-c "$WORK/$side.log"
done

TARGETS=(
  "C text|/hello-c"
  "Swift text|/hello-swift"
  "C JSON|/hello-c/json"
  "Swift JSON|/hello-swift/json"
  "C path param|/hello-c/items/42"
  "Swift path param|/hello-swift/items/42"
  "C typed|/hello-c/lookup/42?q=abc&limit=3&verbose=yes"
  "Swift typed|/hello-swift/lookup/42?q=abc&limit=3&verbose=yes"
  "status /items/1|/items/1"
)
declare -A RESULTS
run() {  # side path
  local out
  out=$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:${PORT[$1]}$2")
  if grep -q "Non-2xx" <<<"$out"; then echo "$1 $2: non-2xx responses" >&2; exit 1; fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}
for target in "${TARGETS[@]}"; do  # warm-up
  IFS='|' read -r name path <<<"$target"
  for side in A B; do taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:${PORT[$side]}$path" >/dev/null; done
done
for round in $(seq "$ROUNDS"); do
  for target in "${TARGETS[@]}"; do
    IFS='|' read -r name path <<<"$target"
    for side in A B; do RESULTS[$side $name]="${RESULTS[$side $name]:-} $(run "$side" "$path")"; done
  done
done

printf '\nA: %s\nB: %s\n%-20s %10s %10s   %s\n' "$A_BIN" "$B_BIN" "target" "A req/s" "B req/s" "B/A (median of $ROUNDS × ${DURATION}s)"
for target in "${TARGETS[@]}"; do
  IFS='|' read -r name path <<<"$target"
  a=$(median "${RESULTS[A $name]}")
  b=$(median "${RESULTS[B $name]}")
  printf '%-20s %10.0f %10.0f   %s\n' "$name" "$a" "$b" "$(ratio "$b" "$a")"
done
