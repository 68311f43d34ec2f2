"""The files under deploy/, checked with the real tools where they exist:

- deploy/nginx.conf rendered with loopback upstreams (as clusterkit renders it): `nginx -t`
- deploy/haproxy.cfg with its servers on 127.0.0.1: `haproxy -c`
- deploy/systemd/switchboard.service with ExecStart pointed at a stand-in binary:
  `systemd-analyze verify`, plus TimeoutStopSec against the drain window
- deploy/k8s/*.yaml: every document parsed (PyYAML) and held to a kubeconform-style subset
  written here (identity fields, probes on /server/health/ready and /live on the container port,
  preStop + terminationGracePeriodSeconds against SHUTDOWN_DRAIN_WINDOW, PDB/HPA/Service aimed
  at the Deployment's pods, kustomization listing exactly the resource files)
- deploy/compose.yaml: parsed, health check on /server/health/ready or /live, stop grace period

A missing tool skips its test, or fails it with SWITCHBOARD_REQUIRE_CLUSTER=1 (scripts/test sets
it and installs the tools: scripts/lib/packages.sh). No server is started.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterkit import render_nginx
from harness import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"

#: Time a replica needs after its last 1001 close: closing Redis and the database pool,
#: finishing in-flight REST requests. Every stop timeout must cover preStop + window + this.
SHUTDOWN_MARGIN_S = 5.0

#: How much longer than WEBSOCKETS_HEARTBEAT_PERIOD a proxy's idle timeout must be.
HEARTBEAT_SLACK_S = 10.0

#: deploy/k8s files deliberately not applied by kustomization.yaml (and why)
NOT_IN_KUSTOMIZATION = {
    "kustomization.yaml": "the kustomization itself",
    "secret.example.yaml": "an example; the Secret is created with kubectl or a secret manager",
}

READY = "/server/health/ready"
LIVE = "/server/health/live"


def need_tool(name: str) -> str:
    """The tool's path; skips the test without it, or fails with SWITCHBOARD_REQUIRE_CLUSTER=1."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path:
        return path
    message = f"{name} is not installed (scripts/test installs it, see scripts/lib/packages.sh)"
    if os.environ.get("SWITCHBOARD_REQUIRE_CLUSTER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def seconds(text: str | int | float) -> float:
    """Seconds in a duration spelled `10s`, `500ms`, `1m`, `1.5h` (Switchboard, systemd, compose);
    a bare number in a string is milliseconds (Switchboard's `ms` rule), a YAML number seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?\s*", text)
    assert m, f"not a duration: {text!r}"
    unit = {None: 0.001, "ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]
    return float(m.group(1)) * unit


def run_tool(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd,
                          stdin=subprocess.DEVNULL)


# -- k8s documents ----------------------------------------------------------------------------


def k8s_files() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) for every non-empty YAML document under deploy/k8s."""
    out = []
    for path in k8s_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                assert isinstance(doc, dict), f"{path.name}: a document is not a mapping: {doc!r}"
                out.append((path.name, doc))
    return out


def only(kind: str) -> dict[str, Any]:
    found = [d for _, d in k8s_docs() if d.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind} under deploy/k8s, found {len(found)}"
    return found[0]


def deployment_pod_labels() -> dict[str, str]:
    dep = only("Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items(), f"Deployment selector {selector} does not match its pods {labels}"
    return labels


def server_container() -> dict[str, Any]:
    containers = only("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"expected the one switchboard container, found {len(containers)}"
    return containers[0]


def drain_window_s() -> float:
    return seconds(only("ConfigMap")["data"]["SHUTDOWN_DRAIN_WINDOW"])


def prestop_sleep_s(container: dict[str, Any]) -> float:
    """The preStop hook's sleep: `exec: sleep N` or Kubernetes 1.30's `sleep: {seconds: N}`."""
    hook = container.get("lifecycle", {}).get("preStop")
    assert hook, "the container has no preStop hook (the endpoint must leave the Service before SIGTERM)"
    if "sleep" in hook:
        return float(hook["sleep"]["seconds"])
    command = hook["exec"]["command"]
    assert len(command) == 2 and Path(command[0]).name == "sleep", f"preStop is not a plain sleep: {command}"
    return seconds(f"{command[1]}s")


def matches(selector: dict[str, Any], labels: dict[str, str], what: str) -> None:
    assert selector, f"{what}: empty selector (it would select every pod)"
    assert selector.items() <= labels.items(), f"{what}: selector {selector} does not match the pods' labels {labels}"


# -- nginx, HAProxy, systemd ------------------------------------------------------------------


def test_nginx_conf_passes_nginx_t(tmp_path: Path) -> None:
    nginx = need_tool("nginx")
    (tmp_path / "logs").mkdir()
    (tmp_path / "temp").mkdir()
    rendered = render_nginx((DEPLOY / "nginx.conf").read_text(), "127.0.0.1:18055",
                            ["127.0.0.1:18056", "127.0.0.1:18057", "127.0.0.1:18058"])
    assert "{{" not in "".join(l for l in rendered.splitlines() if not l.lstrip().startswith("#"))
    (tmp_path / "nginx.conf").write_text(rendered)
    res = run_tool([nginx, "-t", "-p", f"{tmp_path}/", "-e", "logs/error.log", "-c", "nginx.conf"])
    assert res.returncode == 0, f"nginx -t:\n{res.stderr}"
    # -t's own two lines only: no [warn]/[emerg] about the file
    problems = [l for l in res.stderr.splitlines() if "syntax is ok" not in l and "test is successful" not in l]
    assert not problems, "nginx -t complained:\n" + "\n".join(problems)


def test_haproxy_cfg_passes_haproxy_c(tmp_path: Path) -> None:
    haproxy = need_tool("haproxy")
    text = (DEPLOY / "haproxy.cfg").read_text()
    # servers on loopback, so the check never depends on DNS; their ports stay as written
    text, count = re.subn(r"^(\s*server\s+\S+\s+)\S+?:(\d+)", r"\g<1>127.0.0.1:\2", text, flags=re.M)
    assert count >= 2, "haproxy.cfg should list at least two replicas as `server` lines"
    (tmp_path / "haproxy.cfg").write_text(text)
    res = run_tool([haproxy, "-c", "-f", str(tmp_path / "haproxy.cfg")])
    output = res.stdout + res.stderr
    assert res.returncode == 0, f"haproxy -c:\n{output}"
    problems = [l for l in output.splitlines() if "[WARNING]" in l or "[ALERT]" in l or "[NOTICE]" in l]
    assert not problems, "haproxy -c warned:\n" + "\n".join(problems)
    # the checks that make a draining replica leave rotation
    assert f"uri {READY}" in text and "check" in text


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = need_tool("systemd-analyze")
    unit = (DEPLOY / "systemd" / "switchboard.service").read_text()
    # verify insists that ExecStart's binary exists; the only change is where it lives
    stand_in = tmp_path / "bin" / "switchboard"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    unit, count = re.subn(r"^ExecStart=/usr/local/bin/switchboard\b", f"ExecStart={stand_in}", unit, flags=re.M)
    assert count == 1, "the unit should have one ExecStart=/usr/local/bin/switchboard …"
    (tmp_path / "switchboard.service").write_text(unit)
    res = run_tool([analyze, "verify", str(tmp_path / "switchboard.service")], cwd=tmp_path)
    # verify exits 0 on unknown keys and unparsable values (it only prints them), so any
    # output at all is a finding
    output = (res.stdout + res.stderr).strip()
    assert res.returncode == 0 and not output, f"systemd-analyze verify (exit {res.returncode}):\n{output}"


def test_systemd_stop_timeout_covers_drain_window() -> None:
    unit = (DEPLOY / "systemd" / "switchboard.service").read_text()
    timeout = re.search(r"^TimeoutStopSec=(\S+)$", unit, re.M)
    window = re.search(r"^#\s+SHUTDOWN_DRAIN_WINDOW=(\S+)$", unit, re.M)
    assert timeout and window, "the unit should set TimeoutStopSec and show SHUTDOWN_DRAIN_WINDOW in its env example"
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.M)
    assert seconds(timeout.group(1)) >= seconds(window.group(1)) + SHUTDOWN_MARGIN_S


# -- Kubernetes -------------------------------------------------------------------------------


def test_every_k8s_document_has_api_version_kind_and_name() -> None:
    docs = k8s_docs()
    assert len(docs) >= 8
    seen = set()
    for name, doc in docs:
        for key in ("apiVersion", "kind"):
            assert isinstance(doc.get(key), str) and doc[key], f"{name}: no {key}"
        if doc["kind"] == "Kustomization":
            continue
        meta = doc.get("metadata")
        assert isinstance(meta, dict) and isinstance(meta.get("name"), str) and meta["name"], \
            f"{name}: no metadata.name"
        ident = (doc["kind"], meta["name"])
        assert ident not in seen, f"{name}: a second {ident}"
        seen.add(ident)


def test_deployment_probes_use_the_health_endpoints_on_the_container_port() -> None:
    container = server_container()
    ports = container["ports"]
    port_refs = {p["containerPort"] for p in ports} | {p["name"] for p in ports if "name" in p}

    def check(probe_name: str, path: str) -> None:
        probe = container.get(probe_name)
        assert probe, f"the container has no {probe_name}"
        get = probe["httpGet"]
        assert get["path"] == path, f"{probe_name} asks {get['path']}, not {path}"
        assert get["port"] in port_refs, f"{probe_name} port {get['port']!r} is none of the container's {port_refs}"

    check("readinessProbe", READY)
    check("livenessProbe", LIVE)
    if "startupProbe" in container:
        check("startupProbe", LIVE)


def test_grace_period_covers_prestop_sleep_and_drain_window() -> None:
    pod = only("Deployment")["spec"]["template"]["spec"]
    grace = pod.get("terminationGracePeriodSeconds")
    assert isinstance(grace, int), "the pod spec sets no terminationGracePeriodSeconds"
    sleep, window = prestop_sleep_s(server_container()), drain_window_s()
    # preStop runs inside the grace period; SIGTERM (and the drain) only after it
    assert grace >= sleep + window + SHUTDOWN_MARGIN_S, \
        f"terminationGracePeriodSeconds {grace} < preStop {sleep}s + drain window {window}s + {SHUTDOWN_MARGIN_S}s"
    # the sleep is what gives the endpoint time to leave the Service before the drain starts
    assert sleep > 0


def test_kustomization_lists_exactly_the_resource_files() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kust["resources"]
    assert len(listed) == len(set(listed)), f"a resource listed twice: {listed}"
    present = {p.name for p in k8s_files()}
    missing = [r for r in listed if r not in present]
    assert not missing, f"kustomization.yaml lists files that do not exist: {missing}"
    unlisted = sorted(present - set(listed) - NOT_IN_KUSTOMIZATION.keys())
    assert not unlisted, f"deploy/k8s files kustomization.yaml does not list: {unlisted}"
    # the kustomization's image override names the image the workloads use
    images = {c["image"].rsplit(":", 1)[0] for _, d in k8s_docs() if d["kind"] in ("Deployment", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert {i["name"] for i in kust.get("images", [])} == images


def test_kustomize_builds_every_listed_resource() -> None:
    """`kubectl kustomize` (offline) when kubectl is installed; scripts/test does not install it
    (Debian bookworm's kubernetes-client is 1.20), so without it this skips even in scripts/test."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (optional: `kubectl kustomize` of deploy/k8s)")
    res = run_tool([kubectl, "kustomize", str(K8S)])
    assert res.returncode == 0, f"kubectl kustomize:\n{res.stderr}"
    built = [d for d in yaml.safe_load_all(res.stdout) if d]
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    expected = {(d["kind"], d["metadata"]["name"]) for f in kust["resources"]
                for d in yaml.safe_load_all((K8S / f).read_text()) if d}
    assert {(d["kind"], d["metadata"]["name"]) for d in built} == expected
    for d in built:
        assert d["metadata"]["labels"].get("app.kubernetes.io/part-of") == "switchboard", d["metadata"]["name"]


def test_service_selects_the_deployment_pods_and_port() -> None:
    svc = only("Service")
    matches(svc["spec"]["selector"], deployment_pod_labels(), "Service")
    ports = server_container()["ports"]
    names = {p.get("name") for p in ports} | {p["containerPort"] for p in ports}
    for port in svc["spec"]["ports"]:
        assert port["targetPort"] in names


def test_pod_disruption_budget_covers_the_deployment_pods() -> None:
    pdb = only("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    matches(pdb["spec"]["selector"]["matchLabels"], deployment_pod_labels(), "PodDisruptionBudget")
    spec = pdb["spec"]
    assert ("minAvailable" in spec) != ("maxUnavailable" in spec), "set exactly one of minAvailable / maxUnavailable"
    # one pod at a time: only its sockets reconnect at once, and a drain is never blocked
    assert spec.get("maxUnavailable") == 1, f"expected maxUnavailable: 1, got {spec}"


def test_horizontal_pod_autoscaler_scales_the_deployment_on_cpu() -> None:
    hpa, dep = only("HorizontalPodAutoscaler"), only("Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", dep["metadata"]["name"])
    # the HPA owns the replica count: a `replicas` in the Deployment is reset by every apply
    assert "replicas" not in dep["spec"], "with hpa.yaml, deployment.yaml must not set replicas"
    assert 2 <= spec["minReplicas"] <= spec["maxReplicas"]
    cpu = [m for m in spec["metrics"] if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
    assert cpu and cpu[0]["resource"]["target"]["type"] == "Utilization"
    assert "cpu" in server_container()["resources"]["requests"], "CPU utilization needs a CPU request"
    # scale down no faster than one pod per full pod shutdown (each one reconnects its clients)
    grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    for policy in spec["behavior"]["scaleDown"]["policies"]:
        assert policy["type"] == "Pods" and policy["value"] == 1 and policy["periodSeconds"] >= grace
    assert "switchboard_websocket_connections" in (K8S / "hpa.yaml").read_text()


# -- proxies against the heartbeat --------------------------------------------------------------


def test_proxy_timeouts_outlast_the_heartbeat() -> None:
    """An idle socket sees a ping every WEBSOCKETS_HEARTBEAT_PERIOD; a proxy whose idle timeout
    is shorter (with HEARTBEAT_SLACK_S for a slow round trip) cuts healthy sockets."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    periods = [float(only("ConfigMap")["data"]["WEBSOCKETS_HEARTBEAT_PERIOD"])]
    periods += [float(s["environment"]["WEBSOCKETS_HEARTBEAT_PERIOD"])
                for n, s in compose["services"].items() if n.startswith("switchboard-")]
    floor = max(periods) + HEARTBEAT_SLACK_S

    nginx = (DEPLOY / "nginx.conf").read_text()
    haproxy = (DEPLOY / "haproxy.cfg").read_text()
    ingress = only("Ingress")["metadata"]["annotations"]
    timeouts = {
        "nginx proxy_read_timeout": re.search(r"^\s*proxy_read_timeout\s+(\S+);", nginx, re.M),
        "nginx proxy_send_timeout": re.search(r"^\s*proxy_send_timeout\s+(\S+);", nginx, re.M),
        "haproxy timeout tunnel": re.search(r"^\s*timeout\s+tunnel\s+(\S+)", haproxy, re.M),
    }
    for what, m in timeouts.items():
        assert m, f"no {what}"
        assert seconds(m.group(1)) >= floor, f"{what} {m.group(1)} < heartbeat + {HEARTBEAT_SLACK_S}s"
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        value = ingress[f"nginx.ingress.kubernetes.io/{key}"]
        assert float(value) >= floor, f"ingress {key} {value}s < heartbeat + {HEARTBEAT_SLACK_S}s"


# -- compose ----------------------------------------------------------------------------------


def test_compose_healthcheck_and_stop_grace_period() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    replicas = {n: s for n, s in compose["services"].items() if n.startswith("switchboard-")}
    assert len(replicas) >= 2
    for name, svc in replicas.items():
        test = svc["healthcheck"]["test"]
        assert any(READY in part or LIVE in part for part in test), f"{name}: healthcheck {test}"
        window = seconds(svc["environment"]["SHUTDOWN_DRAIN_WINDOW"])
        assert seconds(svc["stop_grace_period"]) >= window + SHUTDOWN_MARGIN_S, f"{name}: stop_grace_period too short"
        assert svc["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    assert "{{UPSTREAM_SERVERS}}" in " ".join(compose["services"]["nginx"]["command"])
