"""Benchmark chamberlain's policy engine against real Cerbos (through its SDK), pycasbin and cedarpy.

Run: ``python bench/engine_bench.py`` (``make bench``). Two policy sets, each expressed in every
system. *document*: a principal with role ``employee`` gets the derived role ``owner`` when
``R.attr.owner == P.id``, and ``owner`` may ``view`` a document when ``R.attr.status == "DRAFT"``.
*invoice*: the example policies (examples/policies: derived roles, imported variables and
constants, several conditions, an ALLOW and a DENY deciding each action); a finance manager
approves an invoice someone else submitted (the DENY ``no-self-approval`` reads the variable
``V.acting_for``), and staff pay invoices within an amount limit. Every peer must give the same
answers as chamberlain on the allow and deny inputs of its set before anything is timed; a mismatch
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

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policies"
#: The example policies the invoice set needs (unscoped: the scoped ACME policies are left out).
INVOICE_FILES = (
    "derived_roles/agents.yaml",
    "derived_roles/finance.yaml",
    "export_constants/limits.yaml",
    "export_variables/finance.yaml",
    "resource_policies/invoice.yaml",
)


@dataclass(frozen=True)
class InvoiceCase:
    """A person (or a person acting for ``delegator``) and an invoice; the expected answer."""

    principal: str
    roles: tuple[str, ...]
    delegator: str | None
    submitted_by: str
    status: str
    amount: int
    action: str
    allowed: bool


INVOICE_CASES = [
    InvoiceCase("mia", ("finance_manager",), None, "sam", "SUBMITTED", 700, "approve", True),
    InvoiceCase("mia", ("finance_manager",), None, "mia", "SUBMITTED", 700, "approve", False),
    InvoiceCase("mia", ("finance_manager",), "sam", "sam", "SUBMITTED", 700, "approve", False),
    InvoiceCase("mia", ("finance_manager",), None, "sam", "APPROVED", 700, "approve", False),
    InvoiceCase("carl", ("finance_clerk",), None, "sam", "SUBMITTED", 700, "approve", False),
    InvoiceCase("carl", ("finance_clerk",), None, "sam", "SUBMITTED", 700, "pay", True),
    InvoiceCase("carl", ("finance_clerk",), None, "sam", "SUBMITTED", 7000, "pay", False),
    InvoiceCase("carl", ("finance_clerk",), None, "sam", "APPROVED", 7000, "pay", True),
    InvoiceCase("carl", ("finance_clerk",), None, "sam", "PAID", 700, "pay", False),
    InvoiceCase("vic", ("auditor",), None, "sam", "APPROVED", 700, "pay", False),
]
INVOICE_TIMED = INVOICE_CASES[0]

# The invoice rules the cases decide, as pycasbin ABAC rules (evaluated per policy row) and Cedar policies.
INVOICE_CASBIN_MODEL = """\
[request_definition]
r = sub, obj, act

[policy_definition]
p = act, rule, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.act == p.act && eval(p.rule)
"""
ACTING_FOR = "(r.sub.delegator.id if r.sub.delegator else r.sub.id)"
INVOICE_CASBIN_RULES = [
    (
        "approve",
        "'finance_manager' in r.sub.roles && r.obj.submittedBy != r.sub.id && r.obj.status == 'SUBMITTED'",
        "allow",
    ),
    (
        "approve",
        "('finance_clerk' in r.sub.roles || 'finance_manager' in r.sub.roles || 'agent' in r.sub.roles) "
        f"&& {ACTING_FOR} == r.obj.submittedBy",
        "deny",
    ),
    (
        "pay",
        "('finance_clerk' in r.sub.roles || 'finance_manager' in r.sub.roles) && (r.obj.status == 'APPROVED' "
        "|| (r.obj.status == 'SUBMITTED' && r.obj.amount <= 1000))",
        "allow",
    ),
    ("pay", "r.obj.status == 'PAID'", "deny"),
]
INVOICE_CEDAR = """\
permit (principal, action == Action::"approve", resource)
when { principal.roles.contains("finance_manager") && resource.submittedBy != principal.id
       && resource.status == "SUBMITTED" };
forbid (principal, action == Action::"approve", resource)
when { principal.roles.containsAny(["finance_clerk", "finance_manager", "agent"])
       && (if principal has delegator then principal.delegator.id else principal.id) == resource.submittedBy };
permit (principal, action == Action::"pay", resource)
when { principal.roles.containsAny(["finance_clerk", "finance_manager"])
       && (resource.status == "APPROVED" || (resource.status == "SUBMITTED" && resource.amount <= 1000)) };
forbid (principal, action == Action::"pay", resource) when { resource.status == "PAID" };
"""

Checker = Callable[[Any], bool]


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


# -- the invoice set in the four systems ----------------------------------------------------------------
def write_invoice_policies(directory: Path) -> None:
    for name in INVOICE_FILES:
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text((EXAMPLES / name).read_text())


def _invoice_attr(case: InvoiceCase) -> dict[str, Any]:
    return {"submittedBy": case.submitted_by, "status": case.status, "amount": case.amount, "currency": "EUR"}


def _invoice_principal_attr(case: InvoiceCase) -> dict[str, Any]:
    return {} if case.delegator is None else {"delegator": {"id": case.delegator, "roles": ["finance_clerk"]}}


def invoice_chamberlain_checker(policies: Path) -> Checker:
    pdp = PDP.from_directory(policies)

    def check(case: InvoiceCase) -> bool:
        principal = Principal(case.principal, roles=set(case.roles), attr=_invoice_principal_attr(case))
        resource = Resource("invoice", "inv-1", attr=_invoice_attr(case))
        return pdp.is_allowed(principal, resource, case.action)

    return check


def invoice_chamberlain_prebuilt(policies: Path) -> Callable[[], bool]:
    pdp = PDP.from_directory(policies)
    case = INVOICE_TIMED
    principal = Principal(case.principal, roles=set(case.roles), attr=_invoice_principal_attr(case))
    resource = Resource("invoice", "inv-1", attr=_invoice_attr(case))
    return lambda: pdp.is_allowed(principal, resource, case.action)


@contextlib.contextmanager
def invoice_cerbos_sdk_checker(policies: Path) -> Iterator[Checker]:
    from cerbos.sdk.client import CerbosClient
    from cerbos.sdk.model import Principal as SdkPrincipal
    from cerbos.sdk.model import Resource as SdkResource
    from tests.support.cerbos_server import cerbos_server

    with cerbos_server(policies) as server, CerbosClient(server.url, tls_verify=False) as client:

        def check(case: InvoiceCase) -> bool:
            principal = SdkPrincipal(
                case.principal, roles=set(case.roles), attr=_invoice_principal_attr(case)
            )
            resource = SdkResource("inv-1", "invoice", attr=_invoice_attr(case))
            return client.is_allowed(case.action, principal, resource)

        yield check


def invoice_casbin_checker() -> Checker:
    import casbin

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.conf"
        model.write_text(INVOICE_CASBIN_MODEL)
        enforcer = casbin.Enforcer(str(model))
    for rule in INVOICE_CASBIN_RULES:
        enforcer.add_policy(*rule)

    def check(case: InvoiceCase) -> bool:
        delegator = (
            None if case.delegator is None else SimpleNamespace(id=case.delegator, roles=["finance_clerk"])
        )
        sub = SimpleNamespace(id=case.principal, roles=list(case.roles), delegator=delegator)
        obj = SimpleNamespace(
            submittedBy=case.submitted_by, status=case.status, amount=case.amount, currency="EUR"
        )
        return enforcer.enforce(sub, obj, case.action)

    return check


def invoice_cedar_checker() -> Checker:
    import cedarpy

    policies = cedarpy.PolicySet.from_str(INVOICE_CEDAR)

    def check(case: InvoiceCase) -> bool:
        attrs: dict[str, Any] = {"id": case.principal, "roles": list(case.roles)}
        if case.delegator is not None:
            attrs["delegator"] = {"id": case.delegator, "roles": ["finance_clerk"]}
        entities = [
            {"uid": {"type": "User", "id": case.principal}, "attrs": attrs, "parents": []},
            {"uid": {"type": "Invoice", "id": "inv-1"}, "attrs": _invoice_attr(case), "parents": []},
        ]
        request = {
            "principal": f'User::"{case.principal}"',
            "action": f'Action::"{case.action}"',
            "resource": 'Invoice::"inv-1"',
            "context": {},
        }
        return cedarpy.is_authorized(request, policies, entities).decision == cedarpy.Decision.Allow

    return check


@dataclass(frozen=True)
class Scenario:
    """One policy set in every system: how to write it, its cases and the timed one, each system's checker."""

    name: str
    write: Callable[[Path], None]
    cases: list[Any]
    timed: Any
    ours: Callable[[Path], Checker]
    prebuilt: Callable[[Path], Callable[[], bool]]
    casbin: Callable[[], Checker]
    cedar: Callable[[], Checker]
    sdk: Callable[[Path], contextlib.AbstractContextManager[Checker]]


SCENARIOS = [
    Scenario(
        "document (a derived role, one condition)",
        lambda d: write_policies(d, ["document"]),
        CASES,
        TIMED,
        chamberlain_checker,
        chamberlain_prebuilt,
        casbin_checker,
        cedar_checker,
        cerbos_sdk_checker,
    ),
    Scenario(
        "invoice (examples/policies: derived roles, variables, constants, several conditions)",
        write_invoice_policies,
        INVOICE_CASES,
        INVOICE_TIMED,
        invoice_chamberlain_checker,
        invoice_chamberlain_prebuilt,
        invoice_casbin_checker,
        invoice_cedar_checker,
        invoice_cerbos_sdk_checker,
    ),
]


# -- measuring -------------------------------------------------------------------------------------------
def time_per_call(thunk: Callable[[], Any]) -> float:
    """Seconds per call: best of REPEATS loops, each calibrated to about TARGET_LOOP_SECONDS."""
    timer = timeit.Timer(thunk)
    number, elapsed = timer.autorange()
    number = max(1, int(number * TARGET_LOOP_SECONDS / max(elapsed, 1e-9)))
    return min(timer.repeat(repeat=REPEATS, number=number)) / number


def mismatches(name: str, check: Checker, cases: list[Any]) -> list[str]:
    wrong = []
    for case in cases:
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


def run_scenario(scenario: Scenario, problems: list[str]) -> bool:
    """Check agreement, time every system on one policy set, print its table and goals; whether all are met."""
    timings: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    timed = scenario.timed
    with tempfile.TemporaryDirectory(prefix="engine-bench-policies-") as tmp, contextlib.ExitStack() as stack:
        policies = Path(tmp)
        scenario.write(policies)
        ours = scenario.ours(policies)
        problems += mismatches("chamberlain", ours, scenario.cases)
        timings["chamberlain"] = time_per_call(lambda: ours(timed))
        prebuilt = time_per_call(scenario.prebuilt(policies))
        peers: dict[str, Callable[[], Checker]] = {
            "pycasbin": scenario.casbin,
            "cedarpy": scenario.cedar,
            "cerbos SDK": lambda: stack.enter_context(scenario.sdk(policies)),
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
            wrong = mismatches(name, check, scenario.cases)
            problems += wrong
            timings[name] = None if wrong else time_per_call(lambda check=check: check(timed))

    own = timings["chamberlain"]
    assert own is not None
    print(f"\n{scenario.name}: {timed}")
    rows = [
        ["chamberlain PDP.is_allowed", f"{own * 1e6:.2f}", "1.0x"],
        ["  (same Principal/Resource reused)", f"{prebuilt * 1e6:.2f}", "-"],
    ]
    for name in peers:
        t = timings[name]
        rows.append([name, "n/a" if t is None else f"{t * 1e6:.2f}", "-" if t is None else f"{t / own:.1f}x"])
    render(rows)
    for name, note in notes.items():
        print(f"[{name}] {note}")
    met = own * 1e6 <= GOAL_CHECK_US
    goal(f"<= {GOAL_CHECK_US} µs per check", met, f"{own * 1e6:.2f} µs")
    for name, factor in GOALS_SPEEDUP.items():
        t = timings[name]
        if t is None:
            print(f"goal: >= {factor:.0f}x faster than {name}: n/a")
            met = False
        else:
            goal(f">= {factor:.0f}x faster than {name}", t / own >= factor, f"{t / own:.1f}x")
            met = met and t / own >= factor
    return met


def main() -> int:
    """Every policy set, then the compile time; exit 1 on a mismatch."""
    problems: list[str] = []
    for scenario in SCENARIOS:
        run_scenario(scenario, problems)
    print(
        f"\nPython {sys.version.split()[0]}; cerbos (SDK) {version('cerbos')}, pycasbin {version('pycasbin')}, "
        f"cedarpy {version('cedarpy')}; Cerbos server from npm (tests/support/cerbos_server.py)"
    )
    for line in problems:
        print(line)
    compile_s = time_compile()
    print(f"compile {GENERATED_POLICIES:,} generated policies: {compile_s:.2f} s")
    goal(
        f"{GENERATED_POLICIES:,} policies compile in <= {GOAL_COMPILE_S} s",
        compile_s <= GOAL_COMPILE_S,
        f"{compile_s:.2f} s",
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
