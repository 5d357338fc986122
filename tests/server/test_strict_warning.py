"""A DENY rule whose condition fails to evaluate is skipped unless engine.strictEvaluation is on (Cerbos's
default, kept): the server says so at start when the policies have such rules, and the examples turn it on."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import yaml

from chamberlain.server.config import load_config
from chamberlain.server.state import ServerState
from tests.server.support import REPO, ThreadServer

EXAMPLES = REPO / "examples" / "policies"
CONFIG = REPO / "examples" / "chamberlain.yaml"


def _state(caplog, strict: bool, tmp_path: Path) -> list[logging.LogRecord]:
    config = load_config(
        None,
        overrides={
            "storage": {"disk": {"directory": str(EXAMPLES)}},
            "engine": {"strictEvaluation": strict},
            "chamberlain": {"stateDir": str(tmp_path), "audit": {"enabled": False}},
        },
        env={},
    )
    with caplog.at_level(logging.WARNING, logger="chamberlain.server"):
        ServerState(config).close()
    return [r for r in caplog.records if "strictEvaluation" in r.getMessage()]


def test_start_warns_about_conditional_denies_when_not_strict(caplog, tmp_path):
    [record] = _state(caplog, False, tmp_path)
    rules = record.__dict__["rules"]
    assert "resource.invoice.vdefault rule 'no-double-payment'" in rules
    assert "resource.invoice.vdefault/acme rule 'verified-vendors-only'" in rules
    assert not any("agent-pay" in r for r in rules)  # ALLOW rules are not named


def test_no_warning_under_strict_evaluation(caplog, tmp_path):
    assert _state(caplog, True, tmp_path) == []


def test_the_example_configuration_turns_strict_evaluation_on():
    data = yaml.safe_load(CONFIG.read_text())
    assert data["engine"]["strictEvaluation"] is True
    config = load_config(CONFIG, env={})
    assert config.engine_options["strict_evaluation"] is True
    assert "--config examples/chamberlain.yaml" in (REPO / "Makefile").read_text()


def test_strict_evaluation_keeps_a_guarding_deny(tmp_path):
    """Without vendor data, verified-vendors-only errors: skipped (ALLOW) by default, a DENY under strict."""
    body = {
        "principal": {"id": "alice", "roles": ["finance_clerk"]},
        "resources": [
            {
                "actions": ["pay"],
                "resource": {
                    "kind": "invoice",
                    "id": "i",
                    "scope": "acme",
                    "attr": {"amount": 10, "status": "APPROVED"},
                },
            }
        ],
    }
    answers = {}
    for strict in (False, True):
        with ThreadServer(EXAMPLES, {"engine": {"strictEvaluation": strict}}) as srv:
            answers[strict] = httpx.post(f"{srv.url}/api/check/resources", json=body).json()
    assert answers[False]["results"][0]["actions"]["pay"] == "EFFECT_ALLOW"
    assert answers[True]["results"][0]["actions"]["pay"] == "EFFECT_DENY"


def test_make_run_serves_the_example_configuration_and_its_curl_answers():
    """`make run`'s command line and the curl it prints, run as they are written."""
    import re
    import shlex

    from tests.server.support import serve_process

    makefile = (REPO / "Makefile").read_text()
    # `make run` starts the server through the console's demo (examples/console_demo.py), same arguments.
    serve = re.search(
        r"(?:chamberlain serve|console_demo\.py) (--config \S+ --policies )\$\(RUN_POLICIES\)", makefile
    )
    curl = re.search(r"-d '(\{.*?\})'\"", makefile)
    assert serve is not None and curl is not None
    body = curl.group(1).replace('\\"', '"')
    args = [*shlex.split(serve.group(1)), "examples/policies"]
    with serve_process(*args) as (_, url):
        reply = httpx.post(
            f"{url}/api/check/resources", content=body, headers={"Content-Type": "application/json"}
        )
    assert reply.status_code == 200, reply.text
    assert reply.json()["results"][0]["actions"] == {
        "view": "EFFECT_ALLOW",
        "pay": "EFFECT_ALLOW",
        "approve": "EFFECT_DENY",
    }
