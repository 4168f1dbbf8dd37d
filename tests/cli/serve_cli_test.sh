#!/usr/bin/env bash
# `towerstream recommend` and `towerstream serve` as a user runs them: a generated dataset is
# trained on, recommendations are printed (table and JSON), the server answers over HTTP,
# refuses bad requests with 4xx, follows a new snapshot, and stops on SIGTERM.
set -euo pipefail

towerstream=${1:?usage: serve_cli_test.sh TOWERSTREAM_BINARY}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

tmp=$(mktemp -d)
server=
cleanup() {
  [[ -n $server ]] && kill -9 "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
model=(--dim 16 --hidden 32 --field-dim 4 --threads 1 --quiet)

"$towerstream" generate --out "$tmp/data" --customers 2000 --articles 500 --transactions 40000 \
  --seed 5 >/dev/null 2>&1 || { echo "FAIL: generate" >&2; exit 1; }
"$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap" "${model[@]}" \
  >/dev/null 2>"$tmp/train.err" || { cat "$tmp/train.err" >&2; echo "FAIL: train" >&2; exit 1; }
customer=$(awk -F, 'NR == 2 { print $2 }' "$tmp/data/transactions_train.csv")

# 1. recommend: a table with 5 ranks, and JSON with what was bought after --as-of.
if ! "$towerstream" recommend --snapshot "$tmp/snap" --data "$tmp/data" --customer-id "$customer" \
  -k 5 --as-of 2020-09-16 >"$tmp/rec.out" 2>"$tmp/rec.err"; then
  fail "recommend exited non-zero"; cat "$tmp/rec.err" >&2
fi
[[ $(grep -cE '^  [1-5] +[0-9]{10} ' "$tmp/rec.out") -eq 5 ]] || fail "recommend printed no 5 ranks"
grep -q "really bought from 2020-09-16 on" "$tmp/rec.out" || fail "recommend did not list later purchases"
"$towerstream" recommend --snapshot "$tmp/snap" --data "$tmp/data" --customer-id "$customer" \
  -k 3 --json >"$tmp/rec.json" 2>/dev/null || fail "recommend --json exited non-zero"
python3 - "$tmp/rec.json" "$customer" <<'PY' || fail "recommend --json is not the expected JSON"
import json, sys
out = json.load(open(sys.argv[1]))
assert out[0]["customer_id"] == sys.argv[2] and out[0]["known"] is True
assert len(out[0]["recommendations"]) == 3
assert all(len(r["article_id"]) == 10 for r in out[0]["recommendations"])
PY
if "$towerstream" recommend --snapshot "$tmp/snap" --data "$tmp/data" --customer-id nothex \
  >/dev/null 2>"$tmp/bad.err"; then
  fail "recommend accepted a malformed customer id"
fi
grep -q "64 lowercase hex" "$tmp/bad.err" || fail "recommend gave no reason for a bad id"

# 2. serve on a free port; answers, 4xx for bad requests, reload on a new snapshot, SIGTERM.
"$towerstream" serve --snapshot "$tmp/snap" --data "$tmp/data" --port 0 --reload-every 0.2 \
  2>"$tmp/serve.err" &
server=$!
address=
for _ in $(seq 1 600); do
  address=$(grep -oE 'listening on http://[0-9.]+:[0-9]+' "$tmp/serve.err" | sed 's|.*http://||' || true)
  [[ -n $address ]] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
[[ -n $address ]] || { cat "$tmp/serve.err" >&2; echo "FAIL: serve did not start" >&2; exit 1; }
python3 - "$address" "$customer" <<'PY' || fail "serve did not answer as expected"
import json, sys, urllib.error, urllib.request
address, customer = sys.argv[1], sys.argv[2]
def get(target):
    try:
        with urllib.request.urlopen(f"http://{address}{target}", timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
status, body = get(f"/recommend?customer_id={customer}&k=7")
assert status == 200, (status, body)
assert len(body["recommendations"]) == 7 and body["known"] is True, body
for target, expected in [("/recommend?customer_id=xyz", 400), ("/recommend?customer_id=" + customer + "&k=-1", 400),
                         ("/recommend", 400), ("/elsewhere", 404)]:
    status, body = get(target)
    assert status == expected and "error" in body, (target, status, body)
status, body = get("/healthz")
assert status == 200 and body["ok"] is True
PY
first=$(python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/status"))["snapshot"])' "$address")
# One more epoch writes a newer snapshot; the server must switch to it.
"$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap" --epochs 2 "${model[@]}" \
  >/dev/null 2>>"$tmp/train.err" || fail "the second training run failed"
switched=
for _ in $(seq 1 300); do
  now=$(python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/status"))["snapshot"])' "$address")
  [[ $now != "$first" ]] && { switched=1; break; }
  sleep 0.2
done
[[ -n $switched ]] || fail "serve kept answering from $first after a new snapshot"
# /metrics counts the requests above by endpoint and code; each request has its log line.
curl -fsS "http://$address/metrics" >"$tmp/metrics.txt" || fail "serve has no /metrics"
grep -qE '^towerstream_serve_requests_total\{code="200",endpoint="/recommend",service="serve"\} 1$' \
  "$tmp/metrics.txt" || fail "/metrics does not count the one answered /recommend"
grep -qE '^towerstream_serve_requests_total\{code="404",endpoint="other",service="serve"\} 1$' \
  "$tmp/metrics.txt" || fail "/metrics does not count the 404"
grep -q '^towerstream_serve_reloads_total{outcome="success",service="serve"} 1$' \
  "$tmp/metrics.txt" || fail "/metrics does not count the reload"
grep -q '^towerstream_serve_model_age_seconds{service="serve"} ' "$tmp/metrics.txt" ||
  fail "/metrics has no model age"
grep -qE 'Z GET /recommend\?customer_id=xyz 400 [0-9.]+ ms error="customer_id must be' \
  "$tmp/serve.err" || fail "the request log has no line for the refused request"
kill -TERM "$server"
status=0
wait "$server" || status=$?
server=
[[ $status -eq 143 ]] || fail "SIGTERM: expected exit 143, got $status"

# 3. Where histories come from: exactly one of --data and --kafka, and --kafka flags that read;
# anything else is a usage error (exit 2) naming the flag, found before the snapshot is loaded.
# Each case: the flags, then the pattern the error line must match.
while IFS='|' read -r flags pattern; do
  status=0
  # shellcheck disable=SC2086 # the flags are meant to split
  "$towerstream" serve --snapshot "$tmp/snap" $flags --port 0 >/dev/null 2>"$tmp/usage.err" ||
    status=$?
  [[ $status -eq 2 ]] || fail "serve with '$flags': expected exit 2, got $status"
  grep -qE "^towerstream serve: $pattern" "$tmp/usage.err" ||
    fail "serve with '$flags' did not say why: $(cat "$tmp/usage.err")"
done <<CASES
|.*--data DIR
--data $tmp/data --kafka bootstrap.servers=127.0.0.1:1|--data and --kafka
--kafka bootstrap.servers=127.0.0.1:1 --as-of 2020-09-16|--as-of applies to --data only
--kafka foo|--kafka: 'foo' is not key=value
--kafka client.id=x|--kafka: bootstrap.servers is not set
CASES

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "recommend/serve CLI: all checks passed"
