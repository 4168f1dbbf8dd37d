#!/usr/bin/env bash
# Every script in scripts/ runs as the README and --help texts write it (`scripts/NAME ...`):
# it is executable, and `--help` answers with a usage text and exit 0, touching nothing.
set -uo pipefail
repo=${1:?usage: scripts_help_test.sh REPO_ROOT}
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
checked=0
for script in "$repo"/scripts/*; do
  [[ -f "$script" ]] || continue
  name=${script#"$repo"/}
  checked=$((checked + 1))
  if [[ ! -x "$script" ]]; then
    fail "$name is not executable (git update-index --chmod=+x $name)"
    continue
  fi
  output=$(timeout 20 "$script" --help 2>&1)
  status=$?
  if ((status != 0)); then
    fail "$name --help exited $status: $(head -3 <<<"$output")"
  elif ! grep -qi "usage" <<<"$output"; then
    fail "$name --help printed no usage line: $(head -3 <<<"$output")"
  fi
done
((checked > 0)) || fail "no scripts found in $repo/scripts"
echo "$checked scripts checked, $failures failures"
((failures == 0))
