"""Policy test suites in Cerbos's format (``*_test.yaml`` with ``testdata/`` fixtures), run
against an engine, with results shaped as Cerbos's ``TestResults`` (``internal/verify``).

A suite lists principals, resources and aux data inline or in ``testdata/principals.yaml``,
``resources.yaml`` and ``auxdata.yaml`` next to it; each test crosses its principals (and
principal groups) with its resources (and groups), checks its actions, and compares effects
(an action without expectation must be denied) and expected outputs.

Suites and fixture files are decoded strictly (:func:`chamberlain.policy.decode.read_single`). A suite that
cannot run errors as a whole, with the message Cerbos gives (chamberlain's hints appended after a
``:``); the steps and their order follow Cerbos's ``runTestSuite``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from chamberlain.engine.activation import RequestClock
from chamberlain.engine.check import Engine
from chamberlain.engine.glob import matches as glob_matches
from chamberlain.engine.names import policy_key, scope_value
from chamberlain.engine.options import EngineOptions
from chamberlain.engine.request import AuxData, CheckInput, Principal, Resource
from chamberlain.engine.result import CheckOutput
from chamberlain.engine.wire import json_number
from chamberlain.errors import Error
from chamberlain.files import FileRefused, read_bounded
from chamberlain.policy.decode import go_quote, read_single
from chamberlain.policy.errors import Issue
from chamberlain.policy.source import MAX_FILE_BYTES
from chamberlain.policy.suite import (
    AuxDataFixtures,
    Expectation,
    FixtureAuxData,
    FixturePrincipal,
    FixtureResource,
    PrincipalFixtures,
    PrincipalGroup,
    ResourceFixtures,
    ResourceGroup,
    Suite,
    SuiteOptions,
    Table,
)
from chamberlain.text import plural, printable

PASSED, FAILED, ERRORED, SKIPPED = "RESULT_PASSED", "RESULT_FAILED", "RESULT_ERRORED", "RESULT_SKIPPED"
SKIP_NAME = "Test name did not match the provided pattern"
SKIP_RESOURCE = "Resource matched a policy that was excluded from the bundle"
#: ``--test-filter`` skips (Cerbos's ``SkipReasonFilter*``): not counted in a summary's tally.
SKIP_FILTER = {
    "suite": "Suite did not match the test filter",
    "test": "Test did not match the test filter",
    "principal": "Principal did not match the test filter",
    "resource": "Resource did not match the test filter",
    "action": "No actions matched the test filter",
}
SKIP_PRINCIPAL = "Principal matched a policy that was excluded from the bundle"
UNSET_NOW = "a policy used a time-based condition, but `now` was not provided in the test options"
_RANK = {SKIPPED: 1, PASSED: 2, FAILED: 3, ERRORED: 4}
_EXTENSIONS = (".yaml", ".yml", ".json")
_TESTDATA = "testdata"
_AUX_DATA_FILES = ("auxdata", "auxData", "aux_data")
_ZERO_TIME = dt.datetime(1, 1, 1, tzinfo=dt.UTC)  # Go's zero time, Cerbos's "now" when none is given


class SuiteError(Exception):
    """A suite that cannot run: the message is the error Cerbos's ``TestResults`` gives it."""


@dataclass(frozen=True, slots=True)
class SuiteFilter:
    """Which tests run (Cerbos's ``verify.Config``); the others are skipped, saying why.

    ``test_name_pattern`` is searched in ``<suite name>/<test name>``, the test name written as
    Cerbos prints it (``test_table_name:"..." principal_key:"..." resource_key:"..."``). A test whose
    resource or principal policy (``cerbos.resource.leave_request.vdefault``) is excluded is skipped.
    """

    test_name_pattern: str = ""
    excluded_resource_policies: frozenset[str] = frozenset()
    excluded_principal_policies: frozenset[str] = frozenset()
    #: ``--test-filter`` globs by dimension (suite, test, principal, resource, action); empty: all.
    globs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def admits(self, dimension: str, value: str) -> bool:
        """Whether ``value`` matches one of the dimension's globs (or the dimension has none)."""
        patterns = self.globs.get(dimension)
        return not patterns or any(glob_matches(p, value) for p in patterns)


def issues_text(issues: Iterable[Issue]) -> str:
    """Problems as a suite's error lists them, one a line: ``line:column message``."""
    return "\n".join(f"{i.line}:{i.column} {i.message}" if i.line else i.message for i in issues)


def find_suites(root: Path) -> list[Path]:
    """Every test suite file under ``root`` (hidden files and folders, ``testdata`` skipped), sorted."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != _TESTDATA)
        found += [Path(directory) / f for f in files if _is_suite_file(f)]
    return sorted(found)


def _is_suite_file(name: str) -> bool:
    stem, ext = os.path.splitext(name.lower())
    return ext in _EXTENSIONS and stem.endswith("_test") and not name.startswith(".")


# -- fixtures -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Fixtures:
    """What a ``testdata`` folder defines, groups resolved to their members."""

    principals: Mapping[str, FixturePrincipal] = field(default_factory=dict)
    principal_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    resources: Mapping[str, FixtureResource] = field(default_factory=dict)
    resource_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    aux_data: Mapping[str, FixtureAuxData] = field(default_factory=dict)


def load_fixtures(directory: Path, root: Path | None = None) -> Fixtures:
    """The fixtures of a ``testdata`` folder; ``SuiteError`` if a file is invalid."""
    fixtures = Fixtures()
    if (principals := _fixture(PrincipalFixtures, directory, root, "principals")) is not None:
        fixtures.principals = principals.principals
        fixtures.principal_groups = _groups(principals.principal_groups, principals.principals, "principals")
    if (resources := _fixture(ResourceFixtures, directory, root, "resources")) is not None:
        fixtures.resources = resources.resources
        fixtures.resource_groups = _groups(resources.resource_groups, resources.resources, "resources")
    if (aux := _fixture(AuxDataFixtures, directory, root, "aux data", *_AUX_DATA_FILES)) is not None:
        fixtures.aux_data = aux.aux_data
    return fixtures


def _fixture(cls: type, directory: Path, root: Path | None, label: str, *names: str) -> Any:
    """The first fixture file named ``names`` (default: ``label``), decoded; ``None`` if none."""
    for name in names or (label,):
        path = _fixture_file(directory, name)
        if path is None:
            continue
        try:
            data = read_bounded(path, MAX_FILE_BYTES, "fixture file")
        except FileRefused as exc:
            raise SuiteError(f"failed to load {label}:\n{_relative(path, root)}: {exc}") from None
        message, issues = read_single(cls, _relative(path, root), data, "a fixture")
        if issues:
            raise SuiteError(f"failed to load {label}:\n{issues_text(issues)}")
        return message
    return None


def _fixture_file(directory: Path, name: str) -> Path | None:
    """``name.*`` with a YAML or JSON extension, the first in name order as Cerbos picks it."""
    matches = sorted(p for p in directory.glob(f"{name}.*") if p.suffix.lower() in _EXTENSIONS)
    return matches[0] if matches else None


def _groups(
    groups: Mapping[str, PrincipalGroup | ResourceGroup], fixtures: Mapping[str, Any], label: str
) -> dict[str, tuple[str, ...]]:
    try:
        return _members(groups, fixtures.__contains__)
    except SuiteError as exc:
        raise SuiteError(f"failed to load {label}: {exc}") from None


def _members(
    groups: Mapping[str, PrincipalGroup | ResourceGroup], exists: Callable[[str], bool]
) -> dict[str, tuple[str, ...]]:
    """Each group's members, every one of which must exist."""
    for name, group in groups.items():
        for member in group.members:
            if not exists(member):
                raise SuiteError(f"missing fixture {go_quote(member)} referenced in group {go_quote(name)}")
    return {name: group.members for name, group in groups.items()}


def _relative(path: Path, root: Path | None) -> str:
    return path.relative_to(root).as_posix() if root else path.name


# -- building tests -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Expected:
    """Expected effects (action -> effect) and outputs (action -> src -> value) of a test."""

    actions: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Test:
    """One principal and resource of a table, ready to check."""

    table: Table
    principal: str
    resource: str
    check: CheckInput
    expected: _Expected
    options: SuiteOptions | None


class _SuiteRun:
    """A suite with its fixtures: looking fixtures up and building its tests as Cerbos does."""

    def __init__(self, suite: Suite, fixtures: Fixtures):
        self.suite = suite
        self.fixtures = fixtures

    def principal(self, name: str) -> FixturePrincipal:
        return _find(name, "principal", self.suite.principals, self.fixtures.principals)

    def resource(self, name: str) -> FixtureResource:
        return _find(name, "resource", self.suite.resources, self.fixtures.resources)

    def aux_data(self, name: str) -> FixtureAuxData | None:
        return _find(name, "auxData", self.suite.aux_data, self.fixtures.aux_data) if name else None

    def principal_group(self, name: str) -> tuple[str, ...]:
        return _group(name, self.suite.principal_groups, self.fixtures.principal_groups)

    def resource_group(self, name: str) -> tuple[str, ...]:
        return _group(name, self.suite.resource_groups, self.fixtures.resource_groups)

    def check_groups(self) -> None:
        """Every member of the suite's groups must be defined (in the suite or its fixtures)."""
        for label, groups, lookup in (
            ("principal", self.suite.principal_groups, self.principal),
            ("resource", self.suite.resource_groups, self.resource),
        ):
            try:
                _members(groups, _finds(lookup))
            except SuiteError as exc:
                raise SuiteError(f"Invalid {label} groups in test suite: {exc}") from None

    def check_unique_names(self) -> None:
        names = [table.name for table in self.suite.tests]
        repeated = [name for i, name in enumerate(names) if name in names[:i]]
        if repeated:
            problems = "; ".join(f"another test named {name} already exists" for name in repeated)
            raise SuiteError(f"Invalid test suite: {problems}")

    def tests(self) -> list[_Test]:
        """Every test of every table; ``SuiteError`` if any table is inconsistent."""
        tests = []
        for table in self.suite.tests:
            try:
                tests += [self.test(table, p, r, expected) for p, r, expected in self.matrix(table)]
            except SuiteError as exc:
                raise SuiteError(
                    f"Failed to load the test suite: invalid test {go_quote(table.name)}: {exc}"
                ) from None
        return tests

    def matrix(self, table: Table) -> list[tuple[str, str, _Expected]]:
        """The table's principals crossed with its resources, with what is expected of each pair."""
        lookup = self.expectations(table)
        default = _Expected({action: "EFFECT_DENY" for action in table.input.actions})
        inp = table.input
        principals = _collect("", inp.principals, inp.principal_groups, self.principal_group)
        resources = _collect("", inp.resources, inp.resource_groups, self.resource_group)
        pairs = [(p, r, lookup.pop((p, r), default)) for p in principals for r in resources]
        if lookup:
            p, r = next(iter(lookup))
            raise SuiteError(
                f"found an expectation for principal {go_quote(p)} and resource {go_quote(r)}, but at least one of these is not present in input"
            )
        return pairs

    def expectations(self, table: Table) -> dict[tuple[str, str], _Expected]:
        """The expectations of a table by principal and resource, merged."""
        actions = set(table.input.actions)
        lookup: dict[tuple[str, str], _Expected] = {}
        for exp in table.expected:
            outputs = {o.action: {e.src: e.val for e in o.expected} for o in exp.outputs}
            if unreachable := [action for action in outputs if action not in actions]:
                raise SuiteError(
                    f"found output expectations for actions that are not in the input actions list: [{','.join(unreachable)}]"
                )
            principals = _collect(exp.principal, exp.principals, exp.principal_groups, self.principal_group)
            resources = _collect(exp.resource, exp.resources, exp.resource_groups, self.resource_group)
            extra = sorted(action for action in exp.actions if action not in actions)
            for key in ((p, r) for p in principals for r in resources):
                if extra:
                    raise SuiteError(
                        f"found expectations for actions that do not exist in the input actions list: [{','.join(extra)}]"
                    )
                lookup[key] = _merge(key, lookup.get(key) or _Expected(), exp, outputs)
        return lookup

    def test(self, table: Table, principal: str, resource: str, expected: _Expected) -> _Test:
        aux = self.aux_data(table.input.aux_data)
        check = CheckInput(
            _principal(self.principal(principal)),
            _resource(self.resource(resource)),
            table.input.actions,
            _aux_data(aux) if aux is not None else AuxData(),
        )
        return _Test(table, principal, resource, check, expected, table.options or self.suite.options)


def _find(name: str, noun: str, *places: Mapping[str, Any]) -> Any:
    """``name`` in the first of ``places`` (the suite, then its fixtures) that defines it."""
    for place in places:
        if (found := place.get(name)) is not None:
            return found
    raise SuiteError(f"{noun} {go_quote(name)} not found")


def _group(
    name: str,
    in_suite: Mapping[str, PrincipalGroup | ResourceGroup],
    in_fixtures: Mapping[str, tuple[str, ...]],
) -> tuple[str, ...]:
    if (group := in_suite.get(name)) is not None:
        return group.members
    if (members := in_fixtures.get(name)) is not None:
        return members
    raise SuiteError(f"principal group {go_quote(name)} not found")  # sic: for resource groups too, as Cerbos


def _finds(lookup: Callable[[str], Any]) -> Callable[[str], bool]:
    def exists(name: str) -> bool:
        try:
            lookup(name)
        except SuiteError:
            return False
        return True

    return exists


def _collect(
    one: str, names: Iterable[str], groups: Iterable[str], members: Callable[[str], tuple[str, ...]]
) -> list[str]:
    """``one`` (or else ``names``) and the members of ``groups``, each once, in order."""
    found = [one] if one else list(names)
    for group in groups:
        found += [name for name in members(group) if name not in found]
    return found


def _merge(
    key: tuple[str, str], into: _Expected, exp: Expectation, outputs: dict[str, dict[str, Any]]
) -> _Expected:
    principal, resource = (go_quote(k) for k in key)
    for action, effect in exp.actions.items():
        if into.actions.setdefault(action, effect) != effect:
            raise SuiteError(
                f"found inconsistent expectations for principal {principal} performing action {go_quote(action)} on resource {resource}"
            )
    for action, entries in outputs.items():
        merged = into.outputs.setdefault(action, {})
        for src, val in entries.items():
            if merged.setdefault(src, val) != val:
                raise SuiteError(
                    f"found inconsistent expectations for output {go_quote(src)} from principal {principal} performing action {go_quote(action)} on resource {resource}"
                )
    return into


def _principal(p: FixturePrincipal) -> Principal:
    return Principal.prevalidated(p.id, p.roles, p.attr, p.policy_version, p.scope)


def _resource(r: FixtureResource) -> Resource:
    return Resource.prevalidated(r.kind, r.id, r.attr, r.policy_version, r.scope)


def _aux_data(aux: FixtureAuxData) -> AuxData:
    return AuxData(aux.jwt, {name: jwt.claims for name, jwt in aux.jwts.items()})


# -- running tests --------------------------------------------------------------------------------


class _UnsetNow(RequestClock):
    """The clock of a test without ``now``: Cerbos's zero time, noting that a condition read it."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        super().__init__()
        self.used = False

    def __call__(self) -> dt.datetime:
        self.used = True
        return _ZERO_TIME


class _Runner:
    """Checks tests against an engine, with an engine per set of test options."""

    def __init__(self, engine: Engine, suite_filter: SuiteFilter):
        self.engine = engine
        self.filter = suite_filter
        self.name_pattern = (
            re.compile(suite_filter.test_name_pattern) if suite_filter.test_name_pattern else None
        )
        self.engines: list[tuple[EngineOptions, Engine]] = [(engine.options, engine)]

    def results(self, suite: Suite, test: _Test) -> dict[str, dict[str, Any]]:
        """Each action's result details."""
        actions = test.check.actions
        if (reason := self.skip_reason(suite, test)) is not None:
            return {action: {"result": SKIPPED, "skipReason": reason} for action in actions}
        skipped = {"result": SKIPPED, "skipReason": SKIP_FILTER["action"]}
        results = self.run(test, [a for a in actions if self.filter.admits("action", a)])
        return {action: results.get(action, skipped) for action in actions}

    def run(self, test: _Test, actions: list[str]) -> dict[str, dict[str, Any]]:
        """The named actions' result details (the test checked as written)."""
        now = test.options.now if test.options is not None else None
        clock = _UnsetNow() if now is None else None
        try:
            # check_one hands "now" to the activation, which takes a clock as well as a time.
            out = self.engine_for(test.options).check_one(test.check, now or clock)
        except Error as exc:
            return {action: {"result": ERRORED, "error": str(exc)} for action in actions}
        if clock is not None and clock.used:
            return {action: {"result": ERRORED, "error": UNSET_NOW} for action in actions}
        return {action: _details(action, out, test.expected) for action in actions}

    def skip_reason(self, suite: Suite, test: _Test) -> str | None:
        """Why the test does not run (Cerbos's filter, then the table's ``skip``), or ``None``."""
        if self.name_pattern and not self.name_pattern.search(f"{suite.name}/{_test_name(test)}"):
            return SKIP_NAME
        if _policy("resource", test.check.resource, test.options) in self.filter.excluded_resource_policies:
            return SKIP_RESOURCE
        if (
            _policy("principal", test.check.principal, test.options)
            in self.filter.excluded_principal_policies
        ):
            return SKIP_PRINCIPAL
        names = {
            "suite": suite.name,
            "test": test.table.name,
            "principal": test.principal,
            "resource": test.resource,
        }
        for dimension, value in names.items():
            if not self.filter.admits(dimension, value):
                return SKIP_FILTER[dimension]
        if not any(self.filter.admits("action", a) for a in test.check.actions):
            return SKIP_FILTER["action"]
        return test.table.skip_reason if test.table.skip else None

    def engine_for(self, options: SuiteOptions | None) -> Engine:
        wanted = _engine_options(self.engine.options, options)
        for known, engine in self.engines:
            if known == wanted:
                return engine
        engine = Engine(self.engine.policies, self.engine.table, wanted)
        self.engines.append((wanted, engine))
        return engine


def _engine_options(base: EngineOptions, options: SuiteOptions | None) -> EngineOptions:
    """The engine's options with a test's: each set one replaces (or, for flags, turns on) the engine's."""
    if options is None:
        return base
    return dataclasses.replace(
        base,
        default_policy_version=options.default_policy_version or base.default_policy_version,
        default_scope=options.default_scope or base.default_scope,
        lenient_scope_search=options.lenient_scope_search or base.lenient_scope_search,
        strict_evaluation=options.strict_evaluation or base.strict_evaluation,
        globals=options.globals or base.globals,
    )


def _test_name(test: _Test) -> str:
    """A test's name as Cerbos prints its ``Test.TestName`` message."""
    fields = (
        ("test_table_name", test.table.name),
        ("principal_key", test.principal),
        ("resource_key", test.resource),
    )
    return " ".join(f"{name}:{go_quote(value)}" for name, value in fields)


def _policy(kind: str, who: Principal | Resource, options: SuiteOptions | None) -> str:
    """The FQN of the policy a test's principal or resource is checked against."""
    name = who.id if isinstance(who, Principal) else who.kind
    version = who.policy_version or (options.default_policy_version if options else "")
    scope = scope_value(who.scope) or (options.default_scope if options else "")
    return "cerbos." + policy_key(kind, name, version, scope)


def _details(action: str, out: CheckOutput, expected: _Expected) -> dict[str, Any]:
    """One action's result: its effect and outputs against the expected ones."""
    want = expected.actions.get(action) or "EFFECT_DENY"
    have = out.actions[action].effect
    if want != have:
        return {"result": FAILED, "failure": {"expected": want, "actual": have}}
    mine = [o for o in out.outputs if o.action == action]
    if failures := _output_failures(mine, expected.outputs.get(action, {})):
        return {"result": FAILED, "failure": {"expected": want, "actual": have, "outputs": failures}}
    success: dict[str, Any] = {"effect": have}
    if mine:
        success["outputs"] = [
            {"src": o.src, "val": json_number(o.val), "action": o.action}
            if not o.error
            else {"src": o.src, "error": o.error, "action": o.action}
            for o in mine
        ]
    return {"result": PASSED, "success": success}


def _output_failures(outputs: list[Any], wanted: Mapping[str, Any]) -> list[dict[str, Any]]:
    by_src = {o.src: o for o in outputs}
    failures: list[dict[str, Any]] = []
    for src, raw in wanted.items():
        val, got = json_number(raw), by_src.get(src)
        if got is None:
            failures.append({"src": src, "missing": {"expected": val}})
        elif got.error:
            failures.append({"src": src, "errored": {"expected": val, "error": got.error}})
        elif json_number(got.val) != val:
            failures.append({"src": src, "mismatched": {"actual": json_number(got.val), "expected": val}})
    return failures


# -- suites ---------------------------------------------------------------------------------------


def run_suite(
    engine: Engine,
    path: Path,
    root: Path | None = None,
    suite_filter: SuiteFilter | None = None,
    fixtures: dict[Path, Fixtures | SuiteError] | None = None,
) -> dict[str, Any]:
    """Run one suite file; the result is a Cerbos ``TestResults.Suite`` as JSON.

    ``fixtures`` caches the ``testdata`` folders loaded so far (by path) across calls.
    """
    rel = _relative(path, root)
    try:
        suite = _read_suite(path, rel)
    except SuiteError as exc:
        return _errored({"file": rel, "name": "Unknown"}, exc)
    result = _suite_result(rel, suite)
    try:
        run = _SuiteRun(suite, _fixtures_of(path.parent, Path(rel).parent, root, fixtures))
        run.check_groups()
        if suite.skip:
            return {**result, "summary": {"overallResult": SKIPPED}, **_some(skipReason=suite.skip_reason)}
        run.check_unique_names()
        tests = run.tests()
    except SuiteError as exc:
        return _errored(result, exc)
    runner = _Runner(engine, suite_filter or SuiteFilter())
    for test in tests:
        for action, details in runner.results(suite, test).items():
            _add(result, test, action, details)
    return _summarise(result)


def _read_suite(path: Path, rel: str) -> Suite:
    try:
        data = read_bounded(path, MAX_FILE_BYTES, "test suite")
    except FileRefused as exc:
        raise SuiteError(f"failed to load test suite:\nfailed to open {rel}: {exc}") from None
    suite, issues = read_single(Suite, rel, data, "a test suite")
    if issues:
        raise SuiteError(f"failed to load test suite:\n{issues_text(issues)}")
    assert isinstance(suite, Suite)
    return suite


def _fixtures_of(
    directory: Path, rel_dir: Path, root: Path | None, cache: dict[Path, Fixtures | SuiteError] | None
) -> Fixtures:
    """The fixtures of the ``testdata`` folder next to a suite (none if there is no such folder)."""
    testdata = directory / _TESTDATA
    if not testdata.is_dir():
        return Fixtures()
    cache = {} if cache is None else cache
    if testdata not in cache:
        try:
            cache[testdata] = load_fixtures(testdata, root)
        except (SuiteError, OSError) as exc:
            where = (rel_dir / _TESTDATA).as_posix()
            cache[testdata] = SuiteError(f"failed to load test fixtures from {where}: {exc}")
    found = cache[testdata]
    if isinstance(found, SuiteError):
        raise found
    return found


def _suite_result(rel: str, suite: Suite) -> dict[str, Any]:
    return {"file": rel, "name": suite.name, **_some(description=suite.description), "summary": {}}


def _errored(result: dict[str, Any], exc: SuiteError) -> dict[str, Any]:
    return {**result, "summary": {"overallResult": ERRORED}, "error": str(exc)}


def _some(**fields: Any) -> dict[str, Any]:
    """The fields that are set, as protojson prints a message (empty ones left out)."""
    return {name: value for name, value in fields.items() if value}


def _child(items: list[dict[str, Any]], name: str, key: str) -> dict[str, Any]:
    for item in items:
        if item["name"] == name:
            return item
    item: dict[str, Any] = {"name": name, key: []}
    items.append(item)
    return item


def _add(result: dict[str, Any], test: _Test, action: str, details: dict[str, Any]) -> None:
    case = _child(result.setdefault("testCases", []), test.table.name, "principals")
    principal = _child(case["principals"], test.principal, "resources")
    resource = _child(principal["resources"], test.resource, "actions")
    resource["actions"].append({"name": action, "details": details})


def _summarise(result: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    worst = SKIPPED
    for _, details in _checks(result):
        worst = max(worst, details["result"], key=_RANK.__getitem__)
        if details.get("skipReason") not in _FILTER_SKIPS:  # as Cerbos: a filtered-out test is not counted
            counts[details["result"]] = counts.get(details["result"], 0) + 1
    result["summary"] = _summary(counts, worst)
    return result


_FILTER_SKIPS = frozenset(SKIP_FILTER.values())


def _summary(counts: Mapping[str, int], overall: str) -> dict[str, Any]:
    tally = [{"result": k, "count": counts[k]} for k in sorted(counts, key=_RANK.__getitem__)]
    return {"overallResult": overall, **_some(testsCount=sum(counts.values()), resultCounts=tally)}


def run_all(engine: Engine, root: Path, suite_filter: SuiteFilter | None = None) -> dict[str, Any]:
    """Run every suite under ``root``; Cerbos's ``TestResults`` JSON."""
    fixtures: dict[Path, Fixtures | SuiteError] = {}
    suites = [run_suite(engine, path, root, suite_filter, fixtures) for path in find_suites(root)]
    counts: dict[str, int] = {}
    worst = SKIPPED
    for s in suites:
        summary = s["summary"]
        if _RANK[summary["overallResult"]] > _RANK[worst]:
            worst = summary["overallResult"]
        for c in summary.get("resultCounts", []):
            counts[c["result"]] = counts.get(c["result"], 0) + c["count"]
    return {"suites": suites, "summary": _summary(counts, worst)}


def failed(results: Mapping[str, Any]) -> bool:
    """Whether any suite failed or errored."""
    return results["summary"]["overallResult"] in (FAILED, ERRORED)


# -- reports --------------------------------------------------------------------------------------


def _checks(suite: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """Each checked action of a suite result: its name (test / principal / resource / action), its details."""
    for case in suite.get("testCases", []):
        for p in case["principals"]:
            for r in p["resources"]:
                for a in r["actions"]:
                    yield f"{case['name']} / {p['name']} / {r['name']} / {a['name']}", a["details"]


def _walk(results: Mapping[str, Any]) -> Iterable[tuple[dict[str, Any], str, dict[str, Any]]]:
    for suite in results["suites"]:
        for name, details in _checks(suite):
            yield suite, name, details


def render_text(
    results: Mapping[str, Any], *, verbose: bool = False, paint: Callable[[str, str], str] | None = None
) -> str:
    """A test runner's report: a line per suite, under it a line per failing or erroring check (every
    check when ``verbose``, but those a filter left out), then the totals. ``paint(text, result)``
    colours a result word (``PASSED``, ``FAILED``...); names are escaped before they are painted."""
    paint = paint or (lambda text, style: text)
    word = {PASSED: "PASS", FAILED: "FAIL", ERRORED: "ERROR", SKIPPED: "SKIP"}
    shown = (PASSED, FAILED, ERRORED, SKIPPED) if verbose else (FAILED, ERRORED)
    lines = []
    for suite in results["suites"]:
        checks = list(_checks(suite))
        if checks and all(d.get("skipReason") in _FILTER_SKIPS for _, d in checks):
            continue  # as Cerbos: a suite the filter left out entirely is not listed
        overall = suite["summary"]["overallResult"].removeprefix("RESULT_")
        lines.append(
            f"{printable(suite['file'])}: {printable(suite['name'] or '?')} [{paint(overall, overall)}]"
        )
        if suite.get("error"):
            first, *rest = suite["error"].split("\n")
            lines += [
                f"  {paint('error', 'ERRORED')}: {printable(first)}",
                *(f"    {printable(line)}" for line in rest),
            ]
        for name, details in checks:
            result = details["result"]
            if result not in shown or details.get("skipReason") in _FILTER_SKIPS:
                continue
            label = paint(word[result], result.removeprefix("RESULT_"))
            lines.append(f"  {label} {printable(name)}{printable(_check_note(details))}")
    counts = ", ".join(
        paint(
            f"{c['count']} {c['result'].removeprefix('RESULT_').lower()}", c["result"].removeprefix("RESULT_")
        )
        for c in results["summary"].get("resultCounts", [])
    )
    broken = sum(1 for suite in results["suites"] if suite.get("error"))
    unloaded = f"; {plural(broken, 'suite')} failed to load" if broken else ""
    overall = results["summary"]["overallResult"].removeprefix("RESULT_")
    lines.append(
        f"{paint(overall, overall)}: {plural(results['summary'].get('testsCount', 0), 'test')} ({counts or 'none'}){unloaded}"
    )
    return "\n".join(lines)


def _check_note(details: Mapping[str, Any]) -> str:
    """What follows a check's name: why it failed, errored or was skipped."""
    if details["result"] == FAILED:
        f = details["failure"]
        extra = f"; outputs: {json.dumps(f['outputs'])}" if f.get("outputs") else ""
        return f": expected {f['expected']}, got {f['actual']}{extra}"
    if details["result"] == ERRORED:
        return f": {details['error']}"
    if details["result"] == SKIPPED and details.get("skipReason"):
        return f": {details['skipReason']}"
    return ""


def render_junit(results: Mapping[str, Any]) -> str:
    """JUnit XML: a testsuite per suite file, a testcase per (test, principal, resource, action)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    for suite in results["suites"]:
        cases = [(n, d) for s, n, d in _walk(results) if s is suite]
        fails = sum(d["result"] == FAILED for _, d in cases)
        errors = sum(d["result"] == ERRORED for _, d in cases) + (1 if suite.get("error") else 0)
        skipped = sum(d["result"] == SKIPPED for _, d in cases)
        out.append(
            f"  <testsuite name={quoteattr(suite['name'] or suite['file'])} file={quoteattr(suite['file'])} "
            f'tests="{len(cases)}" failures="{fails}" errors="{errors}" skipped="{skipped}">'
        )
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
