#!/usr/bin/env bash
# Integration checks against the Prometheus server the `prometheus` ctest fixture started.
#
# Usage: tests/harness/prometheus_check.sh ready|self_scrape STATE_DIR
#   ready        /-/ready answers 200
#   self_scrape  a query of up{job="prometheus"} through /api/v1/query returns 1 (waits up to
#                60 s for the first scrapes)
set -euo pipefail

SCRIPT_NAME=prometheus_check
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/services.sh
source "$repo_root/scripts/lib/services.sh"

check=${1:?usage: prometheus_check.sh ready|self_scrape STATE_DIR}
state_dir=${2:?usage: prometheus_check.sh ready|self_scrape STATE_DIR}
address=$(cat "$state_dir/address") || die "no $state_dir/address: is the prometheus fixture running?"
port=${address##*:}

case "$check" in
  ready)
    http_get "$port" /-/ready >/dev/null || die "GET http://$address/-/ready did not answer 200"
    echo "ready: $address"
    ;;
  self_scrape)
    query='/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D'
    deadline=$((SECONDS + 60))
    body=""
    while ((SECONDS < deadline)); do
      body=$(http_get "$port" "$query") || die "GET http://$address$query failed"
      # One sample with value "1": Prometheus scraped itself successfully.
      if grep -q '"result":\[{"metric":{[^}]*"job":"prometheus"[^}]*},"value":\[[0-9.]*,"1"\]}\]' <<<"$body"; then
        echo "self scrape: $body"
        exit 0
      fi
      sleep 0.5
    done
    die "up{job=\"prometheus\"} never returned 1 within 60 s; last answer: $body"
    ;;
  *) die "unknown check '$check' (expected ready or self_scrape)" ;;
esac
