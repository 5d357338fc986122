"""Policy test suites and their fixture files: the typed model.

It mirrors Cerbos's ``TestSuite`` and ``TestFixture`` messages (``cerbos.policy.v1``)
and the ``Principal``, ``Resource`` and ``AuxData`` they hold (``cerbos.engine.v1``). Their fields and constraints are in
:mod:`chamberlain.policy.spec`; :func:`chamberlain.policy.decode.read_single` reads a file into them
as Cerbos does (``parser.Single``), every problem naming the file, position and field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from chamberlain.policy.model import NO_POS
from chamberlain.policy.source import Position


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
