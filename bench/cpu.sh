#!/usr/bin/env bash
# Where a request's CPU goes: the tiny text route (GET /hello-c) on the bare SwiftNIO server, the
# native Hummingbird server and the host (and, with A_BIN_DIR, another build of the host), each
# under the same wrk load in turn (servers on CPU 1, wrk -t1 -c64 on CPU 0). For each it prints
# requests per second and the server's CPU per request in microseconds, user and system, from
# /proc/<pid>/stat (this VM exposes no instruction counters). Then, with PERF=1, it samples the
# host with `perf record -g` and prints the shares of its samples by component
# (bench/perf_shares.py), innermost component first.
#
#   bench/cpu.sh [seconds-per-run] [rounds] [A_BIN_DIR]      (defaults: 5 s, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-5}
ROUNDS=${2:-3}
OTHER=${3:-}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
PIDS=()
trap bench_cleanup EXIT

# start KIND BIN_DIR → sets PORT and SERVER_PID
start() {
  PORT=$(pick_port)
  case $1 in
    nio) taskset -c 1 "$2/switchboard-nio-baseline" "$PORT" 2>/dev/null & SERVER_PID=$! ;;
    native) taskset -c 1 "$2/switchboard-native-baseline" "$PORT" 2>/dev/null & SERVER_PID=$! ;;
    host)
      local dir="$WORK/$RANDOM"
      mkdir -p "$dir/plugins" && cp "$2/libHelloC.so" "$dir/plugins/"
      SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$dir/state" \
        taskset -c 1 "$2/switchboard" serve --single-process --port "$PORT" --plugins "$dir/plugins" 2>"$dir/log" &
      SERVER_PID=$! ;;
  esac
  PIDS+=("$SERVER_PID")
  wait_port "$PORT" /hello-c /dev/null
}

# measure NAME → appends "rps user system" to RESULTS[NAME]
declare -A RESULTS
measure() {
  taskset -c 0 wrk -t1 -c64 -d2s "http://127.0.0.1:$PORT/hello-c" >/dev/null
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$SERVER_PID/stat")
  out=$(taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$PORT/hello-c")
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$SERVER_PID/stat")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  RESULTS[$1]="${RESULTS[$1]:-}$(awk -v r="$requests" -v d="$DURATION" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.0f:%.2f:%.2f ", r / d, u * 1e6 / hz / r, s * 1e6 / hz / r}')"
}

TARGETS=("bare NIO|nio|$BIN" "native Hummingbird|native|$BIN" "host|host|$BIN")
[ -n "$OTHER" ] && TARGETS+=("host (A_BIN_DIR)|host|$OTHER")
for round in $(seq "$ROUNDS"); do
  for target in "${TARGETS[@]}"; do
    IFS='|' read -r name kind dir <<<"$target"
    start "$kind" "$dir"
    measure "$name"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  done
done

column() { tr ' ' '\n' <<<"$1" | grep -v '^$' | cut -d: -f"$2" | tr '\n' ' '; }
printf '\n%-22s %10s %14s %14s   %s\n' "server" "req/s" "user µs/req" "system µs/req" "(median of $ROUNDS × ${DURATION}s, GET /hello-c, wrk -t1 -c64)"
for target in "${TARGETS[@]}"; do
  IFS='|' read -r name _ _ <<<"$target"
  printf '%-22s %10.0f %14.1f %14.1f\n' "$name" "$(median "$(column "${RESULTS[$name]}" 1)")" \
    "$(median "$(column "${RESULTS[$name]}" 2)")" "$(median "$(column "${RESULTS[$name]}" 3)")"
done

if [ "${PERF:-0}" = 1 ]; then
  start host "$BIN"
  (taskset -c 0 wrk -t1 -c64 -d12s "http://127.0.0.1:$PORT/hello-c" >/dev/null &)
  sleep 2
  perf record -F 2999 -g -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep 8 2>/dev/null >/dev/null
  perf script -i "$WORK/perf.data" 2>/dev/null | swift demangle --simplified >"$WORK/perf.txt"
  printf '\nThe host'"'"'s samples by component (perf record -g, 8 s):\n'
  python3 bench/perf_shares.py "$WORK/perf.txt"
fi
