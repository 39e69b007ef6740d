#!/usr/bin/env bash
# The negotiation plugin (Swift, SDK) against the chapter's app under uvicorn (one worker, uvloop,
# httptools): /resource/1 as JSON and as HTML (chosen from a browser's Accept) and
# /products?format=csv (streamed) in requests per second, goal >= 10x; and /resource/1 against
# hello-c's path-parameter route on the same host, goal >= 0.9x (negotiating costs almost
# nothing), and against hello-swift's, the same route on the Swift SDK (what a Swift route costs
# before it negotiates). The machine's speed drifts over minutes: prefer many short rounds
# (bench/negotiation.sh 2 9) to a few long ones. Side by side in one run: each round runs every target once, in turn; medians are
# reported. The servers are pinned to CPU 1 and wrk to CPU 0.
#
#   bench/negotiation.sh [seconds-per-run] [rounds]      (defaults: 5 s, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-5}
ROUNDS=${2:-3}
CONNECTIONS=${CONNECTIONS:-64}
BROWSER="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
reference_python
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins"
cp "$BIN/libNegotiation.so" "$BIN/libHelloC.so" "$BIN/libHelloSwift.so" "$WORK/plugins/"
PIDS=()
trap bench_cleanup EXIT

HOST_PORT=$(pick_port)
REF_PORT=$(pick_port "$HOST_PORT")
SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/state" \
  taskset -c 1 "$BIN/switchboard" serve --port "$HOST_PORT" --plugins "$WORK/plugins" --watch off 2>"$WORK/host.log" &
PIDS+=($!)
wait_port "$HOST_PORT" /resource/1 "$WORK/host.log"
start_reference "$REF_PORT" "$WORK/ref.log" /resource/1

# Both servers must answer each target alike before it is timed.
for accept in "application/json" "$BROWSER"; do
  ours=$(curl -s -H "Accept: $accept" "http://127.0.0.1:$HOST_PORT/resource/1")
  theirs=$(curl -s -H "Accept: $accept" "http://127.0.0.1:$REF_PORT/resource/1")
  [ "$ours" = "$theirs" ] || { echo "/resource/1 differs for Accept: $accept" >&2; exit 1; }
done
cmp -s <(curl -s "http://127.0.0.1:$HOST_PORT/products?format=csv") <(curl -s "http://127.0.0.1:$REF_PORT/products?format=csv") \
  || { echo "/products?format=csv differs" >&2; exit 1; }

# name|port|path|Accept
TARGETS=(
  "switchboard /resource JSON|$HOST_PORT|/resource/1|application/json"
  "switchboard /resource HTML|$HOST_PORT|/resource/1|$BROWSER"
  "switchboard /products csv|$HOST_PORT|/products?format=csv|*/*"
  "switchboard hello-c item|$HOST_PORT|/hello-c/items/1|application/json"
  "switchboard hello-swift item|$HOST_PORT|/hello-swift/items/1|application/json"
  "uvicorn /resource JSON|$REF_PORT|/resource/1|application/json"
  "uvicorn /resource HTML|$REF_PORT|/resource/1|$BROWSER"
  "uvicorn /products csv|$REF_PORT|/products?format=csv|*/*"
)
measure_targets
echo
echo "/resource JSON against uvicorn:   $(ratio "$(m "switchboard /resource JSON")" "$(m "uvicorn /resource JSON")")x (goal 10x)"
echo "/resource HTML against uvicorn:   $(ratio "$(m "switchboard /resource HTML")" "$(m "uvicorn /resource HTML")")x (goal 10x)"
echo "/products csv against uvicorn:    $(ratio "$(m "switchboard /products csv")" "$(m "uvicorn /products csv")")x (goal 10x)"
echo "/resource JSON against hello-c:   $(ratio "$(m "switchboard /resource JSON")" "$(m "switchboard hello-c item")")x (goal 0.9x)"
echo "/resource HTML against hello-c:   $(ratio "$(m "switchboard /resource HTML")" "$(m "switchboard hello-c item")")x (goal 0.9x)"
echo "/resource JSON against hello-swift: $(ratio "$(m "switchboard /resource JSON")" "$(m "switchboard hello-swift item")")x"
goal_row "negotiation /resource JSON" "$(m "switchboard /resource JSON")" "req/s" "chapter app (uvicorn)" "$(m "uvicorn /resource JSON")" ">=10"
goal_row "negotiation /resource HTML" "$(m "switchboard /resource HTML")" "req/s" "chapter app (uvicorn)" "$(m "uvicorn /resource HTML")" ">=10"
goal_row "negotiation /products csv" "$(m "switchboard /products csv")" "req/s" "chapter app (uvicorn)" "$(m "uvicorn /products csv")" ">=10"
goal_row "negotiation /resource JSON" "$(m "switchboard /resource JSON")" "req/s" "hello-c path param, same host" "$(m "switchboard hello-c item")" ">=0.9"
goal_row "negotiation /resource HTML" "$(m "switchboard /resource HTML")" "req/s" "hello-c path param, same host" "$(m "switchboard hello-c item")" ">=0.9"
