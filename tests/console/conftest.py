"""One real `chamberlain serve`, one real dev IdP (OIDC) and one real Chromium per module.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright without `playwright install`; the tests
skip when it is missing, except under CI=true where that is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chamberlain.devidp import DevIdp, init_directory
from tests.server.support import ADMIN_AUTH, ADMIN_HASH
from tests.support.cerbos_server import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "console"
CLIENT_ID = "chamberlain-console"
TIMEOUT_MS = 15_000  # a page waits this long for what a test expects

POLICIES = {
    "invoice.yaml": """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: invoice
  version: default
  rules:
    - name: agents-pay
      actions: ["pay", "view"]
      effect: EFFECT_ALLOW
      roles: ["agent"]
""",
    # The example payment policy: large payments wait for a finance manager's approval.
    "payment.yaml": (ROOT / "examples" / "console" / "payment.yaml").read_text(),
    # Large transfers wait for the consent of the person the agent acts for.
    "transfer.yaml": (ROOT / "examples" / "console" / "payment.yaml")
    .read_text()
    .replace("resource: payment", "resource: transfer")
    .replace('["finance_manager"]', '["$subject"]'),
}


def chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing (Debian: apt-get install -y chromium; `make test` installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the console tests need Chromium under CI: {message}")
    pytest.skip(message)


def _wait(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start at {url}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Stack:
    """The running server and IdP, and what tests need to act on them."""

    url: str
    idp_url: str
    state: Path
    idp: DevIdp

    def check(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}/api/check/resources", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["results"][0]

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}{path}", auth=ADMIN_AUTH, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("console")
    port, idp_port = free_port(), free_port()
    url, idp_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{idp_port}"
    init_directory(tmp / "idp", issuer=idp_url)
    settings = yaml.safe_load((tmp / "idp" / "idp.yaml").read_text())
    settings["clients"].append({"clientId": CLIENT_ID, "redirectUris": [f"{url}/console/oidc/callback"]})
    (tmp / "idp" / "idp.yaml").write_text(yaml.safe_dump(settings))
    idp = DevIdp.load(tmp / "idp")
    policies = tmp / "policies"
    policies.mkdir()
    for name, text in POLICIES.items():
        (policies / name).write_text(text)
    config = {
        "server": {
            "httpListenAddr": f"127.0.0.1:{port}",
            "adminAPI": {
                "enabled": True,
                "adminCredentials": {"username": ADMIN_AUTH[0], "passwordHash": ADMIN_HASH},
            },
        },
        "storage": {"driver": "disk", "disk": {"directory": str(policies), "watchForChanges": False}},
        "chamberlain": {
            "stateDir": str(tmp / "state"),
            "logFormat": "text",
            "shutdownTimeout": "2s",
            "delegation": {
                "trustedIssuers": [
                    {"issuer": idp_url, "audience": "chamberlain", "jwksFile": str(tmp / "idp" / "jwks.json")}
                ]
            },
            "console": {"liveInterval": "500ms"},
        },
    }
    (tmp / "chamberlain.yaml").write_text(json.dumps(config))
    exe = Path(sys.executable).parent / "chamberlain"
    idp_proc = subprocess.Popen(
        [str(exe), "dev", "idp", "serve", "--dir", str(tmp / "idp")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = subprocess.Popen(
        [str(exe), "serve", "--config", str(tmp / "chamberlain.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait(f"{idp_url}/.well-known/openid-configuration", idp_proc, "the dev IdP")
        _wait(f"{url}/_cerbos/health", server, "chamberlain serve")
        yield Stack(url, idp_url, tmp / "state", idp)
    finally:
        _stop(server)
        _stop(idp_proc)


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Any, name: str) -> None:
    """A screenshot of the page for the docs (docs/console/NAME.png)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def operator_page(browser: Any, stack: Stack, *, login_shot: str = "") -> Any:
    """A page logged in with the operator's credentials (``login_shot``: a screenshot of the login page)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{stack.url}/console/")
    assert page.url.startswith(f"{stack.url}/console/login")
    if login_shot:
        shot(page, login_shot)
    page.fill("input[name=username]", ADMIN_AUTH[0])
    page.fill("input[name=password]", ADMIN_AUTH[1])
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{stack.url}/console/sessions")
    return page
