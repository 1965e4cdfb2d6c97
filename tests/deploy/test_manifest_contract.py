"""The manifests agree with the code: ports, probe paths, the environment variables
the Settings classes read, Service selectors and labels, HPA bounds.

Routes the manifests already use but another issue is adding are listed in
PENDING_ROUTES; a test asserts each is still missing from the code, so the list
must shrink (and the real check take over) the day the code lands.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from medinfer.common.settings import ServiceSettings
from medinfer.gateway.settings import GatewaySettings
from medinfer.preprocess.settings import PreprocessSettings
from medinfer.triton.settings import TritonSettings
from tests.deploy.conftest import DEPLOY, load_docs

# Routes the monitoring work adds (the ServiceMonitors and prometheus.yml scrape them).
PENDING_ROUTES: set[tuple[str, str]] = set()
# Where the gateway's Secret files are mounted; the gateway passes it as _secrets_dir.
SECRETS_DIR = "/run/secrets/medinfer"

SERVICES: dict[str, type[ServiceSettings]] = {"gateway": GatewaySettings, "preprocessor": PreprocessSettings}


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Every environment variable a pydantic-settings class reads."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {c for c in alias.choices if isinstance(c, str) and c.isupper()}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(dep: dict[str, Any]) -> dict[str, Any]:
    """The service's own container (a pod may have sidecars, such as Triton's TLS proxy)."""
    name = dep["metadata"]["labels"]["app.kubernetes.io/name"]
    containers = dep["spec"]["template"]["spec"]["containers"]
    (c,) = [c for c in containers if c["name"] == name] if len(containers) > 1 else containers
    return c


def resolved_env(docs: list[dict[str, Any]], c: dict[str, Any]) -> dict[str, str]:
    cms = by_kind(docs, "ConfigMap")
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "fieldRef" in e["valueFrom"]:  # the downward API: a stand-in for the pod's own value
            env[e["name"]] = "pod-" + e["valueFrom"]["fieldRef"]["fieldPath"].replace(".", "-")
        else:
            ref = e["valueFrom"]["configMapKeyRef"]
            env[e["name"]] = cms[ref["name"]]["data"][ref["key"]]
    return env


def ports_by_name(c: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in c["ports"]}


@pytest.fixture(scope="module")
def prod(rendered_docs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return rendered_docs["prod"]


def test_pending_names_are_still_pending() -> None:
    apps = _routes()
    landed_routes = {(s, p) for s, p in PENDING_ROUTES if p in apps[s]}
    assert not landed_routes, f"routes exist now, remove from PENDING_ROUTES: {landed_routes}"


@pytest.mark.parametrize("overlay", ["base", "dev", "prod", "prod-gpu"])
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_env_names_are_read_by_settings(rendered_docs, overlay: str, service: str) -> None:
    docs = rendered_docs[overlay]
    c = container(by_kind(docs, "Deployment")[service])
    names = {e["name"] for e in c["env"]}
    unknown = {n for n in names if n.startswith("MEDINFER_")} - env_names(SERVICES[service])
    assert not unknown, f"{service} sets variables its Settings never reads: {unknown}"


def secret_files(dep: dict[str, Any]) -> list[str]:
    """Names of the files the pod's "secrets" volume puts in the secrets_dir."""
    vols = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets"]
    return [item["path"] for v in vols for item in v["secret"]["items"]]


@pytest.mark.parametrize("overlay,environment", [("dev", "development"), ("prod", "production")])
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_settings_accept_the_manifest_environment(rendered_docs, monkeypatch, tmp_path, overlay, environment,
                                                  service):
    """The values parse (types, the production safety checks) as the pod would see them:
    its environment, plus its Secret files in the secrets_dir (dummy values here)."""
    docs = rendered_docs[overlay]
    dep = by_kind(docs, "Deployment")[service]
    env = resolved_env(docs, container(dep))
    for key in [k for k in os.environ if k.startswith("MEDINFER_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for name in secret_files(dep):
        (tmp_path / name).write_text("a-deployment-secret-of-sufficient-length")
    settings = SERVICES[service](_secrets_dir=tmp_path)
    assert settings.environment == environment
    assert settings.home == Path("/var/lib/medinfer")
    assert settings.host == "0.0.0.0"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_secret_files_are_named_after_settings(prod, service: str) -> None:
    """pydantic-settings' secrets_dir reads a file named after the variable (lower case)."""
    dep = by_kind(prod, "Deployment")[service]
    expected = {n.lower() for n in env_names(SERVICES[service])}
    assert secret_files(dep)
    for name in secret_files(dep):
        assert name in expected, name
    (mount,) = [m for m in container(dep)["volumeMounts"] if m["name"] == "secrets"]
    assert mount["mountPath"] == SECRETS_DIR


def test_secrets_dir_files_reach_the_settings(tmp_path, monkeypatch, prod) -> None:
    """pydantic-settings reads each mounted file as the setting it is named after."""
    for key in [k for k in os.environ if k.startswith("MEDINFER_")]:
        monkeypatch.delenv(key)
    dep = by_kind(prod, "Deployment")["gateway"]
    (vol,) = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets"]
    for item in vol["secret"]["items"]:
        (tmp_path / item["path"]).write_text("postgresql+psycopg://audit@db.example.org/medinfer")
    monkeypatch.setenv("MEDINFER_ENVIRONMENT", "development")  # the production checks are tested above
    settings = GatewaySettings(_secrets_dir=tmp_path)
    assert settings.audit_url == "postgresql+psycopg://audit@db.example.org/medinfer"


@pytest.mark.parametrize("variable", ["MEDINFER_GATEWAY_AUDIT_KEY_FILE", "MEDINFER_GATEWAY_AUDIT_CHECKPOINT_KEY_FILE"])
def test_audit_key_file_is_mounted(prod, variable: str) -> None:
    dep = by_kind(prod, "Deployment")["gateway"]
    env = {e["name"]: e.get("value") for e in container(dep)["env"]}
    key_file = Path(env[variable])
    mounts = {m["name"]: m["mountPath"] for m in container(dep)["volumeMounts"]}
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    (name,) = [n for n, path in mounts.items() if key_file.parent == Path(path)]
    assert key_file.name in {i["path"] for i in vols[name]["secret"]["items"]}


def test_audit_checkpoints_are_per_replica_on_a_claim(prod) -> None:
    """Each replica appends to its own checkpoint file (named after the pod) on a persistent claim, not on
    the pod's emptyDir, and the signing key is a Secret of its own (not the HMAC key's)."""
    dep = by_kind(prod, "Deployment")["gateway"]
    c = container(dep)
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    names = [e["name"] for e in c["env"]]
    assert names.index("POD_NAME") < names.index("MEDINFER_GATEWAY_AUDIT_CHECKPOINT_FILE")  # $(POD_NAME) expands
    path = Path(env["MEDINFER_GATEWAY_AUDIT_CHECKPOINT_FILE"]["value"])
    assert path.name == "$(POD_NAME).jsonl"
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    vol = vols[mounts[str(path.parent)]]
    assert vol["persistentVolumeClaim"]["claimName"] in by_kind(prod, "PersistentVolumeClaim")
    secrets = {v["secret"]["secretName"] for v in vols.values() if "secret" in v}
    assert {"gateway-audit-key", "gateway-audit-checkpoint-key"} <= secrets


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ports_agree_with_settings_and_images(prod, service: str) -> None:
    fields = SERVICES[service].model_fields
    settings_port = fields["port"].default
    c = container(by_kind(prod, "Deployment")[service])
    env = {e["name"]: e.get("value") for e in c["env"]}
    prefix = SERVICES[service].model_config["env_prefix"]
    assert int(env[f"{prefix}PORT"]) == settings_port
    expected = {"https": settings_port, "metrics": fields["metrics_port"].default}
    assert int(env[f"{prefix}METRICS_PORT"]) == expected["metrics"]
    if "grpc_port" in fields:  # the gateway's KServe v2 gRPC service
        expected["grpcs"] = fields["grpc_port"].default
        assert int(env[f"{prefix}GRPC_PORT"]) == expected["grpcs"]
    assert ports_by_name(c) == expected
    dockerfile = (DEPLOY / f"{service}.Dockerfile").read_text()
    exposed = re.search(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE)
    assert exposed and sorted(map(int, exposed.group(1).split())) == sorted(expected.values())
    module = {"gateway": "medinfer.gateway", "preprocessor": "medinfer.preprocess"}[service]
    assert f'ENTRYPOINT ["python", "-m", "{module}"]' in dockerfile


def test_service_ports() -> None:
    docs = load_docs((DEPLOY / "base" / "preprocessor.yaml").read_text())
    ports = {p["name"]: p for p in by_kind(docs, "Service")["preprocessor"]["spec"]["ports"]}
    assert (ports["https"]["port"], ports["https"]["targetPort"]) == (443, "https")
    assert ports_by_name(container(by_kind(docs, "Deployment")["preprocessor"]))["https"] == 8080


def test_upstream_urls_point_at_services(prod) -> None:
    services = by_kind(prod, "Service")
    env = resolved_env(prod, container(by_kind(prod, "Deployment")["gateway"]))
    for key, svc in (("MEDINFER_GATEWAY_PREPROCESSOR_URL", "preprocessor"), ("MEDINFER_GATEWAY_TRITON_URL", "triton")):
        url = urlsplit(env[key])
        assert url.scheme == "https", key  # PHI crosses these hops
        assert url.hostname == f"{svc}.medinfer.svc"
        assert url.port in {p["port"] for p in services[svc]["spec"]["ports"]}
    host, _, port = env["MEDINFER_GATEWAY_TRITON_GRPC_TARGET"].partition(":")
    assert host == "triton.medinfer.svc"
    assert {"name": "grpc", "port": int(port)}.items() <= next(
        p for p in services["triton"]["spec"]["ports"] if p["name"] == "grpc").items()


class _Routes:
    """Answers ``path in routes`` the way the app's router would match a GET."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __contains__(self, path: object) -> bool:
        from starlette.routing import Match

        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [],
                 "query_string": b""}
        return any(r.matches(scope)[0] == Match.FULL for r in self.app.routes)


@functools.cache
def _routes() -> dict[str, _Routes]:
    from medinfer.gateway.app import create_app as gateway_app
    from medinfer.preprocess.app import create_app as preprocess_app

    # a home of its own: a fixed path is shared by every checkout on the machine (and their migrations)
    home = Path(tempfile.mkdtemp(prefix="medinfer-routes-"))
    atexit.register(shutil.rmtree, home, True)
    gw, pre = gateway_app(GatewaySettings(home=home)), preprocess_app(PreprocessSettings(home=home))
    return {
        "gateway": _Routes(gw), "preprocessor": _Routes(pre),
        # the operations listener (metrics_port): /metrics, /healthz, /readyz
        "gateway-ops": _Routes(gw.state.ops_app), "preprocessor-ops": _Routes(pre.state.ops_app),
    }


def test_route_matching_is_real() -> None:
    routes = _routes()
    assert "/healthz" in routes["gateway"] and "/no-such-route" not in routes["gateway"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_probe_paths_are_routes(prod, service: str) -> None:
    c = container(by_kind(prod, "Deployment")[service])
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        # the gateway probes its HTTPS API port; the preprocessor's API port requires client
        # certificates (which the kubelet has not), so its probes use the operations port
        port, scheme = ("https", "HTTPS") if service == "gateway" else ("metrics", "HTTP")
        routes = _routes()[service if port == "https" else f"{service}-ops"]
        assert get["path"] in routes
        assert get["port"] == port and get.get("scheme", "HTTP") == scheme


def test_scraped_paths_are_routes(prod) -> None:
    routes = _routes()
    for sm in by_kind(prod, "ServiceMonitor").values():
        name = sm["metadata"]["name"]
        for ep in sm["spec"]["endpoints"]:
            assert ep["port"] == "metrics" and ep.get("scheme", "http") == "http"
            assert ep["path"] in routes[f"{name}-ops"] or (name, ep["path"]) in PENDING_ROUTES
            assert ep["path"] not in routes[name]  # never on the API port the Ingress routes


def test_triton_matches_launcher_and_settings(prod) -> None:
    t = TritonSettings.model_fields
    server_py = (Path(__file__).resolve().parents[2] / "medinfer" / "triton" / "server.py").read_text()
    for dep in (by_kind(prod, "Deployment")[n] for n in ("triton-blue", "triton-green")):
        c = container(dep)
        assert ports_by_name(c) == {"http": t["http_port"].default, "grpc": t["grpc_port"].default,
                                    "metrics": t["metrics_port"].default}
        args = c["args"]
        assert "--model-control-mode=explicit" in args and "--model-control-mode=explicit" in server_py
        assert f"--http-port={t['http_port'].default}" in args
        assert f"--grpc-port={t['grpc_port'].default}" in args
        assert f"--metrics-port={t['metrics_port'].default}" in args
        assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert '"/v2/health/ready"' in server_py
        assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("overlay", ["base", "dev", "prod", "prod-gpu"])
def test_selectors_match_pods(rendered_docs, overlay: str) -> None:
    docs = rendered_docs[overlay]
    pods = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in by_kind(docs, "Deployment").items()}
    pod_ports = {n: {k: v for c in d["spec"]["template"]["spec"]["containers"] for k, v in ports_by_name(c).items()}
                 for n, d in by_kind(docs, "Deployment").items()}  # a Service may target a sidecar's port

    def matching(selector: dict[str, str]) -> set[str]:
        return {n for n, labels in pods.items() if selector.items() <= labels.items()}

    for name, dep in by_kind(docs, "Deployment").items():
        assert dep["spec"]["selector"]["matchLabels"].items() <= pods[name].items()
        assert matching(dep["spec"]["selector"]["matchLabels"]) == {name}, "selectors overlap"
    for name, svc in by_kind(docs, "Service").items():
        targets = matching(svc["spec"]["selector"])
        assert len(targets) == 1, f"Service {name} selects {targets}"
        (target,) = targets
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in pod_ports[target]
    for name, pdb in by_kind(docs, "PodDisruptionBudget").items():
        assert matching(pdb["spec"]["selector"]["matchLabels"]), f"PDB {name} selects nothing"
    for name, pol in by_kind(docs, "NetworkPolicy").items():
        sel = pol["spec"]["podSelector"].get("matchLabels", {})
        targets = matching(sel)
        assert targets, f"NetworkPolicy {name} selects nothing"
        if sel:
            open_ports = {p for t in targets for p in pod_ports[t].values()}
            for rule in pol["spec"].get("ingress", []):
                for port in rule["ports"]:
                    assert port["port"] in open_ports, f"{name} opens {port['port']} nobody listens on"


@pytest.mark.parametrize("overlay", ["base", "dev", "prod", "prod-gpu"])
def test_autoscalers(rendered_docs, overlay: str) -> None:
    docs = rendered_docs[overlay]
    deployments = by_kind(docs, "Deployment")
    scaled: set[str] = set()
    for hpa in by_kind(docs, "HorizontalPodAutoscaler").values():
        spec = hpa["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        scaled.add(spec["scaleTargetRef"]["name"])
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
        assert spec["behavior"]["scaleUp"]["policies"] and spec["behavior"]["scaleDown"]["policies"]
        if spec["scaleTargetRef"]["name"].startswith("triton") and overlay != "dev":
            assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
            (metric,) = spec["metrics"]
            assert metric["resource"]["name"] == "cpu"
            assert metric["resource"]["target"]["averageUtilization"] == 60
    for so in by_kind(docs, "ScaledObject").values():
        assert so["spec"]["scaleTargetRef"]["name"] in deployments
        scaled.add(so["spec"]["scaleTargetRef"]["name"])
        assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (2, 10)
        assert {t["type"] for t in so["spec"]["triggers"]} == {"prometheus"}
    assert scaled == set(deployments), "every Deployment is autoscaled exactly once"


def test_bluegreen_slots(prod) -> None:
    from tests.deploy.test_manifest_tools import _import

    gen = _import(DEPLOY / "generate.py")
    deps = by_kind(prod, "Deployment")
    svc = by_kind(prod, "Service")["triton"]
    assert svc["spec"]["selector"][gen.SLOT_LABEL] == "blue"
    blue, green = deps["triton-blue"], deps["triton-green"]
    assert blue["spec"]["template"]["spec"] == _with_slot(green["spec"]["template"]["spec"], "blue")
    base = yaml.safe_load_all((DEPLOY / "base" / "k8s.yaml").read_text())
    (triton,) = [d for d in base if d and d["kind"] == "Deployment"]
    assert container(blue)["args"] == container(triton)["args"]


def _with_slot(spec: dict[str, Any], slot: str) -> dict[str, Any]:
    import copy

    spec = copy.deepcopy(spec)
    for tsc in spec.get("topologySpreadConstraints", []):
        tsc["labelSelector"]["matchLabels"]["medinfer.io/slot"] = slot
    return spec


def test_monitors_reference_existing_ports(prod) -> None:
    services = by_kind(prod, "Service")
    for sm in by_kind(prod, "ServiceMonitor").values():
        svc = services[sm["metadata"]["name"]]
        assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        for ep in sm["spec"]["endpoints"]:
            assert ep["port"] in {p["name"] for p in svc["spec"]["ports"]}
    for pm in by_kind(prod, "PodMonitor").values():
        for ep in pm["spec"]["podMetricsEndpoints"]:
            assert ep["port"] == "metrics"


def test_compose_agrees_with_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    svcs = compose["services"]
    for service, cls in SERVICES.items():
        env = svcs[service]["environment"]
        unknown = {k for k in env if k.startswith("MEDINFER_")} - env_names(cls)
        assert not unknown, f"compose {service}: {unknown}"
        prefix = cls.model_config["env_prefix"]
        assert int(env[f"{prefix}PORT"]) == cls.model_fields["port"].default
    gw = svcs["gateway"]["environment"]
    assert urlsplit(gw["MEDINFER_GATEWAY_PREPROCESSOR_URL"]).port == PreprocessSettings.model_fields["port"].default
    assert urlsplit(gw["MEDINFER_GATEWAY_TRITON_URL"]).port == TritonSettings.model_fields["http_port"].default
    assert "--model-control-mode=explicit" in svcs["triton"]["command"]
    for name, svc in svcs.items():
        if name != "prometheus":
            assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"] and svc["user"] == "10001:10001"


def _mounted_files(dep: dict[str, Any], c: dict[str, Any]) -> dict[str, str]:
    """Absolute path -> Secret name, for every item of the Secret volumes the container mounts."""
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    out = {}
    for m in c.get("volumeMounts", []):
        secret = vols[m["name"]].get("secret")
        for item in (secret or {}).get("items", []):
            out[f"{m['mountPath']}/{item['path']}"] = secret["secretName"]
    return out


def test_tls_end_to_end(prod) -> None:
    """PHI never crosses a hop in plaintext: every upstream the gateway calls is https with a CA (and the
    preprocessor hop mTLS), each file a setting names is mounted from a cert-manager Certificate's Secret, the
    preprocessor serves HTTPS requiring client certificates, Triton's plain HTTP listens on loopback only
    behind a TLS proxy, and Triton's gRPC is TLS."""
    deps, certs = by_kind(prod, "Deployment"), by_kind(prod, "Certificate")
    cert_secrets = {c["spec"]["secretName"] for c in certs.values()}
    gw_dep = deps["gateway"]
    gw = resolved_env(prod, container(gw_dep))
    files = _mounted_files(gw_dep, container(gw_dep))
    for key in ("PREPROCESSOR_CA_FILE", "PREPROCESSOR_CLIENT_CERT_FILE", "PREPROCESSOR_CLIENT_KEY_FILE",
                "TRITON_CA_FILE", "TRITON_GRPC_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"):
        assert files.get(gw[f"MEDINFER_GATEWAY_{key}"]) in cert_secrets, key
    assert "client auth" in certs["gateway-tls"]["spec"]["usages"]  # it is the mTLS client certificate too

    pre_dep = deps["preprocessor"]
    pre = resolved_env(prod, container(pre_dep))
    files = _mounted_files(pre_dep, container(pre_dep))
    for key in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE"):
        assert files.get(pre[f"MEDINFER_PREPROCESS_{key}"]) == "preprocessor-tls", key

    triton_port = TritonSettings.model_fields["http_port"].default
    services = by_kind(prod, "Service")
    for name in ("triton-blue", "triton-green"):
        dep = deps[name]
        c = container(dep)
        args = c["args"]
        assert "--http-address=127.0.0.1" in args and "--grpc-use-ssl=true" in args
        files = _mounted_files(dep, c)
        for flag in ("--grpc-server-cert=", "--grpc-server-key="):
            (value,) = [a.split("=", 1)[1] for a in args if a.startswith(flag)]
            assert files.get(value) == "triton-tls", flag
        (proxy,) = [p for p in dep["spec"]["template"]["spec"]["containers"] if p["name"] == "tls-proxy"]
        conf = by_kind(prod, "ConfigMap")["triton-tls-proxy"]["data"]["nginx.conf"]
        https = ports_by_name(proxy)["https"]
        assert f"listen {https} ssl;" in conf and f"server 127.0.0.1:{triton_port};" in conf
        for line in conf.splitlines():
            if line.strip().startswith(("ssl_certificate ", "ssl_certificate_key ")):
                assert _mounted_files(dep, proxy).get(line.split()[1].rstrip(";")) == "triton-tls"
        assert "client_body_buffer_size 64m;" in conf  # bodies stay in memory: no PHI in temp files
    triton_svc = {p["name"]: p for p in services["triton"]["spec"]["ports"]}
    assert set(triton_svc) == {"https", "grpc", "metrics"}  # Triton's plain HTTP is not a Service port
    assert urlsplit(gw["MEDINFER_GATEWAY_TRITON_URL"]).port == triton_svc["https"]["port"]


def test_ingress_and_monitoring_reach_only_their_ports(prod) -> None:
    """The Ingress routes the API ports only (never metrics); Prometheus is admitted to the metrics ports only."""
    for ing in by_kind(prod, "Ingress").values():
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["port"]["name"] in {"https", "grpcs"}
    metrics_ports = {"gateway": 8445, "preprocessor": 8081, "triton": 8002}
    for pol in by_kind(prod, "NetworkPolicy").values():
        for rule in pol["spec"].get("ingress", []):
            sources = rule.get("from", [])
            if any(s.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                   == "monitoring" for s in sources):
                app = pol["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                assert [p["port"] for p in rule["ports"]] == [metrics_ports[app]], pol["metadata"]["name"]
                assert len(sources) == 1
