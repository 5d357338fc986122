"""Cerbos's ``verify`` cases: a txtar archive of test suites and fixtures, run against ``store/``,
and the golden ``TestResults``. Compared on what decides a test: each suite's overall result,
and per test, principal, resource and action the result, the effects, the outputs and the skip
reason; and on the errors, suite by suite and action by action (see :func:`error_mismatches`)."""

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
                        if "skipReason" in d:
                            entry["skipReason"] = d["skipReason"]
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


def errors(results: dict[str, Any]) -> dict[str, str]:
    """Every error of a ``TestResults``: a suite's by file, an action's by file and check."""
    found: dict[str, str] = {}
    for suite in results.get("suites") or []:
        if suite.get("error"):
            found[suite.get("file", "")] = suite["error"]
        for case in suite.get("testCases") or []:
            for p in case.get("principals") or []:
                for r in p.get("resources") or []:
                    for a in r.get("actions") or []:
                        if "error" in (a.get("details") or {}):
                            check = f"{case['name']} / {p['name']} / {r['name']} / {a['name']}"
                            found[f"{suite.get('file', '')}: {check}"] = a["details"]["error"]
    return found


def same_error(want: str, have: str) -> bool:
    """Whether ``have`` says what Cerbos's ``want`` says, line by line: the same text, or the same
    text extended with ``: <hint>`` (chamberlain's suggestions, as in its policy errors)."""
    wanted, had = want.splitlines(), have.splitlines()
    return len(wanted) == len(had) and all(
        h == w or h.startswith(w + ":") for w, h in zip(wanted, had, strict=True)
    )


def error_mismatches(
    have: dict[str, Any], golden: dict[str, Any]
) -> list[tuple[str, str | None, str | None]]:
    """(where, Cerbos's error, ours) for every error that is missing, extra or says something else."""
    want, got = errors(golden), errors(have)
    return [
        (where, want.get(where), got.get(where))
        for where in sorted(want.keys() | got.keys())
        if where not in want or where not in got or not same_error(want[where], got[where])
    ]
