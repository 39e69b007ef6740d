#!/usr/bin/env bash
# The status plugin against the chapter's FastAPI app, side by side in one run (wrk -t1 -c64):
#
#   GET  /items/1                       a stored item with its ETag
#   GET  /items?limit=10                a page of items and the total
#   GET  /conditional + If-None-Match   the 304 path (the chapter's app runs with
#                                       REF_FIX_SEED_BUGS=1, or every one of these is a 500)
#   POST /items                         a creation; Switchboard's is durable (SQLite, synced before
#                                       the 201), the chapter's is a Python dict
#
#   bench/status.sh [seconds-per-run] [rounds]      (defaults: 10 s, 3 rounds)
#   env: REFERENCE (the chapter app's folder, default ../shared/reference),
#        REFERENCE_PYTHON (a python with fastapi and uvicorn; default: a venv made under .build)
#
# Servers are pinned to CPU 1 and wrk to CPU 0. Each round runs both sides once per target, in
# turn; the median over rounds is reported with the ratio switchboard/chapter.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-10}
ROUNDS=${2:-3}
REFERENCE=${REFERENCE:-$(cd .. && pwd)/shared/reference}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
[ -f "$REFERENCE/chapter_app.py" ] || { echo "no chapter app at $REFERENCE" >&2; exit 1; }

swift build -c release 2>&1 | grep -E 'error|Compiling|Build' | tail -1
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins"
cp "$BIN/libStatus.so" "$WORK/plugins/"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT


SB_PORT=$(pick_port)
SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/state" \
  taskset -c 1 "$BIN/switchboard" serve --port "$SB_PORT" --plugins "$WORK/plugins" 2>"$WORK/switchboard.log" &
PIDS+=($!)

reference_python
UV_PORT=$(pick_port)
(cd "$REFERENCE" && REF_FIX_SEED_BUGS=1 taskset -c 1 "$PY" -m uvicorn chapter_app:app --port "$UV_PORT" --log-level warning --app-dir "$REFERENCE" 2>"$WORK/uvicorn.log") &
PIDS+=($!)
wait_port "$SB_PORT" /items/1 "$WORK/switchboard.log"
wait_port "$UV_PORT" /items/1 "$WORK/uvicorn.log"
PIDS+=("$(pgrep -f "uvicorn chapter_app:app --port $UV_PORT" | head -1)")

# Each side's own tag for the 304 run (the chapter's is unquoted).
SB_TAG=$(curl -s -D - -o /dev/null "http://127.0.0.1:$SB_PORT/conditional" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
UV_TAG=$(curl -s -D - -o /dev/null "http://127.0.0.1:$UV_PORT/conditional" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
for side in "$SB_PORT:$SB_TAG" "$UV_PORT:$UV_TAG"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: ${side#*:}" "http://127.0.0.1:${side%%:*}/conditional")
  [ "$code" = 304 ] || { echo "port ${side%%:*}: If-None-Match gave $code, not 304" >&2; exit 1; }
done
cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"name":"bench","price":1.5}'
wrk.headers["Content-Type"] = "application/json"
EOF

echo "switchboard $("$BIN/switchboard" --version 2>/dev/null || true) against FastAPI + uvicorn (one worker), ${DURATION}s × $ROUNDS rounds, wrk -t1 -c64"
printf '\n%-40s %12s %12s %8s\n' "target" "chapter r/s" "switchboard" "ratio"
run() {  # label expected-status wrk-args...
  local label=$1 expected=$2; shift 2
  declare -A RPS=()
  for round in $(seq "$ROUNDS"); do
    for side in uvicorn switchboard; do
      local port=$UV_PORT tag=$UV_TAG
      if [ $side = switchboard ]; then port=$SB_PORT; tag=$SB_TAG; fi
      local args=("${@//\{tag\}/$tag}")
      out=$(taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" "${args[@]/\{base\}/http://127.0.0.1:$port}")
      if grep -q "Non-2xx\|Socket errors" <<<"$out" && [ "$expected" = 2xx ]; then echo "$side: errors in the $label run:" >&2; echo "$out" >&2; exit 1; fi
      RPS[$side]="${RPS[$side]:-} $(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    done
  done
  local uv sb
  uv=$(median "${RPS[uvicorn]}")
  sb=$(median "${RPS[switchboard]}")
  printf '%-40s %12.0f %12.0f %8s\n' "$label" "$uv" "$sb" "$(ratio "$sb" "$uv")"
  goal_row "status $label" "$sb" "req/s" "chapter app (uvicorn)" "$uv" "${GOAL:-}"
}
run "GET /items/1" 2xx "{base}/items/1"
run "GET /items?limit=10" 2xx "{base}/items?limit=10"
run "GET /conditional, If-None-Match → 304" 304 -H "If-None-Match: {tag}" "{base}/conditional"
run "POST /items (durable on switchboard)" 2xx -s "$WORK/post.lua" "{base}/items"
