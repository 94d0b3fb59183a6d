#!/usr/bin/env python3
"""Checks deploy/kubernetes/ offline: renders every kustomization, validates every object
against the Kubernetes schemas, and runs the project's own rules on what was rendered.

    python3 scripts/check-kubernetes.py          # from anywhere; VERBOSE=1 for every detail

scripts/check-configs.sh runs it with the Python of target/tools/venv (see xtask/src/test.rs),
which has kubernetes-validate (PyPI, pinned there) and PyYAML. kubectl renders the overlays
(`kubectl kustomize --load-restrictor LoadRestrictionsNone`, kustomize v5); if it is missing,
this script installs the Debian package kubectl, else kubernetes-client. No cluster is
contacted. nginx, promtool and amtool, when present (check-configs.sh requires them), also
check the nginx config start.sh renders, the Kubernetes Prometheus config and the Alertmanager
config the dev overlay's start command produces.

What it checks, for base/ and every overlay:
  - each kustomization renders; every object validates, strictly (no unknown fields), against
    the schemas of Kubernetes SCHEMA_VERSIONS shipped by kubernetes-validate;
  - every container of a Deployment, DaemonSet or StatefulSet has liveness and readiness
    probes; every container anywhere has CPU and memory requests and limits and a non-root,
    read-only, no-escalation, ALL-capabilities-dropped, RuntimeDefault-seccomp context;
  - every image has a version tag, never `latest`; upstream images carry the tag
    docker-compose.yml pins, the Biblio image the workspace version;
  - every generated ConfigMap holds exactly the repository file it comes from (and every file
    of the directories shipped whole: rules, dashboards, templates); no Secret is rendered
    (they are created by hand), and README.md names every Secret key the manifests read;
  - references resolve: volumes and ConfigMaps, Service selectors and target ports, probe
    ports, autoscaler and disruption-budget targets, NetworkPolicy selectors;
  - the SIGTERM sequence fits: preStop + BIBLIO_SHUTDOWN_DRAIN_MS + BIBLIO_SHUTDOWN_TIMEOUT_SECS
    (nginx: preStop + proxy_read_timeout) below terminationGracePeriodSeconds;
  - nginx/start.sh renders the repository's nginx template (nginx -t when nginx is here);
  - the collector agent routes traces by trace ID to a headless gateway Service, and each
    collector's memory_limiter fits its container's limit; the services' OTLP endpoint is the
    node-local agent;
  - the NetworkPolicies, evaluated flow by flow: the flows the stack needs are allowed, and
    only biblio-api (and the datastore exporters) reaches MySQL and Redis, only nginx (and the
    metrics scraper) the web and the API; the destination's own ingress rules must refuse what
    is denied, whatever the source's egress rules say; members' emails: dev's BIBLIO_SMTP_URL
    names the notification sink's SMTP port, which only the API and Alertmanager reach, and in
    production only the API reaches an SMTP relay (ports 25 and 587);
  - overlay rules: dev's Prometheus jobs are the repository's; production has the CPU and
    in-flight autoscaler (with its adapter rule), disruption budgets, topology spread, external
    data stores and back ends, and a MySQL connection budget that covers maxReplicas.

Prints one line per check, ends with "kubernetes: N passed, M failed", exits 1 on a failure.
"""

from __future__ import annotations

import copy
import glob
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = {
    "base": K8S / "base",
    "dev": K8S / "overlays" / "dev",
    "production": K8S / "overlays" / "production",
}
# The oldest Kubernetes the manifests are meant for and the newest schemas kubernetes-validate
# (pinned in xtask/src/test.rs) ships: every object must be valid in both.
SCHEMA_VERSIONS = ("1.32.0", "1.37.0")
NAMESPACE = "biblio"
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")
POD_KINDS = WORKLOAD_KINDS + ("Job",)
VERBOSE = bool(os.environ.get("VERBOSE"))

# Which ConfigMap key must hold which file, per kustomization ("*": all of them). Directories
# shipped whole are globs: every file in them, and nothing else, must be in the ConfigMap.
CONFIGMAP_SOURCES = {
    "*": {
        ("nginx", "nginx.conf.template"): "nginx/nginx.conf.template",
        ("nginx", "start.sh"): "deploy/kubernetes/base/nginx/start.sh",
        ("otel-gateway", "config.yaml"): "otel-collector/config.yaml",
        ("otel-agent", "config.yaml"): "deploy/kubernetes/base/otel-agent/config.yaml",
    },
    "dev": {
        ("prometheus", "prometheus.yml"): "deploy/kubernetes/overlays/dev/prometheus/prometheus.yml",
        ("prometheus-rules", "*"): "prometheus/rules/*.yml",
        ("alertmanager", "alertmanager.yml"): "alertmanager/alertmanager.yml",
        ("alertmanager", "*.tmpl"): "alertmanager/templates/*.tmpl",
        ("notification-sink", "notification-sink.py"): "alertmanager/notification-sink.py",
        ("tempo", "tempo.yaml"): "tempo/tempo.yaml",
        ("loki", "loki.yaml"): "loki/loki.yaml",
        ("grafana-datasources", "biblio.yml"): "grafana/provisioning/datasources/biblio.yml",
        ("grafana-dashboard-providers", "biblio.yml"): "grafana/provisioning/dashboards/biblio.yml",
        ("grafana-dashboards", "*"): "grafana/dashboards/*.json",
    },
}


# ------------------------------------------------------------------------------ reporting

PASSED = 0
FAILED = 0


def report(what: str, errors: list[str], notes: list[str] | None = None) -> None:
    global PASSED, FAILED
    if errors:
        FAILED += 1
        print(f"  FAIL  {what}")
        for e in errors:
            print(f"        {e}")
    else:
        PASSED += 1
        print(f"  ok    {what}")
    if VERBOSE or errors:
        for n in notes or []:
            print(f"        {n}")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ------------------------------------------------------------------------------ helpers

def base_name(name: str) -> str:
    """A generated ConfigMap's name without kustomize's content-hash suffix."""
    return re.sub(r"-[a-z0-9]{10}$", "", name)


def pod_spec(obj: dict) -> dict | None:
    if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if obj["kind"] == "Pod":
        return obj["spec"]
    return None


def pod_labels(obj: dict) -> dict:
    return obj["spec"]["template"]["metadata"].get("labels", {})


def workloads(docs: list[dict], kinds=POD_KINDS) -> list[dict]:
    return [d for d in docs if d["kind"] in kinds]


def containers(spec: dict, init: bool = True) -> list[dict]:
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against a label set; {} matches all."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def quantity(value) -> float:
    """A Kubernetes quantity as a number (CPU in cores, memory in bytes)."""
    s = str(value)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}
    for suffix, factor in units.items():
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * factor
    return float(s)


def prestop_sleep(container: dict) -> float:
    """Seconds a preStop hook waits before anything else: `sleep N` or the sleep action."""
    pre = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre:
        return float(pre["sleep"]["seconds"])
    cmd = (pre.get("exec") or {}).get("command") or []
    if cmd[:1] == ["sleep"] and len(cmd) == 2:
        return float(cmd[1])
    m = re.match(r"\s*sleep\s+(\d+(?:\.\d+)?)\s*;", cmd[-1]) if cmd else None
    return float(m.group(1)) if m else 0.0


# ------------------------------------------------------------------------------ kubectl

def ensure_kubectl() -> list[str]:
    """kubectl with kustomize v5, installed from Debian if missing. Returns errors."""
    if not shutil.which("kubectl"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for attempt in ("install", "update-then-install"):
            if attempt == "update-then-install":
                run(["apt-get", "update", "-qq"], env=env)
            for package in ("kubectl", "kubernetes-client"):
                run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], env=env)
                if shutil.which("kubectl"):
                    break
            if shutil.which("kubectl"):
                break
        if not shutil.which("kubectl"):
            return ["kubectl not found and neither Debian package kubectl nor kubernetes-client "
                    "could be installed: install kubectl (1.27 or newer)"]
    out = run(["kubectl", "version", "--client", "-o", "json"])
    try:
        versions = json.loads(out.stdout)
    except ValueError:
        return [f"kubectl version --client failed: {out.stderr.strip()}"]
    kustomize = versions.get("kustomizeVersion", "")
    m = re.match(r"v(\d+)", kustomize)
    if not m or int(m.group(1)) < 5:
        client = versions.get("clientVersion", {}).get("gitVersion", "?")
        return [f"kubectl {client} embeds kustomize {kustomize or '(none)'}; these manifests need "
                "kustomize v5 (kubectl 1.27 or newer, e.g. from pkgs.k8s.io)"]
    return []


def render(path: Path) -> tuple[list[dict], str]:
    out = run(["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(path)])
    if out.returncode != 0:
        return [], out.stderr.strip() or out.stdout.strip()
    return [d for d in yaml.safe_load_all(out.stdout) if d], ""


# ------------------------------------------------------------------------------ checks

def check_schemas(docs: list[dict]) -> tuple[list[str], list[str]]:
    import kubernetes_validate
    from kubernetes_validate import utils as kv

    errors, notes = [], []
    for version in SCHEMA_VERSIONS:
        for d in docs:
            what = f"{d['kind']}/{d['metadata']['name']}"
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                errors.append(f"{what} (Kubernetes {version}): {path}: {e.message}")
            except kv.SchemaNotFoundError:
                errors.append(f"{what}: no schema for {d['apiVersion']} in Kubernetes {version}")
        notes.append(f"{len(docs)} objects valid against Kubernetes {version} (strict)")
    return errors, notes


def effective(container: dict, spec: dict, key: str):
    """A security setting of a container, falling back to the pod's."""
    csc = container.get("securityContext") or {}
    if key in csc:
        return csc[key]
    return (spec.get("securityContext") or {}).get(key)


def check_workloads(docs: list[dict]) -> list[str]:
    errors = []
    for w in workloads(docs):
        spec = pod_spec(w)
        where = f"{w['kind']}/{w['metadata']['name']}"
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                errors.append(f"{where}: {flag}")
        for v in spec.get("volumes", []):
            if "hostPath" in v:
                errors.append(f"{where}: hostPath volume {v['name']}")
        for c in containers(spec):
            cw = f"{where} container {c['name']}"
            is_init = c in spec.get("initContainers", [])
            if w["kind"] in WORKLOAD_KINDS and not is_init:
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in c:
                        errors.append(f"{cw}: no {probe}")
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(kind) or {}):
                        errors.append(f"{cw}: no {r} {kind[:-1]}")
            for r in ("cpu", "memory"):
                req, lim = (res.get("requests") or {}).get(r), (res.get("limits") or {}).get(r)
                if req and lim and quantity(req) > quantity(lim):
                    errors.append(f"{cw}: {r} request {req} above its limit {lim}")
            if effective(c, spec, "runAsNonRoot") is not True:
                errors.append(f"{cw}: runAsNonRoot is not true")
            if effective(c, spec, "runAsUser") == 0:
                errors.append(f"{cw}: runAsUser 0")
            csc = c.get("securityContext") or {}
            if csc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{cw}: readOnlyRootFilesystem is not true")
            if csc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{cw}: allowPrivilegeEscalation is not false")
            if csc.get("privileged"):
                errors.append(f"{cw}: privileged")
            caps = csc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                errors.append(f"{cw}: capabilities do not drop ALL")
            if caps.get("add"):
                errors.append(f"{cw}: adds capabilities {caps['add']}")
            seccomp = (effective(c, spec, "seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                errors.append(f"{cw}: seccompProfile is {seccomp or 'unset'}, not RuntimeDefault")
            for p in c.get("ports", []):
                if "hostPort" in p:
                    errors.append(f"{cw}: hostPort {p['hostPort']}")
    return errors


def compose_pins() -> dict[str, str]:
    services = yaml.safe_load(open(ROOT / "docker-compose.yml"))["services"]
    pins = {}
    for s in services.values():
        if "build" not in s and ":" in s.get("image", ""):
            repo, tag = s["image"].rsplit(":", 1)
            pins[repo] = tag
    return pins


def workspace_version() -> str:
    text = open(ROOT / "Cargo.toml").read()
    m = re.search(r"^\[workspace\.package\][^\[]*?^version\s*=\s*\"([^\"]+)\"", text, re.M | re.S)
    return m.group(1) if m else ""


def check_images(docs: list[dict]) -> tuple[list[str], list[str]]:
    errors, seen = [], set()
    pins, version = compose_pins(), workspace_version()
    for w in workloads(docs):
        for c in containers(pod_spec(w)):
            image = c["image"]
            seen.add(image)
            where = f"{w['kind']}/{w['metadata']['name']} container {c['name']}"
            name, _, digest = image.partition("@")
            last = name.rsplit("/", 1)[-1]
            if ":" not in last and not digest:
                errors.append(f"{where}: image {image} has no tag")
                continue
            repo, tag = name.rsplit(":", 1) if ":" in last else (name, "")
            if tag == "latest":
                errors.append(f"{where}: image {image} uses latest")
            if repo == "biblio" or repo.endswith("/biblio"):
                if tag != version:
                    errors.append(f"{where}: Biblio image tag {tag!r}, the workspace version is {version!r}")
            elif repo in pins:
                if tag != pins[repo]:
                    errors.append(f"{where}: {repo}:{tag}, but docker-compose.yml pins {repo}:{pins[repo]}")
            else:
                errors.append(f"{where}: image {image} is not one docker-compose.yml runs")
    return errors, [f"images: {', '.join(sorted(seen))}"]


def expected_sources(overlay: str) -> dict[tuple[str, str], str]:
    expected = dict(CONFIGMAP_SOURCES["*"])
    expected.update(CONFIGMAP_SOURCES.get(overlay, {}))
    return expected


def check_configmaps(overlay: str, docs: list[dict]) -> tuple[list[str], list[str]]:
    errors, notes = [], []
    maps = {base_name(d["metadata"]["name"]): d for d in docs if d["kind"] == "ConfigMap"}
    expected = expected_sources(overlay)
    covered: dict[str, set] = {}
    for (cm, key), source in sorted(expected.items()):
        if "*" in source:
            files = sorted(glob.glob(str(ROOT / source)))
            if not files:
                errors.append(f"{source}: no files")
            wanted = {Path(f).name: Path(f) for f in files}
        else:
            wanted = {key: ROOT / source}
        if cm not in maps:
            errors.append(f"ConfigMap {cm} is missing (it must be generated from {source})")
            continue
        data = maps[cm].get("data", {})
        for k, path in wanted.items():
            covered.setdefault(cm, set()).add(k)
            rel = path.relative_to(ROOT)
            if k not in data:
                errors.append(f"ConfigMap {cm} has no {k}: add {rel} to its configMapGenerator")
            elif data[k] != path.read_text():
                errors.append(f"ConfigMap {cm} key {k} differs from {rel}: generate it from the file, do not copy it")
    for name, d in maps.items():
        if name not in covered:
            errors.append(f"ConfigMap {name} comes from no known file: generate it from one and list it in "
                          "scripts/check-kubernetes.py (CONFIGMAP_SOURCES)")
            continue
        for k in d.get("data", {}):
            if k not in covered[name]:
                errors.append(f"ConfigMap {name} key {k} comes from no repository file (removed from it, or "
                              "added by hand)")
        size = sum(len(v.encode()) for v in d.get("data", {}).values())
        if size > 900 * 1024:
            errors.append(f"ConfigMap {name}: {size} bytes, too close to the 1 MiB limit")
        notes.append(f"{d['metadata']['name']}: {', '.join(sorted(d.get('data', {})))}")
    return errors, notes


def readme_kubernetes_section() -> str:
    text = open(ROOT / "README.md").read()
    m = re.search(r"^## Deploying on Kubernetes\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return m.group(1) if m else ""


def secret_refs(docs: list[dict]) -> list[tuple[str, str, bool, str]]:
    refs = []
    for w in workloads(docs):
        spec = pod_spec(w)
        for c in containers(spec):
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.append((ref["name"], ref["key"], bool(ref.get("optional")), w["metadata"]["name"]))
            for ef in c.get("envFrom", []):
                if "secretRef" in ef:
                    refs.append((ef["secretRef"]["name"], "*", bool(ef["secretRef"].get("optional")), w["metadata"]["name"]))
        for v in spec.get("volumes", []):
            if "secret" in v:
                refs.append((v["secret"]["secretName"], "*", bool(v["secret"].get("optional")), w["metadata"]["name"]))
    return refs


def check_secrets(docs: list[dict]) -> tuple[list[str], list[str]]:
    errors = []
    for d in docs:
        if d["kind"] == "Secret":
            errors.append(f"Secret {d['metadata']['name']} is rendered: secrets are created by hand, "
                          "never committed with values (README.md, \"Deploying on Kubernetes\")")
    section = readme_kubernetes_section()
    if not section:
        errors.append('README.md has no "## Deploying on Kubernetes" section')
    refs = secret_refs(docs)
    for name, key, optional, who in sorted(set(refs)):
        if key == "*":
            errors.append(f"{who}: reads all of Secret {name}: name each key (secretKeyRef)")
        elif section and (f"`{key}`" not in section or name not in section):
            errors.append(f"{who}: Secret {name} key {key} is not named in README.md's Kubernetes section")
    notes = sorted({f"{n}/{k}{' (optional)' if o else ''}" for n, k, o, _ in refs})
    return errors, notes


def check_references(docs: list[dict]) -> list[str]:
    errors = []
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    configmaps = by_kind.get("ConfigMap", {})
    pods = workloads(docs)
    for w in pods:
        spec = pod_spec(w)
        where = f"{w['kind']}/{w['metadata']['name']}"
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claim_templates = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        for v in volumes.values():
            if "configMap" in v:
                cm = configmaps.get(v["configMap"]["name"])
                if not cm and not v["configMap"].get("optional"):
                    errors.append(f"{where}: volume {v['name']}: no ConfigMap {v['configMap']['name']}")
                for item in v["configMap"].get("items", []):
                    if cm and item["key"] not in cm.get("data", {}):
                        errors.append(f"{where}: volume {v['name']}: ConfigMap has no key {item['key']}")
        for c in containers(spec):
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes and m["name"] not in claim_templates:
                    errors.append(f"{where} container {c['name']}: mounts unknown volume {m['name']}")
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and ref["key"] not in configmaps.get(ref["name"], {}).get("data", {}):
                    errors.append(f"{where}: env {e['name']}: no ConfigMap key {ref['name']}/{ref['key']}")
            for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c.get(probe_name) or {}
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    port = (probe.get(handler) or {}).get("port")
                    if isinstance(port, str) and port not in ports:
                        errors.append(f"{where} container {c['name']}: {probe_name} port {port} is not a named port")
                    if isinstance(port, int) and port not in ports.values():
                        errors.append(f"{where} container {c['name']}: {probe_name} port {port} is not declared")
    for svc in by_kind.get("Service", {}).values():
        spec = svc["spec"]
        if spec.get("type") == "ExternalName" or not spec.get("selector"):
            continue
        matching = [w for w in pods if w["kind"] != "Job" and selector_matches({"matchLabels": spec["selector"]}, pod_labels(w))]
        if not matching:
            errors.append(f"Service/{svc['metadata']['name']}: its selector matches no workload")
        for p in spec.get("ports", []):
            target = p.get("targetPort", p["port"])
            for w in matching:
                cports = [cp for c in pod_spec(w)["containers"] for cp in c.get("ports", [])]
                ok = any(cp.get("name") == target for cp in cports) if isinstance(target, str) \
                    else any(cp["containerPort"] == target for cp in cports)
                if not ok:
                    errors.append(f"Service/{svc['metadata']['name']}: port {p.get('name', p['port'])}: "
                                  f"{w['kind']}/{w['metadata']['name']} has no container port {target}")
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["name"] not in by_kind.get(ref["kind"], {}):
            errors.append(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: no {ref['kind']}/{ref['name']}")
    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        if not any(selector_matches(pdb["spec"]["selector"], pod_labels(w)) for w in pods if w["kind"] != "Job"):
            errors.append(f"PodDisruptionBudget/{pdb['metadata']['name']}: its selector matches no workload")
    for np in by_kind.get("NetworkPolicy", {}).values():
        sel = np["spec"]["podSelector"]
        if sel and not any(selector_matches(sel, pod_labels(w)) for w in pods):
            errors.append(f"NetworkPolicy/{np['metadata']['name']}: its podSelector matches no workload")
    return errors


def check_shutdown(docs: list[dict]) -> tuple[list[str], list[str]]:
    errors, notes = [], []
    template = (ROOT / "nginx" / "nginx.conf.template").read_text()
    m = re.search(r"^\s*proxy_read_timeout\s+(\d+)s;", template, re.M)
    read_timeout = int(m.group(1)) if m else 60
    for w in workloads(docs, WORKLOAD_KINDS):
        spec = pod_spec(w)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        for c in spec["containers"]:
            where = f"{w['kind']}/{w['metadata']['name']} container {c['name']}"
            image = c["image"].split("@")[0].rsplit(":", 1)[0]
            if image == "biblio" or image.endswith("/biblio"):
                env = env_of(c)
                missing = [k for k in ("BIBLIO_SHUTDOWN_DRAIN_MS", "BIBLIO_SHUTDOWN_TIMEOUT_SECS") if env.get(k) is None]
                if missing:
                    errors.append(f"{where}: set {', '.join(missing)} (the drain is fitted to the grace period)")
                    continue
                sleep = prestop_sleep(c)
                if sleep <= 0:
                    errors.append(f"{where}: no preStop delay before SIGTERM")
                need = sleep + int(env["BIBLIO_SHUTDOWN_DRAIN_MS"]) / 1000 + int(env["BIBLIO_SHUTDOWN_TIMEOUT_SECS"]) + 2
                notes.append(f"{where}: preStop {sleep:g} s + drain {env['BIBLIO_SHUTDOWN_DRAIN_MS']} ms + "
                             f"timeout {env['BIBLIO_SHUTDOWN_TIMEOUT_SECS']} s + 2 s = {need:g} s <= {grace} s")
                if need > grace:
                    errors.append(f"{where}: preStop {sleep:g} s + drain + in-flight timeout + 2 s = {need:g} s "
                                  f"exceeds terminationGracePeriodSeconds {grace}")
            elif image == "nginx":
                sleep = prestop_sleep(c)
                pre = " ".join(((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command", []))
                if "QUIT" not in pre:
                    errors.append(f"{where}: preStop must ask nginx for its graceful stop (SIGQUIT); "
                                  "SIGTERM is its fast one")
                need = sleep + read_timeout + 2
                notes.append(f"{where}: preStop {sleep:g} s + proxy_read_timeout {read_timeout} s + 2 s = {need:g} s <= {grace} s")
                if need > grace:
                    errors.append(f"{where}: preStop {sleep:g} s + proxy_read_timeout {read_timeout} s + 2 s "
                                  f"exceeds terminationGracePeriodSeconds {grace}")
    return errors, notes


def find(docs, kind, name):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    return None


def find_configmap(docs, name):
    for d in docs:
        if d["kind"] == "ConfigMap" and base_name(d["metadata"]["name"]) == name:
            return d
    return None


def service_port(docs, host_port: str) -> str | None:
    """Checks that "name:port" names a Service of the overlay with that port; returns an error."""
    host, _, port = host_port.partition(":")
    svc = find(docs, "Service", host)
    if not svc:
        return f"{host_port}: no Service {host}"
    if svc["spec"].get("type") == "ExternalName":
        return None
    if port and int(port) not in [p["port"] for p in svc["spec"].get("ports", [])]:
        return f"{host_port}: Service {host} has no port {port}"
    return None


def check_nginx(docs: list[dict]) -> tuple[list[str], list[str]]:
    errors, notes = [], []
    deploy = find(docs, "Deployment", "nginx")
    cm = find_configmap(docs, "nginx")
    if not deploy or not cm:
        return ["no nginx Deployment or ConfigMap"], notes
    c = next(c for c in pod_spec(deploy)["containers"] if c["name"] == "nginx")
    env = env_of(c)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "nginx.conf.template").write_text(cm["data"]["nginx.conf.template"])
        (t / "start.sh").write_text(cm["data"]["start.sh"])
        (t / "resolv.conf").write_text(f"search {NAMESPACE}.svc.cluster.local svc.cluster.local cluster.local\n"
                                       "nameserver 10.96.0.10\noptions ndots:5\n")
        cpu_limit = ((c.get("resources") or {}).get("limits") or {}).get("cpu", "1")
        workers = str(max(1, int(-(-quantity(cpu_limit) // 1))))
        run_env = {k: v for k, v in env.items() if v is not None}
        run_env.update(PATH=os.environ["PATH"], NGINX_TEMPLATE=str(t / "nginx.conf.template"),
                       NGINX_PREFIX=f"{t}/prefix/", NGINX_RESOLV_CONF=str(t / "resolv.conf"),
                       NGINX_WORKER_PROCESSES=workers)
        out = run(["sh", str(t / "start.sh"), "--render-only"], env=run_env)
        if out.returncode != 0:
            return [f"start.sh --render-only: {out.stderr.strip()}"], notes
        conf = (t / "prefix" / "nginx.conf").read_text()
        servers = re.findall(r"^\s*server\s+([A-Za-z0-9.-]+):(\d+)\s+([^;]*);", conf, re.M)
        if not re.search(r"^\s*resolver \S+ valid=5s;", conf, re.M):
            errors.append("rendered nginx.conf has no resolver")
        for upstream in re.findall(r"upstream (\w+) \{", conf):
            if not re.search(rf"upstream {upstream} \{{\s*zone {upstream} ", conf):
                errors.append(f"upstream {upstream} has no zone (resolve needs one)")
        if f"worker_processes {workers};" not in conf:
            errors.append(f"worker_processes is not the CPU limit ({workers})")
        suffix = f".{NAMESPACE}.svc.cluster.local"
        for host, port, params in servers:
            short = host[: -len(suffix)] if host.endswith(suffix) else host
            problem = service_port(docs, f"{short}:{port}")
            if problem:
                errors.append(f"nginx upstream server {problem}")
                continue
            svc = find(docs, "Service", short)
            headless = svc["spec"].get("clusterIP") == "None"
            if headless and "resolve" not in params.split():
                errors.append(f"upstream server {short}: a headless Service must be re-resolved (resolve)")
            if "resolve" in params.split() and headless and not svc["spec"].get("publishNotReadyAddresses"):
                errors.append(f"Service {short}: nginx keeps its own health view; list not-ready pods "
                              "(publishNotReadyAddresses) or a MySQL outage leaves nginx no API replica")
        notes.append(f"upstream servers: {', '.join(f'{h}:{p} {q}' for h, p, q in servers)}")
        if shutil.which("nginx"):
            # Debian's nginx predates `resolve` (1.27.3): check everything else with it.
            test = re.sub(r"\s+resolve(?=[\s;])", "", conf)
            test = re.sub(r"(server\s+)[A-Za-z0-9.-]+\.svc\.cluster\.local:", r"\g<1>127.0.0.1:", test)
            (t / "prefix" / "logs").mkdir(exist_ok=True)
            (t / "prefix" / "test.conf").write_text(test)
            out = run(["nginx", "-t", "-p", f"{t}/prefix/", "-c", f"{t}/prefix/test.conf", "-e", "stderr"])
            if out.returncode != 0:
                errors.append(f"nginx -t: {out.stderr.strip()}")
            else:
                notes.append("nginx -t: ok (with `resolve` removed: Debian's nginx predates it)")
        else:
            notes.append("nginx not installed: nginx -t skipped")
    web = find(docs, "Deployment", "biblio-web")
    if web:
        url = env_of(pod_spec(web)["containers"][0]).get("BIBLIO_API_URL", "")
        m = re.fullmatch(r"http://([a-z0-9-]+):(\d+)/?", url)
        problem = service_port(docs, f"{m.group(1)}:{m.group(2)}") if m else f"BIBLIO_API_URL {url!r}"
        if problem:
            errors.append(f"biblio-web BIBLIO_API_URL: {problem}")
    return errors, notes


def memory_limiter_fits(config: dict, container: dict, where: str) -> list[str]:
    limiter = (config.get("processors") or {}).get("memory_limiter")
    if not limiter:
        return [f"{where}: no memory_limiter"]
    memory = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if not memory:
        return [f"{where}: no memory limit for the memory_limiter to fit under"]
    limit = quantity(memory) / 2**20
    if limiter.get("limit_mib", 0) >= limit:
        return [f"{where}: memory_limiter limit_mib {limiter.get('limit_mib')} is not below the "
                f"container's memory limit ({limit:g} MiB)"]
    return []


def pipeline_errors(cfg: dict, where: str) -> list[str]:
    errors = []
    defined = {k: set((cfg.get(k) or {}).keys()) for k in ("receivers", "processors", "exporters", "connectors", "extensions")}
    for name, p in cfg["service"]["pipelines"].items():
        for r in p["receivers"]:
            if r not in defined["receivers"] | defined["connectors"]:
                errors.append(f"{where}: pipeline {name}: receiver {r} is not defined")
        for proc in p.get("processors", []):
            if proc not in defined["processors"]:
                errors.append(f"{where}: pipeline {name}: processor {proc} is not defined")
        if p.get("processors") and p["processors"][0] != "memory_limiter":
            errors.append(f"{where}: pipeline {name}: memory_limiter must come first")
        for e in p["exporters"]:
            if e not in defined["exporters"] | defined["connectors"]:
                errors.append(f"{where}: pipeline {name}: exporter {e} is not defined")
    return errors


def check_collectors(docs: list[dict], backends: bool) -> tuple[list[str], list[str]]:
    """backends: whether the overlay provides the gateway's back ends (the base alone does not)."""
    errors, notes = [], []
    agent_ds = find(docs, "DaemonSet", "otel-agent")
    gateway = find(docs, "Deployment", "otel-gateway")
    agent_cm, gateway_cm = find_configmap(docs, "otel-agent"), find_configmap(docs, "otel-gateway")
    if not (agent_ds and gateway and agent_cm and gateway_cm):
        return ["the otel-agent DaemonSet, the otel-gateway Deployment and their ConfigMaps must all exist"], notes
    agent = yaml.safe_load(agent_cm["data"]["config.yaml"])
    gw = yaml.safe_load(gateway_cm["data"]["config.yaml"])
    errors += pipeline_errors(agent, "agent") + pipeline_errors(gw, "gateway")
    traces = agent["service"]["pipelines"].get("traces", {}).get("exporters", [])
    lb = [e for e in traces if e.split("/")[0] == "loadbalancing"]
    if traces != lb or not lb:
        errors.append(f"agent: traces must leave only through the loadbalancing exporter, not {traces}")
    for e in lb:
        cfg = agent["exporters"][e]
        if cfg.get("routing_key") != "traceID":
            errors.append(f"agent: {e}: routing_key must be traceID (whole traces per gateway)")
        dns = (cfg.get("resolver") or {}).get("dns") or {}
        svc = find(docs, "Service", dns.get("hostname", ""))
        if not svc:
            errors.append(f"agent: {e}: resolver.dns.hostname {dns.get('hostname')!r} is not a Service")
        else:
            if svc["spec"].get("clusterIP") != "None":
                errors.append(f"agent: {e}: Service {svc['metadata']['name']} must be headless (clusterIP None) "
                              "so DNS returns every gateway pod")
            if not selector_matches({"matchLabels": svc["spec"]["selector"]}, pod_labels(gateway)):
                errors.append(f"agent: Service {svc['metadata']['name']} does not select the gateway pods")
            if int(dns.get("port", 4317)) not in [p["port"] for p in svc["spec"]["ports"]]:
                errors.append(f"agent: {e}: port {dns.get('port')} is not a port of {svc['metadata']['name']}")
    for name, cfg in (agent.get("exporters") or {}).items():
        m = re.fullmatch(r"dns:///([a-z0-9-]+):(\d+)", str((cfg or {}).get("endpoint", "")))
        if m:
            problem = service_port(docs, f"{m.group(1)}:{m.group(2)}")
            if problem:
                errors.append(f"agent: {name}: {problem}")
    errors += memory_limiter_fits(agent, pod_spec(agent_ds)["containers"][0], "agent")
    errors += memory_limiter_fits(gw, pod_spec(gateway)["containers"][0], "gateway")
    # The repository's gateway config names its back ends by Service name.
    for name, cfg in (gw.get("exporters") or {}).items():
        endpoint = str((cfg or {}).get("endpoint", ""))
        m = re.match(r"(?:https?://)?([a-z0-9-]+):(\d+)", endpoint)
        if backends and m and m.group(1) not in ("0", "localhost"):
            problem = service_port(docs, f"{m.group(1)}:{m.group(2)}")
            if problem:
                errors.append(f"gateway exporter {name}: {problem}")
    agent_svc = find(docs, "Service", "otel-agent")
    if not agent_svc or agent_svc["spec"].get("internalTrafficPolicy") != "Local":
        errors.append("Service otel-agent must keep traffic on the node (internalTrafficPolicy: Local)")
    for w in workloads(docs, ("Deployment",)):
        for c in pod_spec(w)["containers"]:
            endpoint = env_of(c).get("OTEL_EXPORTER_OTLP_ENDPOINT")
            if endpoint and not re.fullmatch(r"http://otel-agent:431[78]", endpoint):
                errors.append(f"Deployment/{w['metadata']['name']}: OTLP endpoint {endpoint} is not the node's agent")
            if endpoint and "$(POD_NAME)" not in (env_of(c).get("OTEL_RESOURCE_ATTRIBUTES") or ""):
                errors.append(f"Deployment/{w['metadata']['name']}: service.instance.id should be the pod name")
    notes.append(f"agent traces -> {lb}, gateway exporters -> {sorted(gw.get('exporters', {}))}")
    return errors, notes


def check_dev(docs: list[dict]) -> tuple[list[str], list[str]]:
    errors, notes = [], []
    repo = yaml.safe_load(open(ROOT / "prometheus" / "prometheus.yml"))
    cm = find_configmap(docs, "prometheus")
    k8s = yaml.safe_load(cm["data"]["prometheus.yml"]) if cm else {}
    jobs = lambda c: sorted(s["job_name"] for s in c.get("scrape_configs", []))
    if jobs(k8s) != jobs(repo):
        errors.append(f"Prometheus jobs {jobs(k8s)} differ from prometheus/prometheus.yml's {jobs(repo)}")
    if k8s.get("global") != repo.get("global"):
        errors.append("Prometheus global settings differ from prometheus/prometheus.yml's")
    prom = find(docs, "Deployment", "prometheus")
    if prom:
        c = pod_spec(prom)["containers"][0]
        compose_cmd = yaml.safe_load(open(ROOT / "docker-compose.yml"))["services"]["prometheus"]["command"]
        for flag in compose_cmd:
            if flag.startswith("--enable-feature") or flag.startswith("--storage.tsdb.retention"):
                if flag not in c.get("args", []):
                    errors.append(f"Prometheus lacks compose's {flag}")
        mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        rules_dir = mounts.get("rules")
        if not rules_dir or not all(r.startswith(rules_dir + "/") for r in k8s.get("rule_files", [])):
            errors.append(f"rule_files {k8s.get('rule_files')} are not under the rules mount {rules_dir}")
    if shutil.which("promtool") and k8s:
        # Debian's promtool is built without Kubernetes discovery: check the rest with file_sd.
        test = copy.deepcopy(k8s)
        for s in test["scrape_configs"] + test["alerting"]["alertmanagers"]:
            if s.pop("kubernetes_sd_configs", None) is not None:
                s["file_sd_configs"] = [{"files": ["/nonexistent/*.yml"]}]
        test["rule_files"] = [str(ROOT / "prometheus" / "rules" / "*.yml")]
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump(test, f)
        out = run(["promtool", "check", "config", f.name])
        os.unlink(f.name)
        if out.returncode != 0:
            errors.append(f"promtool check config: {out.stdout.strip()} {out.stderr.strip()}")
        else:
            notes.append("promtool check config: ok (kubernetes_sd_configs replaced by file_sd_configs)")
    am = find(docs, "Deployment", "alertmanager")
    am_cm = find_configmap(docs, "alertmanager")
    if am and am_cm and shutil.which("amtool"):
        c = pod_spec(am)["containers"][0]
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "etc", Path(tmp) / "data"
            vol = next(v for v in pod_spec(am)["volumes"] if v["name"] == "config")
            for item in vol["configMap"]["items"]:
                (src / item["path"]).parent.mkdir(parents=True, exist_ok=True)
                (src / item["path"]).write_text(am_cm["data"][item["key"]])
            prep = c["args"][0].split("&& exec", 1)[0]
            prep = prep.replace("/alertmanager/config", f"{dst}/config").replace("/etc/alertmanager", str(src))
            out = run(["sh", "-c", "set -e\n" + prep])
            config = dst / "config" / "alertmanager.yml"
            if out.returncode != 0 or not config.exists():
                errors.append(f"Alertmanager start command: {out.stderr.strip()}")
            else:
                text = config.read_text()
                if re.search(r"^[^#]*127\.0\.0\.1", text, re.M):
                    errors.append("Alertmanager config keeps 127.0.0.1 addresses: the sink is not substituted")
                out = run(["amtool", "check-config", str(config)])
                if out.returncode != 0:
                    errors.append(f"amtool check-config: {out.stdout.strip()} {out.stderr.strip()}")
                else:
                    notes.append("amtool check-config of the rendered Alertmanager config: ok")
    mysql = find(docs, "StatefulSet", "mysql")
    api = find(docs, "Deployment", "biblio-api")
    if mysql and api:
        args = " ".join(pod_spec(mysql)["containers"][0].get("args", []))
        m = re.search(r"--max-connections=(\d+)", args)
        allowed = int(m.group(1)) if m else 151
        pool = int(env_of(pod_spec(api)["containers"][0]).get("BIBLIO_DB_MAX_CONNECTIONS") or 20)
        need = api["spec"].get("replicas", 1) * pool + 10
        if need > allowed:
            errors.append(f"MySQL max_connections {allowed} < {api['spec'].get('replicas')} API replicas x {pool} + 10")
    return errors, notes


def check_production(docs: list[dict]) -> tuple[list[str], list[str]]:
    errors, notes = [], []
    hpa = find(docs, "HorizontalPodAutoscaler", "biblio-api")
    api = find(docs, "Deployment", "biblio-api")
    if not hpa or hpa["apiVersion"] != "autoscaling/v2":
        return ["no autoscaling/v2 HorizontalPodAutoscaler biblio-api"], notes
    metrics = hpa["spec"].get("metrics", [])
    if not any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in metrics):
        errors.append("the API autoscaler does not scale on CPU")
    pods_metrics = [m["pods"]["metric"]["name"] for m in metrics if m["type"] == "Pods"]
    observability = open(ROOT / "docs" / "OBSERVABILITY.md").read()
    if not pods_metrics:
        errors.append("the API autoscaler has no Pods metric (requests in flight)")
    for name in pods_metrics:
        if not re.search(rf"^\| `{re.escape(name)}` \| gauge \|", observability, re.M):
            errors.append(f"autoscaler metric {name} is not a gauge of docs/OBSERVABILITY.md")
        adapter = yaml.safe_load(open(KUSTOMIZATIONS["production"] / "prometheus-adapter-rules.yaml"))
        rules = adapter["rules"]["custom"]
        if not any(name in r["seriesQuery"] and r["name"]["as"] == name for r in rules):
            errors.append(f"prometheus-adapter-rules.yaml serves no {name}")
    if api and "replicas" in api["spec"]:
        errors.append("Deployment biblio-api sets replicas, which the autoscaler owns")
    pool = int(env_of(pod_spec(api)["containers"][0]).get("BIBLIO_DB_MAX_CONNECTIONS") or 20) if api else 20
    mysql = find(docs, "Service", "mysql")
    budget = int(((mysql or {}).get("metadata", {}).get("annotations") or {}).get(
        "biblio.example.org/required-max-connections", 0))
    need = hpa["spec"]["maxReplicas"] * pool
    notes.append(f"MySQL connections at maxReplicas: {hpa['spec']['maxReplicas']} x {pool} = {need}, stated budget {budget}")
    if need + 20 > budget:
        errors.append(f"maxReplicas {hpa['spec']['maxReplicas']} x BIBLIO_DB_MAX_CONNECTIONS {pool} = {need} (+20 for "
                      f"people) exceeds the MySQL budget the mysql Service states ({budget})")
    for name in ("mysql", "redis", "tempo", "jaeger", "loki"):
        svc = find(docs, "Service", name)
        if not svc or svc["spec"].get("type") != "ExternalName" or not svc["spec"].get("externalName"):
            errors.append(f"Service {name} must be an ExternalName alias of the external endpoint")
    for d in docs:
        if d["kind"] == "StatefulSet":
            errors.append(f"StatefulSet/{d['metadata']['name']}: production keeps no data in the cluster")
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for w in workloads(docs, ("Deployment",)):
        name = w["metadata"]["name"]
        spread = pod_spec(w).get("topologySpreadConstraints", [])
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname"):
            if not any(t["topologyKey"] == key and selector_matches(t["labelSelector"], pod_labels(w)) for t in spread):
                errors.append(f"Deployment/{name}: no topology spread over {key} that selects its own pods")
        scaled = name == hpa["spec"]["scaleTargetRef"]["name"]
        if scaled or w["spec"].get("replicas", 1) >= 2:
            if not any(selector_matches(p["spec"]["selector"], pod_labels(w)) for p in pdbs):
                errors.append(f"Deployment/{name}: no PodDisruptionBudget")
        elif w["spec"].get("replicas", 1) < 2:
            errors.append(f"Deployment/{name}: one replica in production")
    nginx = find(docs, "Service", "nginx")
    if not nginx or nginx["spec"].get("externalTrafficPolicy") != "Local":
        errors.append("Service nginx: externalTrafficPolicy Local keeps the client address its login rate limit needs")
    return errors, notes


# ------------------------------------------------------------------------------ NetworkPolicy flows

class Peer:
    def __init__(self, name, namespace="", labels=None, ports=None, ip="10.244.0.10"):
        self.name, self.namespace, self.labels = name, namespace, labels or {}
        self.ports = ports or {}          # container port name -> number
        self.ip = ipaddress.ip_address(ip)

    @property
    def external(self):
        return not self.namespace


def peers_of(docs: list[dict]) -> dict[str, Peer]:
    peers = {}
    for i, w in enumerate(workloads(docs)):
        ports = {p["name"]: p["containerPort"] for c in pod_spec(w)["containers"] for p in c.get("ports", []) if "name" in p}
        peers[w["metadata"]["name"]] = Peer(w["metadata"]["name"], NAMESPACE, pod_labels(w), ports, f"10.244.1.{i + 1}")
    # An unknown pod in the namespace, and one in another namespace.
    peers["intruder"] = Peer("intruder", NAMESPACE, {"app.kubernetes.io/name": "intruder"}, ip="10.244.9.9")
    peers["outsider"] = Peer("outsider", "other", {"app.kubernetes.io/name": "outsider"}, ip="10.244.7.7")
    peers["kube-dns"] = Peer("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": 53}, "10.244.0.2")
    peers["monitoring-prometheus"] = Peer("monitoring-prometheus", "monitoring",
                                          {"app.kubernetes.io/name": "prometheus"}, ip="10.244.8.8")
    peers["external"] = Peer("external", ip="203.0.113.10")
    return peers


def _peer_matches(rule_peer: dict, policy_ns: str, other: Peer) -> bool:
    if "ipBlock" in rule_peer:
        block = rule_peer["ipBlock"]
        if other.ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(other.ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if other.external:
        return False
    if "namespaceSelector" in rule_peer:
        if not selector_matches(rule_peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace}):
            return False
    elif other.namespace != policy_ns:
        return False
    return "podSelector" not in rule_peer or selector_matches(rule_peer["podSelector"], other.labels)


def _port_matches(rule: dict, dst: Peer, port: int, protocol: str) -> bool:
    if not rule.get("ports"):
        return True
    for p in rule["ports"]:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        number = dst.ports.get(p["port"]) if isinstance(p["port"], str) else p["port"]
        if number is not None and number <= port <= p.get("endPort", number):
            return True
    return False


def _side_allows(policies, direction, subject: Peer, other: Peer, dst: Peer, port, protocol) -> bool:
    if subject.external or subject.namespace != NAMESPACE:
        return True                      # only this namespace's policies are ours to judge
    key, peer_key, ptype = ("egress", "to", "Egress") if direction == "egress" else ("ingress", "from", "Ingress")
    selecting = []
    for np in policies:
        spec = np["spec"]
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
        if ptype in types and selector_matches(spec["podSelector"], subject.labels):
            selecting.append(spec)
    if not selecting:
        return True
    for spec in selecting:
        for rule in spec.get(key) or []:
            peers = rule.get(peer_key)
            if (not peers or any(_peer_matches(p, NAMESPACE, other) for p in peers)) \
                    and _port_matches(rule, dst, port, protocol):
                return True
    return False


def flow_allowed(policies, src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> bool:
    return (_side_allows(policies, "egress", src, dst, dst, port, protocol)
            and _side_allows(policies, "ingress", dst, src, dst, port, protocol))


def check_network_policies(overlay: str, docs: list[dict]) -> tuple[list[str], list[str]]:
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    peers = peers_of(docs)
    errors, allowed, denied = [], [], []

    def flow(src, dst, port, protocol="TCP"):
        return (src, dst, port, protocol)

    # What the stack needs, wherever it runs.
    web = find(docs, "Deployment", "biblio-web")
    api_url = env_of(pod_spec(web)["containers"][0]).get("BIBLIO_API_URL", "") if web else ""
    m = re.fullmatch(r"http://([a-z0-9-]+):(\d+)/?", api_url)
    api_caller_target = None
    if m:
        svc = find(docs, "Service", m.group(1))
        target = next((w["metadata"]["name"] for w in workloads(docs)
                       if svc and svc["spec"].get("selector")
                       and selector_matches({"matchLabels": svc["spec"]["selector"]}, pod_labels(w))), None)
        if target:
            api_caller_target = target
            allowed.append(flow("biblio-web", target, int(m.group(2))))
    allowed += [
        flow("external", "nginx", 8000),              # the public door
        flow("outsider", "nginx", 8000),
        flow("nginx", "biblio-web", 8081),
        flow("nginx", "biblio-api", 8082),
        flow("biblio-api", "otel-agent", 4318),
        flow("biblio-web", "otel-agent", 4318),
        flow("otel-agent", "otel-gateway", 4317),
    ]
    for w in workloads(docs):
        allowed.append(flow(w["metadata"]["name"], "kube-dns", 53, "UDP"))
    # Only nginx (and the scraper, /metrics sharing the port) reach the web and the API.
    reach = {"biblio-api": {"nginx"}, "biblio-web": {"nginx"}}
    if api_caller_target in reach:
        reach[api_caller_target].add("biblio-web")
    scraper = "prometheus" if overlay == "dev" else "monitoring-prometheus"
    for dst, port in (("biblio-api", 8082), ("biblio-web", 8081)):
        for src in peers:
            if src not in reach[dst] | {scraper, dst} and src in peers and peers[src].namespace:
                denied.append(flow(src, dst, port))
    for dst, port in (("otel-gateway", 4317), ("otel-agent", 4318)):
        denied += [flow("intruder", dst, port), flow("outsider", dst, port)]

    # Members' emails: where the API's BIBLIO_SMTP_URL points, when the manifests set it (dev:
    # the notification sink's Service; production reads it from the Secret, a relay outside).
    api = find(docs, "Deployment", "biblio-api")
    smtp_url = (env_of(pod_spec(api)["containers"][0]).get("BIBLIO_SMTP_URL") or "") if api else ""
    smtp_target = None
    if smtp_url:
        m = re.fullmatch(r"smtp://([a-z0-9-]+)(?::(\d+))?/?", smtp_url)
        svc = find(docs, "Service", m.group(1)) if m else None
        if not svc:
            errors.append(f"biblio-api: BIBLIO_SMTP_URL={smtp_url} names no Service of the manifests")
        else:
            port = int(m.group(2) or 25)
            target = next((w["metadata"]["name"] for w in workloads(docs)
                           if svc["spec"].get("selector")
                           and selector_matches({"matchLabels": svc["spec"]["selector"]}, pod_labels(w))), None)
            sp = next((p for p in svc["spec"].get("ports", []) if p["port"] == port), None)
            if not target or not sp:
                errors.append(f"biblio-api: BIBLIO_SMTP_URL={smtp_url}: Service {svc['metadata']['name']} "
                              f"has no port {port} or selects no workload")
            else:
                tp = sp.get("targetPort", port)
                number = peers[target].ports.get(tp) if isinstance(tp, str) else tp
                if number is None:
                    errors.append(f"biblio-api: BIBLIO_SMTP_URL={smtp_url}: target port {tp} is no container port")
                else:
                    smtp_target = (target, number)
                    allowed.append(flow("biblio-api", target, number))
    elif overlay == "dev":
        errors.append("dev: biblio-api sets no BIBLIO_SMTP_URL: members' emails should reach the notification sink")

    # Only biblio-api reaches MySQL and Redis; where they are depends on the overlay.
    if overlay == "dev":
        stores = {"mysql": ("mysql", 3306), "redis": ("redis", 6379)}
        allowed += [flow("biblio-api", "mysql", 3306), flow("biblio-api", "redis", 6379),
                    flow("biblio-seed", "mysql", 3306),
                    flow("otel-gateway", "tempo", 4317), flow("otel-gateway", "jaeger", 4317),
                    flow("otel-gateway", "loki", 3100),
                    flow("prometheus", "biblio-api", 8082), flow("prometheus", "biblio-web", 8081),
                    flow("prometheus", "nginx", 9113), flow("prometheus", "otel-agent", 8888),
                    flow("prometheus", "otel-gateway", 8888), flow("prometheus", "otel-gateway", 8889),
                    flow("prometheus", "alertmanager", 9093), flow("prometheus", "external", 443),
                    flow("alertmanager", "notification-sink", 9099), flow("alertmanager", "notification-sink", 1025),
                    flow("grafana", "prometheus", 9090), flow("grafana", "tempo", 3200),
                    flow("grafana", "loki", 3100), flow("grafana", "jaeger", 16686),
                    flow("grafana", "alertmanager", 9093)]
        # Besides the API (and its seed job), only the exporters, MySQL's with an account that
        # may log in and nothing more, and the job creating that account.
        mysql_clients = {"biblio-api", "biblio-seed", "mysqld-exporter", "mysql-exporter-account"}
        redis_clients = {"biblio-api", "redis-exporter"}
        allowed += [flow(c, "mysql", 3306) for c in sorted(mysql_clients) if c in peers]
        allowed += [flow(c, "redis", 6379) for c in sorted(redis_clients) if c in peers]
        allowed += [flow("prometheus", "mysqld-exporter", 9104), flow("prometheus", "redis-exporter", 9121)]
        for src in peers:
            if src not in mysql_clients | {"mysql"} and peers[src].namespace:
                denied.append(flow(src, "mysql", 3306))
            if src not in redis_clients | {"redis"} and peers[src].namespace:
                denied.append(flow(src, "redis", 6379))
        denied += [flow("outsider", "tempo", 4317), flow("outsider", "loki", 3100),
                   flow("outsider", "prometheus", 9090), flow("biblio-web", "external", 443)]
        # The sink's SMTP port: Alertmanager and the API only; the API not its HTTP port.
        if smtp_target:
            sink, port = smtp_target
            for src in peers:
                if src not in {"biblio-api", "alertmanager", sink} and peers[src].namespace:
                    denied.append(flow(src, sink, port))
            denied.append(flow("biblio-api", sink, 9099))
    elif overlay == "production":
        allowed += [flow("biblio-api", "external", 3306), flow("biblio-api", "external", 6379),
                    flow("otel-gateway", "external", 4317), flow("otel-gateway", "external", 3100),
                    flow("monitoring-prometheus", "biblio-api", 8082),
                    flow("monitoring-prometheus", "otel-gateway", 8889)]
        # Members' emails, to the operator's SMTP relay (plain SMTP on 25 or 587).
        allowed += [flow("biblio-api", "external", 25), flow("biblio-api", "external", 587)]
        for src in peers:
            if src != "biblio-api" and peers[src].namespace == NAMESPACE:
                denied.append(flow(src, "external", 3306))
                denied.append(flow(src, "external", 6379))
                denied.append(flow(src, "external", 25))
                denied.append(flow(src, "external", 587))
        denied += [flow("nginx", "external", 443), flow("biblio-web", "external", 443)]

    for src, dst, port, proto in allowed:
        if src not in peers or dst not in peers:
            errors.append(f"needed flow {src} -> {dst}:{port}: no such workload")
        elif not flow_allowed(policies, peers[src], peers[dst], port, proto):
            errors.append(f"needed flow {src} -> {dst}:{port}/{proto} is denied")
    for src, dst, port, proto in denied:
        if src not in peers or dst not in peers:
            continue
        s_, d_ = peers[src], peers[dst]
        if flow_allowed(policies, s_, d_, port, proto):
            errors.append(f"flow {src} -> {dst}:{port}/{proto} must be denied but is allowed")
        elif not d_.external and _side_allows(policies, "ingress", d_, s_, d_, port, proto):
            # Denied only by the source's egress rules: the destination must refuse it by itself.
            errors.append(f"{dst} accepts {src} on {port}/{proto}: only {src}'s egress rules stop it; "
                          f"{dst}'s ingress must refuse it too")
    return errors, [f"{len(policies)} policies: {len(allowed)} needed flows allowed, {len(denied)} others denied"]


# ------------------------------------------------------------------------------ main

def attempt(check, *args, **kwargs):
    """Runs a check; a manifest broken in a way the check did not foresee is a failure, not a crash."""
    try:
        result = check(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - reported as the check's failure
        return [f"the check could not run on these manifests: {type(e).__name__}: {e}"], []
    return result if isinstance(result, tuple) else (result, [])


def main() -> int:
    print("== Kubernetes manifests (deploy/kubernetes: kubectl kustomize, kubernetes-validate, project rules)")
    problems = ensure_kubectl()
    report("kubectl with kustomize v5", problems)
    if problems:
        return finish()
    try:
        import kubernetes_validate  # noqa: F401
        from importlib.metadata import version
        report(f"kubernetes-validate {version('kubernetes-validate')}, schemas of Kubernetes {' and '.join(SCHEMA_VERSIONS)}", [])
    except ImportError:
        report("kubernetes-validate", ["python3 cannot import kubernetes_validate: run with target/tools/venv "
                                       "(pip install kubernetes-validate, as xtask/src/test.rs does)"])
        return finish()
    for overlay, path in KUSTOMIZATIONS.items():
        docs, problem = render(path)
        rel = path.relative_to(ROOT)
        report(f"{overlay}: kubectl kustomize --load-restrictor LoadRestrictionsNone {rel}",
               [problem] if problem else [], [f"{len(docs)} objects"])
        if problem:
            continue
        report(f"{overlay}: every object valid against the Kubernetes schemas", *attempt(check_schemas, docs))
        report(f"{overlay}: workloads have probes, requests and limits, a non-root read-only context",
               *attempt(check_workloads, docs))
        report(f"{overlay}: images tagged (never latest), as docker-compose.yml and Cargo.toml pin them",
               *attempt(check_images, docs))
        report(f"{overlay}: generated ConfigMaps equal the repository files they come from",
               *attempt(check_configmaps, overlay, docs))
        report(f"{overlay}: no Secret rendered; every Secret key read is named in README.md", *attempt(check_secrets, docs))
        report(f"{overlay}: volumes, Services, probes, autoscaler, budgets and policies reference what exists",
               *attempt(check_references, docs))
        report(f"{overlay}: preStop + drain + in-flight timeout fit terminationGracePeriodSeconds",
               *attempt(check_shutdown, docs))
        report(f"{overlay}: nginx/start.sh renders the repository's template (resolve, zone, workers)",
               *attempt(check_nginx, docs))
        report(f"{overlay}: collector agent -> trace-ID load balancing -> headless gateway; memory limits fit",
               *attempt(check_collectors, docs, backends=overlay != "base"))
        report(f"{overlay}: NetworkPolicies allow the stack's flows and deny the rest",
               *attempt(check_network_policies, overlay, docs))
        if overlay == "dev":
            report("dev: Prometheus jobs and rules as prometheus/prometheus.yml; Alertmanager config valid; "
                   "MySQL connections", *attempt(check_dev, docs))
        if overlay == "production":
            report("production: CPU + in-flight autoscaler with its adapter rule, budgets, spread, external "
                   "stores, MySQL connection budget", *attempt(check_production, docs))
    return finish()


def finish() -> int:
    print(f"kubernetes: {PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
