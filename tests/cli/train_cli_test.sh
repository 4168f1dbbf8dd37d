#!/usr/bin/env bash
# `towerstream train` and `towerstream evaluate` as a user runs them: a generated dataset is
# trained on and evaluated (table and JSON report), an interrupted run resumes where it
# stopped, SIGUSR1 asks for a snapshot, and bad arguments fail with a message.
set -euo pipefail

towerstream=${1:?usage: train_cli_test.sh TOWERSTREAM_BINARY}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small=(--hidden 32 --field-dim 4 --threads 1 --quiet)

"$towerstream" generate --out "$tmp/data" --customers 2000 --articles 500 --transactions 60000 \
  --seed 3 >/dev/null 2>&1 || { echo "FAIL: generate" >&2; exit 1; }

# 1. Train on all but the last week, then evaluate that week.
if ! "$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap" --dim 16 "${small[@]}" \
  >"$tmp/train.out" 2>"$tmp/train.err"; then
  fail "train exited non-zero"; cat "$tmp/train.err" >&2
fi
grep -q "examples trained in" "$tmp/train.out" || fail "train printed no summary"
grep -q "ranker: towers re-ranked with repeats and trends, fitted on the week" "$tmp/train.out" ||
  fail "train fitted no ranker: $(grep ranker "$tmp/train.out" "$tmp/train.err")"
[[ -f "$tmp/snap/LATEST" ]] || fail "train left no LATEST"
if ! "$towerstream" evaluate --snapshot "$tmp/snap" --data "$tmp/data" --report "$tmp/report.json" \
  --plot "$tmp/plots" --online --best-possible "$tmp/data" -q >"$tmp/eval.out" 2>"$tmp/eval.err"; then
  fail "evaluate exited non-zero"; cat "$tmp/eval.err" >&2
fi
for chart in recall_at_k training_loss training_recall; do
  grep -q "<polyline" "$tmp/plots/$chart.svg" 2>/dev/null || fail "evaluate --plot wrote no $chart.svg"
done
for metric in MAP@12 recall@12 recall@100 coverage; do
  grep -q "^  $metric " "$tmp/eval.out" || fail "evaluate printed no $metric row"
done
python3 - "$tmp/report.json" <<'PY' || fail "the JSON report lacks a figure"
import json, sys
report = json.load(open(sys.argv[1]))
for side in ("model", "popularity", "repurchase"):
    for key in ("map_at_12", "recall_at_12", "recall_at_100", "coverage"):
        value = report[side][key]
        assert isinstance(value, float) and 0.0 <= value <= 1.0, (side, key, value)
assert report["model"]["recall_at_100"] > 0.0
segments = report["segments"]
assert set(segments) == {"returning_customers", "new_customers", "new_articles"}, segments
assert (segments["returning_customers"]["customers"] + segments["new_customers"]["customers"]
        == report["model"]["customers"]), segments
for segment in segments.values():
    for side in ("model", "popularity", "repurchase"):
        assert 0.0 <= segment[side]["recall_at_100"] <= 1.0, segment
assert "fitted" in report["ranker"], report["ranker"]
best = report["best_possible"]
assert 0.0 < best["map_at_12"] <= 1.0 and 0.0 < best["recall_at_100"] <= 1.0, best
assert 0.0 < report["towers"]["recall_at_100"] <= 1.0, report["towers"]
online = report["online"]
assert online["unit"] == "customer-day" and len(online["days"]) == 7, online
assert online["days"][0]["trained_before"] == 0, online["days"][0]
assert online["examples_trained"] == sum(d["purchases"] for d in online["days"]), online
for side in ("online", "frozen", "popularity", "repurchase"):
    assert 0.0 < online[side]["recall_at_100"] <= 1.0, (side, online[side])
PY
grep -q "share of the best achievable" "$tmp/eval.out" || fail "evaluate --best-possible printed no shares"
grep -q "^online replay of" "$tmp/eval.out" || fail "evaluate --online printed no replay"
grep -q "online/frozen" "$tmp/eval.out" || fail "evaluate --online printed no summary"

# 2. Interrupted by SIGINT: a snapshot, exit 130; run again: it resumes and finishes.
"$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap2" --epochs 50 "${small[@]}" \
  >"$tmp/long.out" 2>"$tmp/long.err" &
pid=$!
sleep 4
kill -USR1 "$pid"
# The requested snapshot lands at the next micro-batch: wait for it (slow under sanitizers)
# before interrupting, or the final snapshot would stand for both.
for _ in $(seq 1 600); do
  [[ $(find "$tmp/snap2" -maxdepth 1 -name 's0*' 2>/dev/null | wc -l) -ge 1 ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
kill -INT "$pid"
status=0
wait "$pid" || status=$?
[[ $status -eq 130 ]] || fail "SIGINT: expected exit 130, got $status"
grep -q "SIGUSR1: snapshot requested" "$tmp/long.err" || fail "SIGUSR1 was not acknowledged"
[[ $(find "$tmp/snap2" -maxdepth 1 -name 's0*' | wc -l) -ge 2 ]] ||
  fail "expected the SIGUSR1 snapshot and the final one"
if ! "$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap2" --epochs 1 "${small[@]}" \
  >"$tmp/again.out" 2>"$tmp/again.err"; then
  fail "the resumed run exited non-zero"; cat "$tmp/again.err" >&2
fi
grep -q "resuming from snapshot" "$tmp/again.err" || fail "the second run did not resume"

# 3. Bad input fails and says why.
if "$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap3" --until 1990-01-01 \
  "${small[@]}" >/dev/null 2>"$tmp/bad.err"; then
  fail "train with nothing before --until succeeded"
fi
grep -q "nothing to train on" "$tmp/bad.err" || fail "no reason given for an empty --until"
if "$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap" "${small[@]}" --dim 32 \
  >/dev/null 2>"$tmp/mismatch.err"; then
  fail "resuming a snapshot with another --dim succeeded"
fi
grep -q "other model options" "$tmp/mismatch.err" || fail "no reason for the model mismatch"
if "$towerstream" evaluate --snapshot "$tmp/data" --data "$tmp/data" >/dev/null 2>"$tmp/nosnap.err"; then
  fail "evaluate of a folder without snapshots succeeded"
fi
grep -q "towerstream evaluate:" "$tmp/nosnap.err" || fail "evaluate gave no reason"
if "$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap4" --snapshot-every 3x \
  "${small[@]}" >/dev/null 2>"$tmp/every.err"; then
  fail "a bad --snapshot-every was accepted"
fi
grep -q "expected a wall time" "$tmp/every.err" || fail "no reason for a bad --snapshot-every"

# 4. MLflow: a malformed URI is bad usage; an unreachable server does not stop training, and
# the user is told (port 9, discard, is closed on a test machine).
if "$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap5" --mlflow-uri mlflow:5000 \
  "${small[@]}" >/dev/null 2>"$tmp/uri.err"; then
  fail "a malformed --mlflow-uri was accepted"
fi
grep -q "expected http://HOST" "$tmp/uri.err" || fail "no reason for a bad --mlflow-uri"
if ! "$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap6" "${small[@]}" \
  --mlflow-uri http://127.0.0.1:9 >"$tmp/mlflow.out" 2>"$tmp/mlflow.err"; then
  fail "training failed because MLflow was unreachable"; cat "$tmp/mlflow.err" >&2
fi
grep -q "MLflow unreachable.*training goes on" "$tmp/mlflow.err" ||
  fail "an unreachable MLflow was not reported"
grep -q "examples trained" "$tmp/mlflow.out" || fail "no training summary with MLflow unreachable"

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "train/evaluate CLI: all checks passed"
