#!/usr/bin/env bash
# Served p50 latency at batch 1, concurrency 1, for every model in models/repository: starts
# gridserve on a free loopback port, runs gridserve-perf per model, writes
# models/repository/<name>/latency.json ({"served_p50_ms": x}) and refreshes the table in
# models/README.md (models/summarize.py). Run on an idle machine: `scripts/measure_zoo_latency.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
INPUTS=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$INPUTS"' EXIT

# Realistic inputs for models whose random ones would be meaningless (text, ids, lengths).
echo '{"text": [["This coffee is rich and smooth, I would buy it again"]]}' > "$INPUTS/sentiment.json"
echo '{"text": [["the file could not be opened"]]}' > "$INPUTS/translate_en_es.json"
echo '{"prompt": [["The grid"]], "max_chars": [[50]], "temperature": [[0.8]], "seed": [[1]]}' > "$INPUTS/textgen.json"
echo '{"text": [["Oil prices rose on Monday. Traders said supply was tight. Demand is expected to grow next year. Analysts were cautious."]], "max_sentences": [[1]]}' > "$INPUTS/summarizer.json"
echo '{"user_id": [[42]]}' > "$INPUTS/movie_recommender.json"
echo '{"item_id": [[1]]}' > "$INPUTS/similar_items.json"

"$BUILD/server/gridserve" --model-repository=models/repository --grpc-address=127.0.0.1 \
  --grpc-port="$PORT" --allow-metrics=false >"$INPUTS/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do
  "$BUILD/client/gridserve-cli" --url "127.0.0.1:$PORT" --timeout-ms 2000 health >/dev/null 2>&1 && break
  sleep 0.2
done

for dir in models/repository/*/; do
  name=$(basename "$dir")
  data=random
  [ -f "$INPUTS/$name.json" ] && data="$INPUTS/$name.json"
  p50_us=$("$BUILD/client/perf/gridserve-perf" -m "$name" -u "127.0.0.1:$PORT" --concurrency-range 1 \
      --measurement-interval 3000 --input-data "$data" --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["steps"][0] if "steps" in d else d[0]; print(s["latency_us"]["p50"] if "latency_us" in s else s["p50_us"])')
  p50_ms=$(/usr/bin/python3 -c "print(round($p50_us/1000.0, 3))")
  echo "{\"served_p50_ms\": $p50_ms}" > "$dir/latency.json"
  echo "$name: p50 ${p50_ms} ms"
done
/usr/bin/python3 models/summarize.py
