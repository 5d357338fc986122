"""Shared by the decision log tests: a PostgreSQL URL with a schema of the test's own, entries to write."""

from __future__ import annotations

import dataclasses
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chamberlain.audit.tools.verify import verify
from chamberlain.audit.write.entry import Entry, new_entry
from chamberlain.store import StoreError, parse_url
from chamberlain.store.db import open_database
from tests.engine.test_engine import DERIVED as DERIVED  # re-exported: derived role "owner" of set "common"

#: A resource policy with a derived role, two conditions, an output and an unconditional rule.
DOCUMENT = """
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: document
  version: default
  importDerivedRoles: ["common"]
  rules:
    - name: owner-edits-drafts
      actions: ["edit"]
      effect: EFFECT_ALLOW
      derivedRoles: ["owner"]
      condition:
        match:
          all:
            of:
              - expr: R.attr.status == "draft"
              - expr: P.attr.level >= 2
      output:
        when:
          ruleActivated: '"edited by " + P.id'
    - name: anyone-views
      actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["user"]
"""

POSTGRES = os.environ.get("CHAMBERLAIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
VECTORS = Path(__file__).parent / "vectors"


def postgres_available() -> str:
    """``""`` when the test PostgreSQL answers, else why not."""
    try:
        open_database(POSTGRES).close()
    except StoreError as exc:
        return str(exc)
    return ""


_REASON: list[str] = []


def require_postgres() -> None:
    """Skip (fail under ``CI=true``) when the test PostgreSQL cannot be reached."""
    if not _REASON:
        _REASON.append(postgres_available())
    if _REASON[0]:
        message = f"PostgreSQL not reachable at {POSTGRES}: {_REASON[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def fresh_schema_url() -> Iterator[str]:
    """A URL on the test database with a new schema, dropped afterwards (parallel workers never meet)."""
    require_postgres()
    schema = f"t_{secrets.token_hex(6)}"
    url = f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}schema={schema}"
    yield url
    db = open_database(parse_url(POSTGRES))
    try:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        db.close()


def decision(
    i: int,
    *,
    session: str = "s-1",
    principal: str = "alice",
    effect: str = "EFFECT_ALLOW",
    actors: tuple[str, ...] = ("agent-1",),
    resource_kind: str = "doc",
    **fields: object,
) -> Entry:
    """A small decision entry, numbered ``i`` in its request id."""
    return new_entry(
        "decision",
        time=f"2026-01-01T00:00:{i % 60:02d}.000000Z",
        call_id=f"call-{i}",
        request_id=f"req-{i}",
        point="test",
        session_id=session,
        principal={"id": principal, "roles": ["user"]},
        actor_chain=actors,
        action="view",
        resource={"kind": resource_kind, "id": f"d{i}", "attr": {"n": i}},
        effect=effect,
        basis={"policy": "resource.doc.vdefault", "rule": "r"},
        outputs=[],
        approval=None,
        request_digest="0" * 64,
        **fields,
    )


def create_log_tables(path: Path) -> None:
    """Create a SQLite log's tables at ``path`` (as DecisionLog.open does, key beside it) for an appender
    used on its own."""
    from chamberlain.audit.log import DecisionLog, LogOptions

    DecisionLog.open(f"sqlite:///{path}", LogOptions(key_file=path.with_suffix(".key"))).close()


def verified_size(url: str) -> int:
    """The size of the log at ``url``, which must verify (else the test fails with verify's problem)."""
    db = open_database(url)
    try:
        report = verify(db)
    finally:
        db.close()
    assert report.ok, report.problem
    return report.size


@contextmanager
def writer_held(log) -> Iterator[None]:
    """The log's writer thread busy (in a call of its own) for the body: submissions queue meanwhile."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait()

    held = threading.Thread(target=log.writer.call, args=(hold,))
    held.start()
    assert entered.wait(10)
    try:
        yield
    finally:
        release.set()
        held.join()


def wait_until(predicate, timeout: float = 10.0, what: str = "the condition") -> None:
    """Poll ``predicate`` until it holds; fails after ``timeout`` seconds (no timing is asserted)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@dataclasses.dataclass
class CliResult:
    returncode: int
    stdout: str  # with stderr mixed in


def cli(*args: str) -> CliResult:
    """``chamberlain audit ARGS`` run in this process (typer's runner): the command's code, without
    the seconds a new interpreter takes to import everything."""
    from typer.testing import CliRunner

    from chamberlain.audit.tools.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return CliResult(result.exit_code, result.output)
