#!/usr/bin/env bash
# Validates the compose deployment without a Docker engine (ctest: compose.config):
#   1. compose/docker-compose.yml against the Compose Specification JSON schema, as shipped
#      inside the PyPI package check-jsonschema (vendor.compose-spec), in a venv kept in the
#      cache folder and reused;
#   2. what the schema cannot see: depends_on targets, declared volumes, bind-mount sources and
#      the build context exist, ${VAR} interpolation is well formed, host ports are not taken
#      twice, and (given the binary) every towerstream flag exists in `towerstream SUB --help`;
#   3. `promtool check config` on compose/prometheus.yml together with
#      dashboards/prometheus/alerts.yml, laid out as compose mounts them.
# Usage: check_compose.sh SOURCE_DIR CACHE_DIR [TOWERSTREAM_BINARY]
# Exit status: 0 valid, 1 invalid or a tool missing, 2 bad usage.
set -euo pipefail

# Pinned: the vendored compose-spec schema changes with the package version.
CHECK_JSONSCHEMA_VERSION=0.39.0

log() { echo "check_compose: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

if (($# < 2 || $# > 3)); then
  echo "usage: $0 SOURCE_DIR CACHE_DIR [TOWERSTREAM_BINARY]" >&2
  exit 2
fi
SOURCE_DIR=$(cd "$1" && pwd)
mkdir -p "$2"
CACHE_DIR=$(cd "$2" && pwd)
TOWERSTREAM_BIN=${3:-}
COMPOSE_FILE=${TOWERSTREAM_COMPOSE_FILE:-$SOURCE_DIR/compose/docker-compose.yml}
PROMETHEUS_CONFIG=${TOWERSTREAM_PROMETHEUS_CONFIG:-$SOURCE_DIR/compose/prometheus.yml}
ALERT_RULES=$SOURCE_DIR/dashboards/prometheus/alerts.yml
PYTHON=${TOWERSTREAM_PYTHON:-python3}
VENV=$CACHE_DIR/compose-venv
STAMP="check-jsonschema==$CHECK_JSONSCHEMA_VERSION"

[[ -f "$COMPOSE_FILE" ]] || fail "no compose file at $COMPOSE_FILE"
if [[ -n "$TOWERSTREAM_BIN" && ! -x "$TOWERSTREAM_BIN" ]]; then
  fail "no towerstream binary at $TOWERSTREAM_BIN (build it first)"
fi

# Creates the venv unless a complete one with the pinned version is there. It is built under a
# temporary name and renamed at the end, so an interrupted or concurrent run never leaves a
# half-installed venv behind (after the rename only `bin/python -m ...` is used, which does not
# depend on the venv's original path).
ensure_venv() {
  if [[ -x "$VENV/bin/python" && "$(cat "$VENV/.stamp" 2>/dev/null)" == "$STAMP" ]]; then
    return 0
  fi
  command -v "$PYTHON" >/dev/null || fail "$PYTHON not found (apt-get install python3 python3-venv)"
  mkdir -p "$CACHE_DIR"
  local tmp
  tmp=$(mktemp -d "$CACHE_DIR/.compose-venv.XXXXXX")
  log "creating $VENV with $STAMP (PyPI)"
  if ! "$PYTHON" -m venv "$tmp" >"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    fail "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
  fi
  if ! "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check "$STAMP" \
    >>"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    fail "pip could not install $STAMP"
  fi
  rm -f "$tmp.log"
  echo "$STAMP" >"$tmp/.stamp"
  rm -rf "$VENV"
  mv -T "$tmp" "$VENV" 2>/dev/null || rm -rf "$tmp"  # another run may have won the race
}

ensure_venv

# 1. The Compose Specification schema (unknown keys, wrong types, bad depends_on conditions).
log "schema: $COMPOSE_FILE against vendor.compose-spec ($STAMP)"
"$VENV/bin/python" -m check_jsonschema --builtin-schema vendor.compose-spec "$COMPOSE_FILE" ||
  fail "$COMPOSE_FILE does not match the Compose Specification"

# 2. References between parts of the file, and towerstream's flags. ruamel.yaml comes with
# check-jsonschema; its safe loader resolves the anchors and '<<' merges as compose does.
log "references: services, volumes, mounts, build context, interpolation, ports, flags"
"$VENV/bin/python" - "$COMPOSE_FILE" "$TOWERSTREAM_BIN" <<'PY' || fail "$COMPOSE_FILE: see above"
import os
import re
import subprocess
import sys

from ruamel.yaml import YAML

path, binary = sys.argv[1], sys.argv[2]
base = os.path.dirname(os.path.abspath(path))
with open(path, encoding="utf-8") as f:
    text = f.read()
doc = YAML(typ="safe").load(text)
errors = []

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt},
# $NAME, or $$ for a literal dollar.
token = re.compile(r"\$(\$|\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)")
for number, line in enumerate(text.splitlines(), 1):
    if line.lstrip().startswith("#"):
        continue
    rest = token.sub("", line)
    if "$" in rest:
        errors.append(f"line {number}: malformed interpolation (use $$ for a literal $): {line.strip()}")


def expand_defaults(value):
    """Interpolates with every variable unset: the defaults compose would use."""
    value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", str(value))
    return re.sub(r"\$\{[^}]*\}", "", value).replace("$$", "$")


services = doc.get("services") or {}
declared_volumes = set((doc.get("volumes") or {}).keys())
host_ports = {}
for name, service in services.items():
    service = service or {}
    depends = service.get("depends_on") or {}
    for target in depends if isinstance(depends, (list, dict)) else []:
        if target not in services:
            errors.append(f"service {name}: depends_on unknown service '{target}'")
    for volume in service.get("volumes") or []:
        source = volume.get("source") if isinstance(volume, dict) else str(volume).split(":")[0]
        if not source:
            continue
        if source.startswith((".", "/", "~")):
            local = os.path.normpath(os.path.join(base, expand_defaults(source)))
            if not os.path.exists(local):
                errors.append(f"service {name}: bind-mount source {source} does not exist ({local})")
        elif source not in declared_volumes:
            errors.append(f"service {name}: volume '{source}' is not declared under top-level volumes")
    build = service.get("build")
    if build is not None:
        context = build if isinstance(build, str) else build.get("context", ".")
        context_dir = os.path.normpath(os.path.join(base, context))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        if not os.path.isdir(context_dir):
            errors.append(f"service {name}: build context {context_dir} is not a folder")
        elif not os.path.isfile(os.path.join(context_dir, dockerfile)):
            errors.append(f"service {name}: no Dockerfile {dockerfile} in {context_dir}")
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published = str(port.get("published", ""))
            key = (str(port.get("host_ip", "")), published)
        else:
            parts = expand_defaults(port).split(":")
            if len(parts) < 2:
                continue
            key = (parts[0] if len(parts) == 3 else "", parts[-2])
        if key[1] and key in host_ports:
            errors.append(f"services {host_ports[key]} and {name} publish the same host port {key[1]}")
        host_ports[key] = name

# Flags of the towerstream services against the binary's own --help.
if binary:
    helps = {}
    for name, service in services.items():
        if (service or {}).get("image") != "towerstream:local":
            continue
        command = service.get("command")
        if not command:
            continue
        if isinstance(command, str) or (service.get("entrypoint") or [None])[0] in ("/bin/sh", "sh"):
            words = " ".join(command) if isinstance(command, list) else command
            match = re.search(r"towerstream\s+([a-z]+)", words)
            if not match:
                continue
            subcommand, flags = match.group(1), re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", words[match.end():])
        else:
            subcommand = command[0]
            flags = [str(word).split("=", 1)[0] for word in command[1:] if str(word).startswith("--")]
        if subcommand not in helps:
            run = subprocess.run([binary, subcommand, "--help"], capture_output=True, text=True)
            if run.returncode != 0:
                errors.append(f"service {name}: '{binary} {subcommand} --help' failed")
                continue
            helps[subcommand] = set(re.findall(r"(--[a-z][a-z-]*)", run.stdout))
        for flag in flags:
            if flag not in helps.get(subcommand, set()):
                errors.append(f"service {name}: towerstream {subcommand} has no option {flag}")
    print(f"check_compose: flags checked against {binary} ({', '.join(sorted(helps))})", file=sys.stderr)
else:
    print("check_compose: no towerstream binary given: flags not checked", file=sys.stderr)

for error in errors:
    print(f"check_compose: {path}: {error}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# 3. The Prometheus config with its rule file, placed as the compose mounts place them: the
# config names the rule file by its path inside the container, rewritten here to the copy.
command -v promtool >/dev/null || fail "promtool not found (apt-get install prometheus)"
[[ -f "$PROMETHEUS_CONFIG" ]] || fail "no Prometheus config at $PROMETHEUS_CONFIG"
[[ -f "$ALERT_RULES" ]] || fail "no alert rules at $ALERT_RULES (compose mounts them)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$ALERT_RULES" "$work/alerts.yml"
grep -q '/etc/prometheus/alerts.yml' "$PROMETHEUS_CONFIG" ||
  fail "$PROMETHEUS_CONFIG does not load /etc/prometheus/alerts.yml (where compose mounts the rules)"
sed "s#/etc/prometheus/alerts.yml#$work/alerts.yml#g" "$PROMETHEUS_CONFIG" >"$work/prometheus.yml"
log "promtool: $PROMETHEUS_CONFIG with $ALERT_RULES"
promtool check config "$work/prometheus.yml" >&2 ||
  fail "promtool rejects $PROMETHEUS_CONFIG with $ALERT_RULES"

log "OK: $COMPOSE_FILE and $PROMETHEUS_CONFIG are valid"
