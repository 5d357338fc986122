"""Scope ancestry: the one place that says which scopes a scope inherits from."""

from __future__ import annotations


def scope_chain(scope: str) -> list[str]:
    """``"a.b.c"`` -> ``["a.b.c", "a.b", "a", ""]``: a scope and its ancestors, most specific first.

    ``scope_chain(scope)[1:]`` is the ancestors alone (none for the root scope ``""``).
    """
    if not scope:
        return [""]
    parts = scope.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)] + [""]
