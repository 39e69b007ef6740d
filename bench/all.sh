#!/usr/bin/env bash
# Every benchmark of the product in one command, and one table: each figure, its baseline, the
# ratio and the goal, and whether the goal is met.
#
#   bench/all.sh            quick mode: short runs, one round each (about 10 minutes here)
#   bench/all.sh full       each script with its own defaults (about an hour)
#   bench/all.sh quick run status      only the scripts named (bench/<name>.sh)
#
# Each script runs as it would alone (release build, servers on CPU 1, load on CPU 0) and adds its
# figures to the table through goal_row (bench/lib.sh); its whole output is kept under
# $BENCH_LOGS (default: a fresh directory, named at the end). A script that fails is reported in
# the table and the others still run. Quick figures come from one short round: they show where
# each figure stands, not a result to quote (the scripts' own defaults are for that).
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-quick}
shift || true
case "$MODE" in quick | full) ;; *) echo "usage: bench/all.sh [quick|full] [script...]" >&2; exit 2 ;; esac

# name|quick arguments|quick environment
SCRIPTS=(
  "run|3 1|"
  "allocs|2|"
  "json|300 1|"
  "largedata|3|"
  "markup|3 1|"
  "negotiation|3 1|"
  "media|3 1|MEDIA_BATCHES=1"
  "state|3 1|"
  "status|3 1|"
  "streaming|5 1|"
  "supervisor|3 1 20|"
  "swap||DURATION=3 ROUNDS=1 LATENCY_SWAPS=20 C_VERSIONS=40 SWIFT_VERSIONS=8"
  "slowclients|15 200|"
)
ONLY=("$@")

export BENCH_TABLE
BENCH_TABLE=$(mktemp)
LOGS=${BENCH_LOGS:-$(mktemp -d -t switchboard-bench-XXXXXX)}
mkdir -p "$LOGS"
trap 'rm -f "$BENCH_TABLE"' EXIT

swift build -c release >"$LOGS/build.log" 2>&1 || { echo "the release build failed: $LOGS/build.log" >&2; exit 1; }
started=$(date +%s)
for entry in "${SCRIPTS[@]}"; do
  IFS='|' read -r name arguments environment <<<"$entry"
  if [ ${#ONLY[@]} -gt 0 ] && [[ ! " ${ONLY[*]} " =~ " $name " ]]; then continue; fi
  [ "$MODE" = full ] && { arguments=""; environment=""; }
  begin=$(date +%s)
  printf '%-12s ' "$name" >&2
  # shellcheck disable=SC2086  # arguments and environment are word lists
  if env $environment bash "bench/$name.sh" $arguments >"$LOGS/$name.log" 2>&1; then
    printf 'done in %d s\n' $(($(date +%s) - begin)) >&2
  else
    printf 'FAILED after %d s (see %s)\n' $(($(date +%s) - begin)) "$LOGS/$name.log" >&2
    printf '%s\t%s\t\t\t\t\n' "bench/$name.sh" "failed" >>"$BENCH_TABLE"
  fi
done

python3 - "$BENCH_TABLE" "$MODE" $(($(date +%s) - started)) "$LOGS" <<'PY'
import sys

path, mode, seconds, logs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def judge(value, goal):
    if not goal or value is None:
        return "-"
    op, bound = goal[:2], float(goal[2:])
    return "yes" if (value >= bound if op == ">=" else value <= bound) else "NO"


table = [("figure", "value", "baseline", "ratio", "goal", "met")]
met = unmet = 0
for figure, value, unit, baseline, base_value, goal in (r + [""] * (6 - len(r)) for r in rows):
    v, b = number(value), number(base_value)
    ratio = v / b if v is not None and b else None
    verdict = judge(ratio if baseline else v, goal)
    met += verdict == "yes"
    unmet += verdict == "NO"
    shown = f"{value} {unit}".strip() if v is None else f"{v:,.{0 if abs(v) >= 100 else 2}f} {unit}"
    base = f"{baseline} ({b:,.{0 if abs(b) >= 100 else 2}f})" if baseline and b is not None else baseline
    goal_text = (f"ratio {goal}" if baseline else goal) if goal else ""
    table.append((figure, shown, base, f"{ratio:.3f}" if ratio is not None else "", goal_text, verdict))
widths = [max(len(row[i]) for row in table) for i in range(6)]
print(f"\nbench/all.sh {mode}: {len(rows)} figures in {seconds // 60} min {seconds % 60} s; logs in {logs}\n")
for i, row in enumerate(table):
    print("  ".join(cell.ljust(widths[j]) if j in (0, 2, 4) else cell.rjust(widths[j]) for j, cell in enumerate(row)).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
print(f"\ngoals met: {met}; not met: {unmet}")
PY
