#!/usr/bin/env bash
# The SDK's JSON encoder against Python's orjson on the same payload: the chapter's 1,000-user
# data set (/orjson-large-data, with fixed timestamps and UUIDs), serialised to the same bytes
# (checked with cmp). Prints MB/s of output for each encoder and the ratio to orjson.
#
#   bench/json.sh [iterations] [rounds]     (defaults 2000, 3; best of 5 runs per round)
#
# sdk-writable: Response.json's path for a JSONWritable type (its own write(to:)); sdk-codable:
# Response.json's path for a type that is only Encodable (through JSONEncoding); sdk-writer:
# JSONWriter calls written by hand; foundation: Foundation's JSONEncoder, for reference. Goal (issue 14): the SDK
# at or above orjson.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ITERATIONS=${1:-2000}
ROUNDS=${2:-3}
VENV=.build/bench-venv
[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import orjson' 2>/dev/null || {
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q orjson
}
swift build -c release --product switchboard-json-bench >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Rounds alternate the two sides, so drift on a shared machine hits both; each side's best counts.
for _ in $(seq "$ROUNDS"); do
  "$BIN/switchboard-json-bench" "$ITERATIONS" "$WORK/swift.json" >> "$WORK/swift.txt"
  "$VENV/bin/python" - "$ITERATIONS" "$WORK/python.json" >> "$WORK/python.txt" <<'PY'
import sys, time, orjson
n, out = int(sys.argv[1]), sys.argv[2]
users = [{"id": i, "name": f"User {i}", "email": f"user{i}@example.com",
          "created_at": "2024-01-15T12:00:00." + str(100000 + i)[-6:],
          "uuid": "00000000-0000-4000-8000-" + str(1000000000000 + i)[-12:]} for i in range(1000)]
payload = {"users": users, "count": len(users)}
open(out, "wb").write(orjson.dumps(payload))
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for _ in range(n):
        size = len(orjson.dumps(payload))
    best = min(best, time.perf_counter() - start)
print(f"orjson {size} {size * n / best / 1e6:.1f}")
PY
done
best() { awk '{ if ($3 > best[$1]) { best[$1] = $3; size[$1] = $2 }; if (!($1 in order)) { order[$1] = n++ } }
  END { for (name in order) print order[name], name, size[name], best[name] }' "$1" | sort -n | cut -d' ' -f2-; }
best "$WORK/python.txt" > "$WORK/python.best"
best "$WORK/swift.txt" > "$WORK/swift.best"
if cmp -s "$WORK/swift.json" "$WORK/python.json"; then same="same bytes"; else same="BYTES DIFFER"; fi
orjson=$(awk '{print $3}' "$WORK/python.best")
echo "payload: $(wc -c < "$WORK/python.json") bytes, $same; $ITERATIONS encodings per run, best of 5 runs in each of $ROUNDS alternating rounds"
cat "$WORK/python.best" "$WORK/swift.best" | while read -r name size rate; do
  printf '%-12s %10s MB/s   %5.2fx orjson\n' "$name" "$rate" "$(echo "$rate / $orjson" | bc -l)"
  case "$name" in
    sdk-writable) goal_row "JSON encoding, SDK (JSONWritable)" "$rate" "MB/s" "orjson" "$orjson" ">=1" ;;
    sdk-codable) goal_row "JSON encoding, SDK (Encodable)" "$rate" "MB/s" "orjson" "$orjson" "" ;;
  esac
done
