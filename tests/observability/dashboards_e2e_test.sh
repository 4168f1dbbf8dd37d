#!/usr/bin/env bash
# Every panel of every Grafana dashboard returns data during an end-to-end run: replay, ingest
# and trainer on a generated dataset through the real broker (the `kafka` fixture), with a few
# undecodable events for the dead-letter panels, and serve on the trainer's snapshots with
# histories that follow the topics, answering a few requests; all scraped every second by a
# real Prometheus server (Debian's, started here by scripts/prometheus with the project's
# alert rules); then each panel's query goes through Prometheus' HTTP API and an empty result
# fails the test.
#
# Usage: dashboards_e2e_test.sh TOWERSTREAM_BINARY SOURCE_DIR KAFKA_ADDRESS_FILE
set -euo pipefail

towerstream=${1:?usage: dashboards_e2e_test.sh TOWERSTREAM_BINARY SOURCE_DIR KAFKA_ADDRESS_FILE}
source_dir=${2:?missing SOURCE_DIR}
kafka=$(head -n 1 "${3:?missing KAFKA_ADDRESS_FILE}")
[[ -n $kafka ]] || { echo "FAIL: no Kafka address in $3 (run through ctest)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  bash "$source_dir/scripts/prometheus" stop --state-dir "$tmp/prometheus" >/dev/null 2>&1 || true
  if [[ $status -ne 0 ]]; then
    for log in "$tmp"/*.log; do echo "--- $log"; tail -n 20 "$log"; done >&2
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

prefix="dash$$."
kafka_flags=(--kafka "bootstrap.servers=$kafka" --topic-prefix "$prefix")
model_flags=(--dim 16 --hidden 32 --field-dim 4 --threads 1 --eval-queries 16)

"$towerstream" generate --out "$tmp/data" --customers 2000 --articles 500 --transactions 40000 \
  --seed 9 >/dev/null 2>&1 || { echo "FAIL: generate" >&2; exit 1; }

# The three services, metrics on free ports; replay paced so that it lives through the scrapes.
"$towerstream" ingest "${kafka_flags[@]}" --state "$tmp/ingest" --no-fsync --batch-size 500 \
  --metrics-address 127.0.0.1:0 >"$tmp/ingest.log" 2>&1 &
pids+=($!)
"$towerstream" trainer "${kafka_flags[@]}" --snapshot-dir "$tmp/snapshots" --no-fsync \
  --snapshot-every 5s --batch-size 256 --max-batch-delay-ms 200 "${model_flags[@]}" \
  --admin-address 127.0.0.1:0 --metrics-address 127.0.0.1:0 >"$tmp/trainer.log" 2>&1 &
pids+=($!)
"$towerstream" replay --data "$tmp/data" "${kafka_flags[@]}" --rate 500 \
  --metrics-address 127.0.0.1:0 >"$tmp/replay.log" 2>&1 &
pids+=($!)

metrics_address() {  # SERVICE: waits for the "metrics on http://HOST:PORT/metrics" line
  local line
  for _ in $(seq 1 600); do
    line=$(grep -oE 'metrics on http://[0-9.]+:[0-9]+' "$tmp/$1.log" | head -n 1 || true)
    if [[ -n $line ]]; then echo "${line#metrics on http://}"; return 0; fi
    sleep 0.1
  done
  echo "FAIL: $1 printed no metrics address" >&2
  return 1
}
replay_at=$(metrics_address replay)
ingest_at=$(metrics_address ingest)
trainer_at=$(metrics_address trainer)

# serve needs a snapshot to start from (the trainer writes one every 5 s once it trains); its
# metrics are on its own port, beside /recommend.
for _ in $(seq 1 900); do
  [[ -f $tmp/snapshots/LATEST ]] && break
  sleep 0.1
done
[[ -f $tmp/snapshots/LATEST ]] || { echo "FAIL: the trainer wrote no snapshot in 90 s" >&2; exit 1; }
"$towerstream" serve --snapshot "$tmp/snapshots" "${kafka_flags[@]}" --port 0 --threads 1 \
  --reload-every 1 --request-log '' >"$tmp/serve.log" 2>&1 &
pids+=($!)
serve_at=""
for _ in $(seq 1 600); do
  serve_at=$(grep -oE 'listening on http://[0-9.]+:[0-9]+' "$tmp/serve.log" | head -n 1 || true)
  [[ -n $serve_at ]] && break
  sleep 0.1
done
[[ -n $serve_at ]] || { echo "FAIL: serve printed no address" >&2; exit 1; }
serve_at=${serve_at#listening on http://}

prometheus=$(bash "$source_dir/scripts/prometheus" start --port auto --state-dir "$tmp/prometheus" \
  --scrape-interval 1s --scrape "replay=$replay_at" --scrape "ingest=$ingest_at" \
  --scrape "trainer=$trainer_at" --scrape "serve=$serve_at" \
  --rules "$source_dir/dashboards/prometheus/alerts.yml" | tail -n 1)

# Undecodable events once the topics exist: ingest and the trainer dead-letter them.
for _ in $(seq 1 100); do
  kcat -L -b "$kafka" -t "${prefix}hm.examples" 2>/dev/null | grep -q "partition 0" && break
  sleep 0.2
done
for topic in hm.transactions hm.examples; do
  printf 'not json %s\n' 1 2 3 | kcat -P -b "$kafka" -t "$prefix$topic" -p 0 ||
    { echo "FAIL: could not produce bad events to $prefix$topic" >&2; exit 1; }
done

# Each query until it returns data, for at most two minutes in all; meanwhile serve answers a
# few requests for the latency and error panels.
python3 - "$prometheus" "$source_dir/dashboards/grafana/dashboards" "$serve_at" \
  "$tmp/data/customers.csv" <<'PY' || exit 1
import csv, glob, itertools, json, os, sys, time, urllib.parse, urllib.request

prometheus, folder, serve, customers_csv = sys.argv[1:5]
with open(customers_csv, newline="") as f:
    customers = [row["customer_id"] for row in itertools.islice(csv.DictReader(f), 20)]

def ask_serve():
    """A few recommendations, and one request refused (no customer id: a 4xx)."""
    for target in [f"/recommend?customer_id={c}&k=12" for c in customers[:5]] + ["/recommend?k=0"]:
        try:
            urllib.request.urlopen(f"http://{serve}{target}", timeout=10).read()
        except OSError:
            pass  # the refused one's 4xx, or serve busy: counted by serve all the same

panels = []
for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
    dashboard = json.load(open(path))
    def walk(items):
        for panel in items:
            yield panel
            yield from walk(panel.get("panels", []))
    for panel in walk(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                panels.append((os.path.basename(path), panel.get("title", "?"), target["expr"]))
assert panels, f"no panel queries in {folder}"

def query(expr):
    url = f"http://{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]

pending = list(panels)
deadline = time.time() + 120
while pending and time.time() < deadline:
    ask_serve()
    time.sleep(2)
    pending = [p for p in pending if not query(p[2])]
for dashboard, title, expr in pending:
    print(f"FAIL: {dashboard} / {title}: no data for {expr}", file=sys.stderr)
rules = json.load(urllib.request.urlopen(f"http://{prometheus}/api/v1/rules", timeout=10))
groups = rules["data"]["groups"]
if not groups:
    print("FAIL: Prometheus loaded no alert rules", file=sys.stderr)
print(f"{len(panels) - len(pending)}/{len(panels)} panel queries returned data; "
      f"{sum(len(g['rules']) for g in groups)} alert rules loaded")
sys.exit(1 if pending or not groups else 0)
PY
echo "dashboards end to end: all checks passed"
