#!/usr/bin/env bash
# Model lifecycle measurements for docs/benchmarks.md ("Model lifecycle"):
#  1. RSS over CYCLES unload+load cycles of linear4_plain (4 x Linear(1024, 1024), 16 MiB of
#     TorchScript weights, 2 instances) in explicit mode, read from /proc after each cycle.
#  2. add_sub latency under gridserve-perf (closed loop, concurrency 4) while linear4_plain is
#     unloaded and loaded in a loop, against the same with no reloads, alternated ROUNDS times.
#     RELOAD_PAUSE_S seconds pass between reload cycles (0: back to back, saturating the cores).
# Usage: tests/bench/lifecycle_bench.sh [BUILD_DIR]
#   (env: CYCLES=200 ROUNDS=2 WINDOW_MS=8000 RELOAD_PAUSE_S=1)
set -euo pipefail
BUILD=${1:-build}
CYCLES=${CYCLES:-200}
ROUNDS=${ROUNDS:-2}
WINDOW_MS=${WINDOW_MS:-8000}
RELOAD_PAUSE_S=${RELOAD_PAUSE_S:-1}
WORK=$(mktemp -d /tmp/gridserve_lifecycle_bench.XXXXXX)
PORT=$((20000 + RANDOM % 20000))
trap 'kill "$SERVER" 2>/dev/null || true; [ -n "${LOOP:-}" ] && kill "$LOOP" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

/usr/bin/python3 tests/bench/make_bench_repo.py "$WORK/repo" >/dev/null
"$BUILD/server/gridserve" --model-repository="$WORK/repo" --grpc-address=127.0.0.1 \
  --grpc-port=$PORT --allow-metrics=false --model-control-mode=explicit \
  --load-model=add_sub --load-model=linear4_plain >"$WORK/server.log" 2>&1 &
SERVER=$!
CLI=("$BUILD/client/gridserve-cli" --url 127.0.0.1:$PORT --timeout-ms 60000)
for _ in $(seq 1 300); do "${CLI[@]}" health >/dev/null 2>&1 && break; sleep 0.1; done
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/$SERVER/status; }

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')"
echo "rss_kb after start: $(rss_kb)"
for i in $(seq 1 "$CYCLES"); do
  "${CLI[@]}" models unload linear4_plain >/dev/null
  "${CLI[@]}" models load linear4_plain >/dev/null
  case $i in 1|10|20|50|100|150|200|300|400|500) echo "rss_kb after cycle $i: $(rss_kb)";; esac
done

reload_loop() {
  while true; do
    "${CLI[@]}" models unload linear4_plain >/dev/null
    "${CLI[@]}" models load linear4_plain >/dev/null
    sleep "$RELOAD_PAUSE_S"
  done
}
loads() { grep -c "loaded model 'linear4_plain'" "$WORK/server.log"; }
perf() {
  "$BUILD/client/perf/gridserve-perf" -u 127.0.0.1:$PORT -m add_sub --concurrency-range 4 \
    --threads 1 --warmup-ms 500 --measurement-interval "$WINDOW_MS" 2>&1 | grep -E "^Concurrency|Client:"
}
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r idle:"; perf
  before=$(loads)
  reload_loop & LOOP=$!
  echo "round $r reloading linear4_plain (pause ${RELOAD_PAUSE_S} s):"; perf
  kill $LOOP; wait $LOOP 2>/dev/null || true; LOOP=
  echo "  reload cycles during the step: $(( $(loads) - before ))"
done
