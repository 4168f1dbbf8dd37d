#!/usr/bin/env bash
# End-to-end checks of `towerstream inspect` as a user runs it: the real H&M sample files read
# with their exact row counts and no rejection, and malformed rows reported with file:line,
# counted, and failing --strict.
set -euo pipefail

towerstream=${1:?usage: inspect_cli_test.sh TOWERSTREAM_BINARY REAL_DATA_DIR}
real_data=${2:?usage: inspect_cli_test.sh TOWERSTREAM_BINARY REAL_DATA_DIR}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. Every real sample file, strict: exact README row counts, zero rejections, exit 0.
if [[ ! -d "$real_data" ]]; then
  if [[ -n "${CI:-}" ]]; then echo "FAIL: $real_data is missing in CI" >&2; exit 1; fi
  echo "SKIP: $real_data not found (it sits beside the repository as ../shared)"
  exit 77
fi
if ! "$towerstream" inspect "$real_data" --strict >"$tmp/real.out" 2>"$tmp/real.err"; then
  fail "inspect --strict on $real_data exited non-zero"; cat "$tmp/real.err" >&2
fi
declare -A expected_rows=(
  [articles_25col_1k.csv]=1,000 [articles_resaved_4903.csv]=4,903
  [customers_raw_1k.csv]=1,000 [customers_resaved_10k.csv]=10,000
  [transactions_raw_1k.csv]=1,000 [transactions_resaved_10k.csv]=10,000)
for file in "${!expected_rows[@]}"; do
  # The file's block: from its "<path> (kind, …)" line to the next empty line.
  block=$(awk -v f="/$file (" 'index($0, f) {p = 1} p && /^$/ {exit} p' "$tmp/real.out")
  grep -q "rows read  *${expected_rows[$file]}\$" <<<"$block" ||
    fail "$file: expected ${expected_rows[$file]} rows read, got: $(grep 'rows read' <<<"$block")"
  grep -q "rows rejected  *0\$" <<<"$block" || fail "$file: rows were rejected"
done

# 2. Malformed rows: each reported with file:line and counted; good rows still read.
customer=000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318
{
  echo "t_dat,customer_id,article_id,price,sales_channel_id"
  echo "2018-09-20,$customer,0663713001,0.0508,2"    # line 2: good
  echo "2018-09-20,$customer,0663713001,0.05,2,9"    # line 3: wrong column count
  echo "2018-02-30,$customer,0663713001,0.05,2"      # line 4: bad date
  echo "2018-09-20,$customer,0663713001,abc,2"       # line 5: non-numeric price
  echo "2018-09-20,,0663713001,0.05,2"               # line 6: empty customer id
  echo "2018-09-21,$customer,0541518023,0.0305,1"    # line 7: good
  echo "2018-09-21,\"$customer,0541518023,0.03,1"    # line 8: unterminated quote
} >"$tmp/transactions_train.csv"

"$towerstream" inspect "$tmp/transactions_train.csv" >"$tmp/bad.out" 2>&1 ||
  fail "inspect without --strict should exit 0 on rejected rows"
for line in 3 4 5 6 8; do
  grep -q "transactions_train.csv:$line:" "$tmp/bad.out" || fail "line $line not reported"
done
grep -q "rows rejected  *5 " "$tmp/bad.out" || fail "expected 5 rejected rows: $(grep rejected "$tmp/bad.out")"
grep -q "rows read  *7\$" "$tmp/bad.out" || fail "expected 7 rows read: $(grep 'rows read' "$tmp/bad.out")"

if "$towerstream" inspect "$tmp/transactions_train.csv" --strict >"$tmp/strict.out" 2>&1; then
  fail "inspect --strict should exit non-zero on a bad row"
fi
grep -q "transactions_train.csv:3:" "$tmp/strict.out" || fail "--strict did not name the first bad row"

if [[ $failures -gt 0 ]]; then
  echo "--- output of the last runs ---" >&2
  cat "$tmp/real.out" "$tmp/bad.out" "$tmp/strict.out" >&2
  exit 1
fi
echo "inspect CLI: all checks passed"
