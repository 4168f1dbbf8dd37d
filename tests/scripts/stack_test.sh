#!/usr/bin/env bash
# scripts/stack as a user runs it, on a real broker and the real services (ctest: scripts.stack):
# up starts a whole stack, a second up is a no-op, restart NAME replaces one component with the
# recorded arguments, up refuses data other than what the topics were filled from, serve starts
# once the trainer's first snapshot exists. One small stack, about a minute.
# Usage: stack_test.sh REPO_ROOT TOWERSTREAM_BINARY
set -uo pipefail
repo=${1:?usage: stack_test.sh REPO_ROOT TOWERSTREAM_BINARY}
binary=${2:?usage: stack_test.sh REPO_ROOT TOWERSTREAM_BINARY}
SCRIPT_NAME=stack_test
# shellcheck source=../../scripts/lib/services.sh
source "$repo/scripts/lib/services.sh"

work=$(mktemp -d /tmp/stack_test.XXXXXX)
stack=$repo/scripts/stack
export TOWERSTREAM_BIN=$binary TOWERSTREAM_STACK_DIR=$work/stack
# Eight free ports: Kafka and its controller, Prometheus, replay, ingest, trainer, admin, serve.
base=$(pick_free_ports 8)
export TOWERSTREAM_STACK_KAFKA_PORT=$base TOWERSTREAM_STACK_PROMETHEUS_PORT=$((base + 2))
export TOWERSTREAM_STACK_REPLAY_PORT=$((base + 3)) TOWERSTREAM_STACK_INGEST_PORT=$((base + 4))
export TOWERSTREAM_STACK_TRAINER_PORT=$((base + 5)) TOWERSTREAM_STACK_ADMIN_PORT=$((base + 6))
export TOWERSTREAM_STACK_SERVE_PORT=$((base + 7))
cleanup() {
  "$stack" down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# Runs the stack with the arguments, keeping the output in $output and the status in $status.
run_stack() {
  output=$("$stack" "$@" 2>&1)
  status=$?
  echo "\$ scripts/stack $*"$'\n'"$output"$'\n'"(exit $status)"
}
pid_of() { cat "$TOWERSTREAM_STACK_DIR/$1.pid" 2>/dev/null; }

for seed in 1 2; do
  "$binary" generate --out "$work/data$seed" --customers 300 --articles 100 \
    --transactions 3000 --seed "$seed" --quiet || { echo "generate failed" >&2; exit 1; }
done

run_stack up --data "$work/data1" --trainer-args '--snapshot-every 2s'
((status == 0)) || { fail "up failed"; exit 1; }
for name in ingest trainer serve; do
  [[ -n "$(pid_of "$name")" ]] || fail "up started no $name"
done

# A healthy stack: up starts nothing and says so.
ingest_pid=$(pid_of ingest) trainer_pid=$(pid_of trainer)
run_stack up
((status == 0)) || fail "second up exited $status"
grep -q "nothing to start" <<<"$output" || fail "second up did not say it had nothing to start"
[[ "$(pid_of ingest)" == "$ingest_pid" && "$(pid_of trainer)" == "$trainer_pid" ]] ||
  fail "second up replaced running processes"

# restart NAME: a new trainer with the recorded --trainer-args; the rest untouched.
run_stack restart trainer
((status == 0)) || fail "restart trainer exited $status"
[[ -n "$(pid_of trainer)" && "$(pid_of trainer)" != "$trainer_pid" ]] ||
  fail "restart trainer kept pid $trainer_pid"
[[ "$(pid_of ingest)" == "$ingest_pid" ]] || fail "restart trainer replaced ingest"
tr '\0' ' ' <"/proc/$(pid_of trainer)/cmdline" | grep -q -- '--snapshot-every 2s' ||
  fail "the restarted trainer lacks the recorded --trainer-args"

# Other data than the topics hold: refused, naming what changed; nothing restarted.
run_stack up --data "$work/data2"
((status == 1)) || fail "up with other data exited $status, expected 1"
grep -q "data changed" <<<"$output" || fail "no 'data changed' in the refusal"
grep -q "transactions_train.csv: .* bytes then" <<<"$output" || fail "the refusal names no file"
grep -qx "DATA_DIR=$work/data1" "$TOWERSTREAM_STACK_DIR/stack.env" ||
  fail "the refused up changed the recorded data folder"

# serve starts with the first snapshot and answers.
deadline=$((SECONDS + 90))
until "$stack" status 2>/dev/null | grep -q '^serve  *up '; do
  ((SECONDS < deadline)) || { fail "serve not up within 90 s"; break; }
  sleep 1
done
run_stack status
((status == 0)) || fail "status exited $status on a healthy stack"
grep -q '^COMPONENT  *STATE  *PID  *ADDRESS' <<<"$output" || fail "status printed no table header"
grep -q '^trainer  *up  *[0-9]' <<<"$output" || fail "status shows no running trainer"

echo "stack test: $failures failures"
((failures == 0))
