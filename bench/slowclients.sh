#!/usr/bin/env bash
# Slow clients against the host: slowloris (slow headers) and slow read, each with N connections
# for S seconds (slowhttptest), while a normal client asks for /hello-c every 100 ms on a new
# connection. For each attack prints the normal client's latency (median, p99, max, failures),
# the host's resident-memory growth (peak over the attack, against before it), what slowhttptest
# saw, and which connection timeouts fired (/metrics).
#
#   bench/slowclients.sh [seconds] [connections]      (defaults: 30 s, 500)
#
# The host runs with its default limits except send_timeout_ms, lowered to 10 s so that slow
# readers are cut off within the run (the default is 60 s). Release build; host on CPU 1, the
# attackers and the probe on CPU 0.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SECONDS_PER_ATTACK=${1:-30}
CONNECTIONS=${2:-500}

for tool in slowhttptest; do
  command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slowhttptest >/dev/null; }
done

swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins" "$WORK/files"
cp "$BIN/libHelloC.so" "$BIN/libStreaming.so" "$WORK/plugins/"
head -c $((16 << 20)) /dev/urandom >"$WORK/files/large.bin"   # 16 MiB for the slow readers

PIDS=()
trap bench_cleanup EXIT

PORT=$(pick_port)
SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/state" \
  SWITCHBOARD_PLUGINS_CONFIG_STREAMING_FILES_DIRECTORY="$WORK/files" SWITCHBOARD_LIMITS_SEND_TIMEOUT_MS=10000 \
  taskset -c 1 "$BIN/switchboard" serve --port "$PORT" --plugins "$WORK/plugins" 2>"$WORK/host.log" &
HOST=$!
PIDS+=($HOST)
wait_port "$PORT" /hello-c "$WORK/host.log"
WORKER=$(serving_pid "$PORT")  # the worker holds the connections; the supervisor none

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$WORKER/status"; }

# The normal client: one request every 100 ms for the attack's length, each on a new connection.
probe() {  # seconds output-file
  taskset -c 0 python3 - "$PORT" "$1" "$2" <<'EOF'
import http.client, sys, time
port, seconds, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
times, failures, end = [], 0, time.time() + seconds
while time.time() < end:
    start = time.perf_counter()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/hello-c")
        r = c.getresponse(); r.read(); c.close()
        if r.status != 200: failures += 1
        else: times.append((time.perf_counter() - start) * 1000)
    except Exception:
        failures += 1
    time.sleep(max(0, 0.1 - (time.perf_counter() - start)))
times.sort()
pick = lambda q: times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")
with open(out, "w") as f:
    f.write(f"{len(times)} {failures} {pick(0.5):.2f} {pick(0.99):.2f} {max(times) if times else float('nan'):.2f}\n")
EOF
}

attack() {  # name slowhttptest-arguments...
  local name=$1; shift
  local before peak
  before=$(rss_kib)
  peak=$before
  taskset -c 0 slowhttptest "$@" -c "$CONNECTIONS" -r 200 -l "$SECONDS_PER_ATTACK" -p 3 >"$WORK/$name.out" 2>&1 &
  local attacker=$!
  PIDS+=($attacker)
  sleep 3  # let the connections open
  probe $((SECONDS_PER_ATTACK - 5)) "$WORK/$name.probe" &
  local prober=$!
  while kill -0 "$prober" 2>/dev/null; do
    now=$(rss_kib); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.5
  done
  wait "$attacker" || true
  read -r ok failed p50 p99 worst <"$WORK/$name.probe"
  printf '%-12s normal client: %s ok, %s failed; latency ms median %s, p99 %s, max %s\n' "$name" "$ok" "$failed" "$p50" "$p99" "$worst"
  printf '%-12s resident memory: %d MiB before, peak %d MiB (+%d MiB)\n' "$name" $((before / 1024)) $((peak / 1024)) $(((peak - before) / 1024))
  goal_row "slow clients ($name): normal client p99" "$p99" "ms" "" "" ""
  goal_row "slow clients ($name): normal client failures" "$failed" "requests" "" "" "<=0"
  # slowhttptest's own probe, once a second: how often it found the service unavailable.
  local plain samples down
  plain=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/$name.out")
  samples=$(grep -c 'service available:' <<<"$plain" || true)
  down=$(grep -c 'service available: *NO' <<<"$plain" || true)
  printf '%-12s slowhttptest: service unavailable in %s of %s samples; %s\n' "$name" "$down" "$samples" "$(grep -o 'Exit status:.*' <<<"$plain" | tail -1)"
  sleep 2
}

echo "host: release build, pid $HOST, port $PORT; $CONNECTIONS connections, ${SECONDS_PER_ATTACK} s per attack"
attack slowloris -H -i 5 -x 24 -u "http://127.0.0.1:$PORT/hello-c"
attack slowread -X -k 1 -n 1 -w 1 -y 512 -z 32 -u "http://127.0.0.1:$PORT/download/large.bin"
echo
echo "connection counters (/metrics):"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^switchboard_(connection_timeouts_total|connections_refused_total|connection_rejections_total|open_connections)' | grep -v ' 0$'
