"""A SQL filter planned under ``acting_for`` a delegation is refused by an embedded PDP, as a check is.

An embedded PDP cannot attenuate by an actor chain: a check made under a delegation against it is denied
(``integrations.decide``), and the server refuses a delegated query plan (a plan for the principal alone
would give the agent everything the person may read). ``authorize`` (and ``PDP.filter``) planned for the
principal alone under ``acting_for``: an agent acting for alice read every row alice may read."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from chamberlain import PDP, Principal, acting_for
from chamberlain.integrations.sqlalchemy import Deny, authorize

POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: invoice
  version: default
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk"]
"""
ALICE = Principal("alice", ["finance_clerk"])


@pytest.fixture
def pdp(tmp_path: Path) -> PDP:
    (tmp_path / "invoice.yaml").write_text(POLICY)
    return PDP.from_directory(tmp_path)


@pytest.fixture
def invoices() -> sa.Table:
    return sa.Table("invoice", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))


def rows(statement: sa.Select) -> list[int]:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        statement.get_final_froms()[0].metadata.create_all(conn)
        conn.execute(statement.get_final_froms()[0].insert(), [{"id": 1}, {"id": 2}])
        return [r[0] for r in conn.execute(statement)]


def test_a_filter_for_the_person_alone_is_still_planned_without_a_delegation(pdp: PDP, invoices) -> None:
    assert rows(authorize(pdp, sa.select(invoices.c.id), ALICE, "view").statement) == [1, 2]


@pytest.mark.parametrize(
    "acting",
    [
        {"delegation": {"actors": [{"id": "agent-7", "roles": ["agent"]}]}},
        {"token": "eyJhbGciOiJFZERTQSJ9.e30.c2ln"},
    ],
    ids=["named actors", "token"],
)
def test_a_filter_under_a_delegation_is_refused_by_an_embedded_pdp(pdp: PDP, invoices, acting) -> None:
    with acting_for(**acting):
        outcome = authorize(pdp, sa.select(invoices.c.id), ALICE, "view")
        filtered = pdp.filter(sa.select(invoices.c.id), ALICE, "view")
    assert isinstance(outcome, Deny)
    assert rows(outcome.statement) == [] and rows(filtered) == []


def test_a_filter_in_a_revoked_session_reads_nothing(tmp_path: Path, invoices) -> None:
    """A filter under ``acting_for(session_id=...)`` is a plan in that session: it spends nothing, but the
    session must be live and the caller's, as the server gates a plan naming a session (the kill switch
    stopped the agent's checks while its filters went on reading)."""
    from chamberlain.sessions.settings import SessionSpec

    (tmp_path / "invoice.yaml").write_text(POLICY)
    pdp = PDP.from_directory(tmp_path, sessions=f"sqlite:///{tmp_path / 'state.db'}")
    assert pdp.sessions is not None
    store = pdp.sessions.store
    spec = SessionSpec("alice", "alice", (), 3600.0, 900.0, (), (), {})
    session = store.open_session(spec, by="test")
    with acting_for(session_id=session.id):
        assert rows(pdp.filter(sa.select(invoices.c.id), ALICE, "view")) == [1, 2]
    store.revoke(session.id, by="admin:carol", reason="runaway agent")
    with acting_for(session_id=session.id):
        outcome = authorize(pdp, sa.select(invoices.c.id), ALICE, "view")
    assert isinstance(outcome, Deny) and rows(outcome.statement) == []
    other = store.open_session(SessionSpec("bob", "bob", (), 3600.0, 900.0, (), (), {}), by="test")
    with acting_for(session_id=other.id):  # another agent's session
        assert rows(pdp.filter(sa.select(invoices.c.id), ALICE, "view")) == []
