# Helpers shared by the benchmark scripts (sourced, not run).

# A free port on 127.0.0.1, other than the ports given (ports picked earlier in the script are
# free until their servers start, so the kernel may hand one out again).
pick_port() {
  python3 -c 'import socket, sys
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if str(p) not in sys.argv[1:]: print(p); break' "$@"
}
wait_port() {  # port path log
  for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$1$2" && return 0; sleep 0.1; done
  echo "the server on port $1 did not start:" >&2; cat "$3" >&2; exit 1
}
# The pid of the process that serves on port $1: the worker, under the supervisor `serve` runs by
# default (whose own pid holds no plugin, request or stream), or the server with --single-process.
serving_pid() {
  curl -s "http://127.0.0.1:$1/_switchboard/workers" | python3 -c 'import json, sys; print(json.load(sys.stdin)["worker"]["pid"])'
}
# The EXIT trap of a script that starts servers: kills each pid in PIDS and removes WORK (the
# script sets both before it sets the trap).
bench_cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

# Sets PY to a python with the chapter app's packages: REFERENCE_PYTHON, or a venv made once
# under .build.
reference_python() {
  PY=${REFERENCE_PYTHON:-}
  if [ -z "$PY" ]; then
    PY="$PWD/.build/bench-venv/bin/python"
    if ! "$PY" -c 'import fastapi, uvicorn' 2>/dev/null; then
      python3 -m venv .build/bench-venv
      .build/bench-venv/bin/pip install -q fastapi 'uvicorn[standard]' orjson pillow aiofiles
    fi
  fi
}

# Starts the chapter's app with $PY (reference_python) under uvicorn (uvloop, httptools, one
# worker) on CPU 1, at port $1 with its log in $2; adds its pid to PIDS and waits for path $3.
start_reference() {
  (cd ../shared/reference && exec taskset -c 1 "$PY" -m uvicorn chapter_app:app --host 127.0.0.1 --port "$1" \
    --loop uvloop --http httptools --log-level warning) 2>"$2" &
  PIDS+=($!)
  wait_port "$1" "$3" "$2"
  # The port must be uvicorn's, not another server's that took it first.
  curl -sI "http://127.0.0.1:$1$3" | grep -qi '^server: uvicorn' || { echo "port $1 is not the chapter's app:" >&2; cat "$2" >&2; exit 1; }
}

# Runs every target of TARGETS ("name|port|path" or "name|port|path|Accept") once per round, in
# turn, for ROUNDS rounds of DURATION seconds each (wrk -t1 -c$CONNECTIONS, default 64, on CPU 0),
# collecting requests per second in RESULTS[name]; a non-2xx answer stops the run. Then prints
# each target's median. `m NAME` is a target's median afterwards.
declare -A RESULTS
measure_targets() {
  local round target name port path accept out
  for round in $(seq "$ROUNDS"); do
    for target in "${TARGETS[@]}"; do
      IFS='|' read -r name port path accept <<<"$target"
      local headers=()
      [ -n "${accept:-}" ] && headers=(-H "Accept: $accept")
      out=$(taskset -c 0 wrk -t1 -c"${CONNECTIONS:-64}" -d"${DURATION}s" "${headers[@]}" "http://127.0.0.1:$port$path")
      if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx responses" >&2; exit 1; fi
      RESULTS[$name]="${RESULTS[$name]:-} $(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    done
  done
  printf '\n%-40s %10s   %s\n' "target" "req/s" "(median of $ROUNDS x ${DURATION}s, wrk -t1 -c${CONNECTIONS:-64})"
  for target in "${TARGETS[@]}"; do
    IFS='|' read -r name _ <<<"$target"
    printf '%-40s %10.0f\n' "$name" "$(m "$name")"
  done
}
m() { median "${RESULTS[$1]}"; }

# One figure for bench/all.sh's table, appended to the file BENCH_TABLE names (nothing when it is
# unset): what was measured, its value and unit, the baseline's name and value (empty for a figure
# judged on its own), and the goal, for value/baseline when there is a baseline, else for the
# value: ">=0.95", "<=100".
goal_row() {  # figure value unit baseline baseline-value goal
  [ -n "${BENCH_TABLE:-}" ] || return 0
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" >>"$BENCH_TABLE"
}
