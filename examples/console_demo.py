"""`make run`: chamberlain serve with the console on, and example data to look at.

Starts `chamberlain serve` (examples/chamberlain.yaml; a copy of examples/policies, made afresh at each
start under the state folder, plus examples/console/payment.yaml, whose large payments wait for a
person's approval) with the admin surface on for
an `operator` whose password is made up now (printed once, never stored), then, over the server's own
APIs, opens a few agent sessions, lets their agents act (budgets get spent) and asks for one payment
that waits for a person's approval. Prints the console's URL and login, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx

USER = "operator"
APPROVAL_POLICY = Path(__file__).parent / "console" / "payment.yaml"
AGENTS = [
    ("alice", "invoice-agent", [120, 340, 75]),
    ("bob", "travel-agent", [900]),
    ("carol", "report-agent", []),
]


def serve(args: argparse.Namespace, password: str) -> subprocess.Popen[bytes]:
    hashed = base64.b64encode(bcrypt.hashpw(password.encode(), bcrypt.gensalt(10))).decode()
    env = {**os.environ, "CHAMBERLAIN__SERVER__ADMINAPI__ENABLED": "true",
           "CHAMBERLAIN__SERVER__ADMINAPI__ADMINCREDENTIALS__USERNAME": USER,
           "CHAMBERLAIN__SERVER__ADMINAPI__ADMINCREDENTIALS__PASSWORDHASH": hashed}  # fmt: skip
    policies = Path(args.state_dir) / "console-demo-policies"
    shutil.rmtree(policies, ignore_errors=True)
    shutil.copytree(args.policies, policies)
    shutil.copy(APPROVAL_POLICY, policies / "console-demo-payment.yaml")
    exe = Path(sys.executable).parent / "chamberlain"
    return subprocess.Popen([str(exe), "serve", "--config", args.config, "--policies", str(policies),
                             "--http", args.http, "--state-dir", args.state_dir], env=env)  # fmt: skip


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"chamberlain serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/_cerbos/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"chamberlain serve did not answer at {url}")


def pay(url: str, agent: str, amount: int, session: str = "") -> dict:
    body = {"requestId": "demo", "principal": {"id": agent, "roles": ["agent"]},
            "resources": [{"actions": ["pay"], "resource": {"kind": "payment", "id": f"pay-{amount}",
                                                            "attr": {"amount": amount, "payee": "acme"}}}],
            **({"auxData": {"session": {"id": session}}} if session else {})}  # fmt: skip
    answer = httpx.post(f"{url}/api/check/resources", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json()["results"][0]


def seed(url: str, password: str) -> None:
    """A few sessions with spent budgets, and one payment waiting for approval."""
    auth = (USER, password)
    for subject, agent, payments in AGENTS:
        opened = httpx.post(f"{url}/api/sessions", auth=auth, timeout=30, json={
            "subject": subject, "agent": agent, "ttl": "8h",
            "budgets": [{"name": "payments", "kind": "payment", "actions": ["pay"], "limit": 1000,
                         "cost": "R.attr.amount"}]})  # fmt: skip
        opened.raise_for_status()
        for amount in payments:
            pay(url, agent, amount, opened.json()["id"])
    pay(url, "invoice-agent", 4200)  # a large payment: waits for a finance manager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="examples/chamberlain.yaml")
    parser.add_argument("--policies", default="examples/policies")
    parser.add_argument("--http", default="127.0.0.1:3592")
    parser.add_argument("--state-dir", default=".chamberlain")
    parser.add_argument(
        "--seed-only", action="store_true", help="Stop the server once the data is in (tests)."
    )
    args = parser.parse_args()
    url = f"http://{args.http}"
    password = secrets.token_urlsafe(12)
    proc = serve(args, password)
    try:
        wait_healthy(url, proc)
        seed(url, password)
        print(f"\nchamberlain console: {url}/console/\n  log in as {USER} with password {password}\n"
              "  (people approve with OIDC: see docs/concepts/console.md)\n", flush=True)  # fmt: skip
        if not args.seed_only:
            proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
