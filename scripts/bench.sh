#!/usr/bin/env bash
# Runs the benchmarks of docs/benchmarks.md on this machine, each comparison measured in this one
# run, and prints the figures as Markdown (also written to $BENCH_OUT/results.md with the raw
# gridserve-perf JSON and Google Benchmark JSON beside it).
#
# Usage: scripts/bench.sh            (`make bench` builds first, then calls this)
# Environment:
#   BUILD_DIR   CMake build folder with gridserve, gridserve-perf and tests/bench (default build)
#   BENCH_OUT   where results go (default $BUILD_DIR/bench)
#   WINDOW_MS   measurement window of each gridserve-perf step (default 3000)
#   REPS        rounds of each alternating comparison; the summary takes medians (default 4)
#   BENCH_ONLY  "metrics": only the warm-up and step 7 (metrics on/off and the observer), on
#               BEST_MODEL at BEST_C (default linear4_dyn_1i at 128, the last full run's best)
#
# Starts gridserve (and a plain Python gRPC server) on 127.0.0.1 with ports the kernel picks, and
# stops them on exit. Every load is bounded in time; the whole run takes about 6 minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
BENCH_OUT="${BENCH_OUT:-$BUILD_DIR/bench}"
WINDOW_MS="${WINDOW_MS:-3000}"
REPS="${REPS:-4}"
PYTHON=/usr/bin/python3

# Every process of the run waits passively in OpenMP: gridserve sets this for itself (server/main.cc);
# setting it here gives the in-process benchmark and the Python baselines the same LibTorch.
export OMP_WAIT_POLICY=PASSIVE

GRIDSERVE="$BUILD_DIR/server/gridserve"
PERF="$BUILD_DIR/client/perf/gridserve-perf"
INPROC="$BUILD_DIR/tests/bench/bench_inprocess_torchscript"
ECHO="$BUILD_DIR/tests/bench/bench_grpc_echo"
OBSERVER="$BUILD_DIR/tests/bench/bench_metrics_observer"

log() { echo "bench: $*" >&2; }

missing=()
for bin in "$GRIDSERVE" "$PERF" "$INPROC" "$ECHO" "$OBSERVER"; do
  [ -x "$bin" ] || missing+=("$(basename "$bin")")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "building ${missing[*]}"
  cmake --build "$BUILD_DIR" --target "${missing[@]}" -j "$(nproc)" >&2
fi

mkdir -p "$BENCH_OUT"
rm -f "$BENCH_OUT"/*.json "$BENCH_OUT"/*.log "$BENCH_OUT"/results.md
WORK="$(mktemp -d /tmp/gridserve-bench.XXXXXX)"
SERVER_PID=""
PY_PID=""
cleanup() {
  for pid in $PY_PID $SERVER_PID; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- Models and generated Python protocol classes ------------------------------------------
log "building the benchmark repository"
"$PYTHON" "$ROOT/tests/bench/make_bench_repo.py" "$WORK/repo"
mkdir -p "$WORK/pyproto"
(cd "$ROOT/proto" && protoc -I . --python_out="$WORK/pyproto" \
  inference/grpc_service.proto inference/model_config.proto)

# --- gridserve on 127.0.0.1, free ports -----------------------------------------------------
stop_server() {  # PID
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 75); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# start_server NAME FLAGS...: starts gridserve with its log in $BENCH_OUT/NAME.log, waits until it
# is ready, and prints "PID URL" (PID: the gridserve process under timeout); prints nothing and
# leaves no server behind when it does not come up.
start_server() {
  local name="$1"
  shift
  timeout 1200 "$GRIDSERVE" --model-repository="$WORK/repo" --grpc-address=127.0.0.1 \
    --grpc-port=0 --http-address=127.0.0.1 --http-port=0 --exit-timeout-secs=5 "$@" \
    >"$BENCH_OUT/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 300); do
    grep -q "gridserve ready" "$BENCH_OUT/$name.log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$BENCH_OUT/$name.log" >&2; return 1; }
    sleep 0.2
  done
  local url
  url="$(grep -o 'gRPC listening on 127.0.0.1:[0-9]*' "$BENCH_OUT/$name.log" | head -1 |
    sed 's/gRPC listening on //' || true)"
  [ -n "$url" ] || { log "$name did not report its port"; stop_server "$pid"; return 1; }
  echo "$pid $url"
}
log "starting gridserve"
read -r SERVER_PID URL <<<"$(start_server gridserve --metrics-address=127.0.0.1 --metrics-port=0)"
[ -n "${URL:-}" ] || exit 1
log "gridserve pid $SERVER_PID at $URL"
# The gridserve process (timeout is its parent).
GS_PID="$(pgrep -P "$SERVER_PID" -x gridserve || echo "$SERVER_PID")"
CPU_PID="$GS_PID"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$GS_PID/status"; }
# CPU time gridserve has used so far, in clock ticks (user + system).
# perf() charges the CPU of the server in $CPU_PID (the main gridserve unless a step says).
server_ticks() { awk '{print $14 + $15}' "/proc/$CPU_PID/stat" 2>/dev/null || echo 0; }
CLK_TCK="$(getconf CLK_TCK)"

# What else the machine is doing: other sessions take an equal share of the cores each (the
# kernel's autogroup scheduling), so the figures are only comparable within this run.
context() {  # NAME
  local pressure=""
  [ -r /proc/pressure/cpu ] && pressure="$(head -1 /proc/pressure/cpu)"
  printf '{"cores": %s, "loadavg": "%s", "cpu_pressure": "%s", "autogroup": "%s"}\n' \
    "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$pressure" \
    "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo unknown)" \
    >"$BENCH_OUT/context_$1.json"
}
context start

# perf NAME MODEL URL CONCURRENCY [extra flags]: one closed-loop step, JSON kept as NAME.json.
perf() {
  local name="$1" model="$2" url="$3" c="$4"
  shift 4
  local ticks0 ns0 ticks1 ns1
  ticks0="$(server_ticks)"
  ns0="$(date +%s%N)"
  timeout 300 "$PERF" -m "$model" -u "$url" --concurrency-range "$c" \
    --measurement-interval "$WINDOW_MS" --warmup-ms 500 --timeout-ms 30000 --json "$@" \
    >"$BENCH_OUT/$name.json" 2>>"$BENCH_OUT/perf.log"
  ticks1="$(server_ticks)"
  ns1="$(date +%s%N)"
  # gridserve's CPU use during the step, in cores (1000 = one core busy all the time).
  local millicores=$(((ticks1 - ticks0) * 1000000000 / CLK_TCK * 1000 / (ns1 - ns0)))
  echo "{\"server_millicores\": $millicores}" >"$BENCH_OUT/$name.cpu.json"
}

# Warm-up: every model, and the batch sizes the steps will form.
for m in add_sub linear4_plain linear4_dyn linear4_q64 linear4_plain_1i linear4_dyn_1i; do
  timeout 60 "$PERF" -m "$m" -u "$URL" --concurrency-range 32 --measurement-interval 1000 \
    --warmup-ms 0 >/dev/null 2>>"$BENCH_OUT/perf.log"
done

# The cores are shared with other work, so every comparison alternates its two sides, REPS
# times, and the summary takes medians.
if [ "${BENCH_ONLY:-}" = metrics ]; then
  BEST_MODEL="${BEST_MODEL:-linear4_dyn_1i}" BEST_C="${BEST_C:-128}"
else
# --- 1. Dynamic batching on vs off, concurrency 1/8/32/128 --------------------------------
for r in $(seq "$REPS"); do
  for c in 1 8 32 128; do
    log "batching off/on at concurrency $c (round $r/$REPS)"
    perf "batching_off_c${c}_r$r" linear4_plain "$URL" "$c"
    perf "batching_on_c${c}_r$r" linear4_dyn "$URL" "$c"
  done
  for c in 32 128; do
    log "batching off/on, default instance group, concurrency $c (round $r/$REPS)"
    perf "batching_1i_off_c${c}_r$r" linear4_plain_1i "$URL" "$c"
    perf "batching_1i_on_c${c}_r$r" linear4_dyn_1i "$URL" "$c"
  done
done

log "checking batched outputs against unbatched execution"
timeout 300 "$PYTHON" "$ROOT/tests/bench/check_batched_outputs.py" --proto-dir "$WORK/pyproto" \
  --url "$URL" --batched linear4_dyn --unbatched linear4_plain >"$BENCH_OUT/outputs_check.json" ||
  true

# --- 2. Plain Python gRPC servers, same TorchScript file, concurrency 32 ---------------------
# Two configurations; the faster one is the baseline: A = 1 worker thread with LibTorch's
# default intra-op threads (all cores), B = 2 worker threads with 1 intra-op thread each.
start_python() {  # NAME WORKERS TORCH_THREADS [OPENBLAS_NUM_THREADS]
  OPENBLAS_NUM_THREADS="${4:-}" timeout 1200 "$PYTHON" "$ROOT/tests/bench/python_grpc_server.py" --proto-dir "$WORK/pyproto" \
    --model "$WORK/repo/linear4.pt" --name linear4_python --workers "$2" --torch-threads "$3" \
    --port-file "$WORK/$1.port" >>"$BENCH_OUT/python_server.log" 2>&1 &
  PY_PID="$PY_PID $!"
  for _ in $(seq 300); do [ -f "$WORK/$1.port" ] && break; sleep 0.2; done
  timeout 60 "$PERF" -m linear4_python -u "127.0.0.1:$(cat "$WORK/$1.port")" \
    --concurrency-range 32 --measurement-interval 1000 --warmup-ms 0 >/dev/null \
    2>>"$BENCH_OUT/perf.log"
}
log "starting the Python gRPC servers"
start_python pyA 1 0
start_python pyB 2 1
start_python pyC 2 1 1
for r in $(seq "$REPS"); do
  log "Python servers vs gridserve at concurrency 32 (round $r/$REPS)"
  perf "pythonA_c32_r$r" linear4_python "127.0.0.1:$(cat "$WORK/pyA.port")" 32
  perf "pythonB_c32_r$r" linear4_python "127.0.0.1:$(cat "$WORK/pyB.port")" 32
  perf "pythonC_c32_r$r" linear4_python "127.0.0.1:$(cat "$WORK/pyC.port")" 32
  perf "gridserve_c32_r$r" linear4_dyn "$URL" 32
  perf "gridserve1i_c32_r$r" linear4_dyn_1i "$URL" 32
done
for pid in $PY_PID; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in $PY_PID; do wait "$pid" 2>/dev/null || true; done
PY_PID=""

# --- 3. Serving efficiency: in-process LibTorch at the batch size the batcher formed ---------
# The batching configuration and concurrency with the highest throughput in step 1, and the
# batch size formed there; in-process runs as that configuration's instances do (mirror: 2
# streams x 1 intra-op thread for linear4_dyn, 1 stream x 2 threads for linear4_dyn_1i),
# alternating with gridserve; the other threading runs once. The faster figure is the ceiling.
read -r BEST_MODEL BEST_C BEST_BATCH <<<"$("$PYTHON" "$ROOT/tests/bench/summarize.py" "$BENCH_OUT" --best)"
if [ "$BEST_MODEL" = linear4_dyn ]; then MIRROR=(2 1) OTHER=(1 2); else MIRROR=(1 2) OTHER=(2 1); fi
for r in $(seq "$REPS"); do
  log "$BEST_MODEL at concurrency $BEST_C vs in-process LibTorch at batch $BEST_BATCH ($r/$REPS)"
  perf "efficiency_gridserve_r$r" "$BEST_MODEL" "$URL" "$BEST_C"
  # The same concurrency on the trivial model: what the gRPC path alone costs the server and the
  # client per request, for the CPU budget of the reading.
  perf "efficiency_grpc_path_r$r" add_sub "$URL" "$BEST_C"
  timeout 300 "$INPROC" --model="$WORK/repo/linear4.pt" --batch="$BEST_BATCH" \
    --streams="${MIRROR[0]}" --threads="${MIRROR[1]}" --benchmark_min_time=2 \
    --benchmark_format=json >"$BENCH_OUT/inprocess_mirror_r$r.json" 2>>"$BENCH_OUT/perf.log"
done
timeout 300 "$INPROC" --model="$WORK/repo/linear4.pt" --batch="$BEST_BATCH" \
  --streams="${OTHER[0]}" --threads="${OTHER[1]}" --benchmark_min_time=2 --benchmark_format=json \
  >"$BENCH_OUT/inprocess_other.json" 2>>"$BENCH_OUT/perf.log"

# --- 4. Per-request overhead: add_sub at concurrency 1 vs a bare gRPC echo -------------------
for r in $(seq "$REPS"); do
  log "per-request overhead (round $r/$REPS)"
  perf "add_sub_c1_r$r" add_sub "$URL" 1
  timeout 300 "$ECHO" --benchmark_min_time=2 --benchmark_format=json \
    >"$BENCH_OUT/grpc_echo_r$r.json" 2>>"$BENCH_OUT/perf.log"
done

# --- 5. Concurrency up to 512 without a queue limit: no collapse -----------------------------
for c in 256 512; do
  for m in linear4_dyn linear4_dyn_1i; do
    log "$m at concurrency $c, no queue limit"
    perf "sweep_${m}_c$c" "$m" "$URL" "$c"
  done
done

# --- 6. Overload: up to 512 clients, max_queue_size 64 ---------------------------------------
RSS_BEFORE="$(rss_kib)"
for c in 64 128 256 512; do
  log "overload at concurrency $c"
  perf "overload_c$c" linear4_q64 "$URL" "$c"
done
perf "overload_c512_backoff" linear4_q64 "$URL" 512 --refusal-backoff-ms 10
RSS_AFTER="$(rss_kib)"
perf "overload_c512_again" linear4_q64 "$URL" 512
RSS_AFTER2="$(rss_kib)"
ALIVE=no
kill -0 "$GS_PID" 2>/dev/null && ALIVE=yes
perf "after_overload_c1" add_sub "$URL" 1
echo "{\"rss_before_kib\": $RSS_BEFORE, \"rss_after_kib\": $RSS_AFTER," \
  "\"rss_after_again_kib\": $RSS_AFTER2, \"server_alive\": \"$ALIVE\"}" \
  >"$BENCH_OUT/overload_rss.json"

fi  # BENCH_ONLY

# --- 7. Cost of the metrics path --------------------------------------------------------------
# Two fresh servers on the same repository, one with metrics (scraped once a second during its
# steps) and one with --allow-metrics=false (no observer, no endpoint), so neither carries the
# history of the steps above; the main server is stopped first. The best configuration's
# throughput step alternates between them, the order swapped every round. Then the observer's
# own cost per request (Google Benchmark).
log "stopping the main gridserve; starting two fresh ones, with and without metrics"
stop_server "$SERVER_PID"
SERVER_PID=""
read -r ON_PID ON_URL <<<"$(start_server gridserve_metrics_on --metrics-address=127.0.0.1 \
  --metrics-port=0)"
SERVER_PID="$ON_PID"
read -r OFF_PID OFF_URL <<<"$(start_server gridserve_metrics_off --allow-metrics=false)"
SERVER_PID="$SERVER_PID $OFF_PID"
[ -n "${ON_URL:-}" ] && [ -n "${OFF_URL:-}" ] || { log "a metrics server did not start"; exit 1; }
ON_GS="$(pgrep -P "$ON_PID" -x gridserve || echo "$ON_PID")"
OFF_GS="$(pgrep -P "$OFF_PID" -x gridserve || echo "$OFF_PID")"
METRICS_URL="http://$(grep -o 'metrics on http://127.0.0.1:[0-9]*' \
  "$BENCH_OUT/gridserve_metrics_on.log" | head -1 | sed 's|metrics on http://||' || true)/metrics"
for u in "$ON_URL" "$OFF_URL"; do
  timeout 60 "$PERF" -m "$BEST_MODEL" -u "$u" --concurrency-range "$BEST_C" \
    --measurement-interval 1000 --warmup-ms 0 >/dev/null 2>>"$BENCH_OUT/perf.log"
done
metrics_on_step() {  # ROUND
  "$PYTHON" -c 'import sys, time, urllib.request
for _ in range(10):
    urllib.request.urlopen(sys.argv[1], timeout=5).read(); time.sleep(1)' "$METRICS_URL" &
  local scraper=$!
  CPU_PID="$ON_GS" perf "metrics_on_r$1" "$BEST_MODEL" "$ON_URL" "$BEST_C"
  kill "$scraper" 2>/dev/null || true
  wait "$scraper" 2>/dev/null || true
}
for r in $(seq "$REPS"); do
  log "metrics on/off at concurrency $BEST_C (round $r/$REPS)"
  if [ $((r % 2)) -eq 1 ]; then
    metrics_on_step "$r"
    CPU_PID="$OFF_GS" perf "metrics_off_r$r" "$BEST_MODEL" "$OFF_URL" "$BEST_C"
  else
    CPU_PID="$OFF_GS" perf "metrics_off_r$r" "$BEST_MODEL" "$OFF_URL" "$BEST_C"
    metrics_on_step "$r"
  fi
done
"$PYTHON" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
  "$METRICS_URL" >"$BENCH_OUT/metrics_scrape.txt" || true
timeout 300 "$OBSERVER" --benchmark_min_time=1 --benchmark_format=json \
  >"$BENCH_OUT/metrics_observer.json" 2>>"$BENCH_OUT/perf.log"

context end
log "stopping gridserve"
for pid in $SERVER_PID; do stop_server "$pid"; done
SERVER_PID=""

"$PYTHON" "$ROOT/tests/bench/summarize.py" "$BENCH_OUT" | tee "$BENCH_OUT/results.md"
