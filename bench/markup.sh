#!/usr/bin/env bash
# The markup plugin (C) against the chapter's app under uvicorn (one worker, uvloop, httptools):
# /html and /rss requests per second, goal >= 10x; and /html against hello-c's text route on
# the same host, goal >= 0.95x (a static page must cost what a greeting costs). Side by side in
# one run: each round runs every target once, in turn; medians are reported. The servers are
# pinned to CPU 1 and wrk to CPU 0.
#
#   bench/markup.sh [seconds-per-run] [rounds]      (defaults: 5 s, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-5}
ROUNDS=${2:-3}
CONNECTIONS=${CONNECTIONS:-64}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
reference_python
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins"
cp "$BIN/libMarkup.so" "$BIN/libHelloC.so" "$WORK/plugins/"
PIDS=()
trap bench_cleanup EXIT

HOST_PORT=$(pick_port)
REF_PORT=$(pick_port "$HOST_PORT")
SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/state" \
  taskset -c 1 "$BIN/switchboard" serve --port "$HOST_PORT" --plugins "$WORK/plugins" --watch off 2>"$WORK/host.log" &
PIDS+=($!)
wait_port "$HOST_PORT" /html "$WORK/host.log"
start_reference "$REF_PORT" "$WORK/ref.log" /html

# name|port|path
TARGETS=(
  "switchboard /html|$HOST_PORT|/html"
  "switchboard /rss|$HOST_PORT|/rss"
  "switchboard /hello-c|$HOST_PORT|/hello-c"
  "uvicorn /html|$REF_PORT|/html"
  "uvicorn /rss|$REF_PORT|/rss"
)
measure_targets
html=$(m "switchboard /html")
echo
echo "/html against uvicorn:   $(ratio "$html" "$(m "uvicorn /html")")x (goal 10x)"
echo "/rss against uvicorn:    $(ratio "$(m "switchboard /rss")" "$(m "uvicorn /rss")")x (goal 10x)"
echo "/html against /hello-c:  $(ratio "$html" "$(m "switchboard /hello-c")")x (goal 0.95x)"
goal_row "markup /html" "$html" "req/s" "chapter app /html (uvicorn)" "$(m "uvicorn /html")" ">=10"
goal_row "markup /rss" "$(m "switchboard /rss")" "req/s" "chapter app /rss (uvicorn)" "$(m "uvicorn /rss")" ">=10"
goal_row "markup /html" "$html" "req/s" "hello-c text, same host" "$(m "switchboard /hello-c")" ">=0.95"
