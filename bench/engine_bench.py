"""Benchmark chamberlain's policy engine against real Cerbos (through its SDK), pycasbin and cedarpy.

Run: ``python bench/engine_bench.py`` (``make bench``). One decision, expressed in each system:
a principal with role ``employee`` gets the derived role ``owner`` when ``R.attr.owner == P.id``,
and ``owner`` may ``view`` a document when ``R.attr.status == "DRAFT"``. Every peer must give the
same answers as chamberlain on a few allow and deny inputs before anything is timed; a mismatch
is printed loudly and makes the exit status 1. Then µs per check (best of several repeats of a
calibrated loop), each system building its request objects from the same plain data inside the
timed call, as a fresh request does (chamberlain is also shown reusing one Principal and Resource,
which skips their per-object conversion to CEL values), and the time to compile 10,000 generated
policies through ``PDP.from_directory``.

Peers: the official ``cerbos`` SDK (``CerbosClient.is_allowed``) against the real Cerbos server on
loopback (tests/support/cerbos_server.py installs it from npm), ``pycasbin`` (an ABAC model) and
``cedarpy`` (policies parsed once into a ``PolicySet``). A peer that is unavailable shows as "n/a".
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support (the Cerbos harness)

from chamberlain import PDP, Principal, Resource

REPEATS = 5
TARGET_LOOP_SECONDS = 0.1
GENERATED_POLICIES = 10_000
GOAL_CHECK_US = 5.0
GOAL_COMPILE_S = 5.0
GOALS_SPEEDUP = {"pycasbin": 10.0, "cedarpy": 20.0, "cerbos SDK": 300.0}

DERIVED_ROLES = """\
apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: common_roles
  definitions:
    - name: owner
      parentRoles: ["employee"]
      condition:
        match:
          expr: R.attr.owner == P.id
"""

RESOURCE_POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: {kind}
  version: default
  importDerivedRoles: ["common_roles"]
  rules:
    - name: owner-views-drafts
      actions: ["view"]
      effect: EFFECT_ALLOW
      derivedRoles: ["owner"]
      condition:
        match:
          expr: R.attr.status == "{status}"
"""

CASBIN_MODEL = """\
[request_definition]
r = sub, obj, act

[policy_definition]
p = role, act, status

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = p.role in r.sub.roles && r.obj.owner == r.sub.id && r.act == p.act && r.obj.status == p.status
"""

CEDAR_POLICY = """\
permit (principal, action == Action::"view", resource)
when { principal.roles.contains("employee") && resource.owner == principal && resource.status == "DRAFT" };
"""


@dataclass(frozen=True)
class Case:
    """One check: principal id and roles, resource owner and status, action; the expected answer."""

    principal: str
    roles: tuple[str, ...]
    owner: str
    status: str
    action: str
    allowed: bool


CASES = [
    Case("alice", ("employee",), "alice", "DRAFT", "view", True),
    Case("alice", ("employee", "manager"), "alice", "DRAFT", "view", True),
    Case("alice", ("employee",), "alice", "PUBLISHED", "view", False),
    Case("alice", ("employee",), "bob", "DRAFT", "view", False),
    Case("alice", ("contractor",), "alice", "DRAFT", "view", False),
    Case("alice", ("employee",), "alice", "DRAFT", "delete", False),
]
TIMED = CASES[0]

Checker = Callable[[Case], bool]


def write_policies(directory: Path, kinds: list[str]) -> None:
    (directory / "common_roles.yaml").write_text(DERIVED_ROLES)
    for i, kind in enumerate(kinds):
        status = "DRAFT" if kind == "document" else f"DRAFT_{i}"
        (directory / f"{kind}.yaml").write_text(RESOURCE_POLICY.format(kind=kind, status=status))


# -- the four systems ------------------------------------------------------------------------------------
def chamberlain_checker(policies: Path) -> Checker:
    pdp = PDP.from_directory(policies)

    def check(case: Case) -> bool:
        principal = Principal(case.principal, roles=set(case.roles))
        resource = Resource("document", "doc-1", attr={"owner": case.owner, "status": case.status})
        return pdp.is_allowed(principal, resource, case.action)

    return check


def chamberlain_prebuilt(policies: Path) -> Callable[[], bool]:
    """The timed case with its request objects built once (their CEL conversion is then cached)."""
    pdp = PDP.from_directory(policies)
    principal = Principal(TIMED.principal, roles=set(TIMED.roles))
    resource = Resource("document", "doc-1", attr={"owner": TIMED.owner, "status": TIMED.status})
    return lambda: pdp.is_allowed(principal, resource, TIMED.action)


@contextlib.contextmanager
def cerbos_sdk_checker(policies: Path) -> Iterator[Checker]:
    from cerbos.sdk.client import CerbosClient
    from cerbos.sdk.model import Principal as SdkPrincipal
    from cerbos.sdk.model import Resource as SdkResource
    from tests.support.cerbos_server import cerbos_server

    with cerbos_server(policies) as server, CerbosClient(server.url, tls_verify=False) as client:

        def check(case: Case) -> bool:
            principal = SdkPrincipal(case.principal, roles=set(case.roles))
            resource = SdkResource("doc-1", "document", attr={"owner": case.owner, "status": case.status})
            return client.is_allowed(case.action, principal, resource)

        yield check


def casbin_checker() -> Checker:
    import casbin

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.conf"
        model.write_text(CASBIN_MODEL)
        enforcer = casbin.Enforcer(str(model))
    enforcer.add_policy("employee", "view", "DRAFT")

    def check(case: Case) -> bool:
        sub = SimpleNamespace(id=case.principal, roles=list(case.roles))
        obj = SimpleNamespace(owner=case.owner, status=case.status)
        return enforcer.enforce(sub, obj, case.action)

    return check


def cedar_checker() -> Checker:
    import cedarpy

    policies = cedarpy.PolicySet.from_str(CEDAR_POLICY)

    def check(case: Case) -> bool:
        entities = [
            {
                "uid": {"type": "User", "id": case.principal},
                "attrs": {"roles": list(case.roles)},
                "parents": [],
            },
            {
                "uid": {"type": "Document", "id": "doc-1"},
                "attrs": {"owner": {"__entity": {"type": "User", "id": case.owner}}, "status": case.status},
                "parents": [],
            },
        ]
        request = {
            "principal": f'User::"{case.principal}"',
            "action": f'Action::"{case.action}"',
            "resource": 'Document::"doc-1"',
            "context": {},
        }
        return cedarpy.is_authorized(request, policies, entities).decision == cedarpy.Decision.Allow

    return check


# -- measuring -------------------------------------------------------------------------------------------
def time_per_call(thunk: Callable[[], Any]) -> float:
    """Seconds per call: best of REPEATS loops, each calibrated to about TARGET_LOOP_SECONDS."""
    timer = timeit.Timer(thunk)
    number, elapsed = timer.autorange()
    number = max(1, int(number * TARGET_LOOP_SECONDS / max(elapsed, 1e-9)))
    return min(timer.repeat(repeat=REPEATS, number=number)) / number


def mismatches(name: str, check: Checker) -> list[str]:
    wrong = []
    for case in CASES:
        got = check(case)
        if got is not case.allowed:
            wrong.append(f"!!! MISMATCH {name}: {case} -> {got}")
    return wrong


def time_compile() -> float:
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        directory = Path(tmp)
        write_policies(directory, [f"kind_{i:05d}" for i in range(GENERATED_POLICIES)])
        start = time.perf_counter()
        pdp = PDP.from_directory(directory)
        elapsed = time.perf_counter() - start
    resource = Resource("kind_00007", "x", attr={"owner": "alice", "status": "DRAFT_7"})
    assert pdp.is_allowed(Principal("alice", roles={"employee"}), resource, "view")
    return elapsed


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def render(rows: list[list[str]]) -> None:
    headers = ["system", "µs per check", "peer / chamberlain"]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(3)]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
            )
        )


def goal(label: str, ok: bool, detail: str) -> None:
    print(f"goal: {label}: {'MET' if ok else 'NOT MET'} ({detail})")


def main() -> int:
    """Check agreement, time every system, print the table and the goals; exit 1 on a mismatch."""
    problems: list[str] = []
    timings: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="engine-bench-policies-") as tmp, contextlib.ExitStack() as stack:
        policies = Path(tmp)
        write_policies(policies, ["document"])
        ours = chamberlain_checker(policies)
        problems += mismatches("chamberlain", ours)
        timings["chamberlain"] = time_per_call(lambda: ours(TIMED))
        prebuilt = time_per_call(chamberlain_prebuilt(policies))
        peers: dict[str, Callable[[], Checker]] = {
            "pycasbin": casbin_checker,
            "cedarpy": cedar_checker,
            "cerbos SDK": lambda: stack.enter_context(cerbos_sdk_checker(policies)),
        }
        for name, factory in peers.items():
            try:
                check = factory()
            except Exception as exc:  # a missing package or no Cerbos binary: shown as n/a
                timings[name], notes[name] = (
                    None,
                    f"n/a: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}",
                )
                continue
            wrong = mismatches(name, check)
            problems += wrong
            timings[name] = None if wrong else time_per_call(lambda check=check: check(TIMED))

    own = timings["chamberlain"]
    assert own is not None
    rows = [
        ["chamberlain PDP.is_allowed", f"{own * 1e6:.2f}", "1.0x"],
        ["  (same Principal/Resource reused)", f"{prebuilt * 1e6:.2f}", "-"],
    ]
    for name in peers:
        t = timings[name]
        rows.append([name, "n/a" if t is None else f"{t * 1e6:.2f}", "-" if t is None else f"{t / own:.1f}x"])
    render(rows)
    print(
        f"Python {sys.version.split()[0]}; cerbos (SDK) {version('cerbos')}, pycasbin {version('pycasbin')}, "
        f"cedarpy {version('cedarpy')}; Cerbos server from npm (tests/support/cerbos_server.py)"
    )
    for name, note in notes.items():
        print(f"[{name}] {note}")
    for line in problems:
        print(line)

    compile_s = time_compile()
    print(f"compile {GENERATED_POLICIES:,} generated policies: {compile_s:.2f} s")
    goal(f"<= {GOAL_CHECK_US} µs per check", own * 1e6 <= GOAL_CHECK_US, f"{own * 1e6:.2f} µs")
    for name, factor in GOALS_SPEEDUP.items():
        t = timings[name]
        if t is None:
            print(f"goal: >= {factor:.0f}x faster than {name}: n/a")
        else:
            goal(f">= {factor:.0f}x faster than {name}", t / own >= factor, f"{t / own:.1f}x")
    goal(
        f"{GENERATED_POLICIES:,} policies compile in <= {GOAL_COMPILE_S} s",
        compile_s <= GOAL_COMPILE_S,
        f"{compile_s:.2f} s",
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
