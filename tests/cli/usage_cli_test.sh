#!/usr/bin/env bash
# Usage errors as a user meets them: every one exits 2 (as each --help says) with one line that
# starts `towerstream CMD: ` exactly once; range checks read as people write ranges (no
# 300-digit limits of double); an unknown subcommand is named; help examples hold real ids; a
# library's error keeps the prefix once; re-running a finished `train` says there is nothing
# to do and why.
set -euo pipefail

towerstream=${1:?usage: usage_cli_test.sh TOWERSTREAM_BINARY}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/empty"

# expect_usage NAME EXPECTED_LINE ARGS...: exit 2, and stderr's first line is EXPECTED_LINE
# (a prefix of it when EXPECTED_LINE ends with '*'; compared literally, brackets included).
expect_usage() {
  local name=$1 expected=$2
  shift 2
  local status=0
  "$towerstream" "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
  [[ $status -eq 2 ]] || fail "$name: expected exit 2, got $status ($(head -c 300 "$tmp/err"))"
  local line
  line=$(head -n 1 "$tmp/err")
  if [[ $expected == *'*' ]]; then
    local prefix=${expected%'*'}
    [[ ${line:0:${#prefix}} == "$prefix" ]] || fail "$name: expected '$expected', got '$line'"
  else
    [[ $line == "$expected" ]] || fail "$name: expected '$expected', got '$line'"
  fi
  if grep -qE '[0-9]{20,}' "$tmp/err"; then fail "$name: a huge number in '$(cat "$tmp/err")'"; fi
  if grep -q 'Run with --help' "$tmp/err"; then fail "$name: CLI11's own footer in the message"; fi
}

# 1. The top level.
expect_usage "unknown subcommand" "towerstream: unknown subcommand 'bogus' (see towerstream --help)" bogus
expect_usage "no subcommand" "towerstream: a subcommand is required (see towerstream --help)"
expect_usage "unknown top-level flag" \
  "towerstream: unexpected argument '--bogus' (see towerstream --help)" --bogus
status=0
"$towerstream" --help >"$tmp/help" 2>&1 || status=$?
[[ $status -eq 0 ]] || fail "towerstream --help exited $status"

# 2. Every subcommand: an unknown flag, with the subcommand's prefix once.
for cmd in generate inspect replay ingest trainer train snapshot evaluate recommend serve; do
  expect_usage "$cmd --no-such-flag" \
    "towerstream $cmd: unexpected argument '--no-such-flag' (see towerstream $cmd --help)" \
    "$cmd" --no-such-flag
  if grep -q "towerstream $cmd: .*towerstream $cmd:" "$tmp/err"; then
    fail "$cmd: the prefix twice: $(cat "$tmp/err")"
  fi
  status=0
  "$towerstream" "$cmd" --help >"$tmp/help" 2>&1 || status=$?
  [[ $status -eq 0 ]] || fail "$cmd --help exited $status"
  if grep -q "^Exit status" "$tmp/help"; then
    grep -q "2 bad usage" "$tmp/help" || fail "$cmd --help: exit statuses without '2 bad usage'"
  fi
  # Customer ids in examples are 64 lowercase hex; no range bound prints 300 digits.
  while read -r id; do
    [[ ${#id} -eq 64 ]] || fail "$cmd --help: an example id of ${#id} characters: $id"
  done < <(grep -oE '[0-9a-f]{33,}' "$tmp/help" || true)
  if grep -qE '[0-9]{20,}' "$tmp/help"; then fail "$cmd --help: a huge number"; fi
done

# 3. Values out of range, missing and malformed.
expect_usage "--port out of range" \
  "towerstream serve: --port: 70000 is not in [0, 65535] (see towerstream serve --help)" \
  serve --snapshot "$tmp/empty" --data "$tmp/empty" --port 70000
expect_usage "--dense-lr negative" \
  "towerstream train: --dense-lr must be positive, got -1 (see towerstream train --help)" \
  train --data "$tmp/empty" --snapshot-dir "$tmp/s" --dense-lr -1
expect_usage "--epochs zero" "towerstream train: --epochs must be positive, got 0*" \
  train --data "$tmp/empty" --snapshot-dir "$tmp/s" --epochs 0
expect_usage "--weight-decay negative" "towerstream train: --weight-decay must not be negative*" \
  train --data "$tmp/empty" --snapshot-dir "$tmp/s" --weight-decay -0.1
expect_usage "--table-lr not a number" "towerstream train: --table-lr must be a number, got 'fast'*" \
  train --data "$tmp/empty" --snapshot-dir "$tmp/s" --table-lr fast
expect_usage "-k out of range" "towerstream recommend: -k: 0 is not in [1, 1000]*" \
  recommend --snapshot "$tmp/empty" --data "$tmp/empty" --customer-id x -k 0
expect_usage "--logq-alpha out of range" "towerstream train: --logq-alpha: 2 is not in [1e-06, 1]*" \
  train --data "$tmp/empty" --snapshot-dir "$tmp/s" --logq-alpha 2
expect_usage "--epochs not whole" "towerstream train: --epochs: cannot read '1.5' (expected N)*" \
  train --data "$tmp/empty" --snapshot-dir "$tmp/s" --epochs 1.5
expect_usage "missing --data" "towerstream train: --data is required*" train --snapshot-dir "$tmp/s"
expect_usage "missing path" "towerstream evaluate: --snapshot: *" \
  evaluate --snapshot "$tmp/nowhere" --data "$tmp/empty"
expect_usage "a stray argument" "towerstream train: unexpected argument 'stray'*" train --data "$tmp/empty" --snapshot-dir "$tmp/s" stray
expect_usage "a bad --until" "towerstream train: --until: *" train --data "$tmp/empty" --snapshot-dir "$tmp/s" --until 2020-13-01

# 4. A trained snapshot: a library's error keeps the prefix once; a finished run has nothing
# to do.
small=(--dim 8 --hidden 16 --field-dim 4 --threads 1 --ranker-days 0 --quiet)
"$towerstream" generate --out "$tmp/data" --customers 500 --articles 200 --transactions 8000 \
  --seed 5 >/dev/null 2>&1 || { echo "FAIL: generate" >&2; exit 1; }
if ! "$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap" "${small[@]}" \
  >"$tmp/train.out" 2>"$tmp/train.err"; then
  echo "FAIL: train" >&2; cat "$tmp/train.err" >&2; exit 1
fi
status=0
"$towerstream" evaluate --snapshot "$tmp/snap" --data "$tmp/empty" -q >/dev/null \
  2>"$tmp/eval.err" || status=$?
[[ $status -eq 1 ]] || fail "evaluate without transactions: expected exit 1, got $status"
grep -q "^towerstream evaluate: no transactions file" "$tmp/eval.err" ||
  fail "evaluate without transactions: $(cat "$tmp/eval.err")"
if grep -qE "evaluate: (towerstream )?evaluate" "$tmp/eval.err"; then
  fail "evaluate printed its prefix twice: $(cat "$tmp/eval.err")"
fi

status=0
"$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap" "${small[@]}" \
  >"$tmp/again.out" 2>"$tmp/again.err" || status=$?
[[ $status -eq 0 ]] || fail "re-running a finished train: exit $status"
grep -q "^towerstream train: nothing to do: snapshot s.* already trained 1 epoch(s) (--epochs 1)" \
  "$tmp/again.out" || fail "re-running a finished train: $(cat "$tmp/again.out")"
grep -q "run again with --epochs 2 or more" "$tmp/again.out" ||
  fail "re-running a finished train does not say how to train more"
if grep -q "loss 0.0000" "$tmp/again.out"; then fail "a summary of zeros: $(cat "$tmp/again.out")"; fi
snapshots_before=$(find "$tmp/snap" -maxdepth 1 -name 's*' | wc -l)
"$towerstream" train --data "$tmp/data" --snapshot-dir "$tmp/snap" "${small[@]}" --epochs 2 \
  >"$tmp/more.out" 2>"$tmp/more.err" || fail "--epochs 2 after 1: $(cat "$tmp/more.err")"
grep -q "examples trained in" "$tmp/more.out" || fail "--epochs 2 after 1 trained nothing"
[[ $(find "$tmp/snap" -maxdepth 1 -name 's*' | wc -l) -gt $snapshots_before ]] ||
  fail "--epochs 2 after 1 wrote no snapshot"

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "usage CLI: all checks passed"
