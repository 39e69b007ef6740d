#!/usr/bin/env bash
# The chapter's /orjson-large-data (1,000 users, 146,694 bytes of JSON) served by the json plugin,
# with and without gzip, beside the chapter's FastAPI app under uvicorn (one worker, uvloop and
# httptools) when that can run. wrk on loopback, side by side in one run; prints requests per
# second, bytes per response and the ratios. Goal (issue 14): ≥ 50× uvicorn.
#
#   bench/largedata.sh [seconds] [connections]      (defaults: 10 s, 64)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-10}
CONNECTIONS=${2:-64}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins"
cp "$BIN/libJson.so" "$WORK/plugins/"
PIDS=()
trap bench_cleanup EXIT
rps() { wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s "$@" | awk '/Requests\/sec/ {print $2}'; }

PORT=$(pick_port)
SWITCHBOARD_COMPRESSION_LEVEL=6 SWITCHBOARD_STATE_DIRECTORY="$WORK/state" "$BIN/switchboard" serve --port "$PORT" --plugins "$WORK/plugins" --watch off 2>"$WORK/server.log" &
PIDS+=($!)
wait_port "$PORT" /fast-api "$WORK/server.log"
URL="http://127.0.0.1:$PORT/orjson-large-data"
plain_bytes=$(curl -s "$URL" | wc -c)
gzip_bytes=$(curl -s -H 'Accept-Encoding: gzip' "$URL" | wc -c)
plain=$(rps "$URL")
coded=$(rps -H 'Accept-Encoding: gzip' "$URL")

# gzip at zlib level 1 (the host's default, as nginx's gzip_comp_level) beside level 6 above.
FAST_PORT=$(pick_port)
SWITCHBOARD_COMPRESSION_LEVEL=1 SWITCHBOARD_STATE_DIRECTORY="$WORK/state1" "$BIN/switchboard" serve --port "$FAST_PORT" --plugins "$WORK/plugins" --watch off 2>>"$WORK/server.log" &
PIDS+=($!)
wait_port "$FAST_PORT" /fast-api "$WORK/server.log"
fast_bytes=$(curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$FAST_PORT/orjson-large-data" | wc -c)
fast=$(rps -H 'Accept-Encoding: gzip' "http://127.0.0.1:$FAST_PORT/orjson-large-data")

# The chapter's app, when FastAPI can be installed (PyPI).
VENV=.build/bench-venv
reference="-"
if "$VENV/bin/pip" install -q fastapi uvicorn orjson uvloop httptools pillow aiofiles 2>/dev/null; then
  REF_PORT=$(pick_port)
  (cd ../shared/reference && exec "$OLDPWD/$VENV/bin/uvicorn" chapter_app:app --host 127.0.0.1 --port "$REF_PORT" --loop uvloop --http httptools --log-level warning) &
  PIDS+=($!)
  wait_port "$REF_PORT" /fast-api /dev/null
  reference=$(rps "http://127.0.0.1:$REF_PORT/orjson-large-data")
fi

printf '%-34s %10s req/s %9s bytes\n' "switchboard, identity" "$plain" "$plain_bytes"
printf '%-34s %10s req/s %9s bytes\n' "switchboard, gzip level 6" "$coded" "$gzip_bytes"
printf '%-34s %10s req/s %9s bytes\n' "switchboard, gzip level 1" "$fast" "$fast_bytes"
printf '%-34s %10s req/s\n' "FastAPI + uvicorn (uvloop), 1 worker" "$reference"
if [ "$reference" != "-" ]; then
  echo "identity / uvicorn: $(echo "$plain / $reference" | bc -l | cut -c1-6)x   gzip / uvicorn: $(echo "$coded / $reference" | bc -l | cut -c1-6)x"
fi
echo "gzip: $(echo "$plain_bytes / $gzip_bytes" | bc -l | cut -c1-5)x fewer bytes, $(echo "$coded / $plain" | bc -l | cut -c1-5)x the requests per second"
if [ "$reference" != "-" ]; then
  goal_row "json /orjson-large-data, identity" "$plain" "req/s" "chapter app (uvicorn)" "$reference" ">=50"
  goal_row "json /orjson-large-data, gzip level 6" "$coded" "req/s" "chapter app (uvicorn)" "$reference" ""
fi
