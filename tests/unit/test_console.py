"""The console's plain modules: the sealed session, PKCE, SVG charts, per-version rates, the development
login's existence, production's refusal of the development session key."""

from __future__ import annotations

import base64
import hashlib
import time
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry

from medinfer.console.auth import ConsoleAuth
from medinfer.console.charts import line_chart
from medinfer.console.data import DriftHistory, TrafficSampler, rollout_state
from medinfer.console.oidc import pkce_pair
from medinfer.console.session import SessionCodec, load_session_key
from medinfer.gateway.settings import GatewaySettings
from medinfer.registry.routing import VersionMetrics
from medinfer.common.errors import Unauthorized


def test_session_round_trips_and_refuses_forged_tampered_or_foreign_cookies() -> None:
    codec = SessionCodec(Fernet.generate_key())
    session, sealed = codec.new_session("tok.en.value")
    assert "tok.en.value" not in sealed, "the token is encrypted, not just signed"
    back = codec.session(sealed)
    assert back.token == "tok.en.value" and back.csrf == session.csrf and len(session.csrf) >= 40
    assert back.csrf_ok(session.csrf) and not back.csrf_ok(None) and not back.csrf_ok("") \
        and not back.csrf_ok(session.csrf[:-1] + ("A" if session.csrf[-1] != "A" else "B"))
    assert codec.session(sealed[:-4] + "AAAA") is None
    assert codec.session("garbage") is None and codec.session(None) is None
    assert SessionCodec(Fernet.generate_key()).session(sealed) is None, "another key's cookie"
    assert codec.pending_login(sealed) is None, "a session is not a login in progress"


def test_session_expires_with_its_max_age() -> None:
    codec = SessionCodec(Fernet.generate_key(), max_age_s=1)
    _, sealed = codec.new_session("t")
    time.sleep(2.1)
    assert codec.session(sealed) is None


def test_pkce_challenge_is_s256_of_the_verifier() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    expect = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == expect and pkce_pair()[0] != verifier


def test_session_key_is_created_private_in_development_only(tmp_path) -> None:
    path = tmp_path / "keys" / "console.key"
    with pytest.raises(FileNotFoundError):
        load_session_key(path, create=False)
    key = load_session_key(path, create=True)
    assert (path.stat().st_mode & 0o777) == 0o600 and load_session_key(path, create=False) == key
    Fernet(key)


def test_line_chart_is_escaped_svg_without_script() -> None:
    svg = str(line_chart([0.1, None, 0.3, 0.25], label="<b>psi</b>", threshold=0.2))
    assert svg.startswith("<svg") and "<polyline" in svg and "&lt;b&gt;psi" in svg and "<b>" not in svg
    assert "script" not in svg and "style=" not in svg
    assert "no data yet" in str(line_chart([None], label="x"))


def test_sampler_rates_come_from_the_gateway_series() -> None:
    reg = CollectorRegistry()
    vm = VersionMetrics(reg)
    sampler = TrafficSampler(reg)
    for _ in range(3):
        with vm.track("m", 1):
            pass
    first = sampler.stats("m")
    assert first[1].requests_total == 3 and first[1].rate_rps is None and first[1].p99_ms is not None
    for _ in range(10):
        with vm.track("m", 2) as outcome:
            outcome.fail()
    time.sleep(0.05)
    second = sampler.stats("m")
    assert second[2].error_rate == 1.0 and second[2].rate_rps > 0, "a version new since the last read"
    assert second[1].rate_rps == 0.0


def test_rollout_state_restarts_at_each_promotion() -> None:
    ev = lambda kind, reason="": {"kind": kind, "reason": reason, "at": "t", "actor": "a", "detail": None}  # noqa: E731
    assert rollout_state([ev("publish"), ev("promote")]) is None
    st = rollout_state([ev("canary"), ev("promote"), ev("canary"), ev("auto_rollback", "error rate 0.5 > 0.05")])
    assert len(st["steps"]) == 2 and not st["active"] and st["stopped_because"] == "error rate 0.5 > 0.05"


def test_drift_history_keeps_one_point_per_evaluation() -> None:
    h = DriftHistory(keep=3)
    snap = {"version": "1", "evaluated_at": 1.0, "features": [{"psi": 0.1, "ks_pvalue": 0.5}, {"psi": 0.4,
            "ks_pvalue": 0.01}], "checked_total": 10, "ood_counts": {"range": 2}, "drift_detected": True}
    h.observe("m", [snap, snap])
    for t in (2.0, 3.0, 4.0):
        h.observe("m", [{**snap, "evaluated_at": t}])
    pts = h.points("m", "1")
    assert [p.at for p in pts] == [2.0, 3.0, 4.0]
    assert pts[0].max_psi == 0.4 and pts[0].min_ks_p == 0.01 and pts[0].ood_share == 0.2


def test_development_login_exists_only_in_development(tmp_path) -> None:
    security = SimpleNamespace(verifier=object())  # ConsoleAuth only asks whether tokens are verified
    dev = GatewaySettings(environment="development", home=tmp_path)
    auth = ConsoleAuth(dev, security)
    assert auth.dev_login and auth.oidc is None
    with pytest.raises(Unauthorized):
        auth.dev_token("no spaces allowed", ["models:read"])
    other = GatewaySettings(environment="test", home=tmp_path)
    auth = ConsoleAuth(other, security)
    assert not auth.dev_login
    with pytest.raises(Unauthorized, match="development login is not available"):
        auth.dev_token("alice", ["audit:read"])


def test_production_refuses_the_console_without_its_own_session_key(tmp_path) -> None:
    """Off by default outside development; switched on without a key (or with the development one) it is
    refused at start-up."""
    assert not GatewaySettings(environment="test", home=tmp_path).console_on
    assert GatewaySettings(environment="development", home=tmp_path).console_on
    for extra in ({"console_enabled": True},
                  {"console_session_key_file": tmp_path / "keys" / "console-session.key"}):
        with pytest.raises(ValueError, match="console_session_key_file must be set"):
            GatewaySettings(environment="production", home=tmp_path, **extra)
