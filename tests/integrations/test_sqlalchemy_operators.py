"""Every operator the SQL translation supports, proved exact on real SQLite and PostgreSQL.

One resource policy names an action per operator shape (value first, column needles, NULLs,
collections from a related table, hierarchies, ternaries, ...). Hypothesis draws rows full of the
values that break naive translations (NULL, "", "%", "_", "\\", mixed case, unicode) and, for each
action, the rows the filter returns must be exactly the rows ``pdp.check`` allows, under both NULL
conventions (an explicit ``null``, an omitted attribute) and a per-attribute mix.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamberlain import PDP, Principal
from chamberlain.integrations.sqlalchemy import EXPLICIT, OMITTED
from tests.integrations.exactness import Harness, build_schema, database, examples

CONDITIONS = {
    "eq": 'R.attr.s == "a%b"',
    "eq-value-first": '"abc" == R.attr.s',
    "ne": 'R.attr.s != "abc"',
    "lt-string": 'R.attr.s < "m"',
    "ge-string-value-first": '"b" >= R.attr.s',
    "gt-int": "R.attr.n > 3",
    "lt-value-first": "3 < R.attr.n",
    "le-fraction": "R.attr.n <= 2.5",
    "eq-double": "R.attr.x == 1.5",
    "le-principal": "R.attr.x <= P.attr.limit",
    "eq-bool": "R.attr.b == true",
    "ne-bool": "R.attr.b != false",
    "bool": "R.attr.b",
    "not-bool": "!R.attr.b",
    "eq-mixed-types": 'R.attr.n == "3"',
    "lt-mixed-types": "R.attr.s < 3",
    "in-strings": 'R.attr.s in ["a", "B", "%", ""]',
    "in-ints": "R.attr.n in [1, 2, 3]",
    "in-null": 'R.attr.s in ["a", null]',
    "not-in": '!(R.attr.s in ["a", "A"])',
    "contains": 'R.attr.s.contains("a_")',
    "startsWith-principal": "R.attr.s.startsWith(P.attr.prefix)",
    "endsWith": 'R.attr.s.endsWith("%")',
    "contains-column": "R.attr.s.contains(R.attr.s2)",
    "startsWith-column": "R.attr.s.startsWith(R.attr.s2)",
    "endsWith-column": "R.attr.s.endsWith(R.attr.s2)",
    "not-contains": '!R.attr.s.contains("\\\\")',
    "not-endsWith": '!R.attr.s.endsWith("b")',
    "size": "size(R.attr.s) > 2",
    "size-member": "R.attr.s.size() == 0",
    "add": "R.attr.x + 1.5 > 3.0",
    "sub": "R.attr.x - R.attr.n < 0.0",
    "mult": "R.attr.n * 2.0 >= 6.0",
    "div": "R.attr.x / 2.0 > 1.0",
    "add-int-literal": "R.attr.n + 1 > 3",
    "mod": "R.attr.n % 2 == 0",
    "concat": 'R.attr.s + R.attr.s2 == "ab"',
    "double": "double(R.attr.n) > 2.5",
    "logic": '(R.attr.b && R.attr.n > 1) || !(R.attr.s == "x")',
    "not-and": "!(R.attr.b && R.attr.n > 1)",
    "or-errors": 'R.attr.n > 100 || R.attr.s == "a"',
    "if": "(R.attr.b ? R.attr.n : 0) > 1",
    "if-strings": '(R.attr.n > 2 ? "big" : R.attr.s).startsWith("b")',
    "timestamp": 'timestamp(R.attr.ts) < timestamp("2024-06-01T00:00:00Z")',
    "timestamp-ge": 'timestamp("2024-01-01T12:00:00.5Z") <= timestamp(R.attr.ts)',
    "now": "timestamp(R.attr.ts) < now()",
    "null-eq": "R.attr.s == null",
    "null-ne": "R.attr.s != null",
    "null-value-first": "null != R.attr.n",
    "has": "has(R.attr.s)",
    "not-has": "!has(R.attr.n)",
    "field-eq": "R.attr.s == R.attr.s2",
    "field-ne": "R.attr.s != R.attr.s2",
    "field-lt": "R.attr.n < R.attr.x",
    "unrolled-exists": "P.attr.teams.exists(t, t == R.attr.s)",
    "unrolled-all": "P.attr.teams.all(t, R.attr.s != t)",
    "lambda-exists": "P.attr.many.exists(t, R.attr.s == t)",
    "lambda-exists-one": "P.attr.many.exists_one(t, R.attr.s.startsWith(t))",
    "lambda-all": "P.attr.many.all(t, t != R.attr.s2)",
    "tags-exists": 'R.attr.tags.exists(t, t == "red")',
    "tags-all": 'R.attr.tags.all(t, t.startsWith("a"))',
    "tags-all-endsWith": 'R.attr.tags.all(t, t.endsWith("d"))',
    "tags-exists-one": 'R.attr.tags.exists_one(t, t.contains("%"))',
    "tags-exists-column": "R.attr.tags.exists(t, t == R.attr.s)",
    "tags-in": '"red" in R.attr.tags',
    "column-in-tags": "R.attr.s in R.attr.tags",
    "tags-size": "size(R.attr.tags) > 1",
    "tags-intersect": 'hasIntersection(R.attr.tags, ["red", "blue"])',
    "tags-subset": 'isSubset(R.attr.tags, ["red", "blue", "a"])',
    "tags-not-exists": '!R.attr.tags.exists(t, t == "blue")',
    "ancestorOf": 'hierarchy(R.attr.path).ancestorOf(hierarchy("a.b.c"))',
    "ancestorOf-const": 'hierarchy("a.b").ancestorOf(hierarchy(R.attr.path))',
    "descendentOf": 'hierarchy(R.attr.path).descendentOf(hierarchy("a"))',
    "immediateChildOf": 'hierarchy(R.attr.path).immediateChildOf(hierarchy("a.b"))',
    "immediateParentOf": 'hierarchy(R.attr.path).immediateParentOf(hierarchy("a.b.c"))',
    "overlaps": 'hierarchy(R.attr.path).overlaps(hierarchy("a.b"))',
    "siblingOf": 'hierarchy(R.attr.path).siblingOf(hierarchy("a.x"))',
    "deny-rule": "R.attr.n > 0",
    # maps the planner leaves indexed by a column: the principal's, map literals (CASE over the entries)
    "principal-map-index": '(R.attr.s in P.attr.orgs ? P.attr.orgs[R.attr.s] : "none") != "none"',
    "principal-map-numbers": "(R.attr.s in P.attr.levels ? P.attr.levels[R.attr.s] : 0.0) > 1.0",
    "map-literal-index": '{"a": "admin", "B": "member", "%": "admin", "é": "owner"}[R.attr.s] in ["admin", "owner"]',
    "map-literal-not": '!({"a": "admin", "B": "member"}[R.attr.s] == "admin")',
    "map-literal-startsWith": '{"a": "admin", "B": "member", "%": "admin"}[R.attr.s2].startsWith("ad")',
    "map-literal-bools": '{"a": true, "b": false}[R.attr.s]',
    "map-literal-number-key": '{"a": "x"}[R.attr.n] == "x"',
    "in-map-keys": 'R.attr.s in {"a": 1, "%": 2}',
}
# A DENY rule narrows an ALLOW: "deny-rule" is allowed for n > 0 except where s starts with "x".
POLICY = {
    "apiVersion": "api.cerbos.dev/v1",
    "resourcePolicy": {
        "version": "default",
        "resource": "doc",
        "rules": [
            *(
                {
                    "actions": [a],
                    "effect": "EFFECT_ALLOW",
                    "roles": ["user"],
                    "condition": {"match": {"expr": e}},
                }
                for a, e in CONDITIONS.items()
            ),
            {
                "actions": ["deny-rule"],
                "effect": "EFFECT_DENY",
                "roles": ["user"],
                "condition": {"match": {"expr": 'R.attr.s.startsWith("x")'}},
            },
        ],
    },
}
PRINCIPAL = Principal(
    "alice",
    ["user"],
    {
        "limit": 2.0,
        "prefix": "A%",
        "teams": ["a", "B"],
        "many": [f"t{i}" for i in range(11)] + ["a", "ab", "%"],
        "orgs": {"a": "admin", "B": "member", "%": "admin", "é": "owner", "": "none"},
        "levels": {"a": 2, "b": 0.5, "": 3},
    },
)
COLUMNS = {
    "s": sa.String(),
    "s2": sa.String(),
    "n": sa.BigInteger(),
    "x": sa.Double(),
    "b": sa.Boolean(),
    "ts": sa.DateTime(timezone=True),
    "path": sa.String(),
}

_STRINGS = [
    "",
    "a",
    "A",
    "a%b",
    "a_",
    "_",
    "%",
    "\\",
    "abc",
    "ABC",
    "ab",
    "b",
    "big",
    "m",
    "x",
    "xa",
    "red",
    "blue",
    "é",
    "É",
    "日本",
    "a.b",
    "a.b.c",
    "a.b.c.d",
    "a",
    "a.x",
    "a.y.z",
    "A%x",
    "t1",
    "%a_b\\",
]
strings = st.one_of(st.sampled_from(_STRINGS), st.text(alphabet="aAbB%_\\.é", max_size=4))
instants = st.datetimes(min_value=dt.datetime(2023, 1, 1), max_value=dt.datetime(2025, 1, 1)).map(
    lambda d: d.replace(tzinfo=dt.UTC)
)
row_values = st.fixed_dictionaries(
    {
        "s": st.none() | strings,
        "s2": st.none() | strings,
        "n": st.none() | st.integers(-5, 10) | st.sampled_from([2**31, -(2**40)]),
        "x": st.none()
        | st.sampled_from([0.0, -0.0, 1.5, 2.0, 2.5, 3.0, -1.25])
        | st.floats(-1e6, 1e6, allow_nan=False),
        "b": st.none() | st.booleans(),
        "ts": st.none() | instants,
        "path": st.none()
        | st.sampled_from(["a", "a.b", "a.b.c", "a.b.c.d", "a.x", "a.bc", "b.b", "", "a.b.x"]),
    }
)
tag_lists = st.lists(st.none() | st.sampled_from(["red", "blue", "a", "ab", "%", "a%", "Red"]), max_size=3)


@st.composite
def datasets(draw: st.DrawFn) -> tuple[list[dict], dict[int, dict[str, list]]]:
    values = draw(st.lists(row_values, min_size=1, max_size=10))
    rows = [{"id": i + 1, **v} for i, v in enumerate(values)]
    children = {r["id"]: {"tags": draw(tag_lists)} for r in rows}
    return rows, children


@pytest.fixture(scope="module")
def pdp(tmp_path_factory: pytest.TempPathFactory) -> PDP:
    import yaml

    directory = Path(tmp_path_factory.mktemp("operators"))
    (directory / "doc.yaml").write_text(yaml.safe_dump(POLICY))
    return PDP.from_directory(directory)


NULL_MODES = {
    "explicit": (EXPLICIT, {}),
    "omitted": (OMITTED, {}),
    "mixed": (
        EXPLICIT,
        {
            "request.resource.attr.n": OMITTED,
            "request.resource.attr.ts": OMITTED,
            "request.resource.attr.s2": OMITTED,
        },
    ),
}


@pytest.mark.parametrize("null_mode", sorted(NULL_MODES))
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_filter_returns_exactly_the_allowed_rows(pdp: PDP, dialect: str, null_mode: str) -> None:
    default, per_attribute = NULL_MODES[null_mode]
    schema = build_schema(COLUMNS, collections=["tags"])
    with database(dialect) as engine:
        harness = Harness(pdp, schema, engine, null=default, null_by_attribute=per_attribute)
        harness.create()

        @settings(
            max_examples=examples(8),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(data=datasets())
        def run(data: tuple[list[dict], dict[int, dict[str, list]]]) -> None:
            rows, children = data
            harness.verify(PRINCIPAL, list(CONDITIONS), rows, children)

        run()
    print(f"{dialect}/{null_mode}: checked {dict(harness.checked)}, refused {dict(harness.refused)}")
    assert not harness.refused, harness.refused  # every operator above translates


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_ends_with_under_not_and_quantifiers(pdp: PDP, dialect: str) -> None:
    """endsWith is two tests on SQLite (length, then suffix): NOT, IS NULL and = 0 apply to both."""
    strings = ["ab", "abc", "b", "", None, "red", "d"]
    rows = [{"id": i + 1, "s": s} for i, s in enumerate(strings)]
    children = {r["id"]: {"tags": [r["s"]] if r["s"] != "" else []} for r in rows}
    with database(dialect) as engine:
        harness = Harness(pdp, build_schema(COLUMNS, collections=["tags"]), engine)
        harness.create()
        harness.verify(PRINCIPAL, ["not-endsWith", "tags-all-endsWith", "endsWith"], rows, children)
    assert harness.checked["Filter"] == 3
