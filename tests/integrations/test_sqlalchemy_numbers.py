"""Numbers the check reads as doubles, exactly in SQL: integers past 2**53 and NaN.

The check reads every attribute number as a double (as JSON makes it in Cerbos): 2**53 + 1 is
2**53 there. SQLite compares an integer column with a real exactly, and both databases compare two
integer columns exactly, so ``n > 2**53`` or ``n < m`` returned rows the check denies. PostgreSQL
orders NaN above every number and makes it equal to itself, where every CEL comparison with NaN is
false: ``x > 3.0`` returned the NaN rows. (SQLite stores NaN as NULL, so NaN rows run on PostgreSQL
only.)
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from chamberlain import PDP, Principal
from tests.integrations.exactness import Harness, allow_each, build_schema, database, pdp_of

BIG = 2**53
CONDITIONS = {
    "gt-big": f"R.attr.n > {BIG}",
    "ge-big": f"R.attr.n >= {BIG + 1}",
    "eq-big": f"R.attr.n == {BIG}",
    "ne-big": f"R.attr.n != {BIG}",
    "in-big": f"R.attr.n in [{BIG}, 3]",
    "not-in-big": f"!(R.attr.n in [{BIG}])",
    "int-columns-lt": "R.attr.n < R.attr.m",
    "int-columns-eq": "R.attr.n == R.attr.m",
    "int-columns-ne": "R.attr.n != R.attr.m",
    "int-double-columns-gt": "R.attr.n > R.attr.x",
    "gt": "R.attr.x > 3.0",
    "ge-value-first": "3.0 <= R.attr.x",
    "lt": "R.attr.x < 3.0",
    "not-gt": "!(R.attr.x > 3.0)",
    "ne": "R.attr.x != 1.5",
    "double-columns-eq": "R.attr.x == R.attr.y",
    "double-columns-ne": "R.attr.x != R.attr.y",
    "double-columns-ge": "R.attr.x >= R.attr.y",
    "arithmetic": "R.attr.x * 0.0 > -1.0",
}
POLICY = allow_each(CONDITIONS)
COLUMNS = {"n": sa.BigInteger(), "m": sa.BigInteger(), "x": sa.Double(), "y": sa.Double()}
INTEGERS = [None, 3, BIG - 1, BIG, BIG + 1, BIG + 2, -BIG - 1, 2**63 - 1]
DOUBLES = [None, 1.5, 4.0, float(BIG), float("inf"), float("-inf")]


def rows(nan: bool) -> list[dict]:
    doubles = [*DOUBLES, float("nan")] if nan else DOUBLES
    out = []
    for i, n in enumerate(INTEGERS):
        for j, x in enumerate(doubles):
            out.append(
                {
                    "id": len(out) + 1,
                    "n": n,
                    "m": INTEGERS[(i + j + 1) % len(INTEGERS)],
                    "x": x,
                    "y": doubles[(i + 2 * j) % len(doubles)],
                }
            )
    return out


@pytest.fixture(scope="module")
def pdp(tmp_path_factory: pytest.TempPathFactory) -> PDP:
    return pdp_of(tmp_path_factory.mktemp("numbers"), POLICY)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_filter_compares_numbers_as_the_check_does(pdp: PDP, dialect: str) -> None:
    with database(dialect) as engine:
        harness = Harness(pdp, build_schema(COLUMNS), engine)
        harness.create()
        harness.verify(Principal("alice", ["user"]), list(CONDITIONS), rows(nan=dialect == "postgresql"), {})
    assert not harness.refused, harness.refused


def test_small_integer_constants_keep_the_column_uncast(pdp: PDP) -> None:
    """Below 2**53 an integer column is compared as is, so that its index stays usable."""
    table = build_schema(COLUMNS).table
    query = pdp.filter(sa.select(table.c.id), Principal("alice", ["user"]), "in-big", kind="doc")
    assert "CAST" in str(query.whereclause)
    query = pdp.filter(
        sa.select(table.c.id), Principal("alice", ["user"]), "gt", kind="doc", resource_attr={"n": 1}
    )
    assert "CAST" not in str(query.whereclause)
