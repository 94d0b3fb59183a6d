#!/usr/bin/env bash
# Validates every configuration of the observability stack with the real tools, from the
# repository root or anywhere else:
#
#   scripts/check-configs.sh
#
# nginx (both renderings of the template), Prometheus (config for both stacks, rules, rule
# unit tests, alerting conventions), Alertmanager (config for both stacks, routing, templates,
# the notification sink), the collector / Tempo / Loki / Grafana files (syntax and the
# cross-references between them), every dashboard query (parsed by promtool, metric names
# checked against what the stack emits), docker-compose.yml (compose-spec schema) and the
# Dockerfile's basics.
#
# Installs nothing. Needs: Debian packages nginx, prometheus (promtool),
# prometheus-alertmanager (amtool), gettext-base (envsubst), python3 with PyYAML
# (python3-yaml), and check-jsonschema (pip install check-jsonschema). A missing one stops the
# script with its name. Prints what it checks, ends with "configs: N passed, M failed" and
# exits non-zero if anything failed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

PASSED=0
FAILED=0

need() {
    local binary="$1" package="$2"
    if ! command -v "$binary" >/dev/null 2>&1; then
        echo "check-configs: '$binary' not found: install $package" >&2
        exit 1
    fi
}
need nginx "the Debian package nginx (apt-get install -y --no-install-recommends nginx)"
need promtool "the Debian package prometheus (apt-get install -y --no-install-recommends prometheus)"
need amtool "the Debian package prometheus-alertmanager (apt-get install -y --no-install-recommends prometheus-alertmanager)"
need envsubst "the Debian package gettext-base (apt-get install -y gettext-base)"
need python3 "the Debian package python3"
need check-jsonschema "check-jsonschema (pip install check-jsonschema)"
if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "check-configs: python3 cannot import yaml: install the Debian package python3-yaml (or pip install pyyaml)" >&2
    exit 1
fi

# check "what is checked" command...: runs the command, prints ok or its output on failure.
check() {
    local what="$1"
    shift
    local log="$TMP/last.log"
    if "$@" >"$log" 2>&1; then
        PASSED=$((PASSED + 1))
        printf '  ok    %s\n' "$what"
        if [[ -n "${VERBOSE:-}" ]]; then sed 's/^/        /' "$log"; fi
    else
        FAILED=$((FAILED + 1))
        printf '  FAIL  %s\n' "$what"
        sed 's/^/        /' "$log"
    fi
}

section() { printf '\n== %s\n' "$*"; }

# Variables of nginx/nginx.conf.template (the same list as nginx/render.sh); literal on
# purpose: envsubst takes the names, not their values.
# shellcheck disable=SC2016
NGINX_VARS='${BIBLIO_WEB_ADDR} ${BIBLIO_API_ADDR_1} ${BIBLIO_API_ADDR_2} ${NGINX_STATUS_LISTEN} ${NGINX_ACCESS_LOG} ${NGINX_ERROR_LOG}'

# ------------------------------------------------------------------------------ nginx
section "nginx (nginx -t on both renderings of nginx/nginx.conf.template)"

nginx_native() {
    local prefix="$TMP/nginx-native"
    mkdir -p "$prefix/logs"
    bash nginx/render.sh native "$prefix/nginx.conf"
    nginx -t -p "$prefix/" -c "$prefix/nginx.conf"
}
check "native rendering (127.0.0.1 upstreams, logs and temp files under the -p prefix)" nginx_native

# The compose rendering uses the nginx service's environment from docker-compose.yml, as the
# image's entrypoint does. Its upstream host names only resolve inside compose, so nginx -t
# runs in a private mount namespace whose /etc/hosts maps them to 127.0.0.1.
nginx_compose() {
    local prefix="$TMP/nginx-compose"
    mkdir -p "$prefix/logs"
    python3 - "$prefix/env" <<'PY'
import shlex, sys, yaml
env = yaml.safe_load(open("docker-compose.yml"))["services"]["nginx"]["environment"]
with open(sys.argv[1], "w") as out:
    for k, v in env.items():
        out.write(f"export {k}={shlex.quote(str(v))}\n")
PY
    (
        # shellcheck disable=SC1091
        source "$prefix/env"
        envsubst "$NGINX_VARS" <nginx/nginx.conf.template >"$prefix/nginx.conf"
    )
    if grep -nE '\$\{[A-Z_]+\}' "$prefix/nginx.conf"; then
        echo "placeholders left unsubstituted"
        return 1
    fi
    local hosts
    hosts="$(python3 -c '
import re, sys
names = set(re.findall(r"server\s+([A-Za-z][A-Za-z0-9_.-]*):\d+", open(sys.argv[1]).read()))
print(" ".join(sorted(names)))' "$prefix/nginx.conf")"
    printf '127.0.0.1 localhost\n::1 localhost\n127.0.0.1 %s\n' "$hosts" >"$prefix/hosts"
    if unshare --mount true 2>/dev/null; then
        # shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
        unshare --mount sh -c 'mount --bind "$1" /etc/hosts && nginx -t -p "$2/" -c "$2/nginx.conf"' _ "$prefix/hosts" "$prefix"
    else
        echo "(no mount namespace available: checking with the upstream names replaced by 127.0.0.1)"
        for h in $hosts; do sed -i "s/server $h:/server 127.0.0.1:/" "$prefix/nginx.conf"; done
        nginx -t -p "$prefix/" -c "$prefix/nginx.conf"
    fi
}
check "compose rendering (service names, logs to stdout/stderr)" nginx_compose

nginx_render_script() {
    bash -n nginx/render.sh
    bash nginx/render.sh compose "$TMP/render-compose.conf"
    # render.sh's compose defaults and docker-compose.yml must agree.
    diff -u "$TMP/render-compose.conf" "$TMP/nginx-compose/nginx.conf"
}
check "nginx/render.sh compose defaults match docker-compose.yml" nginx_render_script

# ------------------------------------------------------------------------------ Prometheus
section "Prometheus (promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}'))"

check "promtool check config prometheus/prometheus.yml (native targets)" \
    promtool check config prometheus/prometheus.yml

prometheus_compose() {
    local dir="$TMP/prometheus-compose"
    mkdir -p "$dir"
    cp prometheus/prometheus.yml "$dir/"
    cp -r prometheus/rules "$dir/rules"
    cp -r prometheus/compose-targets "$dir/targets"   # what docker-compose.yml mounts
    promtool check config "$dir/prometheus.yml"
}
check "promtool check config with prometheus/compose-targets (compose)" prometheus_compose

check "promtool check rules prometheus/rules/*.yml" promtool check rules prometheus/rules/*.yml
check "promtool test rules prometheus/tests/*.test.yml" promtool test rules prometheus/tests/*.test.yml

# Conventions every alert follows, and that every alert has unit tests that make it fire
# and keep it quiet.
rule_conventions() {
    python3 - <<'PY'
import glob, re, sys, yaml

errors = []
alerts = {}
for path in sorted(glob.glob("prometheus/rules/*.yml")):
    for group in yaml.safe_load(open(path))["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            name = rule["alert"]
            where = f"{path}: {name}"
            labels, ann = rule.get("labels", {}), rule.get("annotations", {})
            if labels.get("severity") not in ("critical", "warning"):
                errors.append(f"{where}: severity must be critical or warning")
            if not labels.get("service"):
                errors.append(f"{where}: no service label")
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    errors.append(f"{where}: no {key} annotation")
            alerts.setdefault(name, set()).add(ann.get("runbook_url", ""))

runbook = open("docs/RUNBOOK.md").read()
anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
           for h in re.findall(r"^#+\s+(.*)$", runbook, re.M)}
for name, urls in alerts.items():
    for url in urls:
        m = re.fullmatch(r"docs/RUNBOOK\.md#([a-z0-9-]+)", url)
        if not m:
            errors.append(f"{name}: runbook_url {url!r} is not docs/RUNBOOK.md#anchor")
        elif m.group(1) not in anchors:
            errors.append(f"{name}: docs/RUNBOOK.md has no section #{m.group(1)}")

fires, quiet = set(), set()
for path in glob.glob("prometheus/tests/*.test.yml"):
    for test in yaml.safe_load(open(path)).get("tests", []):
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
for name in sorted(alerts):
    if name not in fires:
        errors.append(f"{name}: no unit test where it fires")
    if name not in quiet:
        errors.append(f"{name}: no unit test where it stays quiet")

for e in errors:
    print(e)
print(f"{len(alerts)} alerts, each with severity, service, summary, description, runbook section, "
      f"and tests that fire it and keep it quiet" if not errors else f"{len(errors)} problem(s)")
sys.exit(1 if errors else 0)
PY
}
check "alert conventions (labels, annotations, runbook anchors, fire/quiet tests)" rule_conventions

# ------------------------------------------------------------------------------ Alertmanager
section "Alertmanager (amtool $(amtool --version 2>&1 | head -1 | awk '{print $3}'))"

check "amtool check-config alertmanager/alertmanager.yml (native)" amtool check-config alertmanager/alertmanager.yml

# Runs the alertmanager service's own start command from docker-compose.yml (up to the exec)
# against the repository files, then checks the config it produced.
alertmanager_compose() {
    local dir="$TMP/alertmanager-compose"
    mkdir -p "$dir"
    python3 - "$dir/render.sh" "$ROOT/alertmanager" "$dir" <<'PY'
import sys, yaml
out, src, dst = sys.argv[1:]
cmd = yaml.safe_load(open("docker-compose.yml"))["services"]["alertmanager"]["command"][0]
prep = cmd.split("&& exec", 1)[0].strip()
prep = prep.replace("/alertmanager/config", dst + "/config").replace("/etc/alertmanager", src)
open(out, "w").write("set -e\n" + prep + "\n")
PY
    sh "$dir/render.sh"
    if grep -nE '^[^#]*127\.0\.0\.1' "$dir/config/alertmanager.yml"; then
        echo "local addresses left in the compose config"
        return 1
    fi
    grep -q 'http://notification-sink:9099/alerts' "$dir/config/alertmanager.yml"
    grep -q "smtp_smarthost: 'notification-sink:1025'" "$dir/config/alertmanager.yml"
    amtool check-config "$dir/config/alertmanager.yml"
}
check "compose rendering of alertmanager.yml (sink addresses substituted, valid)" alertmanager_compose

alertmanager_routes() {
    local cfg=alertmanager/alertmanager.yml
    route() {
        local want="$1"
        shift
        printf '%s -> ' "$*"
        amtool config routes test --config.file="$cfg" --verify.receivers="$want" "$@" 2>/dev/null
    }
    route page alertname=InstanceDown severity=critical service=biblio-api
    route page alertname=NginxUpstreamFailing severity=critical service=nginx
    route ticket alertname=ReportStale severity=warning service=biblio-api
    route ticket alertname=ApiHighErrorRatio severity=warning service=biblio-api
    route observability alertname=TelemetryDropped severity=warning service=biblio-api
    route observability alertname=CollectorExportFailing severity=warning service=otel-collector
    route page alertname=MySQLDown severity=critical service=mysql
    route ticket alertname=MySQLConnectionsHigh severity=warning service=mysql
    route ticket alertname=RedisDown severity=warning service=redis
    route ticket alertname=RedisMemoryHigh severity=warning service=redis
    route ticket alertname=Unknown
}
check "routing: critical pages, warning tickets, telemetry to observability" alertmanager_routes

alertmanager_templates() {
    local t
    for t in biblio.email.subject biblio.email.text biblio.email.html; do
        amtool template render --template.glob='alertmanager/templates/*.tmpl' \
            --template.text="{{ template \"$t\" . }}" >/dev/null
        echo "$t renders"
    done
}
check "e-mail templates render (amtool template render)" alertmanager_templates

# Start the sink on free ports, send it a webhook and an e-mail, read both back.
notification_sink() {
    python3 - <<'PY'
import json, smtplib, subprocess, sys, urllib.request
proc = subprocess.Popen([sys.executable, "alertmanager/notification-sink.py", "--http", "127.0.0.1:0",
                         "--smtp", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
try:
    started = json.loads(proc.stdout.readline())
    http, smtp = started["http"], started["smtp"]
    body = json.dumps({"receiver": "page", "status": "firing", "alerts": [{"labels": {"alertname": "Test"}}]}).encode()
    req = urllib.request.Request(f"http://{http}/alerts", data=body, headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req, timeout=5).status == 200
    host, port = smtp.rsplit(":", 1)
    with smtplib.SMTP(host, int(port), timeout=5) as s:
        s.sendmail("alertmanager@biblio.example", ["oncall@biblio.example"],
                   "Subject: [Biblio FIRING:1] Test\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
    alerts = json.load(urllib.request.urlopen(f"http://{http}/alerts", timeout=5))
    emails = json.load(urllib.request.urlopen(f"http://{http}/emails", timeout=5))
    assert alerts[0]["notification"]["receiver"] == "page", alerts
    assert emails[0]["subject"] == "[Biblio FIRING:1] Test" and "hello" in emails[0]["text"], emails
    print(f"webhook and SMTP received on {http} and {smtp}")
finally:
    proc.terminate()
    proc.wait(5)
PY
}
check "alertmanager/notification-sink.py receives a webhook and an e-mail" notification_sink

# ------------------------------------------------------------------------------ collector, Tempo, Loki, Grafana
section "OpenTelemetry Collector, Tempo, Loki, Grafana (YAML syntax and cross-references)"

yaml_syntax() {
    python3 - "$@" <<'PY'
import sys, yaml
for path in sys.argv[1:]:
    yaml.safe_load(open(path))
    print(f"{path}: valid YAML")
PY
}
check "YAML syntax of collector, Tempo, Loki and Grafana provisioning files" yaml_syntax \
    otel-collector/config.yaml tempo/tempo.yaml loki/loki.yaml grafana/provisioning/*/*.yml

otel_collector_structure() {
    python3 - <<'PY'
import sys, yaml
cfg = yaml.safe_load(open("otel-collector/config.yaml"))
errors = []
svc = cfg["service"]
defined = {kind: set((cfg.get(kind) or {}).keys()) for kind in ("receivers", "processors", "exporters", "connectors", "extensions")}
for ext in svc.get("extensions", []):
    if ext not in defined["extensions"]:
        errors.append(f"extension {ext} is not defined")
used_as_exporter, used_as_receiver = set(), set()
for name, p in svc["pipelines"].items():
    for r in p["receivers"]:
        if r in defined["connectors"]:
            used_as_receiver.add(r)
        elif r not in defined["receivers"]:
            errors.append(f"pipeline {name}: receiver {r} is not defined")
    for proc in p.get("processors", []):
        if proc not in defined["processors"]:
            errors.append(f"pipeline {name}: processor {proc} is not defined")
    if p.get("processors") and p["processors"][0] != "memory_limiter":
        errors.append(f"pipeline {name}: memory_limiter must come first")
    for e in p["exporters"]:
        if e in defined["connectors"]:
            used_as_exporter.add(e)
        elif e not in defined["exporters"]:
            errors.append(f"pipeline {name}: exporter {e} is not defined")
for c in defined["connectors"]:
    if c not in used_as_exporter or c not in used_as_receiver:
        errors.append(f"connector {c} must be an exporter of one pipeline and a receiver of another")
if not cfg["connectors"]["spanmetrics"].get("exemplars", {}).get("enabled"):
    errors.append("spanmetrics exemplars are not enabled")
if not cfg["exporters"]["prometheus"].get("enable_open_metrics"):
    errors.append("the prometheus exporter needs enable_open_metrics for exemplars")
if not cfg["exporters"]["otlphttp/loki"]["endpoint"].endswith("/otlp"):
    errors.append("Loki's OTLP endpoint is <loki>/otlp")
reader = svc["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
if reader.get("port") != 8888:
    errors.append("the collector's own metrics must be on :8888")
print("\n".join(errors) or "pipelines reference defined components; connectors bridge traces to metrics; exemplars on")
sys.exit(1 if errors else 0)
PY
}
check "collector pipelines, connectors, exemplars, :8888 self-metrics" otel_collector_structure

tempo_loki_settings() {
    python3 - <<'PY'
import sys, yaml
errors = []
tempo = yaml.safe_load(open("tempo/tempo.yaml"))
if tempo["storage"]["trace"]["backend"] != "local":
    errors.append("tempo: storage backend should be local")
if tempo["compactor"]["compaction"]["block_retention"] != "168h":
    errors.append("tempo: block_retention should be 168h")
if tempo["server"]["http_listen_port"] != 3200:
    errors.append("tempo: HTTP port should be 3200")
loki = yaml.safe_load(open("loki/loki.yaml"))
limits = loki["limits_config"]
if limits.get("allow_structured_metadata") is not True:
    errors.append("loki: allow_structured_metadata must be true for OTLP")
if limits.get("retention_period") != "168h" or not loki["compactor"].get("retention_enabled"):
    errors.append("loki: retention 168h with the compactor's retention enabled")
index = [a for c in limits["otlp_config"]["resource_attributes"]["attributes_config"]
         if c["action"] == "index_label" for a in c.get("attributes", [])]
if "service.name" not in index:
    errors.append("loki: service.name must be an index label (service_name)")
if not any(c["schema"] == "v13" and c["store"] == "tsdb" for c in loki["schema_config"]["configs"]):
    errors.append("loki: structured metadata needs the tsdb store with schema v13")
print("\n".join(errors) or "tempo: local storage, 7 d; loki: OTLP with structured metadata, service_name label, 7 d")
sys.exit(1 if errors else 0)
PY
}
check "Tempo and Loki: local storage, 7-day retention, Loki OTLP mapping" tempo_loki_settings

grafana_provisioning() {
    python3 - <<'PY'
import re, sys, yaml
errors = []
doc = yaml.safe_load(open("grafana/provisioning/datasources/biblio.yml"))
uids = [d["uid"] for d in doc["datasources"]]
if len(uids) != len(set(uids)):
    errors.append("duplicate datasource uids")
for want in ("prometheus", "tempo", "loki", "jaeger", "alertmanager"):
    if want not in uids:
        errors.append(f"no datasource with uid {want}")
def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "datasourceUid":
                yield v
            yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)
for ref in refs(doc):
    if ref not in uids:
        errors.append(f"datasourceUid {ref} is not a provisioned datasource")
# Grafana expands $VAR and ${VAR} in provisioning values: its own macros must be written $$.
def strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node
for value in strings(doc):
    if re.search(r"(?<!\$)\$\{?__", value):
        errors.append(f"unescaped Grafana macro in {value!r}: write $$ for a literal $")
prov = yaml.safe_load(open("grafana/provisioning/dashboards/biblio.yml"))
path = prov["providers"][0]["options"]["path"]
mounts = yaml.safe_load(open("docker-compose.yml"))["services"]["grafana"]["volumes"]
if f"./grafana/dashboards:{path}:ro" not in mounts:
    errors.append(f"docker-compose.yml does not mount grafana/dashboards at {path}")
print("\n".join(errors) or f"datasources {', '.join(uids)}: fixed uids, links resolve, macros escaped")
sys.exit(1 if errors else 0)
PY
}
check "Grafana provisioning: fixed uids, cross-links, \$\$ escaping, dashboard mount" grafana_provisioning

# ------------------------------------------------------------------------------ dashboards
section "Grafana dashboards (structure; every PromQL query parsed by promtool; metric names)"

# Metric names the dashboards and rules may use: what biblio emits (docs/OBSERVABILITY.md),
# the recording rules, and the nginx exporter, collector, Prometheus and Alertmanager.
dashboards() {
    python3 - "$TMP/dashboard-queries.yml" <<'PY'
import glob, json, re, sys, yaml

BIBLIO = {
    "http_server_request_duration_seconds", "http_server_active_requests", "db_pool_connections",
    "db_pool_max_connections", "db_pool_acquire_seconds", "db_pool_acquire_timeouts_total",
    "cache_requests_total", "report_generation_seconds", "report_age_seconds",
    "report_recomputations_total", "loans_created_total", "loans_returned_total",
    "loans_rejected_total", "telemetry_dropped_total", "dependency_up",
    "holds_placed_total", "holds_ready_total", "holds_fulfilled_total", "holds_cancelled_total",
    "holds_expired_total", "holds_rejected_total", "loans_renewed_total",
    "loans_renewal_rejected_total", "notifications_enqueued_total", "notifications_sent_total",
    "notifications_failed_total", "notifications_pending", "notification_send_duration_seconds",
}
PREFIXES = ("nginx_", "otelcol_", "prometheus_", "alertmanager_", "traces_span_metrics_", "traces_service_graph_",
            "mysql_", "redis_")
BUILTIN = {"up", "ALERTS", "ALERTS_FOR_STATE"}
RECORDED = {r["record"] for p in glob.glob("prometheus/rules/*.yml")
            for g in yaml.safe_load(open(p))["groups"] for r in g["rules"] if "record" in r}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan", "atan2", "start", "end"}

def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)   # strings
    e = re.sub(r"\{[^}]*\}", "", e)                                             # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                                            # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", e):
        name, call = m.group(1), m.group(2)
        if not call and name not in KEYWORDS:
            yield name

def allowed(name):
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return (name in BIBLIO or base in BIBLIO or name in BUILTIN or name in RECORDED
            or name.startswith(PREFIXES))

def grafana_to_promql(expr):
    e = re.sub(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}", "5m", expr)
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:[^}]*)?\}|\$[A-Za-z_][A-Za-z0-9_]*", "x", e)

errors, queries, uids = [], [], {}
known_ds = {d["uid"] for d in yaml.safe_load(open("grafana/provisioning/datasources/biblio.yml"))["datasources"]}

def add_query(where, record, expr):
    # The record name says where the query comes from when promtool rejects it.
    promql = grafana_to_promql(expr)
    queries.append({"record": re.sub(r"[^a-zA-Z0-9_:]", "_", record), "expr": promql})
    for name in metric_names(promql):
        if not allowed(name):
            errors.append(f"{where}: metric {name} is not emitted by anything in the stack")

# Alert and recording rules use the same vocabulary.
for path in sorted(glob.glob("prometheus/rules/*.yml")):
    for g in yaml.safe_load(open(path))["groups"]:
        for r in g["rules"]:
            for name in metric_names(r["expr"]):
                if not allowed(name):
                    errors.append(f"{path}: {r.get('alert') or r.get('record')}: unknown metric {name}")

files = sorted(glob.glob("grafana/dashboards/*.json"))
if not files:
    errors.append("no dashboards in grafana/dashboards/")
for path in files:
    try:
        dash = json.load(open(path))
    except ValueError as e:
        errors.append(f"{path}: not JSON: {e}")
        continue
    for key in ("uid", "title", "panels"):
        if not dash.get(key):
            errors.append(f"{path}: no {key}")
    if dash.get("uid") in uids:
        errors.append(f"{path}: uid {dash['uid']} also used by {uids[dash['uid']]}")
    uids[dash.get("uid")] = path
    ids = set()
    panels = list(dash.get("panels", []))
    for p in list(panels):
        panels.extend(p.get("panels", []))          # panels inside collapsed rows
    count = 0
    for p in panels:
        where = f"{path}: panel {p.get('title')!r}"
        if p.get("id") in ids:
            errors.append(f"{where}: duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        if "gridPos" not in p:
            errors.append(f"{where}: no gridPos")
        ds = (p.get("datasource") or {}).get("uid")
        if ds and ds not in known_ds:
            errors.append(f"{where}: datasource uid {ds} is not provisioned")
        for t in p.get("targets", []):
            if ((t.get("datasource") or {}).get("uid") or ds) not in (None, "prometheus"):
                continue                            # Loki and Tempo: scripts/check-observability.py
            if t.get("expr"):
                add_query(where, f"{dash.get('uid')}:panel_{p.get('id')}:{t.get('refId')}", t["expr"])
                count += 1
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_]\w*)\)\s*", q)
            where = f"{path}: variable {v['name']}"
            add_query(where, f"{dash.get('uid')}:variable_{v['name']}", m.group(1) if m else q)
    print(f"{path}: uid {dash.get('uid')}, {len(panels)} panels, {count} queries")

yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": queries}]}, open(sys.argv[1], "w"))
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
    # Every dashboard query, as a recording rule: promtool parses each expression.
    promtool check rules "$TMP/dashboard-queries.yml"
}
check "dashboards: uid/title/panels, datasources, PromQL parses, known metric names" dashboards

# ------------------------------------------------------------------------------ compose, Dockerfile
section "docker-compose.yml and Dockerfile"

check "check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml" \
    check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

compose_references() {
    python3 - <<'PY'
import os, sys, yaml
doc = yaml.safe_load(open("docker-compose.yml"))
services = doc["services"]
errors = []
for name, s in services.items():
    image = s.get("image", "")
    if "build" not in s and (":" not in image or image.endswith(":latest")):
        errors.append(f"{name}: image {image!r} is not pinned to a version")
    for vol in s.get("volumes", []):
        src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
        if src.startswith("./") and not os.path.exists(src):
            errors.append(f"{name}: mounts {src}, which does not exist")
    deps = s.get("depends_on", {})
    for dep, cond in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
        if dep not in services:
            errors.append(f"{name}: depends on unknown service {dep}")
        elif cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
            errors.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
for name in ("biblio-api-1", "biblio-api-2"):
    env = services[name]["environment"]
    for key in ("BIBLIO_DATABASE_URL", "BIBLIO_REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME",
                "OTEL_RESOURCE_ATTRIBUTES", "BIBLIO_BIND", "BIBLIO_TOKEN_SECRET"):
        if key not in env:
            errors.append(f"{name}: no {key}")
if "--enable-feature=exemplar-storage" not in services["prometheus"]["command"]:
    errors.append("prometheus: exemplar storage is not enabled")
print("\n".join(errors) or f"{len(services)} services: images pinned, mounted files exist, depends_on conditions backed by healthchecks")
sys.exit(1 if errors else 0)
PY
}
check "compose: pinned images, mounted files exist, healthchecks behind depends_on" compose_references

dockerfile_basics() {
    python3 - <<'PY'
import re, sys
text = open("Dockerfile").read()
errors = []
stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
if len(stages) < 2:
    errors.append("not a multi-stage build")
if not stages or not stages[-1][0].startswith("debian:bookworm-slim"):
    errors.append("the runtime stage must be debian:bookworm-slim")
if not re.search(r"cargo build --release[^\n]*-p biblio-api[^\n]*-p biblio-web", text):
    errors.append("no cargo build --release of biblio-api and biblio-web")
if "target/" not in open(".dockerignore").read():
    errors.append(".dockerignore must exclude target/")
print("\n".join(errors) or "multi-stage, release build of both binaries, bookworm-slim runtime")
sys.exit(1 if errors else 0)
PY
}
check "Dockerfile: multi-stage release build, bookworm-slim runtime" dockerfile_basics

check "Kubernetes manifests: kubectl kustomize of every overlay, kubernetes-validate, project rules (scripts/check-kubernetes.py)" python3 scripts/check-kubernetes.py

# ------------------------------------------------------------------------------ signal links
section "Links between signals (scripts/check-observability.py: Loki/Tempo panels, filelog, nginx OTel, sampling)"

check "dashboards' Loki/Tempo panels, datasource links, filelog in a logs pipeline, nginx loads the OTel module" \
    python3 scripts/check-observability.py

# ------------------------------------------------------------------------------ result
echo
echo "configs: $PASSED passed, $FAILED failed"
[[ "$FAILED" -eq 0 ]]
