#!/usr/bin/env bash
# ctest fixture step: starts or stops a test service (kafka|prometheus|mlflow) in a build's
# state folder.
#
# Usage: tests/harness/service.sh start|stop kafka|prometheus|mlflow STATE_DIR
# start first stops whatever a killed earlier run left in STATE_DIR, then starts the service
# on free ports (never the defaults 9092/9090/5000 a developer's own services may hold).
set -euo pipefail

action=${1:?usage: service.sh start|stop kafka|prometheus|mlflow STATE_DIR}
service=${2:?usage: service.sh start|stop kafka|prometheus|mlflow STATE_DIR}
state_dir=${3:?usage: service.sh start|stop kafka|prometheus|mlflow STATE_DIR}
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

case "$service" in
  kafka) start_args=(--port auto) ;;
  prometheus) start_args=(--port auto --scrape-interval 1s) ;;
  mlflow) start_args=(--port auto --fresh) ;;
  *) echo "service.sh: unknown service '$service' (expected kafka, prometheus or mlflow)" >&2; exit 2 ;;
esac

script=$repo_root/scripts/$service
case "$action" in
  start)
    bash "$script" stop --state-dir "$state_dir"
    bash "$script" start --state-dir "$state_dir" "${start_args[@]}"
    ;;
  stop) bash "$script" stop --state-dir "$state_dir" ;;
  *) echo "service.sh: unknown action '$action' (expected start or stop)" >&2; exit 2 ;;
esac
