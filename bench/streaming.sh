#!/usr/bin/env bash
# The streaming plugin against its baselines, side by side in one run:
#
#   1. a 256 MiB download: /download/{f} (the host's file response) against nginx's sendfile of
#      the same file: throughput, and how far each server's resident memory grows meanwhile;
#   2. /export/csv (10,000 rows) against the chapter's FastAPI app under uvicorn: requests/s;
#   3. fan-out: SUBSCRIBERS clients on /logs/stream, one POST /logs/add delivered to all of them:
#      latency percentiles and resident memory, then the same against the chapter's app.
#
#   bench/streaming.sh [seconds-per-run] [rounds]      (defaults: 10 s, 3 rounds)
#   env: SUBSCRIBERS (10000), REFERENCE (the chapter app's folder, default ../shared/reference),
#        REFERENCE_PYTHON (a python with fastapi and uvicorn; default: a venv made under .build)
#
# Servers are pinned to CPU 1 and clients to CPU 0. Each round runs every side once, in turn, and
# the median over rounds is reported with the ratio switchboard/baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-10}
ROUNDS=${2:-3}
SUBSCRIBERS=${SUBSCRIBERS:-10000}
REFERENCE=${REFERENCE:-$(cd .. && pwd)/shared/reference}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v cc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi

swift build -c release 2>&1 | grep -E 'error|Compiling|Build' | tail -1
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins" "$WORK/files"
cp "$BIN/libStreaming.so" "$WORK/plugins/"
cc -O2 -o "$WORK/fanout" bench/fanout.c
dd if=/dev/urandom of="$WORK/files/big.bin" bs=1M count=256 status=none
echo hello >"$WORK/files/hello.txt"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# wrk's "Transfer/sec: 1.23GB" in bytes per second.
transfer() { awk '/Transfer\/sec/ {v=$2; u=substr(v,length(v)-1); n=v+0; m=(u=="GB"?2^30:u=="MB"?2^20:u=="KB"?2^10:1); printf "%.0f", n*m}' <<<"$1"; }
# Runs "$@" while sampling PID's resident memory every 50 ms; prints the command's output, then
# "peak-rss-kib N" as the last line.
with_peak_rss() {
  local pid=$1; shift
  local peak_file="$WORK/peak.$$"
  ( peak=0; while kill -0 "$pid" 2>/dev/null; do r=$(rss_kib "$pid"); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" >"$peak_file"; sleep 0.05; done ) &
  local sampler=$!
  "$@"
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  echo "peak-rss-kib $(cat "$peak_file" 2>/dev/null || rss_kib "$pid")"
  rm -f "$peak_file"
}

ulimit -n "$(ulimit -Hn)"
SB_PORT=$(pick_port)
# limits.max_connections (10,000 by default) must leave room for the subscribers and the poster.
SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/state" \
SWITCHBOARD_PLUGINS_CONFIG_STREAMING_FILES_DIRECTORY="$WORK/files" \
SWITCHBOARD_LIMITS_MAX_CONNECTIONS=$((SUBSCRIBERS + 1024)) \
  taskset -c 1 "$BIN/switchboard" serve --port "$SB_PORT" --plugins "$WORK/plugins" 2>"$WORK/switchboard.log" &
SB_PID=$!
PIDS+=("$SB_PID")

NGINX_PORT=$(pick_port)
cat >"$WORK/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $WORK/nginx-tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /download/ { alias $WORK/files/; default_type application/octet-stream; }
  }
}
EOF
taskset -c 1 nginx -c "$WORK/nginx.conf" &
PIDS+=($!)
wait_port "$SB_PORT" /download/hello.txt "$WORK/switchboard.log"
SB_WORKER=$(serving_pid "$SB_PORT")  # memory is measured on the worker (the supervisor holds none)
wait_port "$NGINX_PORT" /download/hello.txt "$WORK/nginx.log"
NGINX_WORKER=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)

# The chapter's app under uvicorn (one worker; uvloop and httptools when installed).
UVICORN_PORT=""
if [ -f "$REFERENCE/chapter_app.py" ]; then
  reference_python
  UVICORN_PORT=$(pick_port)
  (cd "$REFERENCE" && taskset -c 1 "$PY" -m uvicorn chapter_app:app --port "$UVICORN_PORT" --log-level warning --app-dir "$REFERENCE" 2>"$WORK/uvicorn.log") &
  PIDS+=($!)
  wait_port "$UVICORN_PORT" /stream-json "$WORK/uvicorn.log"
  UVICORN_PID=$(pgrep -f "uvicorn chapter_app:app --port $UVICORN_PORT" | head -1)
  PIDS+=("$UVICORN_PID")
else
  echo "no chapter app at $REFERENCE: the uvicorn comparisons are skipped" >&2
fi

echo "switchboard $("$BIN/switchboard" --version 2>/dev/null || true), nginx $(nginx -v 2>&1 | sed 's/.*\///'), ${DURATION}s × $ROUNDS rounds"

# 1. The 256 MiB download.
declare -A BYTES PEAK
SB_BASE=$(rss_kib "$SB_WORKER")
NGINX_BASE=$(rss_kib "$NGINX_WORKER")
for round in $(seq "$ROUNDS"); do
  for side in nginx switchboard; do
    if [ $side = nginx ]; then port=$NGINX_PORT; pid=$NGINX_WORKER; else port=$SB_PORT; pid=$SB_WORKER; fi
    out=$(with_peak_rss "$pid" taskset -c 0 wrk -t1 -c2 -d"${DURATION}s" --timeout 30s "http://127.0.0.1:$port/download/big.bin")
    if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$side: errors in the download run:" >&2; echo "$out" >&2; exit 1; fi
    BYTES[$side]="${BYTES[$side]:-} $(transfer "$out")"
    PEAK[$side]="${PEAK[$side]:-} $(awk '/^peak-rss-kib/ {print $2}' <<<"$out")"
  done
done
nginx_bps=$(median "${BYTES[nginx]}")
sb_bps=$(median "${BYTES[switchboard]}")
sb_growth=$(( ($(median "${PEAK[switchboard]}" | cut -d. -f1) - SB_BASE) / 1024 ))
nginx_growth=$(( ($(median "${PEAK[nginx]}" | cut -d. -f1) - NGINX_BASE) / 1024 ))
printf '\n256 MiB download (wrk -t1 -c2)      %10s   %s\n' "MB/s" "resident memory growth"
printf '  nginx sendfile                    %10.0f   %d MiB\n' "$(awk -v b="$nginx_bps" 'BEGIN {print b/1e6}')" "$nginx_growth"
printf '  switchboard /download/{f}         %10.0f   %d MiB   ratio %s (goal ≥ 0.90, growth ≤ 16 MiB)\n' \
  "$(awk -v b="$sb_bps" 'BEGIN {print b/1e6}')" "$sb_growth" "$(ratio "$sb_bps" "$nginx_bps")"
goal_row "streaming 256 MiB download" "$(awk -v b="$sb_bps" 'BEGIN {printf "%.0f", b/1e6}')" "MB/s" "nginx sendfile" "$(awk -v b="$nginx_bps" 'BEGIN {printf "%.0f", b/1e6}')" ">=0.9"
goal_row "streaming download, resident growth" "$sb_growth" "MiB" "" "" "<=16"

# 2. /export/csv, 10,000 rows.
if [ -n "$UVICORN_PORT" ]; then
  declare -A CSV
  for round in $(seq "$ROUNDS"); do
    for side in uvicorn switchboard; do
      # wrk counts only the requests completed inside its window: the chapter's app takes seconds
      # per request with four in flight (2.5 s on a quiet machine, over 5 s on a slow one), so
      # its window is at least 30 s, and a run that completed none is an error, not a zero.
      if [ $side = uvicorn ]; then port=$UVICORN_PORT; seconds=$((DURATION > 30 ? DURATION : 30)); else port=$SB_PORT; seconds=$DURATION; fi
      out=$(taskset -c 0 wrk -t1 -c4 -d"${seconds}s" --timeout 60s "http://127.0.0.1:$port/export/csv")
      if grep -q "Non-2xx" <<<"$out"; then echo "$side: non-2xx in the CSV run" >&2; exit 1; fi
      if [ "$(awk '/requests in/ {print $1}' <<<"$out")" = 0 ]; then echo "$side: no /export/csv request completed in ${seconds} s" >&2; exit 1; fi
      CSV[$side]="${CSV[$side]:-} $(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    done
  done
  uv=$(median "${CSV[uvicorn]}")
  sb=$(median "${CSV[switchboard]}")
  printf '\n/export/csv, 10,000 rows (wrk -t1 -c4)   req/s\n'
  printf '  FastAPI + uvicorn (the chapter) %10.2f\n' "$uv"
  printf '  switchboard                     %10.2f   ratio %s (goal ≥ 100)\n' "$sb" "$(ratio "$sb" "$uv")"
  goal_row "streaming /export/csv, 10,000 rows" "$sb" "req/s" "chapter app (uvicorn)" "$uv" ">=100"
fi

# 3. Fan-out: one message to every subscriber (a fresh set of connections per side).
fanout() {  # name port pid ready-marker
  local base out
  base=$(rss_kib "$3")
  out=$(with_peak_rss "$3" taskset -c 0 "$WORK/fanout" "$2" "$SUBSCRIBERS" "$ROUNDS" /logs/stream "/logs/add?message=" "$4") || true
  printf '\nfan-out to %d /logs/stream subscribers: %s\n' "$SUBSCRIBERS" "$1"
  grep -v '^peak-rss-kib' <<<"$out" | sed 's/^/  /'
  printf '  resident memory: %d MiB before subscribing, %d MiB at the peak\n' $((base / 1024)) $(( $(awk '/^peak-rss-kib/ {print $2}' <<<"$out") / 1024 ))
  FANOUT_P99=$(awk '/^round/ {for (i = 1; i <= NF; i++) if ($i == "p99") print $(i + 1)}' <<<"$out" | sort -n | tail -1)
  FANOUT_PEAK=$(( $(awk '/^peak-rss-kib/ {print $2}' <<<"$out") / 1024 ))
}
fanout "switchboard (goal: p99 ≤ 100 ms, resident memory ≤ 256 MiB)" "$SB_PORT" "$SB_WORKER" ": connected"
goal_row "streaming fan-out to $SUBSCRIBERS subscribers, worst p99" "${FANOUT_P99:-none}" "ms" "" "" "<=100"
goal_row "streaming fan-out, peak resident memory" "$FANOUT_PEAK" "MiB" "" "" "<=256"
sleep 1
if [ -n "$UVICORN_PORT" ]; then fanout "FastAPI + uvicorn (the chapter)" "$UVICORN_PORT" "$UVICORN_PID" $'\r\n\r\n'; fi
