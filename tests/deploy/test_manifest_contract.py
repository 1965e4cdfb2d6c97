"""The manifests agree with the code: ports, probe paths, the environment variables
the Settings classes read, Service selectors and labels, HPA bounds.

Routes the manifests already use but another issue is adding are listed in
PENDING_ROUTES; a test asserts each is still missing from the code, so the list
must shrink (and the real check take over) the day the code lands.
"""

from __future__ import annotations

import functools
import os
import re
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

from medinfer.registry.settings import RegistrySettings  # noqa: E402 - read by the gateway process too

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
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return c


def resolved_env(docs: list[dict[str, Any]], c: dict[str, Any]) -> dict[str, str]:
    cms = by_kind(docs, "ConfigMap")
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
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
    read = env_names(SERVICES[service]) | (env_names(RegistrySettings) if service == "gateway" else set())
    unknown = {n for n in names if n.startswith("MEDINFER_")} - read  # the gateway runs the registry runtime
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
    settings = GatewaySettings(_secrets_dir=tmp_path)
    assert settings.audit_url == "postgresql+psycopg://audit@db.example.org/medinfer"


def test_audit_key_file_is_mounted(prod) -> None:
    dep = by_kind(prod, "Deployment")["gateway"]
    env = {e["name"]: e.get("value") for e in container(dep)["env"]}
    key_file = Path(env["MEDINFER_GATEWAY_AUDIT_KEY_FILE"])
    mounts = {m["name"]: m["mountPath"] for m in container(dep)["volumeMounts"]}
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    (name,) = [n for n, path in mounts.items() if key_file.parent == Path(path)]
    assert key_file.name in {i["path"] for i in vols[name]["secret"]["items"]}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ports_agree_with_settings_and_images(prod, service: str) -> None:
    fields = SERVICES[service].model_fields
    settings_port = fields["port"].default
    c = container(by_kind(prod, "Deployment")[service])
    env = {e["name"]: e.get("value") for e in c["env"]}
    prefix = SERVICES[service].model_config["env_prefix"]
    assert int(env[f"{prefix}PORT"]) == settings_port
    expected = {"https" if service == "gateway" else "http": settings_port}
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
    (port,) = by_kind(docs, "Service")["preprocessor"]["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (80, "http")
    assert ports_by_name(container(by_kind(docs, "Deployment")["preprocessor"]))["http"] == 8080


def test_upstream_urls_point_at_services(prod) -> None:
    services = by_kind(prod, "Service")
    env = resolved_env(prod, container(by_kind(prod, "Deployment")["gateway"]))
    for key, svc in (("MEDINFER_GATEWAY_PREPROCESSOR_URL", "preprocessor"), ("MEDINFER_GATEWAY_TRITON_URL", "triton")):
        url = urlsplit(env[key])
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

    home = Path("/nonexistent-medinfer-home")
    return {
        "gateway": _Routes(gateway_app(GatewaySettings(home=home))),
        "preprocessor": _Routes(preprocess_app(PreprocessSettings(home=home))),
    }


def test_route_matching_is_real() -> None:
    routes = _routes()
    assert "/healthz" in routes["gateway"] and "/no-such-route" not in routes["gateway"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_probe_paths_are_routes(prod, service: str) -> None:
    routes = _routes()[service]
    c = container(by_kind(prod, "Deployment")[service])
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] in routes
        assert get["port"] in ports_by_name(c)
        assert get.get("scheme", "HTTP") == ("HTTPS" if service == "gateway" else "HTTP")


def test_scraped_paths_are_routes(prod) -> None:
    routes = _routes()
    for sm in by_kind(prod, "ServiceMonitor").values():
        name = sm["metadata"]["name"]
        for ep in sm["spec"]["endpoints"]:
            assert ep["path"] in routes[name] or (name, ep["path"]) in PENDING_ROUTES


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
    containers = {n: container(d) for n, d in by_kind(docs, "Deployment").items()}

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
            assert port["targetPort"] in ports_by_name(containers[target])
    for name, pdb in by_kind(docs, "PodDisruptionBudget").items():
        assert matching(pdb["spec"]["selector"]["matchLabels"]), f"PDB {name} selects nothing"
    for name, pol in by_kind(docs, "NetworkPolicy").items():
        sel = pol["spec"]["podSelector"].get("matchLabels", {})
        targets = matching(sel)
        assert targets, f"NetworkPolicy {name} selects nothing"
        if sel:
            open_ports = {p for t in targets for p in ports_by_name(containers[t]).values()}
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
