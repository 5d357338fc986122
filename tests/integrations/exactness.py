"""The property behind the SQL filters: rows returned by the filter == rows ``pdp.check`` allows.

A :class:`Harness` holds a table (and a child table for collection attributes) on a real database,
the rule for turning a row into resource attributes (the application's side of the mapping:
columns as attributes, a NULL column sent as ``null`` or left out), and the PDP. :meth:`verify`
loads rows, and for each action plans, translates, runs the query and checks every row with the
PDP: the returned ids must be exactly the allowed ones. Refused translations are counted, by the
operator named in the error.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from chamberlain import PDP, Principal, Resource
from chamberlain.cel.lib.time import format_timestamp
from chamberlain.cel.values import Timestamp
from chamberlain.integrations.sqlalchemy import EXPLICIT, OMITTED, Relation, UntranslatableFilter, authorize
from tests.audit.support import POSTGRES, require_postgres


@dataclass
class Schema:
    """A resource table, its optional child table of collection elements, and the attribute mapping."""

    metadata: sa.MetaData
    table: sa.Table
    children: dict[
        str, sa.Table
    ]  # attribute name -> child table (doc_id, value), (doc_id, key, value) for maps
    attr_map: dict[str, Any]
    columns: dict[str, str]  # attribute name -> column name


def build_schema(
    columns: Mapping[str, Any],
    collections: Sequence[str] = (),
    table: str = "doc",
    maps: Mapping[str, Any] | None = None,
) -> Schema:
    """``columns``: attribute name (dots allowed) -> SQLAlchemy type; ``collections``: list attributes;
    ``maps``: map attributes (string keys, unique per row) -> their values' SQLAlchemy type."""
    md = sa.MetaData()
    names = {attr: attr.replace(".", "__") for attr in columns}
    resource = sa.Table(
        table,
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        *(sa.Column(names[a], t, nullable=True) for a, t in columns.items()),
    )
    attr_map: dict[str, Any] = {f"request.resource.attr.{a}": resource.c[names[a]] for a in columns}
    children = {}
    shapes: list[tuple[str, list[Any]]] = [
        (a, [sa.Column("value", sa.String, nullable=True)]) for a in collections
    ]
    for attr, value_type in (maps or {}).items():  # a map: one row per entry, keys unique per resource row
        shapes.append(
            (
                attr,
                [
                    sa.Column("key", sa.String, nullable=False),
                    sa.Column("value", value_type, nullable=False),
                    sa.UniqueConstraint("doc_id", "key"),
                ],
            )
        )
    for attr, extra in shapes:
        child = sa.Table(
            f"{table}_{attr}",
            md,
            sa.Column("pk", sa.Integer, primary_key=True),
            sa.Column("doc_id", sa.Integer, sa.ForeignKey(resource.c.id), index=True),
            *extra,
        )
        children[attr] = child
        key = child.c.key if "key" in child.c else None
        attr_map[f"request.resource.attr.{attr}"] = Relation(
            child, child.c.doc_id == resource.c.id, child.c.value, key=key
        )
    return Schema(md, resource, children, attr_map, names)


@contextmanager
def sqlite_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://")
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def postgres_engine() -> Iterator[sa.Engine]:
    """An engine on the test PostgreSQL, in a schema of its own (dropped afterwards)."""
    require_postgres()
    url = POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"q_{secrets.token_hex(6)}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database(kind: str) -> Iterator[sa.Engine]:
    with sqlite_engine() if kind == "sqlite" else postgres_engine() as engine:
        yield engine


def attributes(
    row: Mapping[str, Any], children: Mapping[str, list[Any]], null: Mapping[str, str], default: str
) -> dict[str, Any]:
    """The resource attributes the application sends for a row (what the check sees)."""
    attr: dict[str, Any] = {}
    for name, value in row.items():
        node = attr
        *parents, last = name.split(".")
        for part in parents:  # a dotted attribute's maps are always sent (only the leaf may be left out)
            node = node.setdefault(part, {})
        if value is None and null.get(f"request.resource.attr.{name}", default) == OMITTED:
            continue
        if isinstance(value, dt.datetime):
            value = format_timestamp(
                Timestamp.from_datetime(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
            )
        node[last] = value
    for name, values in children.items():
        attr[name] = dict(values) if isinstance(values, Mapping) else list(values)
    return attr


@dataclass
class Harness:
    pdp: PDP
    schema: Schema
    engine: sa.Engine
    kind: str = "doc"
    null: str = EXPLICIT
    null_by_attribute: dict[str, str] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    checked: Counter[str] = field(default_factory=Counter)

    def create(self) -> None:
        self.schema.metadata.create_all(self.engine)

    def load(
        self, rows: Sequence[Mapping[str, Any]], children: Mapping[int, Mapping[str, list[Any]]]
    ) -> None:
        schema = self.schema
        with self.engine.begin() as conn:
            for child in schema.children.values():
                conn.execute(child.delete())
            conn.execute(schema.table.delete())
            if rows:
                conn.execute(
                    schema.table.insert(),
                    [
                        {"id": r["id"], **{schema.columns[a]: v for a, v in r.items() if a != "id"}}
                        for r in rows
                    ],
                )
            for attr, child in schema.children.items():
                if "key" in child.c:  # a map
                    values = [
                        {"doc_id": doc, "key": k, "value": v}
                        for doc, c in children.items()
                        for k, v in c.get(attr, {}).items()
                    ]
                else:
                    values = [
                        {"doc_id": doc, "value": v} for doc, c in children.items() for v in c.get(attr, [])
                    ]
                if values:
                    conn.execute(child.insert(), values)

    def verify(
        self,
        principal: Principal,
        actions: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        children: Mapping[int, Mapping[str, list[Any]]],
    ) -> None:
        """Load ``rows`` and check, action by action, that the filter returns exactly the allowed rows."""
        self.load(rows, children)
        for action in actions:
            try:
                outcome = authorize(
                    self.pdp,
                    sa.select(self.schema.table.c.id),
                    principal,
                    action,
                    kind=self.kind,
                    attr_map=self.schema.attr_map,
                    null=self.null,
                    null_by_attribute=self.null_by_attribute,
                )
            except UntranslatableFilter as exc:
                self.refused[f"{action}: {exc.operator}"] += 1
                continue
            with self.engine.connect() as conn:
                returned = {r[0] for r in conn.execute(outcome.statement)}
            allowed = set()
            for row in rows:
                attrs = attributes(
                    {k: v for k, v in row.items() if k != "id"},
                    children.get(row["id"], {}),
                    self.null_by_attribute,
                    self.null,
                )
                result = self.pdp.check(principal, Resource(self.kind, str(row["id"]), attrs), [action])
                if result.is_allowed(action):
                    allowed.add(row["id"])
            self.checked[type(outcome).__name__] += 1
            if returned != allowed:
                sql = outcome.statement.compile(self.engine, compile_kwargs={"literal_binds": True})
                by_id = {r["id"]: r for r in rows}
                extra = [by_id[i] for i in sorted(returned - allowed)]
                missing = [by_id[i] for i in sorted(allowed - returned)]
                raise AssertionError(
                    f"{self.engine.dialect.name} {action} ({self.null}): plan {outcome.plan.filter_debug if outcome.plan else ''}\n"
                    f"SQL: {sql}\nreturned but denied: {extra}\nallowed but not returned: {missing}\n"
                    f"children: {dict(children)}"
                )


def examples(default: int) -> int:
    """Hypothesis examples per test: CHAMBERLAIN_SQL_EXAMPLES (make test-slow raises it)."""
    return int(os.environ.get("CHAMBERLAIN_SQL_EXAMPLES", default))


def allow_each(conditions: Mapping[str, str], resource: str = "doc") -> dict[str, Any]:
    """A resource policy with one ALLOW rule for role ``user`` per action, under that action's condition."""
    rules = [
        {"actions": [a], "effect": "EFFECT_ALLOW", "roles": ["user"], "condition": {"match": {"expr": e}}}
        for a, e in conditions.items()
    ]
    return {
        "apiVersion": "api.cerbos.dev/v1",
        "resourcePolicy": {"version": "default", "resource": resource, "rules": rules},
    }


def pdp_of(directory: Path, policy: Mapping[str, Any]) -> PDP:
    """A PDP over ``policy`` alone, written into ``directory``."""
    (directory / "policy.yaml").write_text(yaml.safe_dump(dict(policy)))
    return PDP.from_directory(directory)
