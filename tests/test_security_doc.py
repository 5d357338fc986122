"""docs/security.md's samples run as written: the TLS configuration (with certificates made here at its
paths), the admin surface's configuration and its curl commands against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import yaml

from chamberlain.server.config import load_config
from tests.delegation.support import IdentityProvider
from tests.server.certs import authority, leaf
from tests.server.support import ThreadServer

DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"


def test_the_tls_sample_configures_mutual_tls(tmp_path, monkeypatch):
    [sample] = [s for s in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S) if "tls:" in s]
    (tmp_path / "tls").mkdir()
    ca = authority()
    ca.write(tmp_path / "tls", "ca")
    leaf(ca, "pdp").write(tmp_path / "tls", "server")
    (tmp_path / "chamberlain.yaml").write_text(sample)
    monkeypatch.chdir(tmp_path)
    config = load_config(tmp_path / "chamberlain.yaml", env={})
    data = yaml.safe_load(sample)
    assert config.tls is not None and config.tls.ca_file == tmp_path / data["server"]["tls"]["caCert"]
    assert config.public_url == "https://127.0.0.1:3592" and config.tls_reload_interval == 1.0


def _admin_section() -> str:
    text = DOC.read_text()
    return text[text.index("## The admin surface") : text.index("## TLS")]


def test_the_admin_samples_run_against_a_server(tmp_path):
    [sample] = re.findall(r"```yaml\n(.*?)```", _admin_section(), re.S)
    [commands] = re.findall(r"```sh\n(.*?)```", _admin_section(), re.S)
    data = yaml.safe_load(sample)
    idp = IdentityProvider("https://people.example")
    (tmp_path / "jwks.json").write_text(json.dumps(idp.jwks()))
    people = {
        "issuer": "https://pdp.example",
        "trustedIssuers": [
            {"issuer": idp.issuer, "jwksFile": str(tmp_path / "jwks.json"), "audience": "https://pdp.example"}
        ],
    }
    (tmp_path / "policies").mkdir()
    overrides = {"server": data["server"], "chamberlain": {**data["chamberlain"], "delegation": people}}
    with ThreadServer(tmp_path / "policies", overrides) as server:
        first = _run(commands.splitlines()[0], server.url)
        assert len(first["entries"]) == 1 and first["entries"][0]["principal"]["id"] == "operator"
        token = idp.token("carol", aud="https://pdp.example", roles=["auditor"])
        env = {"NEXT": first["next_cursor"] or "", "AUDITOR_TOKEN": token}
        answers = [_run(line, server.url, env) for line in commands.splitlines()]
    assert answers[1]["entries"] and answers[2] == {"entries": [], "next_cursor": None}
    assert answers[3]["tree_size"] >= 1 and "checkpoint" in answers[3]


def _run(line: str, url: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        ["bash", "-c", line],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "CHAMBERLAIN": url, **(env or {})},
    )
    return json.loads(done.stdout)
