#!/usr/bin/env bash
# make demo-stream never touches a stack folder it did not create (ctest: scripts.demo_stream_folder):
# with TOWERSTREAM_STACK_DIR exported to another stack's folder it refuses before doing anything.
# Usage: demo_stream_folder_test.sh REPO_ROOT
set -uo pipefail
repo=${1:?usage: demo_stream_folder_test.sh REPO_ROOT}
work=$(mktemp -d /tmp/demo_stream_folder.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Another stack's folder: left exactly as it was.
mkdir -p "$work/other/kafka/data" "$work/other/snapshots"
echo "DATA_DIR=/somewhere" >"$work/other/stack.env"
before=$(cd "$work/other" && find . | sort)
# /bin/false as the binary: had the script gone on, generating data would fail loudly.
output=$(TOWERSTREAM_STACK_DIR=$work/other "$repo/scripts/demo-stream" /bin/false "$work/demo" 2>&1)
status=$?
((status == 1)) || fail "exit $status with a foreign TOWERSTREAM_STACK_DIR, expected 1: $output"
grep -q "did not create" <<<"$output" || fail "no explanation: $output"
[[ "$(cd "$work/other" && find . | sort)" == "$before" ]] || fail "the foreign folder changed"
[[ ! -e "$work/demo" ]] || fail "the demo folder was created before refusing"

# A new folder is the demo's own: accepted and marked (the binary then fails, as expected).
TOWERSTREAM_STACK_DIR=$work/new "$repo/scripts/demo-stream" /bin/false "$work/demo" >/dev/null 2>&1
[[ -f "$work/new/.made-by-demo-stream" ]] || fail "a new TOWERSTREAM_STACK_DIR was not marked as the demo's"

echo "demo-stream folder test: $failures failures"
((failures == 0))
