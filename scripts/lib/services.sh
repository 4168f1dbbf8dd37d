# Shared helpers for scripts/kafka and scripts/prometheus: errors, port checks, pid files.
# Sourced, not run. Callers set `set -euo pipefail` and SCRIPT_NAME before sourcing.
# shellcheck shell=bash

die() {
  echo "${SCRIPT_NAME}: error: $*" >&2
  exit 1
}

note() {
  echo "${SCRIPT_NAME}: $*" >&2
}

# True when something accepts TCP connections on 127.0.0.1:$1. Bash's /dev/tcp needs no
# extra package (ss and nc are not on a minimal Debian).
port_in_use() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

require_port_number() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
    die "bad port '$1' (expected 1-65535 or 'auto')"
  fi
}

# Prints a port P such that P .. P+count-1 are all free, drawn from 20000-31999: below Linux's
# ephemeral range (32768+) so outgoing connections never take it, and away from the usual
# 8xxx/9xxx service ports a developer may already run.
pick_free_ports() {
  local count=$1 port i busy
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    busy=0
    for ((i = 0; i < count; i++)); do
      if port_in_use $((port + i)); then busy=1; break; fi
    done
    ((busy == 0)) && { echo "$port"; return 0; }
  done
  die "found no free port in 20000-31999 after 200 tries"
}

# Prints the pid recorded in $1 when that process is alive and its command line contains $2
# (so a pid reused by an unrelated process is never signalled); prints nothing otherwise.
live_pid() {
  local pid_file=$1 marker=$2 pid
  [[ -f "$pid_file" ]] || return 0
  pid=$(<"$pid_file")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  [[ -r /proc/$pid/cmdline ]] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"; then
    echo "$pid"
  fi
}

# Stops the process in pid file $1 (command line containing $2): SIGTERM, up to $3 seconds for
# a clean exit, then SIGKILL. With $4 = group, the signals go to the process group the pid leads
# (a server started under setsid whose workers are its children). Succeeds when nothing is
# running.
stop_by_pid_file() {
  local pid_file=$1 marker=$2 grace=$3 scope=${4:-process} pid target deadline
  pid=$(live_pid "$pid_file" "$marker")
  if [[ -z "$pid" ]]; then
    rm -f "$pid_file"
    note "not running"
    return 0
  fi
  target=$pid
  [[ "$scope" == group ]] && target=-$pid
  kill -TERM -- "$target" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while kill -0 -- "$target" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 -- "$target" 2>/dev/null; then
    note "$scope $pid still running after ${grace}s; sending SIGKILL"
    kill -KILL -- "$target" 2>/dev/null || true
    while kill -0 -- "$target" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$pid_file"
  note "stopped (pid $pid)"
}

# Prints the last lines of log $1 to stderr, framed, for "failed to start" errors.
print_log_tail() {
  local log=$1
  [[ -f "$log" ]] || { echo "(no log at $log)" >&2; return 0; }
  echo "----- last 40 lines of $log -----" >&2
  tail -n 40 "$log" >&2
  echo "----- end of $log -----" >&2
}

# Absolute form of a path that may not exist yet.
abs_path() {
  case "$1" in
    /*) echo "$1" ;;
    *) echo "$PWD/$1" ;;
  esac
}

# GET http://127.0.0.1:$1$2 over bash's /dev/tcp (curl is not on a minimal Debian). Prints the
# body; succeeds only on HTTP 200. Gives up after $3 seconds (default 5).
http_get() {
  local port=$1 path=$2 limit=${3:-5} response status
  # shellcheck disable=SC2016  # $1 and $2 expand in the inner shell
  response=$(timeout "$limit" bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3
    cat <&3' _ "$port" "$path" 2>/dev/null) || return 1
  status=$(head -n 1 <<<"$response" | tr -d '\r' | awk '{print $2}')
  [[ "$status" == 200 ]] || return 1
  # The body follows the first empty line.
  sed '1,/^\r\{0,1\}$/d' <<<"$response"
}

# Waits until the command "${@:6}" succeeds, polling, for the process started as $1 (pid, also
# recorded in pid file $2 with command-line marker $3). If the process dies or $5 seconds pass
# first, prints the tail of log $4, stops the process and fails.
await_ready() {
  local pid=$1 pid_file=$2 marker=$3 log=$4 limit=$5
  shift 5
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pid_file"
      print_log_tail "$log"
      die "exited during startup (log: $log)"
    fi
    if ((SECONDS >= deadline)); then
      print_log_tail "$log"
      stop_by_pid_file "$pid_file" "$marker" 10
      die "not ready within ${limit}s (waited for: $*; log: $log)"
    fi
    sleep 0.3
  done
}

# `status`: prints the address in file $3 and succeeds when the process in pid file $1 (marker
# $2) runs and has finished starting.
print_status() {
  local pid_file=$1 marker=$2 address_file=$3 pid
  pid=$(live_pid "$pid_file" "$marker")
  if [[ -z "$pid" ]]; then
    note "not running (state $(dirname "$pid_file"))"
    return 1
  fi
  [[ -f "$address_file" ]] || { note "pid $pid is starting (no $address_file yet)"; return 1; }
  cat "$address_file"
}
