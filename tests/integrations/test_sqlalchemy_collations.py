"""String equality in SQL filters is code point by code point whatever the column's collation.

A PostgreSQL column with a nondeterministic collation (case-insensitive here) made ``==`` and ``in``
match ``"ABC"`` for ``"abc"``, returning rows the check denies, and ``startsWith`` failed with
PostgreSQL's error; hierarchy tests (``ancestorOf``, ``overlaps``, ``immediateParentOf``) compared a
SQLite ``NOCASE`` column with ``IN`` / ``=`` under its collation.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from chamberlain import PDP, Principal
from tests.integrations.exactness import Harness, allow_each, build_schema, database, pdp_of

CONDITIONS = {
    "eq": 'R.attr.s == "abc"',
    "value-first": '"abc" == R.attr.s',
    "ne": 'R.attr.s != "abc"',
    "in": 'R.attr.s in ["abc", "x"]',
    "in-one": 'R.attr.s in ["abc"]',
    "columns": "R.attr.s == R.attr.t",
    "startsWith": 'R.attr.s.startsWith("ab")',
    "contains-column": "R.attr.s.contains(R.attr.t)",
    "lt": 'R.attr.s < "b"',
    "ancestorOf": 'hierarchy(R.attr.s).ancestorOf(hierarchy("a.b.c"))',
    "immediateParentOf": 'hierarchy(R.attr.s).immediateParentOf(hierarchy("a.b.c"))',
    "overlaps": 'hierarchy(R.attr.s).overlaps(hierarchy("a.b"))',
    "descendentOf": 'hierarchy(R.attr.s).descendentOf(hierarchy("a"))',
}
POLICY = allow_each(CONDITIONS)
VALUES = [None, "abc", "ABC", "Abc", "ab", "AB", "x", "X", "a", "A", "a.b", "A.B", "a.B.c", "a.b.c", "A.b.x"]
ROWS = [{"id": i + 1, "s": s, "t": VALUES[(i * 3 + 1) % len(VALUES)]} for i, s in enumerate(VALUES)]


@pytest.fixture(scope="module")
def pdp(tmp_path_factory: pytest.TempPathFactory) -> PDP:
    return pdp_of(tmp_path_factory.mktemp("collations"), POLICY)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_case_insensitive_column_matches_exactly(pdp: PDP, dialect: str) -> None:
    with database(dialect) as engine:
        if dialect == "postgresql":
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "CREATE COLLATION IF NOT EXISTS chamberlain_ci "
                        "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
                    )
                )
            collation = "chamberlain_ci"
        else:
            collation = "NOCASE"
        columns = {"s": sa.String(collation=collation), "t": sa.String(collation=collation)}
        harness = Harness(pdp, build_schema(columns), engine)
        harness.create()
        harness.verify(Principal("alice", ["user"]), list(CONDITIONS), ROWS, {})
    assert not harness.refused, harness.refused
