#!/usr/bin/env bash
# Offline checks of dashboards/: the Prometheus alerting rules and the Grafana JSON models.
#
# Usage: tests/dashboards/check_dashboards.sh rules|json PROJECT_SOURCE_DIR
#   rules  promtool check rules on dashboards/prometheus/alerts.yml, then the rule unit tests
#          of dashboards/prometheus/alerts_test.yml (promtool test rules)
#   json   every dashboards/grafana/dashboards/*.json: unique uid and title, panels with a
#          gridPos, the "prometheus" datasource and non-empty, variable-free exprs whose range
#          windows are at most 1m; every towerstream_* metric named in a panel or in the alert
#          files is one the C++ code under common/ exports; and every expr parses (promtool
#          check rules over a generated file with one recording rule per expr)
#
# Needs: promtool (Debian package 'prometheus'), python3 (standard library only).
set -euo pipefail

SCRIPT_NAME=check_dashboards
usage="usage: check_dashboards.sh rules|json PROJECT_SOURCE_DIR"
mode=${1:?$usage}
root=${2:?$usage}

die() {
  echo "${SCRIPT_NAME}: error: $*" >&2
  exit 1
}

[[ -d "$root/dashboards" ]] || die "no dashboards/ under '$root'"
command -v promtool >/dev/null || die "promtool not found (apt-get install prometheus)"
command -v python3 >/dev/null || die "python3 not found"

case "$mode" in
  rules)
    # promtool resolves rule_files relative to the test file.
    promtool check rules "$root/dashboards/prometheus/alerts.yml"
    promtool test rules "$root/dashboards/prometheus/alerts_test.yml"
    ;;
  json)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 - "$root" "$tmp/dashboard_exprs.json" <<'PY'
import glob
import json
import os
import re
import sys

root, rules_out = sys.argv[1], sys.argv[2]
errors = []

def error(where, message):
    errors.append(f"{where}: {message}")

# The metric names the code exports: the "towerstream_..." string literals of common/.
# Histograms: the names given to prometheus-cpp's BuildHistogram().Name(...) or to ingest's
# Histogram(registry, "..."), directly or through a `kName[] = "towerstream_..."` constant.
literal = re.compile(r'"(towerstream_[a-z0-9_]+)"')
constant = re.compile(r'\b(\w+)\[\]\s*=\s*"(towerstream_[a-z0-9_]+)"')
histogram_call = re.compile(r'Histogram\s*\(\s*(?:\w+\s*,\s*)?\)?\s*(?:\.Name\(\s*)?'
                            r'(?:"(towerstream_[a-z0-9_]+)"|(\w+)\s*\))')
sources = []
for dirpath, _, files in os.walk(os.path.join(root, "common")):
    for name in files:
        if name.endswith((".h", ".cpp")):
            with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                sources.append(f.read())
code = "\n".join(sources)
exported = set(literal.findall(code))
constants = dict(constant.findall(code))
histograms = set()
for m in histogram_call.finditer(code):
    if m.group(1):
        histograms.add(m.group(1))
    elif m.group(2) in constants:
        histograms.add(constants[m.group(2)])
if not exported or not histograms:
    sys.exit(f"check_dashboards: error: found no towerstream_* metric names or no histograms "
             f"in the code under {root}/common")

metric = re.compile(r"towerstream_[a-z0-9_]+")
histogram_suffixes = ("_bucket", "_sum", "_count")

def unknown_metrics(text):
    """The problems of the towerstream_* names in `text`: "NAME: why" each."""
    problems = set()
    for name in metric.findall(text):
        base = next((name[: -len(s)] for s in histogram_suffixes if name.endswith(s)), None)
        if name in histograms:
            problems.add(f"{name}: a histogram is exported as {name}_bucket, _sum and _count")
        elif name in exported:
            continue
        elif base in histograms:
            continue
        elif base in exported:
            problems.add(f"{name}: {base} is not a histogram")
        else:
            problems.add(f"{name}: not exported by any code under common/")
    return sorted(problems)

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
window = re.compile(r"\[([^\]]*)\]")
duration_part = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")

def seconds(text):
    parts = duration_part.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * UNITS[u] for n, u in parts)

EXPECTED_DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
uids, titles = {}, {}
groups = []
paths = sorted(glob.glob(os.path.join(root, "dashboards", "grafana", "dashboards", "*.json")))
if not paths:
    error("dashboards/grafana/dashboards", "no *.json dashboards")
for path in paths:
    rel = os.path.relpath(path, root)
    try:
        with open(path, encoding="utf-8") as f:
            board = json.load(f)
    except (OSError, ValueError) as e:
        error(rel, f"not valid JSON: {e}")
        continue
    for key, seen in (("uid", uids), ("title", titles)):
        value = board.get(key)
        if not isinstance(value, str) or not value:
            error(rel, f"no {key}")
        elif value in seen:
            error(rel, f"{key} '{value}' also in {seen[value]}")
        else:
            seen[value] = rel
    if not isinstance(board.get("schemaVersion"), int) or board["schemaVersion"] < 36:
        error(rel, "schemaVersion missing or below 36")
    if board.get("templating", {}).get("list"):
        error(rel, "template variables: the queries must run verbatim")
    panels = board.get("panels")
    if not isinstance(panels, list) or not panels:
        error(rel, "no panels")
        continue
    ids = set()
    for index, panel in enumerate(panels):
        title = panel.get("title") or f"#{index}"
        where = f"{rel}: panel '{title}'"
        if not panel.get("title"):
            error(where, "no title")
        if panel.get("id") in ids:
            error(where, f"id {panel.get('id')} used twice")
        ids.add(panel.get("id"))
        if panel.get("type") not in ("timeseries", "stat"):
            error(where, f"type '{panel.get('type')}' (expected timeseries or stat)")
        grid = panel.get("gridPos")
        if not isinstance(grid, dict) or not all(isinstance(grid.get(k), int) for k in "xywh"):
            error(where, "gridPos missing or without integer x, y, w, h")
        elif grid["x"] < 0 or grid["w"] <= 0 or grid["h"] <= 0 or grid["x"] + grid["w"] > 24:
            error(where, f"gridPos {grid} outside the 24-column grid")
        if panel.get("datasource") != EXPECTED_DATASOURCE:
            error(where, f"datasource {panel.get('datasource')} (expected {EXPECTED_DATASOURCE})")
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            error(where, "no targets")
            continue
        refs = set()
        rules = []
        for target in targets:
            ref = target.get("refId")
            at = f"{where} target {ref}"
            if not ref or ref in refs:
                error(at, "refId missing or repeated")
            refs.add(ref)
            if target.get("datasource", EXPECTED_DATASOURCE) != EXPECTED_DATASOURCE:
                error(at, f"datasource {target.get('datasource')}")
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                error(at, "empty expr")
                continue
            if "$" in expr:
                error(at, f"'$' in expr (no template variables): {expr}")
            for inside in window.findall(expr):
                # A subquery [range:step] is judged by its range.
                length = seconds(inside.split(":")[0].strip())
                if length is None:
                    error(at, f"unreadable range [{inside}] in: {expr}")
                elif length > 60:
                    error(at, f"range [{inside}] over 1m: a short end-to-end run has no data "
                              f"for it: {expr}")
            for problem in unknown_metrics(expr):
                error(at, f"metric {problem}: {expr}")
            rules.append({"record": f"dashboard_check:{len(groups)}_{ref}", "expr": expr})
        groups.append({"name": f"{where}", "rules": rules})

# The alert rules and their tests must name real metrics too.
for rel in ("dashboards/prometheus/alerts.yml", "dashboards/prometheus/alerts_test.yml"):
    try:
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        error(rel, str(e))
        continue
    for problem in unknown_metrics(text):
        error(rel, f"metric {problem}")

# The provisioning must give the datasource the uid the panels use.
datasource = os.path.join(root, "dashboards/grafana/provisioning/datasources/prometheus.yml")
try:
    with open(datasource, encoding="utf-8") as f:
        if not re.search(r"^\s*uid:\s*[\"']?prometheus[\"']?\s*$", f.read(), re.M):
            error(os.path.relpath(datasource, root), "no datasource with uid prometheus")
except OSError as e:
    error("provisioning", str(e))

# JSON is YAML: promtool reads this as a rules file, parsing every expr.
with open(rules_out, "w", encoding="utf-8") as f:
    json.dump({"groups": groups}, f, indent=1, ensure_ascii=False)

if errors:
    for e in errors:
        print(f"check_dashboards: {e}", file=sys.stderr)
    sys.exit(f"check_dashboards: error: {len(errors)} problem(s) in the dashboards")
exprs = sum(len(g["rules"]) for g in groups)
print(f"check_dashboards: {len(paths)} dashboards, {len(groups)} panels, {exprs} exprs; "
      f"{len(exported)} metric names ({len(histograms)} histograms) exported under common/")
PY
    # Every expr through Prometheus' own parser; a failure names the dashboard and panel.
    if ! promtool check rules "$tmp/dashboard_exprs.json"; then
      die "a dashboard expr does not parse (the group name above is the dashboard and panel)"
    fi
    ;;
  *) die "unknown mode '$mode' (expected rules or json)" ;;
esac
