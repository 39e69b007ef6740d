#!/usr/bin/env bash
# The SQLite state store at scale (issue #18), side by side in one run (wrk -t1 -c64; host on
# CPU 1, wrk on CPU 0):
#
#   GET /items/1 with the chapter's 3 items          the baseline
#   GET /hello-c/items/1 on the same host              goal (issue #21): /items/1 at 0.9 of it
#   GET /items/1 with 100,000 items stored           goal: no slower than the baseline
#   GET /items?skip=5000&limit=10, 100,000 items      goal: no slower than the baseline
#   resident memory with 1,000,000 items stored       goal: not all of them in memory
#
# The large stores are written with sqlite3 straight into state.db (a status plugin's item is
# one row: items/<19-digit id> → its JSON), so filling takes seconds, not an hour of POSTs.
#
#   bench/state.sh [seconds-per-run] [rounds]      (defaults: 5 s, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-5}
ROUNDS=${2:-3}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins"
cp "$BIN/libStatus.so" "$BIN/libHelloC.so" "$WORK/plugins/"
PIDS=()
trap bench_cleanup EXIT

start_host() {  # name port -> the host's pid in HOST_PID
  SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/$1" \
    taskset -c 1 "$BIN/switchboard" serve --port "$2" --plugins "$WORK/plugins" --watch off 2>"$WORK/$1.log" &
  HOST_PID=$!
  PIDS+=($HOST_PID)
  wait_port "$2" /items/1 "$WORK/$1.log"
}

# A store of $2 items in $1, as the status plugin writes them, seeded (so it adds nothing).
fill() {
  mkdir -p "$WORK/$1/state"
  sqlite3 "$WORK/$1/state/state.db" <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS state (plugin TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, UNIQUE (plugin, key));
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
INSERT INTO state (plugin, key, value)
  SELECT 'status', CAST('items/' || printf('%019d', i) AS BLOB), CAST('{"id":' || i || ',"name":"Item ' || i || '","price":' || (i % 1000) || '.5}' AS BLOB) FROM n;
INSERT INTO state VALUES ('status', CAST('counters/items' AS BLOB), CAST('$2' AS BLOB)), ('status', CAST('seeded' AS BLOB), CAST('1' AS BLOB));
SQL
}

fill large 100000
fill huge 1000000
SMALL_PORT=$(pick_port); start_host small "$SMALL_PORT"
LARGE_PORT=$(pick_port "$SMALL_PORT"); start_host large "$LARGE_PORT"

# name|port|path
TARGETS=(
  "3 items: GET /hello-c/items/1|$SMALL_PORT|/hello-c/items/1"
  "3 items: GET /items/1|$SMALL_PORT|/items/1"
  "100,000: GET /items/1|$LARGE_PORT|/items/1"
  "100,000: GET /items?skip=5000&limit=10|$LARGE_PORT|/items?skip=5000&limit=10"
)
measure_targets
base=$(m "3 items: GET /items/1")
# How the store's reads were answered meanwhile: a GET /items/1 whose item is at hand is
# answered inside the handler's call (state_get_inline); each one queued paid a hop to the store
# thread and a task.
inline_share=$(curl -s "http://127.0.0.1:$SMALL_PORT/metrics" | awk '
  /^switchboard_state_inline_reads_total\{/ { total += $NF; if ($0 ~ /outcome="inline"/) inline += $NF; print > "/dev/stderr" }
  END { if (total) printf "%.4f", inline / total }') || true
echo
echo "GET /items/1, 100,000 items, against 3:        $(ratio "$(m "100,000: GET /items/1")" "$base")x (goal >= 1x)"
echo "skip=5000&limit=10, 100,000 items, against 3:  $(ratio "$(m "100,000: GET /items?skip=5000&limit=10")" "$base")x (goal >= 1x)"
echo "GET /items/1 against /hello-c/items/1:          $(ratio "$base" "$(m "3 items: GET /hello-c/items/1")")x (goal >= 0.9x)"
goal_row "state GET /items/1, 100,000 items" "$(m "100,000: GET /items/1")" "req/s" "GET /items/1, 3 items" "$base" ">=1"
goal_row "state GET /items?skip=5000&limit=10" "$(m "100,000: GET /items?skip=5000&limit=10")" "req/s" "GET /items/1, 3 items" "$base" ">=1"
goal_row "state GET /items/1" "$base" "req/s" "hello-c path param, same host" "$(m "3 items: GET /hello-c/items/1")" ">=0.9"
echo "GET /items/1 reads answered inline:              ${inline_share:-?} of them (goal >= 0.99)"
goal_row "state reads answered inline (3 items)" "${inline_share:-none}" "" "" "" ">=0.99"

# Resident memory with a million items: after serving pages from the whole range.
kill "$HOST_PID" 2>/dev/null || true
HUGE_PORT=$(pick_port "$SMALL_PORT" "$LARGE_PORT"); start_host huge "$HUGE_PORT"
WORKER_PID=$(serving_pid "$HUGE_PORT")
before=$(awk '/VmRSS/ {print $2}' "/proc/$WORKER_PID/status")
for skip in 0 250000 500000 750000 999990; do curl -s -o /dev/null "http://127.0.0.1:$HUGE_PORT/items?skip=$skip&limit=10"; done
taskset -c 0 wrk -t1 -c16 -d"${DURATION}s" "http://127.0.0.1:$HUGE_PORT/items?skip=999990&limit=10" >/dev/null
after=$(awk '/VmRSS/ {print $2}' "/proc/$WORKER_PID/status")
db=$(du -k "$WORK/huge/state/state.db" | cut -f1)
echo "1,000,000 items ($((db / 1024)) MiB on disk): resident $((before / 1024)) MiB at start, $((after / 1024)) MiB after paging through them"
goal_row "state resident memory, 1,000,000 items" "$((after / 1024))" "MiB" "" "" "<=$((db / 1024))"
