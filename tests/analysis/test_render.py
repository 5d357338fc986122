"""The readable conditions and the reports: precedence kept, every name and value escaped."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from chamberlain import PDP
from chamberlain.analysis import build_map, policy_subjects, policy_targets
from chamberlain.analysis.readable import readable
from chamberlain.analysis.render import html_report, rich_tables
from chamberlain.engine.planner import Expression, Value, Variable

POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: document
  version: default
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["reader"]
      condition:
        match:
          expr: R.attr.title == "<img src=x onerror=alert(1)>" || R.attr.tags.exists(t, t == "a&b")
"""


def test_readable_keeps_precedence_and_abbreviates() -> None:
    status = Variable("request.resource.attr.status")
    cond = Expression(
        "and",
        (
            Expression("not", (Expression("eq", (status, Value("PAID"))),)),
            Expression(
                "or",
                (
                    Expression("eq", (status, Value("APPROVED"))),
                    Expression("le", (Variable("request.principal.attr.limit"), Value(1000.0))),
                ),
            ),
        ),
    )
    assert (
        readable(cond) == 'R.attr.status != "PAID" && (R.attr.status == "APPROVED" || P.attr.limit <= 1000)'
    )
    assert readable(cond, limit=20) == 'R.attr.status != "P…'


def test_reports_escape_what_policies_say(tmp_path: Path) -> None:
    (tmp_path / "document.yaml").write_text(POLICY)
    pdp = PDP.from_directory(tmp_path)
    vault = build_map(pdp.engine, policy_subjects(pdp.policies), policy_targets(pdp.policies, ["document"]))
    cell = vault.cell("role:reader", "document", "view")
    assert cell is not None and cell.access.value == "CONDITIONALLY"
    assert '"<img src=x onerror=alert(1)>"' in cell.conditions[0][1]
    assert 'R.attr.tags.exists(t, t == "a&b")' in cell.conditions[0][1]
    report = html_report(vault)
    assert "<img" not in report and "&lt;img src=x onerror=alert(1)&gt;" in report
    assert "a&amp;b" in report
    assert "1 roles can view document; 0 of them without a condition" in report
    console = Console(record=True, width=200, file=io.StringIO())
    for renderable in rich_tables(vault):
        console.print(renderable)
    text = console.export_text()
    assert "if [1]" in text and "[1] role:reader view document: " in text


def test_readable_writes_optional_selections_as_policies_write_them() -> None:
    tier = Expression("_?._", (Variable("request.resource.attr"), Value("tier")))
    cond = Expression("eq", (Expression("orValue", (tier, Value("free"))), Value("free")))
    assert readable(cond) == 'R.attr.?tier.orValue("free") == "free"'
