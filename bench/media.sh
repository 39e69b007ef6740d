#!/usr/bin/env bash
# The media plugin (C: FreeType and zlib) against the chapter's app under uvicorn (Pillow; one
# worker, uvloop, httptools), side by side in one run:
#   1. render + encode time of the default 400x200 image, cache off: the plugin's Server-Timing
#      over 300 requests, median and p99 (goal: median <= 1 ms);
#   2. /image/dynamic requests per second, cache off and on, against uvicorn (goal: >= 20x with
#      the cache off); rounds alternate the targets, medians reported;
#   3. resident memory of the host after 10,000 and 20,000 requests with random sizes (1 to 800)
#      and texts, cache on (16 MiB): bounded by the cache plus a constant.
# Servers pinned to CPU 1, clients to CPU 0.
#
#   bench/media.sh [seconds-per-run] [rounds]      (defaults: 5 s, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-5}
ROUNDS=${2:-3}
CONNECTIONS=${CONNECTIONS:-16}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
reference_python
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins"
cp "$BIN/libMedia.so" "$WORK/plugins/"
PIDS=()
trap bench_cleanup EXIT

start_host() {  # port cache_bytes
  SWITCHBOARD_LOG_LEVEL=warning SWITCHBOARD_STATE_DIRECTORY="$WORK/state-$1" SWITCHBOARD_PLUGINS_CONFIG_MEDIA_CACHE_BYTES=$2 \
    taskset -c 1 "$BIN/switchboard" serve --port "$1" --plugins "$WORK/plugins" --watch off 2>"$WORK/host-$1.log" &
  PIDS+=($!)
  wait_port "$1" /download/binary "$WORK/host-$1.log"
}
COLD_PORT=$(pick_port); start_host "$COLD_PORT" 0
COLD_PID=${PIDS[-1]}
WARM_PORT=$(pick_port "$COLD_PORT"); start_host "$WARM_PORT" 16777216
WARM_PID=$(serving_pid "$WARM_PORT")  # the worker: its memory is the one that counts
REF_PORT=$(pick_port "$COLD_PORT" "$WARM_PORT")
start_reference "$REF_PORT" "$WORK/ref.log" /image/dynamic

echo "1. render + encode, 400x200, cache off (Server-Timing, 300 requests):"
taskset -c 0 python3 - "$COLD_PORT" "$WORK/render-ms" <<'PY'
import http.client, sys, statistics
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
totals, renders, encodes = [], [], []
for i in range(300):
    c.request("GET", "/image/dynamic"); r = c.getresponse(); r.read()
    parts = dict(p.strip().split(";dur=") for p in r.getheader("server-timing").split(","))
    renders.append(float(parts["render"])); encodes.append(float(parts["encode"]))
    totals.append(renders[-1] + encodes[-1])
q = statistics.quantiles(totals, n=100)
print(f"   median {statistics.median(totals):.3f} ms (render {statistics.median(renders):.3f}, encode {statistics.median(encodes):.3f}), p99 {q[98]:.3f} ms  (goal: median <= 1 ms)")
open(sys.argv[2], "w").write(f"{statistics.median(totals):.3f}")
PY
goal_row "media render + encode 400x200, median" "$(cat "$WORK/render-ms")" "ms" "" "" "<=1"

TARGETS=(
  "switchboard, cache off|$COLD_PORT"
  "switchboard, cache on|$WARM_PORT"
  "uvicorn + Pillow|$REF_PORT"
)
declare -A RESULTS
for round in $(seq "$ROUNDS"); do
  for target in "${TARGETS[@]}"; do
    IFS='|' read -r name port <<<"$target"
    out=$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port/image/dynamic")
    if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx responses" >&2; exit 1; fi
    RESULTS[$name]="${RESULTS[$name]:-} $(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  done
done
echo
echo "2. /image/dynamic, requests per second (median of $ROUNDS x ${DURATION}s, wrk -t1 -c$CONNECTIONS):"
for target in "${TARGETS[@]}"; do
  IFS='|' read -r name _ <<<"$target"
  printf '   %-24s %10.0f\n' "$name" "$(median "${RESULTS[$name]}")"
done
ref=$(median "${RESULTS[uvicorn + Pillow]}")
echo "   cache off / uvicorn: $(ratio "$(median "${RESULTS[switchboard, cache off]}")" "$ref")x (goal 20x)   cache on / uvicorn: $(ratio "$(median "${RESULTS[switchboard, cache on]}")" "$ref")x"
goal_row "media /image/dynamic, cache off" "$(median "${RESULTS[switchboard, cache off]}")" "req/s" "chapter app (uvicorn + Pillow)" "$ref" ">=20"

echo
echo "3. resident memory, cache on (16 MiB), random sizes 1-800 and texts:"
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
start_rss=$(rss "$WARM_PID")
echo "   before: $start_rss KiB"
for batch in $(seq "${MEDIA_BATCHES:-2}"); do
  taskset -c 0 python3 - "$WARM_PORT" "$batch" <<'PY'
import http.client, sys, random, string, urllib.parse
r = random.Random(int(sys.argv[2]))
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for i in range(10000):
    text = "".join(r.choice(string.ascii_letters + " éü✓") for _ in range(r.randint(0, 40)))
    q = urllib.parse.urlencode({"width": r.randint(1, 800), "height": r.randint(1, 800), "text": text})
    c.request("GET", "/image/dynamic?" + q); resp = c.getresponse(); resp.read()
    assert resp.status == 200, resp.status
PY
  echo "   after $((batch * 10000)) requests: $(rss "$WARM_PID") KiB"
done
goal_row "media resident growth, cache on (16 MiB)" "$((($(rss "$WARM_PID") - start_rss) / 1024))" "MiB" "" "" ""
