"""Cerbos's ``verify`` cases: a txtar archive of test suites and fixtures, run against ``store/``,
and the golden ``TestResults``. Compared on what decides a test: each suite's overall result,
and per test, principal, resource and action the result, the effects and the outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chamberlain.engine.wire import json_number


@dataclass(frozen=True)
class VerifyCase:
    name: str
    description: str
    files: dict[str, str]
    golden: dict[str, Any] | None
    want_error: bool
    config: dict[str, Any]


def parse_txtar(text: str) -> dict[str, str]:
    files: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\n")
        if stripped.startswith("-- ") and stripped.endswith(" --") and len(stripped) > 6:
            if current is not None:
                files[current] = "".join(lines)
            current, lines = stripped[3:-3].strip(), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        files[current] = "".join(lines)
    return files


def load_cases(directory: Path) -> list[VerifyCase]:
    cases = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        golden_path = path.with_name(path.name + ".golden")
        input_path = path.with_name(path.name + ".input")
        cases.append(
            VerifyCase(
                name=f"verify/{path.stem}",
                description=doc.get("description", ""),
                files=parse_txtar(input_path.read_text(encoding="utf-8")) if input_path.exists() else {},
                golden=json.loads(golden_path.read_text(encoding="utf-8")) if golden_path.exists() else None,
                want_error=bool(doc.get("wantErr", False)),
                config=doc.get("config") or {},
            )
        )
    return cases


def essentials(results: dict[str, Any]) -> dict[str, Any]:
    """The parts of a ``TestResults`` that decide pass or fail, keyed by suite file."""
    out: dict[str, Any] = {}
    for suite in results.get("suites") or []:
        checks: dict[str, Any] = {}
        for case in suite.get("testCases") or []:
            for p in case.get("principals") or []:
                for r in p.get("resources") or []:
                    for a in r.get("actions") or []:
                        d = a.get("details") or {}
                        entry: dict[str, Any] = {"result": d.get("result")}
                        if "success" in d:
                            entry["effect"] = d["success"].get("effect")
                            entry["outputs"] = sorted(
                                (o["src"], json.dumps(json_number(o.get("val")), sort_keys=True))
                                for o in d["success"].get("outputs") or []
                            )
                        if "failure" in d:
                            entry["expected"] = d["failure"].get("expected")
                            entry["actual"] = d["failure"].get("actual")
                            entry["outputs"] = sorted(o["src"] for o in d["failure"].get("outputs") or [])
                        checks[f"{case['name']} / {p['name']} / {r['name']} / {a['name']}"] = entry
        out[suite.get("file", "")] = {
            "overall": (suite.get("summary") or {}).get("overallResult"),
            "checks": checks,
        }
    return out
