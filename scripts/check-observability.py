#!/usr/bin/env python3
"""The links between signals, checked statically (no Docker here; Grafana, Loki, Tempo and the
collector are not Debian packages):

    python3 scripts/check-observability.py [--quiet]

- every dashboard panel or query on Loki, Tempo or Jaeger names a provisioned datasource uid
  of that type, and its query is of the right language (LogQL with a service_name selector and
  severity_text, not `| json | level=`; TraceQL);
- the collector's logs pipeline has the filelog receivers, and they read the files nginx writes
  (nginx/compose.d/) in the volume docker-compose.yml mounts in both services;
- nginx loads the OpenTelemetry module in compose: the -otel image, compose.d mounted where the
  template includes it, load_module of ngx_otel_module, an exporter to the collector's OTLP/gRPC
  receiver, trace context propagated; and `nginx -t` passes on the compose rendering with
  compose.d included, the module's own directives left out (Debian's nginx has no module);
- the trace <-> log links: Tempo's and Jaeger's trace-to-logs queries never expand to an empty
  stream selector, Loki's derived fields and Prometheus' exemplars point at Tempo;
- the tail sampling of the collector and the services' sampling agree (slow = 1 s).

Prints one line per check and "observability: N passed, M failed"; exits 1 on any failure.
Needs python3-yaml and, for the nginx check, nginx and envsubst.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
QUIET = "--quiet" in sys.argv
results = []


def check(what):
    def wrap(fn):
        try:
            problems = fn() or []
        except Exception as e:  # a malformed file is a failure of its check, not a crash
            problems = [f"{type(e).__name__}: {e}"]
        results.append((what, problems))
        return fn

    return wrap


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


COMPOSE = load_yaml("docker-compose.yml")
SERVICES = COMPOSE["services"]
DATASOURCES = {d["uid"]: d for d in load_yaml("grafana/provisioning/datasources/biblio.yml")["datasources"]}
COLLECTOR = load_yaml("otel-collector/config.yaml")
LOKI = load_yaml("loki/loki.yaml")
NGINX_DIR = "nginx/compose.d"


def nginx_snippets():
    return {p: open(p).read() for p in sorted(glob.glob(f"{NGINX_DIR}/*.conf"))}


def panels_of(dashboard):
    stack = list(dashboard.get("panels", []))
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        yield panel


def loki_labels():
    """The stream labels Loki makes of OTLP resource attributes (index_label)."""
    labels = set()
    for c in LOKI["limits_config"]["otlp_config"]["resource_attributes"]["attributes_config"]:
        if c["action"] == "index_label":
            labels |= {a.replace(".", "_") for a in c.get("attributes", [])}
    return labels


@check("dashboards: every Loki/Tempo/Jaeger query names a provisioned datasource of its type, in its language")
def dashboards():
    problems, counted = [], 0
    labels = loki_labels()
    for path in sorted(glob.glob("grafana/dashboards/*.json")):
        dash = json.load(open(path))
        for panel in panels_of(dash):
            panel_ds = (panel.get("datasource") or {})
            for target in panel.get("targets", []):
                ds = target.get("datasource") or panel_ds
                uid, kind = ds.get("uid"), ds.get("type")
                if kind in (None, "prometheus") and uid in (None, "prometheus"):
                    continue
                counted += 1
                where = f"{path}: panel {panel.get('title')!r}"
                if uid not in DATASOURCES:
                    problems.append(f"{where}: datasource uid {uid!r} is not provisioned")
                    continue
                if DATASOURCES[uid]["type"] != kind:
                    problems.append(f"{where}: uid {uid} is a {DATASOURCES[uid]['type']} datasource, not {kind}")
                if panel_ds and panel_ds.get("uid") != uid:
                    problems.append(f"{where}: the panel's datasource {panel_ds.get('uid')} differs from its query's {uid}")
                if kind == "loki":
                    expr = target.get("expr", "")
                    selector = re.match(r"\s*\{([^}]*)\}", expr)
                    if not selector or not selector.group(1).strip():
                        problems.append(f"{where}: LogQL {expr!r} has no stream selector")
                    else:
                        for label in re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", selector.group(1)):
                            if label not in labels:
                                problems.append(f"{where}: {label} is not a Loki stream label ({sorted(labels)})")
                    if re.search(r"\|\s*json\b.*\blevel\s*=", expr):
                        problems.append(f"{where}: OTLP logs keep the level in severity_text, not in a JSON body")
                elif kind == "tempo":
                    if target.get("queryType") != "traceql" or not target.get("query", "").strip().startswith("{"):
                        problems.append(f"{where}: a Tempo query should be TraceQL ({target.get('query')!r})")
    if counted == 0:
        problems.append("no dashboard has a Loki or Tempo panel")
    return problems


@check("overview: a Loki logs panel (errors and warnings, trace links) and a Tempo trace search, per service")
def overview():
    dash = json.load(open("grafana/dashboards/biblio-overview.json"))
    kinds = {}
    for panel in panels_of(dash):
        for t in panel.get("targets", []):
            kinds.setdefault((t.get("datasource") or panel.get("datasource") or {}).get("type"), []).append((panel, t))
    problems = []
    logs = [(p, t) for p, t in kinds.get("loki", []) if p["type"] == "logs"]
    if not any("$job" in t.get("expr", "") and "severity_text" in t.get("expr", "") for _, t in logs):
        problems.append("no logs panel on Loki selecting the service ($job) by severity_text")
    traces = [(p, t) for p, t in kinds.get("tempo", [])]
    if not any("$job" in t.get("query", "") and "route" in t.get("query", "") for _, t in traces):
        problems.append("no Tempo search panel on the service ($job) and route ($route)")
    if not any(d.get("datasourceUid") == "tempo" for d in DATASOURCES["loki"]["jsonData"].get("derivedFields", [])):
        problems.append("the Loki datasource has no derived field to Tempo: log lines would have no trace link")
    return problems


@check("datasource links: trace -> logs (Tempo, Jaeger), logs -> trace, exemplar -> trace; no empty selector")
def links():
    problems = []
    for uid in ("tempo", "jaeger"):
        t2l = DATASOURCES[uid]["jsonData"].get("tracesToLogsV2") or {}
        if t2l.get("datasourceUid") != "loki":
            problems.append(f"{uid}: no trace-to-logs link to Loki")
            continue
        query = t2l.get("query", "")
        tags = t2l.get("tags") or []
        # ${__tags} expands to nothing when no mapped tag is on the span: Jaeger never has
        # service.name among a span's tags, so a {${__tags}} selector there is `{}`.
        if "__tags" in query and (uid == "jaeger" or not tags):
            problems.append(f"{uid}: {query!r} expands to an empty selector when no tag is there")
        if "__trace.traceId" not in query:
            problems.append(f"{uid}: the trace-to-logs query does not filter on the trace id")
    exemplars = DATASOURCES["prometheus"]["jsonData"].get("exemplarTraceIdDestinations") or []
    if not any(e.get("datasourceUid") == "tempo" and e.get("name") == "trace_id" for e in exemplars):
        problems.append("prometheus: exemplars' trace_id does not link to Tempo")
    label = next((e.get("urlDisplayLabel") for e in exemplars), None)
    tour = open("docs/OBSERVABILITY.md").read()
    if label and f"**{label}**" not in tour:
        problems.append(f"docs/OBSERVABILITY.md's tour does not name the exemplar button as provisioned: {label!r}")
    return problems


@check("collector: the filelog receivers are in a logs pipeline and read the files nginx writes, in a shared volume")
def filelog():
    problems = []
    receivers = {n: r for n, r in (COLLECTOR.get("receivers") or {}).items() if n.split("/")[0] == "filelog"}
    if not receivers:
        return ["no filelog receiver"]
    in_logs = {r for name, p in COLLECTOR["service"]["pipelines"].items() if name.split("/")[0] == "logs"
               for r in p["receivers"]}
    for name in receivers:
        if name not in in_logs:
            problems.append(f"{name} is in no logs pipeline")
    read = {path for r in receivers.values() for path in r.get("include", [])}
    written = set()
    for text in nginx_snippets().values():
        written |= set(re.findall(r"^\s*(?:access_log|error_log)\s+(/\S+)", text, re.M))
    for path in written - read:
        problems.append(f"nginx writes {path}, which no filelog receiver reads")
    for path in read - written:
        problems.append(f"a filelog receiver reads {path}, which nginx does not write")
    for name, r in receivers.items():
        ops = [o["type"] for o in r.get("operators", [])]
        if not any(o["type"] == "add" and o.get("field") == 'resource["service.name"]' and o.get("value") == "nginx"
                   for o in r.get("operators", [])):
            problems.append(f"{name}: records are not given service.name=nginx")
        if "access" in name and "trace_parser" not in ops:
            problems.append(f"{name}: the access log's trace_id is not made the record's trace id (trace_parser)")
        if not ({"json_parser", "regex_parser"} & set(ops)):
            problems.append(f"{name}: lines are not parsed")
    dirs = {os.path.dirname(p) for p in written}

    def mount_of(service, directory):
        for vol in SERVICES[service].get("volumes", []):
            parts = vol.split(":")
            if len(parts) >= 2 and parts[1] == directory:
                return parts[0]
        return None

    for d in dirs:
        source_nginx, source_collector = mount_of("nginx", d), mount_of("otel-collector", d)
        if not source_nginx or source_nginx != source_collector:
            problems.append(f"{d}: not the same volume in nginx ({source_nginx}) and otel-collector ({source_collector})")
        elif source_nginx not in (COMPOSE.get("volumes") or {}):
            problems.append(f"{d}: {source_nginx} is not a named volume")
    if "otlphttp/loki" not in next(p for n, p in COLLECTOR["service"]["pipelines"].items() if n == "logs")["exporters"]:
        problems.append("the logs pipeline does not export to Loki")
    return problems


@check("nginx (compose): the -otel image loads ngx_otel_module, exports to the collector, propagates trace context")
def nginx_otel():
    problems = []
    nginx = SERVICES["nginx"]
    if not re.fullmatch(r"nginx:\d+\.\d+\.\d+-otel", nginx["image"]):
        problems.append(f"nginx image {nginx['image']!r} is not a pinned nginx:<version>-otel")
    if f"./{NGINX_DIR}:/etc/nginx/{os.path.basename(NGINX_DIR)}:ro" not in nginx.get("volumes", []):
        problems.append(f"docker-compose.yml does not mount ./{NGINX_DIR} at /etc/nginx/{os.path.basename(NGINX_DIR)}")
    template = open("nginx/nginx.conf.template").read()
    http_at = template.index("\nhttp {")
    main_inc = re.search(r"^include\s+compose\.d/\*\.main\.conf;", template, re.M)
    http_inc = re.search(r"^\s+include\s+compose\.d/\*\.http\.conf;", template, re.M)
    if not main_inc or main_inc.start() > http_at:
        problems.append("the template does not include compose.d/*.main.conf in its main context")
    if not http_inc or http_inc.start() < http_at:
        problems.append("the template does not include compose.d/*.http.conf in its http block")
    snippets = nginx_snippets()
    main = "".join(t for p, t in snippets.items() if p.endswith(".main.conf"))
    http = "".join(t for p, t in snippets.items() if p.endswith(".http.conf"))
    if not re.search(r"^load_module\s+/\S*/ngx_otel_module\.so;", main, re.M):
        problems.append("no load_module of ngx_otel_module.so (an absolute path: -p points elsewhere)")
    endpoint = re.search(r"otel_exporter\s*\{[^}]*endpoint\s+(\S+?);", http, re.S)
    grpc = COLLECTOR["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1]
    if not endpoint or endpoint.group(1) != f"otel-collector:{grpc}":
        problems.append(f"otel_exporter does not send to otel-collector:{grpc} (the collector's OTLP/gRPC)")
    if not re.search(r"^otel_trace_context\s+propagate;", http, re.M):
        problems.append("otel_trace_context is not `propagate`: the services' spans would not be nginx's children")
    if not re.search(r"^otel_trace\s+\S+;", http, re.M):
        problems.append("otel_trace is not set: nginx would make no span")
    if not re.search(r"^otel_service_name\s+nginx;", http, re.M):
        problems.append("otel_service_name is not nginx")
    if "otel-collector" not in (nginx.get("depends_on") or {}):
        problems.append("nginx does not start after the collector")
    return problems


@check("nginx -t on the compose rendering with compose.d included (module directives left out)")
def nginx_t():
    if not shutil.which("nginx") or not shutil.which("envsubst"):
        return ["nginx or envsubst missing (Debian packages nginx, gettext-base)"]
    tmp = tempfile.mkdtemp()
    try:
        env = dict(os.environ)
        env.update({k: str(v) for k, v in SERVICES["nginx"]["environment"].items()})
        names = " ".join("${%s}" % n for n in re.findall(r"\$\{([A-Z_0-9]+)\}", open("nginx/nginx.conf.template").read()))
        conf = subprocess.run(["envsubst", names], input=open("nginx/nginx.conf.template").read(), env=env,
                              capture_output=True, text=True, check=True).stdout
        # Upstream host names only resolve inside compose.
        conf = re.sub(r"server\s+[A-Za-z][\w.-]*:(\d+)", r"server 127.0.0.1:\1", conf)
        os.makedirs(f"{tmp}/logs")
        os.makedirs(f"{tmp}/compose.d")
        open(f"{tmp}/nginx.conf", "w").write(conf)
        logdir = f"{tmp}/biblio-nginx"
        os.makedirs(logdir)
        for path, text in nginx_snippets().items():
            # Strip what only the module knows: load_module, otel_* directives and blocks.
            text = re.sub(r"^load_module[^;]*;", "", text, flags=re.M)
            text = re.sub(r"^otel_exporter\s*\{[^}]*\}", "", text, flags=re.M | re.S)
            text = re.sub(r"^otel_\w+[^;]*;", "", text, flags=re.M)
            text = text.replace("/var/log/biblio-nginx", logdir)
            open(f"{tmp}/compose.d/{os.path.basename(path)}", "w").write(text)
        run = subprocess.run(["nginx", "-t", "-p", f"{tmp}/", "-c", f"{tmp}/nginx.conf"], capture_output=True, text=True)
        if run.returncode != 0:
            return [run.stderr.strip()]
        return []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@check("sampling: the collector keeps errors and traces over 1 s, and what the services sampled; compose samples in the SDK")
def sampling():
    problems = []
    tail = (COLLECTOR.get("processors") or {}).get("tail_sampling")
    if not tail:
        return ["no tail_sampling processor"]
    policies = {p["type"]: p for p in tail["policies"]}
    if policies.get("status_code", {}).get("status_code", {}).get("status_codes") != ["ERROR"]:
        problems.append("no status_code ERROR policy")
    if policies.get("latency", {}).get("latency", {}).get("threshold_ms") != 1000:
        problems.append("no latency policy at 1000 ms (the services' slow threshold)")
    values = policies.get("string_attribute", {}).get("string_attribute", {}).get("values", [])
    if set(values) != {"biblio-web", "biblio-api"}:
        problems.append("traces the services sampled are not kept (string_attribute on service.name)")
    pipelines = COLLECTOR["service"]["pipelines"]
    sampled = [n for n, p in pipelines.items() if "tail_sampling" in p.get("processors", [])]
    for n in sampled:
        if set(pipelines[n]["exporters"]) != {"otlp/tempo", "otlp/jaeger"}:
            problems.append(f"{n}: tail sampling should feed Tempo and Jaeger only")
    if not any({"spanmetrics", "servicegraph"} <= set(p["exporters"]) for n, p in pipelines.items() if n not in sampled):
        problems.append("span metrics and the service graph should see every span, before tail sampling")
    ttl = COLLECTOR["connectors"]["servicegraph"]["store"]["ttl"]
    if int(ttl.rstrip("s")) <= 5:
        problems.append(f"servicegraph store ttl {ttl}: not longer than the services' batch delay")
    anchor = COMPOSE.get("x-biblio-env") or {}
    if anchor.get("OTEL_TRACES_SAMPLER") != "traceidratio" or not anchor.get("OTEL_TRACES_SAMPLER_ARG"):
        problems.append("compose: the services do not sample by trace id (OTEL_TRACES_SAMPLER=traceidratio)")
    telemetry = open("common/src/telemetry.rs").read()
    if "SLOW_REQUEST: Duration = Duration::from_secs(1)" not in telemetry:
        problems.append("common/src/telemetry.rs: the services' slow threshold is not 1 s")
    tempo = load_yaml("tempo/tempo.yaml")
    if (tempo.get("usage_report") or {}).get("reporting_enabled") is not False:
        problems.append("tempo: usage reporting is on")
    return problems


failed = 0
for what, problems in results:
    if problems:
        failed += 1
        print(f"  FAIL  {what}")
        for p in problems:
            print(f"        {p}")
    elif not QUIET:
        print(f"  ok    {what}")
print(f"observability: {len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
