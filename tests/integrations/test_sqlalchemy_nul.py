"""SQL filters on SQLite read strings holding a NUL character whole, as CEL does.

SQLite's ``length()`` and ``substr()`` stop at the first NUL of a text value: a resource named
``"x.pdf\\x00.exe"`` (a name an agent chose) had ``length`` 5 and ``substr`` ``".pdf"``, so a filter on
``R.attr.name.endsWith(".pdf")`` returned it while the check denied it (CEL reads every code point),
and ``size(R.attr.name) < 6`` did the same (now an error for such a string: the row is not returned).
(PostgreSQL's text holds no NUL.)
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from chamberlain import PDP, Principal, Resource
from chamberlain.integrations.sqlalchemy import authorize
from tests.integrations.exactness import Harness, allow_each, build_schema, database, pdp_of

CONDITIONS = {
    "endsWith": 'R.attr.s.endsWith(".pdf")',
    "not-endsWith": '!R.attr.s.endsWith(".exe")',
    "startsWith": 'R.attr.s.startsWith("x.pdf")',
    "startsWith-nul": 'R.attr.s.startsWith("x\\u0000")',
    "endsWith-nul": 'R.attr.s.endsWith("\\u0000.exe")',
    "contains": 'R.attr.s.contains("\\u0000")',
    "column-endsWith": "R.attr.s.endsWith(R.attr.t)",
    "column-startsWith": "R.attr.s.startsWith(R.attr.t)",
    "descendentOf": 'hierarchy(R.attr.s).descendentOf(hierarchy("a"))',
    "immediateChildOf": 'hierarchy(R.attr.s).immediateChildOf(hierarchy("a"))',
    "siblingOf": 'hierarchy(R.attr.s).siblingOf(hierarchy("a.x"))',
    "ancestorOf": 'hierarchy(R.attr.s).ancestorOf(hierarchy("a.b\\u0000.c"))',
}
#: SQLite cannot count the code points of a text holding NUL: its size is an error there, so the
#: filter is narrower than the check for those rows, never wider.
SIZES = {"size": "size(R.attr.s) < 6", "size-eq": "size(R.attr.s) == 9", "not-size": "!(size(R.attr.s) > 5)"}
POLICY = allow_each({**CONDITIONS, **SIZES})
VALUES = [
    "x.pdf\x00.exe",
    "x.pdf",
    "\x00.pdf",
    "x\x00",
    "x.pdf\x00",
    "\x00",
    "é\x00é.pdf",
    "a.b\x00",
    "a.b\x00.c",
    "a\x00.b",
    "a",
    ".exe",
]
ROWS = [{"id": i + 1, "s": s, "t": VALUES[(i * 5 + 3) % len(VALUES)]} for i, s in enumerate(VALUES)]


@pytest.fixture(scope="module")
def pdp(tmp_path_factory: pytest.TempPathFactory) -> PDP:
    return pdp_of(tmp_path_factory.mktemp("nul"), POLICY)


def test_strings_with_nul_characters_are_read_whole_on_sqlite(pdp: PDP) -> None:
    with database("sqlite") as engine:
        harness = Harness(pdp, build_schema({"s": sa.String(), "t": sa.String()}), engine)
        harness.create()
        harness.verify(Principal("alice", ["user"]), list(CONDITIONS), ROWS, {})
    assert not harness.refused, harness.refused


def test_size_of_a_string_with_nul_is_never_wider_than_the_check_on_sqlite(pdp: PDP) -> None:
    alice = Principal("alice", ["user"])
    with database("sqlite") as engine:
        harness = Harness(pdp, build_schema({"s": sa.String(), "t": sa.String()}), engine)
        harness.create()
        harness.load(ROWS, {})
        for action in SIZES:
            statement = authorize(
                pdp,
                sa.select(harness.schema.table.c.id),
                alice,
                action,
                kind="doc",
                attr_map=harness.schema.attr_map,
            ).statement
            with engine.connect() as conn:
                returned = {r[0] for r in conn.execute(statement)}
            allowed = {
                r["id"]
                for r in ROWS
                if pdp.check(
                    alice, Resource("doc", str(r["id"]), {"s": r["s"], "t": r["t"]}), [action]
                ).is_allowed(action)
            }
            clean = {r["id"] for r in ROWS if "\x00" not in r["s"]}
            assert returned <= allowed and returned == allowed & clean, (action, returned, allowed)
