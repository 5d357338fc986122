"""Map attributes read from a related table (``Relation(..., key=...)``), proved exact on real SQLite
and PostgreSQL: ``R.attr.members[P.id]``, the per-resource roles of ReBAC-style policies, whose plan
keeps the principal as the index key (as Cerbos's does). Rows, members and principals are drawn with
keys that break naive translations (case, ``%``, ``""``, non-ASCII); for each action the filter must
return exactly the rows ``pdp.check`` allows, whichever way NULL columns reach the check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamberlain import PDP, Principal
from chamberlain.engine.planner import Expression, Value, Variable
from chamberlain.integrations.sqlalchemy import (
    EXPLICIT,
    OMITTED,
    Relation,
    UntranslatableFilter,
    where_clause,
)
from tests.integrations.exactness import Harness, allow_each, build_schema, database, examples, pdp_of

CONDITIONS = {
    "member-role": 'R.attr.members[P.id] == "editor"',
    "member-role-in": 'R.attr.members[P.id] in ["editor", "owner"]',
    "member-role-startsWith": 'R.attr.members[P.id].startsWith("ed")',
    "is-member": "P.id in R.attr.members",
    "member-guarded": 'P.id in R.attr.members && R.attr.members[P.id] != "viewer"',
    "not-member-role": '!(R.attr.members[P.id] == "viewer")',
    "member-or-owner": 'R.attr.owner == P.id || R.attr.members[P.id] == "owner"',
    "member-by-column": 'R.attr.members[R.attr.owner] == "owner"',
    "member-literal-key": 'R.attr.members["bob"] != "viewer"',
    "members-exists": 'R.attr.members.exists(k, k.startsWith("a"))',
    "members-all": 'R.attr.members.all(k, k != "mallory")',
    "members-size": "size(R.attr.members) > 1",
    "member-level": "R.attr.levels[P.id] >= 2",
    "member-level-default": "(P.id in R.attr.levels ? R.attr.levels[P.id] : 0) < 1",
    "number-key": 'R.attr.members[R.attr.n] == "editor"',
}
COLUMNS = {"owner": sa.String(), "n": sa.BigInteger()}
MAPS = {"members": sa.String(), "levels": sa.BigInteger()}
KEYS = ["alice", "Alice", "a%", "bob", "mallory", "é", "", "a_"]
PRINCIPALS = [Principal(k or "x", ["user"]) for k in ("alice", "Alice", "a%", "bob", "é")]
roles = st.sampled_from(["editor", "owner", "viewer", "Editor", "ed%", ""])


@st.composite
def datasets(draw: st.DrawFn) -> tuple[list[dict], dict[int, dict[str, dict]]]:
    values = draw(
        st.lists(
            st.fixed_dictionaries(
                {"owner": st.none() | st.sampled_from(KEYS), "n": st.none() | st.integers(-1, 3)}
            ),
            min_size=1,
            max_size=8,
        )
    )
    rows = [{"id": i + 1, **v} for i, v in enumerate(values)]
    children = {
        r["id"]: {
            "members": draw(st.dictionaries(st.sampled_from(KEYS), roles, max_size=4)),
            "levels": draw(st.dictionaries(st.sampled_from(KEYS), st.integers(-1, 3), max_size=3)),
        }
        for r in rows
    }
    return rows, children


@pytest.fixture(scope="module")
def pdp(tmp_path_factory: pytest.TempPathFactory) -> PDP:
    return pdp_of(Path(tmp_path_factory.mktemp("maps")), allow_each(CONDITIONS))


@pytest.mark.parametrize("null", [EXPLICIT, OMITTED])
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_map_filters_return_exactly_the_allowed_rows(pdp: PDP, dialect: str, null: str) -> None:
    with database(dialect) as engine:
        harness = Harness(pdp, build_schema(COLUMNS, maps=MAPS), engine, null=null)
        harness.create()

        @settings(
            max_examples=examples(10),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(data=datasets(), principal=st.sampled_from(PRINCIPALS))
        def run(data: tuple[list[dict], dict[int, dict[str, dict]]], principal: Principal) -> None:
            rows, children = data
            harness.verify(principal, list(CONDITIONS), rows, children)

        run()
    print(f"{dialect}/{null}: checked {dict(harness.checked)}, refused {dict(harness.refused)}")
    assert not harness.refused, harness.refused  # every shape above translates
    assert harness.checked["Filter"] >= len(CONDITIONS)


def test_map_columns_must_not_be_null_and_maps_are_not_lists() -> None:
    """A nullable key (or value, with explicit nulls) could not tell a missing key from a null; the set
    functions CEL defines on lists are refused on maps rather than read as their keys."""
    md = sa.MetaData()
    doc = sa.Table("doc", md, sa.Column("id", sa.Integer, primary_key=True))
    loose = sa.Table(
        "members",
        md,
        sa.Column("doc_id", sa.Integer),
        sa.Column("key", sa.String),
        sa.Column("value", sa.String),
    )
    members = Relation(loose, loose.c.doc_id == doc.c.id, loose.c.value, key=loose.c.key)
    attrs = {"request.resource.attr.members": members}
    lookup = Expression(
        "eq", (Expression("index", (Variable("request.resource.attr.members"), Value("bob"))), Value("x"))
    )
    with pytest.raises(UntranslatableFilter, match="must be NOT NULL"):
        where_clause(lookup, attrs)
    intersects = Expression("hasIntersection", (Variable("request.resource.attr.members"), Value(["bob"])))
    with pytest.raises(UntranslatableFilter, match="a map"):
        where_clause(intersects, attrs)
