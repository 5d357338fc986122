"""Cerbos policies: load a directory, validate it, and index the typed model for the engine.

>>> from chamberlain.policy import load_directory
>>> policies = load_directory("policies/")      # raises PolicyError listing every problem
>>> policies.chain("resource", "leave_request", "default", "acme.hr")
"""

from chamberlain.policy.attribute_schemas import SchemaStore
from chamberlain.policy.errors import Issue, PolicyError
from chamberlain.policy.loader import load_directory, load_documents
from chamberlain.policy.model import Policy, policy_key
from chamberlain.policy.policy_set import PolicySet
from chamberlain.policy.scopes import scope_chain
from chamberlain.policy.source import MAX_FILE_BYTES, Position

__all__ = [
    "MAX_FILE_BYTES",
    "Issue",
    "Policy",
    "PolicyError",
    "PolicySet",
    "Position",
    "SchemaStore",
    "load_directory",
    "load_documents",
    "policy_key",
    "scope_chain",
]
