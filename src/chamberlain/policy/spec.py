"""The policy schema as tables: every message the decoder reads, field by field.

Each message is described once (:data:`SPECS`): its fields by JSON name and proto name, their kinds,
oneof groups and the protovalidate constraints of Cerbos's ``policy.proto`` — policies, and the test
suites and fixture files of ``cerbos test``. :data:`REQUIRED_ONEOFS` and :data:`MESSAGE_RULES` hold
the message-level constraints. :mod:`chamberlain.policy.decode` reads documents with these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chamberlain.policy import model as m
from chamberlain.policy import suite as s

_NAME = r"^[^!*?\[\]{}]+$"
_VERSION = r"^[\w]+$"
_IMPORT = r"^[\w\-\.]+$"
SCOPE_PATTERN = r"^(^$|\.|[0-9a-zA-Z][\w\-]*(\.\w[\w\-]*)*)$"
OPTIONAL_VERSION_PATTERN = r"^[\w]*$"
_RULE_NAME = r"^([a-zA-Z][\w\@\.\-]*)*$"
EFFECTS = ("EFFECT_UNSPECIFIED", "EFFECT_ALLOW", "EFFECT_DENY", "EFFECT_NO_MATCH")
SCOPE_PERMISSIONS = ("SCOPE_PERMISSIONS_UNSPECIFIED", m.OVERRIDE_PARENT, m.REQUIRE_PARENTAL_CONSENT)


@dataclass(frozen=True, slots=True)
class F:
    """A field: proto ``name``, ``kind`` (str, bool, enum, uint64, value, timestamp, msg, list_str,
    list_msg, map), ``target`` (message class or enum names), ``oneof`` group and constraints; a map
    describes its values with ``value``, a field without a name."""

    name: str
    kind: str
    target: Any = None
    oneof: str = ""
    required: bool = False
    pattern: str = ""
    min_len: int = 0
    min_items: int = 0
    unique: bool = False
    item_pattern: str = ""
    item_min_len: int = 0
    enum_in: tuple[int, ...] = ()
    const: str = ""
    value: F | None = None
    key_min_len: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    """A message-level constraint (protovalidate's ``message.cel``): ``holds(message)``, or ``message``."""

    holds: Callable[[Any], bool]
    message: str


STR = F("", "str")
VALUE = F("", "value")


def spec(*fields: F) -> dict[str, F]:
    """A message's fields by the names a document may use: JSON name and proto name."""
    by_name: dict[str, F] = {}
    for f in fields:
        by_name["$schema" if f.name == "json_schema" else json_name(f.name)] = f
        by_name[f.name] = f
    return by_name


def json_name(name: str) -> str:
    """A proto field name as JSON names it (``scope_permissions`` -> ``scopePermissions``)."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_OUTPUT_WHEN = spec(F("rule_activated", "str"), F("condition_not_met", "str"))
_OUTPUT = spec(F("expr", "str"), F("when", "msg", m.OutputWhen))
_CONDITION = spec(F("match", "msg", m.Match, oneof="condition"), F("script", "str", oneof="condition"))
_VARIABLES = spec(F("import", "list_str", unique=True, item_pattern=_IMPORT), F("local", "map", value=STR))
_CONSTANTS = spec(F("import", "list_str", unique=True, item_pattern=_IMPORT), F("local", "map", value=VALUE))
_IGNORE_WHEN = spec(F("actions", "list_str", required=True, unique=True, min_items=1, item_min_len=1))
_SCHEMA_REF = spec(F("ref", "str", required=True, min_len=1), F("ignore_when", "msg", m.IgnoreWhen))
_SCHEMAS = spec(F("principal_schema", "msg", m.SchemaRef), F("resource_schema", "msg", m.SchemaRef))
_EFFECT = F("effect", "enum", EFFECTS, required=True, enum_in=(1, 2))
_RESOURCE_RULE = spec(
    F("actions", "list_str", required=True, min_items=1, unique=True, item_min_len=1),
    F("derived_roles", "list_str", unique=True, item_pattern=_IMPORT),
    F("roles", "list_str", unique=True, item_min_len=1),
    F("condition", "msg", m.Condition),
    _EFFECT,
    F("name", "str", pattern=_RULE_NAME),
    F("output", "msg", m.Output),
)
_RESOURCE_POLICY = spec(
    F("resource", "str", required=True, pattern=_NAME),
    F("version", "str", required=True, pattern=_VERSION),
    F("import_derived_roles", "list_str", unique=True, item_pattern=_IMPORT),
    F("rules", "list_msg", m.ResourceRule),
    F("scope", "str", pattern=SCOPE_PATTERN),
    F("schemas", "msg", m.Schemas),
    F("variables", "msg", m.Variables),
    F("scope_permissions", "enum", SCOPE_PERMISSIONS),
    F("constants", "msg", m.Constants),
)
_PRINCIPAL_ACTION = spec(
    F("action", "str", required=True, min_len=1),
    F("condition", "msg", m.Condition),
    _EFFECT,
    F("name", "str", pattern=_RULE_NAME),
    F("output", "msg", m.Output),
)
_PRINCIPAL_RULE = spec(
    F("resource", "str", required=True, min_len=1),
    F("actions", "list_msg", m.PrincipalAction, required=True, min_items=1),
)
_PRINCIPAL_POLICY = spec(
    F("principal", "str", required=True, pattern=_NAME),
    F("version", "str", required=True, pattern=_VERSION),
    F("rules", "list_msg", m.PrincipalRule),
    F("scope", "str", pattern=SCOPE_PATTERN),
    F("variables", "msg", m.Variables),
    F("scope_permissions", "enum", SCOPE_PERMISSIONS),
    F("constants", "msg", m.Constants),
)
_ROLE_RULE = spec(
    F("resource", "str", required=True, min_len=1),
    F("allow_actions", "list_str", required=True, min_items=1, unique=True, item_min_len=1),
    F("condition", "msg", m.Condition),
    F("name", "str", pattern=_RULE_NAME),
    F("output", "msg", m.Output),
)
_ROLE_POLICY = spec(
    F("role", "str", oneof="policy_type", pattern=_NAME),
    F("version", "str", pattern=OPTIONAL_VERSION_PATTERN),
    F("parent_roles", "list_str", unique=True, item_min_len=1),
    F("scope", "str", pattern=SCOPE_PATTERN),
    F("rules", "list_msg", m.RoleRule),
    F("scope_permissions", "enum", SCOPE_PERMISSIONS, enum_in=(0, 2)),
    F("variables", "msg", m.Variables),
    F("constants", "msg", m.Constants),
)
_ROLE_DEF = spec(
    F("name", "str", required=True, pattern=_IMPORT),
    F("parent_roles", "list_str", required=True, unique=True, min_items=1, item_min_len=1),
    F("condition", "msg", m.Condition),
)
_DERIVED_ROLES = spec(
    F("name", "str", required=True, pattern=_IMPORT, min_len=1),
    F("definitions", "list_msg", m.RoleDef, required=True, min_items=1),
    F("variables", "msg", m.Variables),
    F("constants", "msg", m.Constants),
)
_EXPORT_VARIABLES = spec(
    F("name", "str", required=True, pattern=_IMPORT, min_len=1), F("definitions", "map", value=STR)
)
_EXPORT_CONSTANTS = spec(
    F("name", "str", required=True, pattern=_IMPORT, min_len=1), F("definitions", "map", value=VALUE)
)
_METADATA = spec(
    F("source_file", "str"),
    F("annotations", "map", value=STR),
    F("hash", "uint64"),
    F("store_identifer", "str"),
    F("store_identifier", "str"),
    F("source_attributes", "value"),
)
_POLICY = spec(
    F("api_version", "str", required=True, const="api.cerbos.dev/v1"),
    F("disabled", "bool"),
    F("description", "str"),
    F("metadata", "msg", m.Metadata),
    F("resource_policy", "msg", m.ResourcePolicy, oneof="policy_type"),
    F("principal_policy", "msg", m.PrincipalPolicy, oneof="policy_type"),
    F("derived_roles", "msg", m.DerivedRoles, oneof="policy_type"),
    F("export_variables", "msg", m.ExportVariables, oneof="policy_type"),
    F("role_policy", "msg", m.RolePolicy, oneof="policy_type"),
    F("export_constants", "msg", m.ExportConstants, oneof="policy_type"),
    F("variables", "map", value=STR),
    F("json_schema", "str"),
)


_NAMES: dict[str, Any] = {"unique": True, "item_min_len": 1}  # a list of fixture or group names


def _message_value(target: type) -> F:
    """The values of a map of ``target`` messages."""
    return F("", "msg", target)


_ATTR = F("attr", "map", value=VALUE, key_min_len=1)
_PRINCIPALS = F("principals", "map", value=_message_value(s.FixturePrincipal))
_RESOURCES = F("resources", "map", value=_message_value(s.FixtureResource))
_AUX_DATA = F("aux_data", "map", value=_message_value(s.FixtureAuxData))
_PRINCIPAL_GROUPS = F("principal_groups", "map", value=_message_value(s.PrincipalGroup))
_RESOURCE_GROUPS = F("resource_groups", "map", value=_message_value(s.ResourceGroup))
_SCHEMA = F("json_schema", "str")
_GROUP_MEMBERS: dict[str, Any] = {"required": True, "min_items": 1, **_NAMES}

SPECS: dict[type, dict[str, F]] = {
    m.Policy: _POLICY,
    m.Metadata: _METADATA,
    m.ResourcePolicy: _RESOURCE_POLICY,
    m.ResourceRule: _RESOURCE_RULE,
    m.PrincipalPolicy: _PRINCIPAL_POLICY,
    m.PrincipalRule: _PRINCIPAL_RULE,
    m.PrincipalAction: _PRINCIPAL_ACTION,
    m.RolePolicy: _ROLE_POLICY,
    m.RoleRule: _ROLE_RULE,
    m.DerivedRoles: _DERIVED_ROLES,
    m.RoleDef: _ROLE_DEF,
    m.ExportVariables: _EXPORT_VARIABLES,
    m.ExportConstants: _EXPORT_CONSTANTS,
    m.Variables: _VARIABLES,
    m.Constants: _CONSTANTS,
    m.Schemas: _SCHEMAS,
    m.SchemaRef: _SCHEMA_REF,
    m.IgnoreWhen: _IGNORE_WHEN,
    m.Condition: _CONDITION,
    m.Output: _OUTPUT,
    m.OutputWhen: _OUTPUT_WHEN,
    # Test suites and their fixture files (cerbos.policy.v1.TestSuite, TestFixture).
    s.FixturePrincipal: spec(
        F("id", "str", required=True, min_len=1),
        F("policy_version", "str", pattern=OPTIONAL_VERSION_PATTERN),
        F("roles", "list_str", required=True, min_items=1, **_NAMES),
        _ATTR,
        F("scope", "str", pattern=SCOPE_PATTERN),
    ),
    s.FixtureResource: spec(
        F("kind", "str", required=True, min_len=1),
        F("policy_version", "str", pattern=OPTIONAL_VERSION_PATTERN),
        F("id", "str", required=True, min_len=1),
        _ATTR,
        F("scope", "str", pattern=SCOPE_PATTERN),
    ),
    s.FixtureJWT: spec(F("claims", "map", value=VALUE)),
    s.FixtureAuxData: spec(
        F("jwt", "map", value=VALUE), F("jwts", "map", value=_message_value(s.FixtureJWT), key_min_len=1)
    ),
    s.PrincipalGroup: spec(F("principals", "list_str", **_GROUP_MEMBERS)),
    s.ResourceGroup: spec(F("resources", "list_str", **_GROUP_MEMBERS)),
    s.SuiteOptions: spec(
        F("now", "timestamp"),
        F("lenient_scope_search", "bool"),
        F("globals", "map", value=VALUE),
        F("default_policy_version", "str"),
        F("default_scope", "str"),
        F("strict_evaluation", "bool"),
    ),
    s.TableInput: spec(
        F("principals", "list_str", **_NAMES),
        F("resources", "list_str", **_NAMES),
        F("actions", "list_str", required=True, min_items=1, **_NAMES),
        F("aux_data", "str"),
        F("principal_groups", "list_str", **_NAMES),
        F("resource_groups", "list_str", **_NAMES),
    ),
    s.ExpectedOutput: spec(F("src", "str"), F("val", "value"), F("action", "str"), F("error", "str")),
    s.OutputExpectations: spec(
        F("action", "str", required=True, min_len=1),
        F("expected", "list_msg", s.ExpectedOutput, required=True, min_items=1),
    ),
    s.Expectation: spec(
        F("principal", "str"),
        F("resource", "str"),
        F("actions", "map", value=F("", "enum", EFFECTS, enum_in=(1, 2)), required=True, key_min_len=1),
        F("outputs", "list_msg", s.OutputExpectations),
        F("principals", "list_str", **_NAMES),
        F("resources", "list_str", **_NAMES),
        F("principal_groups", "list_str", **_NAMES),
        F("resource_groups", "list_str", **_NAMES),
    ),
    s.Table: spec(
        F("name", "str", required=True, min_len=1),
        F("description", "str"),
        F("skip", "bool"),
        F("skip_reason", "str"),
        F("input", "msg", s.TableInput, required=True),
        F("expected", "list_msg", s.Expectation, required=True, min_items=1),
        F("options", "msg", s.SuiteOptions),
    ),
    s.Suite: spec(
        F("name", "str", required=True, min_len=1),
        F("description", "str"),
        F("skip", "bool"),
        F("skip_reason", "str"),
        F("tests", "list_msg", s.Table, required=True, min_items=1),
        _PRINCIPALS,
        _RESOURCES,
        _AUX_DATA,
        F("options", "msg", s.SuiteOptions),
        _SCHEMA,
        _PRINCIPAL_GROUPS,
        _RESOURCE_GROUPS,
    ),
    s.PrincipalFixtures: spec(_PRINCIPALS, _SCHEMA, _PRINCIPAL_GROUPS),
    s.ResourceFixtures: spec(_RESOURCES, _SCHEMA, _RESOURCE_GROUPS),
    s.AuxDataFixtures: spec(_AUX_DATA, _SCHEMA),
}
# Messages whose oneof must be set (buf.validate.oneof required).
REQUIRED_ONEOFS = {m.Policy: "policy_type", m.RolePolicy: "policy_type", m.Condition: "condition"}
# Message-level constraints, checked in order once the message is decoded.
MESSAGE_RULES: dict[type, tuple[Rule, ...]] = {
    s.FixtureAuxData: (
        Rule(lambda aux: not (aux.jwt and aux.jwts), "Only one of the jwt or jwts fields must be set"),
    ),
    s.TableInput: (
        Rule(
            lambda i: bool(i.principals or i.principal_groups),
            "principals or principalGroups must be present",
        ),
        Rule(lambda i: bool(i.resources or i.resource_groups), "resources or resourceGroups must be present"),
    ),
    s.Expectation: (
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
}
