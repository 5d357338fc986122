"""Policy test suites in Cerbos's format (``*_test.yaml`` with ``testdata/`` fixtures), run
against an engine, with results shaped as Cerbos's ``TestResults`` (``internal/verify``).

A suite lists principals, resources and aux data inline or in ``testdata/principals.yaml``,
``resources.yaml`` and ``auxdata.yaml`` next to it; each test crosses its principals (and
principal groups) with its resources (and groups), checks its actions, and compares effects
(an action without expectation must be denied) and expected outputs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import yaml

from chamberlain.engine.check import Engine
from chamberlain.engine.options import EngineOptions
from chamberlain.engine.wire import RequestError, json_number, parse_aux_data, parse_principal, parse_resource

PASSED, FAILED, ERRORED, SKIPPED = "RESULT_PASSED", "RESULT_FAILED", "RESULT_ERRORED", "RESULT_SKIPPED"
_RANK = {SKIPPED: 1, PASSED: 2, FAILED: 3, ERRORED: 4}
_SUITE_FILE = re.compile(r".+_test\.(ya?ml|json)$")
_FIXTURE_EXTS = (".yaml", ".yml", ".json")


class SuiteError(Exception):
    """A suite that cannot run (bad YAML, unknown fixture, duplicate test name, ...)."""


def find_suites(root: Path) -> list[Path]:
    """Every test suite file under ``root`` (hidden files and folders skipped), sorted."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(directory) / f for f in files if _SUITE_FILE.match(f) and not f.startswith(".")]
    return sorted(found)


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise SuiteError(f"failed to parse {path.name}: {exc}") from None


def _fixture(directory: Path, *names: str) -> Mapping[str, Any]:
    for name in names:
        for ext in _FIXTURE_EXTS:
            path = directory / "testdata" / f"{name}{ext}"
            if path.is_file():
                doc = _load(path)
                if not isinstance(doc, Mapping):
                    raise SuiteError(f"invalid fixture {path.name}: expected a mapping")
                return doc
    return {}


@dataclass(slots=True)
class _Fixtures:
    principals: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    aux_data: dict[str, Any] = field(default_factory=dict)
    principal_groups: dict[str, list[str]] = field(default_factory=dict)
    resource_groups: dict[str, list[str]] = field(default_factory=dict)


def _fixtures(directory: Path, suite: Mapping[str, Any]) -> _Fixtures:
    fx = _Fixtures()
    principals = _fixture(directory, "principals")
    resources = _fixture(directory, "resources")
    aux = _fixture(directory, "auxdata", "auxData", "aux_data")
    fx.principals = {**(principals.get("principals") or {}), **(suite.get("principals") or {})}
    fx.resources = {**(resources.get("resources") or {}), **(suite.get("resources") or {})}
    fx.aux_data = {**(aux.get("auxData") or {}), **(suite.get("auxData") or {})}
    for source in (principals.get("principalGroups") or {}, suite.get("principalGroups") or {}):
        fx.principal_groups.update({k: list(v.get("principals") or []) for k, v in source.items()})
    for source in (resources.get("resourceGroups") or {}, suite.get("resourceGroups") or {}):
        fx.resource_groups.update({k: list(v.get("resources") or []) for k, v in source.items()})
    return fx


def _expand(
    names: Iterable[str], groups: Iterable[str], defined: dict[str, list[str]], noun: str
) -> list[str]:
    out = list(names)
    for g in groups:
        if g not in defined:
            raise SuiteError(f"{noun} group {g!r} not found")
        out += defined[g]
    return list(dict.fromkeys(out))


def _options(base: EngineOptions, raw: Mapping[str, Any] | None) -> tuple[EngineOptions, dt.datetime | None]:
    raw = raw or {}
    now = None
    if raw.get("now"):
        try:
            now = dt.datetime.fromisoformat(str(raw["now"]).replace("Z", "+00:00"))
        except ValueError:
            raise SuiteError(f"invalid value for option now: {raw['now']!r}") from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
    options = EngineOptions(
        default_policy_version=raw.get("defaultPolicyVersion") or base.default_policy_version,
        default_scope=raw.get("defaultScope", base.default_scope) or "",
        lenient_scope_search=bool(raw.get("lenientScopeSearch", base.lenient_scope_search)),
        strict_evaluation=bool(raw.get("strictEvaluation", base.strict_evaluation)),
        globals=raw.get("globals") or base.globals,
        schema_enforcement=base.schema_enforcement,
    )
    return options, now


def run_suite(engine: Engine, path: Path, root: Path | None = None) -> dict[str, Any]:
    """Run one suite file; the result is a Cerbos ``TestResults.Suite`` as JSON."""
    rel = path.relative_to(root).as_posix() if root else path.name
    result: dict[str, Any] = {"file": rel, "name": "", "summary": {}, "testCases": []}
    try:
        suite = _load(path)
        if not isinstance(suite, Mapping) or not suite.get("name"):
            raise SuiteError("invalid test suite: name is required")
        result["name"] = suite["name"]
        if suite.get("description"):
            result["description"] = suite["description"]
        if suite.get("skip"):
            result["summary"] = {"overallResult": SKIPPED}
            if suite.get("skipReason"):
                result["skipReason"] = suite["skipReason"]
            return result
        fixtures = _fixtures(path.parent, suite)
        names = [t.get("name") for t in suite.get("tests") or []]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SuiteError(
                "invalid test suite: " + "; ".join(f"another test named {n} already exists" for n in dupes)
            )
        tests = [test for table in suite.get("tests") or [] for test in _matrix(table, fixtures)]
    except (SuiteError, RequestError, OSError) as exc:
        result["summary"] = {"overallResult": ERRORED}
        result["error"] = str(exc)
        return result
    for table, principal, resource, expected, outputs in tests:
        options, now = _options(engine.options, table.get("options") or suite.get("options"))
        actions = list(table["input"].get("actions") or [])
        if table.get("skip"):
            for action in actions:
                _add(
                    result,
                    table["name"],
                    principal,
                    resource,
                    action,
                    {"result": SKIPPED, "skipReason": table.get("skipReason", "")},
                )
            continue
        _run_test(
            engine, options, now, table, fixtures, principal, resource, actions, expected, outputs, result
        )
    _summarise(result)
    return result


def _matrix(
    table: Mapping[str, Any], fx: _Fixtures
) -> Iterable[tuple[Any, str, str, dict[str, str], dict[str, Any]]]:
    inp = table.get("input") or {}
    principals = _expand(
        inp.get("principals") or [], inp.get("principalGroups") or [], fx.principal_groups, "principal"
    )
    resources = _expand(
        inp.get("resources") or [], inp.get("resourceGroups") or [], fx.resource_groups, "resource"
    )
    expectations: dict[tuple[str, str], tuple[dict[str, str], dict[str, Any]]] = {}
    for exp in table.get("expected") or []:
        exp_p = _expand(([exp["principal"]] if exp.get("principal") else []) + list(exp.get("principals") or []),
                        exp.get("principalGroups") or [], fx.principal_groups, "principal")  # fmt: skip
        exp_r = _expand(([exp["resource"]] if exp.get("resource") else []) + list(exp.get("resources") or []),
                        exp.get("resourceGroups") or [], fx.resource_groups, "resource")  # fmt: skip
        outs = {o["action"]: o.get("expected") or [] for o in exp.get("outputs") or []}
        for p in exp_p:
            for r in exp_r:
                if p not in principals or r not in resources:
                    raise SuiteError(f"invalid test {table.get('name')!r}: expectation for principal {p!r} and resource {r!r} is not in the input")  # fmt: skip
                if (p, r) in expectations:
                    raise SuiteError(f"invalid test {table.get('name')!r}: found inconsistent expectations for principal {p!r} and resource {r!r}")  # fmt: skip
                expectations[(p, r)] = (dict(exp.get("actions") or {}), outs)
    for p in principals:
        if p not in fx.principals:
            raise SuiteError(f"invalid test {table.get('name')!r}: principal {p!r} not found")
        for r in resources:
            if r not in fx.resources:
                raise SuiteError(f"invalid test {table.get('name')!r}: resource {r!r} not found")
            actions, outs = expectations.get((p, r), ({}, {}))
            yield table, p, r, actions, outs


def _run_test(engine: Engine, options: EngineOptions, now: dt.datetime | None, table: Mapping[str, Any],
              fx: _Fixtures, principal: str, resource: str, actions: list[str], expected: dict[str, str],
              outputs: dict[str, Any], result: dict[str, Any]) -> None:  # fmt: skip
    from chamberlain.engine.request import CheckInput

    aux_name = (table.get("input") or {}).get("auxData") or ""
    try:
        if aux_name and aux_name not in fx.aux_data:
            raise SuiteError(f"auxData {aux_name!r} not found")
        inp = CheckInput(
            parse_principal(fx.principals[principal], f"principals.{principal}"),
            parse_resource(fx.resources[resource], f"resources.{resource}"),
            tuple(actions),
            parse_aux_data(fx.aux_data.get(aux_name), f"auxData.{aux_name}"),
        )
        runner = engine if options == engine.options else Engine(engine.policies, engine.table, options)
        out = runner.check([inp], now or dt.datetime(1, 1, 1, tzinfo=dt.UTC))[0]
    except (SuiteError, RequestError) as exc:
        for action in actions:
            _add(result, table["name"], principal, resource, action, {"result": ERRORED, "error": str(exc)})
        return
    for action in actions:
        want = expected.get(action) or "EFFECT_DENY"
        have = out.actions[action].effect
        mine = [o for o in out.outputs if o.action == action]
        if want != have:
            _add(
                result,
                table["name"],
                principal,
                resource,
                action,
                {"result": FAILED, "failure": {"expected": want, "actual": have}},
            )
            continue
        failures = []
        by_src = {o.src: o for o in mine}
        for wanted in outputs.get(action, []):
            src, val = wanted.get("src"), json_number(wanted.get("val"))
            got = by_src.get(src)
            if got is None:
                failures.append({"src": src, "missing": {"expected": val}})
            elif got.error:
                failures.append({"src": src, "errored": {"expected": val, "error": got.error}})
            elif json_number(got.val) != val:
                failures.append({"src": src, "mismatched": {"actual": json_number(got.val), "expected": val}})
        if failures:
            details = {"result": FAILED, "failure": {"expected": want, "actual": have, "outputs": failures}}
        else:
            success: dict[str, Any] = {"effect": have}
            if mine:
                success["outputs"] = [{"src": o.src, "val": json_number(o.val), "action": o.action} if not o.error
                                      else {"src": o.src, "error": o.error, "action": o.action} for o in mine]  # fmt: skip
            details = {"result": PASSED, "success": success}
        _add(result, table["name"], principal, resource, action, details)


def _child(items: list[dict[str, Any]], name: str, key: str) -> dict[str, Any]:
    for item in items:
        if item["name"] == name:
            return item
    item: dict[str, Any] = {"name": name, key: []}
    items.append(item)
    return item


def _add(
    result: dict[str, Any], test: str, principal: str, resource: str, action: str, details: dict[str, Any]
) -> None:
    case = _child(result["testCases"], test, "principals")
    p = _child(case["principals"], principal, "resources")
    r = _child(p["resources"], resource, "actions")
    r["actions"].append({"name": action, "details": details})


def _summarise(result: dict[str, Any]) -> None:
    counts: dict[str, int] = {}
    for case in result["testCases"]:
        for p in case["principals"]:
            for r in p["resources"]:
                for a in r["actions"]:
                    counts[a["details"]["result"]] = counts.get(a["details"]["result"], 0) + 1
    overall = max(counts, key=_RANK.__getitem__) if counts else SKIPPED
    if overall == SKIPPED and PASSED in counts:
        overall = PASSED
    result["summary"] = {
        "overallResult": overall,
        "testsCount": sum(counts.values()),
        "resultCounts": [{"result": k, "count": counts[k]} for k in sorted(counts, key=_RANK.__getitem__)],
    }


def run_all(engine: Engine, root: Path) -> dict[str, Any]:
    """Run every suite under ``root``; Cerbos's ``TestResults`` JSON."""
    suites = [run_suite(engine, path, root) for path in find_suites(root)]
    counts: dict[str, int] = {}
    worst = SKIPPED
    for s in suites:
        summary = s["summary"]
        if _RANK[summary["overallResult"]] > _RANK[worst]:
            worst = summary["overallResult"]
        for c in summary.get("resultCounts", []):
            counts[c["result"]] = counts.get(c["result"], 0) + c["count"]
    return {
        "suites": suites,
        "summary": {
            "overallResult": worst,
            "testsCount": sum(counts.values()),
            "resultCounts": [
                {"result": k, "count": counts[k]} for k in sorted(counts, key=_RANK.__getitem__)
            ],
        },
    }


def failed(results: Mapping[str, Any]) -> bool:
    """Whether any suite failed or errored."""
    return results["summary"]["overallResult"] in (FAILED, ERRORED)


def _walk(results: Mapping[str, Any]) -> Iterable[tuple[dict[str, Any], str, dict[str, Any]]]:
    for suite in results["suites"]:
        for case in suite["testCases"]:
            for p in case["principals"]:
                for r in p["resources"]:
                    for a in r["actions"]:
                        yield suite, f"{case['name']} / {p['name']} / {r['name']} / {a['name']}", a["details"]


def render_text(results: Mapping[str, Any]) -> str:
    """A test runner's report: one line per failing or erroring check, a summary per suite."""
    lines = []
    for suite in results["suites"]:
        summary = suite["summary"]
        lines.append(
            f"{suite['file']}: {suite['name'] or '?'} [{summary['overallResult'].removeprefix('RESULT_')}]"
        )
        if suite.get("error"):
            lines.append(f"  error: {suite['error']}")
    for _, name, details in _walk(results):
        if details["result"] == FAILED:
            f = details["failure"]
            extra = f"; outputs: {json.dumps(f['outputs'])}" if f.get("outputs") else ""
            lines.append(f"  FAIL {name}: expected {f['expected']}, got {f['actual']}{extra}")
        elif details["result"] == ERRORED:
            lines.append(f"  ERROR {name}: {details['error']}")
    counts = ", ".join(
        f"{c['count']} {c['result'].removeprefix('RESULT_').lower()}"
        for c in results["summary"].get("resultCounts", [])
    )
    lines.append(
        f"{results['summary']['overallResult'].removeprefix('RESULT_')}: {results['summary'].get('testsCount', 0)} tests ({counts or 'none'})"
    )
    return "\n".join(lines)


def render_junit(results: Mapping[str, Any]) -> str:
    """JUnit XML: a testsuite per suite file, a testcase per (test, principal, resource, action)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    for suite in results["suites"]:
        cases = [(n, d) for s, n, d in _walk(results) if s is suite]
        fails = sum(d["result"] == FAILED for _, d in cases)
        errors = sum(d["result"] == ERRORED for _, d in cases) + (1 if suite.get("error") else 0)
        skipped = sum(d["result"] == SKIPPED for _, d in cases)
        out.append(f"  <testsuite name={quoteattr(suite['name'] or suite['file'])} file={quoteattr(suite['file'])} "
                   f'tests="{len(cases)}" failures="{fails}" errors="{errors}" skipped="{skipped}">')  # fmt: skip
        if suite.get("error"):
            out.append(f"    <error message={quoteattr(suite['error'])}/>")
        for name, d in cases:
            out.append(f"    <testcase name={quoteattr(name)} classname={quoteattr(suite['file'])}>")
            if d["result"] == FAILED:
                f = d["failure"]
                message = f"expected {f['expected']}, got {f['actual']}"
                out.append(f"      <failure message={quoteattr(message)}>{escape(json.dumps(f))}</failure>")
            elif d["result"] == ERRORED:
                out.append(f"      <error message={quoteattr(d['error'])}/>")
            elif d["result"] == SKIPPED:
                out.append("      <skipped/>")
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
