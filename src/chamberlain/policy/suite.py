"""Policy test suites and their fixture files, decoded strictly by the policy decoder.

The typed model mirrors Cerbos's ``TestSuite`` and ``TestFixture`` messages (``cerbos.policy.v1``)
and the ``Principal``, ``Resource`` and ``AuxData`` they hold (``cerbos.engine.v1``), with their
protovalidate constraints. A file is read as Cerbos reads it (``parser.Single``): one document,
unknown fields, wrong types and invalid values rejected, each problem an
:class:`~chamberlain.policy.errors.Issue` naming the file, position and field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import yaml

from chamberlain.policy.decode import (
    EFFECTS,
    OPTIONAL_VERSION_PATTERN,
    PARSE,
    SCOPE_PATTERN,
    VALUE,
    F,
    Rule,
    decode_message,
    register,
    spec,
)
from chamberlain.policy.errors import Issue
from chamberlain.policy.model import NO_POS
from chamberlain.policy.source import Document, Position, read_documents

_NAMES = {"unique": True, "item_min_len": 1}  # a list of fixture or group names


@dataclass(frozen=True, slots=True)
class FixturePrincipal:
    """A principal (``cerbos.engine.v1.Principal``)."""

    id: str = ""
    policy_version: str = ""
    roles: tuple[str, ...] = ()
    attr: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class FixtureResource:
    """A resource (``cerbos.engine.v1.Resource``)."""

    kind: str = ""
    policy_version: str = ""
    id: str = ""
    attr: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class FixtureJWT:
    claims: dict[str, Any] = field(default_factory=dict)
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class FixtureAuxData:
    """Aux data (``cerbos.engine.v1.AuxData``): JWT claims, or named JWTs."""

    jwt: dict[str, Any] = field(default_factory=dict)
    jwts: dict[str, FixtureJWT] = field(default_factory=dict)
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class PrincipalGroup:
    principals: tuple[str, ...] = ()
    pos: Position = NO_POS

    @property
    def members(self) -> tuple[str, ...]:
        return self.principals


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    resources: tuple[str, ...] = ()
    pos: Position = NO_POS

    @property
    def members(self) -> tuple[str, ...]:
        return self.resources


@dataclass(frozen=True, slots=True)
class SuiteOptions:
    """How a suite's (or a test's) checks run (``TestOptions``); ``now`` is in UTC."""

    now: dt.datetime | None = None
    lenient_scope_search: bool = False
    globals: dict[str, Any] = field(default_factory=dict)
    default_policy_version: str = ""
    default_scope: str = ""
    strict_evaluation: bool = False
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class TableInput:
    """What a test checks: principals (and groups) crossed with resources (and groups), for actions."""

    principals: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    aux_data: str = ""
    principal_groups: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class ExpectedOutput:
    """An output a rule should produce (``cerbos.engine.v1.OutputEntry``)."""

    src: str = ""
    val: Any = None
    action: str = ""
    error: str = ""
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class OutputExpectations:
    action: str = ""
    expected: tuple[ExpectedOutput, ...] = ()
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class Expectation:
    """The effects (action -> ``EFFECT_ALLOW``/``EFFECT_DENY``) and outputs expected for some
    principals and resources."""

    principal: str = ""
    resource: str = ""
    actions: dict[str, str] = field(default_factory=dict)
    outputs: tuple[OutputExpectations, ...] = ()
    principals: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    principal_groups: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class Table:
    """One test (``TestTable``): its input and what is expected of it."""

    name: str = ""
    description: str = ""
    skip: bool = False
    skip_reason: str = ""
    input: TableInput = field(default_factory=TableInput)
    expected: tuple[Expectation, ...] = ()
    options: SuiteOptions | None = None
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class Suite:
    """A test suite file (``TestSuite``): its tests and the fixtures defined in it."""

    name: str = ""
    description: str = ""
    skip: bool = False
    skip_reason: str = ""
    tests: tuple[Table, ...] = ()
    principals: dict[str, FixturePrincipal] = field(default_factory=dict)
    resources: dict[str, FixtureResource] = field(default_factory=dict)
    aux_data: dict[str, FixtureAuxData] = field(default_factory=dict)
    options: SuiteOptions | None = None
    json_schema: str = ""
    principal_groups: dict[str, PrincipalGroup] = field(default_factory=dict)
    resource_groups: dict[str, ResourceGroup] = field(default_factory=dict)
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class PrincipalFixtures:
    """``testdata/principals.yaml`` (``TestFixture.Principals``)."""

    principals: dict[str, FixturePrincipal] = field(default_factory=dict)
    json_schema: str = ""
    principal_groups: dict[str, PrincipalGroup] = field(default_factory=dict)
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class ResourceFixtures:
    """``testdata/resources.yaml`` (``TestFixture.Resources``)."""

    resources: dict[str, FixtureResource] = field(default_factory=dict)
    json_schema: str = ""
    resource_groups: dict[str, ResourceGroup] = field(default_factory=dict)
    pos: Position = NO_POS


@dataclass(frozen=True, slots=True)
class AuxDataFixtures:
    """``testdata/auxdata.yaml`` (``TestFixture.AuxData``)."""

    aux_data: dict[str, FixtureAuxData] = field(default_factory=dict)
    json_schema: str = ""
    pos: Position = NO_POS


def _message_value(target: type) -> F:
    """The values of a map of ``target`` messages."""
    return F("", "msg", target)


_ATTR = F("attr", "map", value=VALUE, key_min_len=1)
_PRINCIPALS = F("principals", "map", value=_message_value(FixturePrincipal))
_RESOURCES = F("resources", "map", value=_message_value(FixtureResource))
_AUX_DATA = F("aux_data", "map", value=_message_value(FixtureAuxData))
_PRINCIPAL_GROUPS = F("principal_groups", "map", value=_message_value(PrincipalGroup))
_RESOURCE_GROUPS = F("resource_groups", "map", value=_message_value(ResourceGroup))
_SCHEMA = F("json_schema", "str")
_GROUP_MEMBERS = {"required": True, "min_items": 1, **_NAMES}

register(
    FixturePrincipal,
    spec(
        F("id", "str", required=True, min_len=1),
        F("policy_version", "str", pattern=OPTIONAL_VERSION_PATTERN),
        F("roles", "list_str", required=True, min_items=1, **_NAMES),
        _ATTR,
        F("scope", "str", pattern=SCOPE_PATTERN),
    ),
)
register(
    FixtureResource,
    spec(
        F("kind", "str", required=True, min_len=1),
        F("policy_version", "str", pattern=OPTIONAL_VERSION_PATTERN),
        F("id", "str", required=True, min_len=1),
        _ATTR,
        F("scope", "str", pattern=SCOPE_PATTERN),
    ),
)
register(FixtureJWT, spec(F("claims", "map", value=VALUE)))
register(
    FixtureAuxData,
    spec(F("jwt", "map", value=VALUE), F("jwts", "map", value=_message_value(FixtureJWT), key_min_len=1)),
    (Rule(lambda aux: not (aux.jwt and aux.jwts), "Only one of the jwt or jwts fields must be set"),),
)
register(PrincipalGroup, spec(F("principals", "list_str", **_GROUP_MEMBERS)))
register(ResourceGroup, spec(F("resources", "list_str", **_GROUP_MEMBERS)))
register(
    SuiteOptions,
    spec(
        F("now", "timestamp"),
        F("lenient_scope_search", "bool"),
        F("globals", "map", value=VALUE),
        F("default_policy_version", "str"),
        F("default_scope", "str"),
        F("strict_evaluation", "bool"),
    ),
)
register(
    TableInput,
    spec(
        F("principals", "list_str", **_NAMES),
        F("resources", "list_str", **_NAMES),
        F("actions", "list_str", required=True, min_items=1, **_NAMES),
        F("aux_data", "str"),
        F("principal_groups", "list_str", **_NAMES),
        F("resource_groups", "list_str", **_NAMES),
    ),
    (
        Rule(
            lambda i: bool(i.principals or i.principal_groups),
            "principals or principalGroups must be present",
        ),
        Rule(lambda i: bool(i.resources or i.resource_groups), "resources or resourceGroups must be present"),
    ),
)
register(ExpectedOutput, spec(F("src", "str"), F("val", "value"), F("action", "str"), F("error", "str")))
register(
    OutputExpectations,
    spec(
        F("action", "str", required=True, min_len=1),
        F("expected", "list_msg", ExpectedOutput, required=True, min_items=1),
    ),
)
register(
    Expectation,
    spec(
        F("principal", "str"),
        F("resource", "str"),
        F("actions", "map", value=F("", "enum", EFFECTS, enum_in=(1, 2)), required=True, key_min_len=1),
        F("outputs", "list_msg", OutputExpectations),
        F("principals", "list_str", **_NAMES),
        F("resources", "list_str", **_NAMES),
        F("principal_groups", "list_str", **_NAMES),
        F("resource_groups", "list_str", **_NAMES),
    ),
    (
        Rule(
            lambda e: bool(e.principal or e.principals or e.principal_groups),
            "principal, principals, or principalGroups must be present",
        ),
        Rule(
            lambda e: not (e.principal and e.principals), "principal and principals may not both be present"
        ),
        Rule(
            lambda e: bool(e.resource or e.resources or e.resource_groups),
            "resource, resources, or resourceGroups must be present",
        ),
        Rule(lambda e: not (e.resource and e.resources), "resource and resources may not both be present"),
    ),
)
register(
    Table,
    spec(
        F("name", "str", required=True, min_len=1),
        F("description", "str"),
        F("skip", "bool"),
        F("skip_reason", "str"),
        F("input", "msg", TableInput, required=True),
        F("expected", "list_msg", Expectation, required=True, min_items=1),
        F("options", "msg", SuiteOptions),
    ),
)
register(
    Suite,
    spec(
        F("name", "str", required=True, min_len=1),
        F("description", "str"),
        F("skip", "bool"),
        F("skip_reason", "str"),
        F("tests", "list_msg", Table, required=True, min_items=1),
        _PRINCIPALS,
        _RESOURCES,
        _AUX_DATA,
        F("options", "msg", SuiteOptions),
        _SCHEMA,
        _PRINCIPAL_GROUPS,
        _RESOURCE_GROUPS,
    ),
)
register(PrincipalFixtures, spec(_PRINCIPALS, _SCHEMA, _PRINCIPAL_GROUPS))
register(ResourceFixtures, spec(_RESOURCES, _SCHEMA, _RESOURCE_GROUPS))
register(AuxDataFixtures, spec(_AUX_DATA, _SCHEMA))


def read_single(cls: type, file: str, data: bytes, what: str) -> tuple[Any, list[Issue]]:
    """The one ``cls`` message in ``file`` (``what`` it holds, for messages), and its problems.

    Problems are in Cerbos's order, a missing field without a position as Cerbos reports it. An
    empty file is an empty message, whose required fields are missing.
    """
    docs, issues = read_documents(file, data, what)
    if len(docs) + len(issues) > 1:
        message = f"more than one YAML document detected: {what} file holds a single document"
        return None, [Issue(file, PARSE, message)]
    if issues:
        return None, issues
    return decode_message(cls, docs[0] if docs else _empty(file), missing_at_parent=False)


def _empty(file: str) -> Document:
    return Document(file, yaml.compose("{}"), "{}")
