"""The web console on a real stack (gateway, preprocessor, tritonserver) with the real ``oidc-provider``,
driven by real Chromium through Playwright, plus plain-HTTP checks of its refusals.

Screenshots of each page go to ``console-screenshots/`` (git-ignored); ``make console-screenshot`` copies
the Models page to docs/console.png for the README.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
import requests
from playwright import sync_api as playwright_sync
from typer.testing import CliRunner

from medinfer.cli.main import app as cli_app
from medinfer.shipped_models import build_model
from medinfer.stack import Stack
from tests.support.oidc_provider import OIDCProvider
from tests.support.stack import copy_repository, dev_auth_header, new_stack_ports

pytestmark = [pytest.mark.e2e]


MODEL = "breast_cancer"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[2] / "console-screenshots"
PHI_CANARIES = ("Zebulon Quackenbush", "MRN 48213997", "555-867-5309")
PATIENT = "MRN-CONSOLE-7731"


@pytest.fixture(scope="module")
def console_stack(tmp_path_factory: pytest.TempPathFactory, model_repository_template: Path) -> Iterator[tuple]:
    """A stack of its own (the tests move breast_cancer's tags) trusting a provider that knows the console."""
    home = tmp_path_factory.mktemp("console-stack")
    copy_repository(model_repository_template, home)
    ports = new_stack_ports()
    op = OIDCProvider()
    op.start(redirect_uris=[f"https://127.0.0.1:{ports.gateway}/console/auth/callback"])
    s = Stack(home, ports, extra_env={"MEDINFER_GATEWAY_OIDC_ISSUER": op.issuer,
                                      "MEDINFER_GATEWAY_RATE_LIMIT_RPS": "100000",
                                      "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "100000"})
    try:
        s.start()
        yield s, op
    finally:
        s.stop()
        op.stop()


def _session(stack: Stack) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = str(stack.home / "tls" / "ca.pem")
    return s


def _dev_login(stack: Stack, scopes: tuple[str, ...], sub: str = "alice") -> requests.Session:
    s = _session(stack)
    r = s.post(stack.gateway_url + "/console/auth/dev", data={"sub": sub, "scope": list(scopes)})
    assert r.status_code == 200, r.text
    return s


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _cli(stack: Stack, *args: str):
    token = dev_auth_header(stack.home, "models:read models:write")["Authorization"].split(" ", 1)[1]
    res = CliRunner().invoke(cli_app, ["models", "--gateway", stack.gateway_url, "--ca-file",
                                       str(stack.home / "tls" / "ca.pem"), "--token", token, *args, "-o", "json"])
    assert res.exit_code == 0, res.output
    return orjson.loads(res.stdout)


class Load:
    """One client sending inference requests back to back (some carrying PHI canaries on the text route)."""

    def __init__(self, stack: Stack) -> None:
        self.session = _session(stack)
        self.session.headers.update(dev_auth_header(stack.home))
        self.url = f"{stack.gateway_url}/v2/models/{MODEL}/infer"
        x = np.random.default_rng(0).uniform(0.05, 20, size=(1, 30)).astype(np.float32)
        self.body = orjson.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 30],
                                              "data": x.ravel().tolist()}]})
        self.versions: list[str | None] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            r = self.session.post(self.url, data=self.body, headers={"Content-Type": "application/json"}, timeout=30)
            self.statuses.append(r.status_code)
            self.versions.append(r.headers.get("X-Model-Version"))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)
        self.session.close()


# ---- plain HTTP: cookies, refusals -------------------------------------------------------------------------

def test_session_cookie_is_secure_httponly_strict_and_pages_need_it(console_stack) -> None:
    stack, _ = console_stack
    anon = _session(stack)
    r = anon.get(stack.gateway_url + "/console/models", allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    r = anon.post(stack.gateway_url + "/console/auth/dev", data={"sub": "alice", "scope": ["models:read"]})
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-medinfer-console=")
    for attr in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert attr.lower() in cookie.lower(), cookie
    page = anon.get(stack.gateway_url + "/console/models")
    assert page.status_code == 200 and MODEL in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert "<script>" not in page.text and " style=" not in page.text and "<style" not in page.text
    forged = _session(stack)
    forged.cookies.set("__Host-medinfer-console", "not-a-sealed-session", domain="127.0.0.1")
    assert forged.get(stack.gateway_url + "/console/models", allow_redirects=False).status_code == 303
    # a callback this browser did not start (login CSRF) is refused and signs nobody in
    r = _session(stack).get(stack.gateway_url + "/console/auth/callback?code=abc&state=def", allow_redirects=False)
    assert r.status_code == 400 and "set-cookie" not in {k.lower() for k in r.headers}
    # sign out needs the CSRF token too, then the session is gone
    assert anon.post(stack.gateway_url + "/console/logout", data={}).status_code == 403
    r = anon.post(stack.gateway_url + "/console/logout", data={"csrf": _csrf(page.text)}, allow_redirects=False)
    assert r.status_code == 303 and 'max-age=0' in r.headers["set-cookie"].lower()
    anon.cookies.clear()
    assert anon.get(stack.gateway_url + "/console/models", allow_redirects=False).status_code == 303


def test_without_audit_read_audit_pages_and_data_are_403(console_stack) -> None:
    stack, op = console_stack
    s = _dev_login(stack, ("models:read", "models:write"), sub="bob")
    refused = s.get(stack.gateway_url + "/console/audit")
    assert refused.status_code == 403 and "audit:read" in refused.text and "<table" not in refused.text
    auditor = _dev_login(stack, ("audit:read",), sub="priya")
    r = auditor.get(stack.gateway_url + "/console/models")
    assert r.status_code == 403 and 'href="/console/audit"' in r.text, "the auditor is shown where to go"
    assert auditor.get(stack.gateway_url + "/console/audit").status_code == 200
    csrf = _csrf(s.get(stack.gateway_url + "/console/models").text)
    assert s.post(stack.gateway_url + "/console/audit/verify", data={"csrf": csrf}).status_code == 403
    r = s.post(stack.gateway_url + "/console/audit/disclosures",
               data={"csrf": csrf, "patient_key": PATIENT, "format": "csv"})
    assert r.status_code == 403 and PATIENT not in r.text
    assert 'href="/console/audit"' not in s.get(stack.gateway_url + "/console/models").text
    api = _session(stack)
    api.headers["Authorization"] = "Bearer " + op.token("svc-infer")
    for method, path in (("GET", "/audit/records"), ("POST", "/audit/verify"), ("GET", "/audit/disclosures")):
        assert api.request(method, stack.gateway_url + path).status_code == 403


def test_actions_without_csrf_token_or_from_another_origin_are_refused(console_stack) -> None:
    stack, _ = console_stack
    s = _dev_login(stack, ("models:read", "models:write"))
    before = _cli(stack, "history", MODEL)
    url = stack.gateway_url + f"/console/models/{MODEL}/rollback"
    assert s.post(url, data={"reason": "no token", "confirm": "yes"}).status_code == 403
    assert s.post(url, data={"reason": "bad token", "confirm": "yes", "csrf": "x" * 43}).status_code == 403
    csrf = _csrf(s.get(stack.gateway_url + f"/console/models/{MODEL}").text)
    r = s.post(url, data={"reason": "cross site", "confirm": "yes", "csrf": csrf},
               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    ro = _dev_login(stack, ("models:read",), sub="reader")
    csrf_ro = _csrf(ro.get(stack.gateway_url + "/console/models").text)
    assert ro.post(url, data={"reason": "reader", "confirm": "yes", "csrf": csrf_ro}).status_code == 403
    assert _cli(stack, "history", MODEL) == before, "no refused action changed the registry"


# ---- Chromium ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/apt-packages.txt)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _page(browser, downloads: bool = False):
    ctx = browser.new_context(ignore_https_errors=True, accept_downloads=downloads,
                              viewport={"width": 1400, "height": 900})
    return ctx, ctx.new_page()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _oidc_login(page, stack: Stack, user: str) -> None:
    page.goto(stack.gateway_url + "/console/login")
    page.click("#oidc-login")
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", user)
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]")  # the provider's consent page
    page.click("button[type=submit]")
    page.wait_for_url("**/console/models", timeout=15000)


def test_oidc_login_canary_under_load_rollback_audit_and_export(console_stack, browser, tmp_path: Path) -> None:
    stack, _ = console_stack
    src = tmp_path / "v2"
    build_model(MODEL, src)
    assert _cli(stack, "publish", str(src), "--name", MODEL, "--reason", "retrained for the console test")["version"] == 2

    ctx, page = _page(browser, downloads=True)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        _oidc_login(page, stack, "carol")
        assert page.text_content("[data-testid=principal]") == "carol"
        assert page.locator(f"tr[data-model={MODEL}]").count() >= 2
        _shot(page, "models")

        with Load(stack) as load:
            page.goto(stack.gateway_url + f"/console/models/{MODEL}")
            page.select_option("#action-canary select[name=version]", "2")
            page.fill("#action-canary input[name=weight]", "30")
            page.fill("#action-canary input[name=reason]", "console canary under load")
            page.click("#action-canary button[type=submit]")
            page.click("#confirm-button")
            page.wait_for_selector("[data-testid=notice]")
            assert "v2 at 30%" in page.text_content("#canary")
            assert page.text_content("tr[data-version='2'] td.weight").strip() == "30"
            n = len(load.versions)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and load.versions[n:].count("2") < 5:
                time.sleep(0.2)
            assert load.versions[n:].count("2") >= 5, "the canary weight reached the traffic"
            page.reload()
            rps = page.text_content("tr[data-version='2'] td:nth-child(7)")
            assert rps.strip() not in ("", "—"), "a request rate from the gateway's own series"
            _shot(page, "model")

            page.select_option("#action-promote select[name=version]", "2")
            page.fill("#action-promote input[name=reason]", "canary looked healthy")
            page.click("#action-promote button[type=submit]")
            page.click("#confirm-button")
            page.wait_for_selector("[data-testid=notice]")
            assert page.text_content("#current") == "v2"

            page.fill("#action-rollback input[name=reason]", "INC-4711 rollback from the console")
            page.click("#action-rollback button[type=submit]")
            page.click("#confirm-button")
            page.wait_for_selector("[data-testid=notice]")
        assert set(load.statuses) == {200}, "no request failed while the console moved tags"
        assert page.text_content("#current") == "v1"
        first = page.locator("#history li").first
        assert "rollback" in first.text_content() and "INC-4711 rollback from the console" in first.text_content()
        assert "carol" in first.locator(".actor").text_content()

        # the console's own rollback is in the audit ledger, by principal and route
        page.goto(stack.gateway_url + "/console/audit?sub=carol&route=/console/models/{name}/{action}&search=1")
        assert page.locator("#audit-results tbody tr").count() >= 4  # canary + confirm, rollback + confirm
        _shot(page, "audit")

        # disclosures: send a request naming the patient, export it from the console, compare with the CLI
        api = _session(stack)
        api.headers.update(dev_auth_header(stack.home))
        r = api.post(stack.gateway_url + f"/v2/models/{MODEL}/infer", data=load.body,
                     headers={"Content-Type": "application/json", "X-Patient-Key": PATIENT})
        assert r.status_code == 200
        page.goto(stack.gateway_url + "/console/audit")
        page.fill("#disclosures-form input[name=patient_key]", PATIENT)
        with page.expect_download() as dl:
            page.click("#export-csv")
        console_csv = Path(dl.value.path()).read_text()
        res = CliRunner().invoke(cli_app, ["audit", "export", "--patient-key", PATIENT, "--format", "csv"],
                                 env={"MEDINFER_HOME": str(stack.home)})
        assert res.exit_code == 0, res.output
        rows = list(csv.DictReader(io.StringIO(console_csv)))
        cli_rows = list(csv.DictReader(io.StringIO(res.stdout)))
        assert rows and rows == cli_rows[:len(rows)]
        assert any(row.get("model") == MODEL for row in rows)
        with page.expect_download() as dl:
            page.click("#export-json")
        report = json.loads(Path(dl.value.path()).read_text())
        assert report["report"] == "accounting-of-disclosures" and report["count"] >= 1
    finally:
        ctx.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_pages_never_render_phi_and_a_tampered_ledger_is_broken_at_its_record(console_stack, browser) -> None:
    stack, _ = console_stack
    api = _session(stack)
    api.headers.update(dev_auth_header(stack.home, "infer"))
    note = f"{PHI_CANARIES[0]}, {PHI_CANARIES[1]}, call {PHI_CANARIES[2]}, seen for chest pain."
    rid = "c0501e" + secrets.token_hex(10)
    r = api.post(stack.gateway_url + "/infer", json={"input": note, "model": "ner"}, headers={"X-Request-ID": rid})
    assert r.status_code == 200, r.text
    api.post(stack.gateway_url + f"/v2/models/{PHI_CANARIES[0]}/infer", json={"inputs": []})  # PHI in a URL

    ctx, page = _page(browser)
    try:
        page.goto(stack.gateway_url + "/console/login")
        page.click("#dev-login")
        page.wait_for_url("**/console/models")
        for path, name in (("/console/models", None), (f"/console/models/{MODEL}", None),
                           ("/console/health", "health"), ("/console/monitoring", "monitoring"),
                           ("/console/audit?search=1&since=2000-01-01", None),
                           (f"/console/audit?request_id={rid}", None)):
            page.goto(stack.gateway_url + path)
            content = page.content()
            for canary in PHI_CANARIES:
                assert canary not in content, (path, canary)
            if name:
                _shot(page, name)
        assert page.locator("#audit-results tbody tr").count() == 1, "the canary request is found by its id"
        page.goto(stack.gateway_url + "/console/health")
        assert page.text_content("#services").count("not ready") == 0
        assert page.text_content("#outbox") == "0"
        assert "closed" in page.text_content("#circuits")

        page.goto(stack.gateway_url + "/console/audit")
        page.click("#verify")
        page.wait_for_selector("#verify-result")
        assert "Chain verifies" in page.text_content("#verify-result")
        page.goto(stack.gateway_url + f"/console/audit?request_id={rid}")
        seq = int(page.locator("#audit-results tbody tr td").first.text_content())
        con = sqlite3.connect(stack.home / "medinfer.db")
        with con:
            con.execute("UPDATE audit_ledger SET status = 418 WHERE seq = ?", (seq,))
        con.close()
        page.goto(stack.gateway_url + "/console/audit")
        page.click("#verify")
        page.wait_for_selector("#verify-result.broken")
        assert int(page.text_content("#broken-seq")) == seq
        _shot(page, "audit-broken")
    finally:
        ctx.close()
