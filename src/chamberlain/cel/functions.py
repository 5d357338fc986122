"""The function registry: every CEL function the compiler can call, by name and arity.

A library module registers implementations with :func:`function`::

    @function("contains", member=True)
    def string_contains(s, sub): ...          # called as s.contains(sub)

    @function("math.greatest")               # namespaced global: math.greatest(a, b)
    def greatest(*args): ...

An implementation takes plain runtime values (see :mod:`chamberlain.cel.values`) positionally,
the target first for member calls, checks their types itself and raises
:class:`~chamberlain.cel.errors.EvaluationError` (``raise no_such_overload(name, *args)`` for
argument types it does not accept). Arity is read from the signature; a ``*args`` implementation
accepts any number of arguments. ``needs_activation=True`` passes the activation mapping first
(used by Cerbos's ``now()`` and ``timeSince``, which read the request's fixed time).

The compiler resolves names and arities when it compiles, so an unknown function or a wrong
number of arguments is a compile error that names the position.

Two optional hints let the compiler's fast path do better than a call: ``result_type`` (the
static type every call returns, e.g. ``"timestamp"``, so comparisons need no class checks) and
``str_cache`` (a :class:`StringCache` with ``cache[s] == fn(s)`` for every plain ``str`` ``s``,
for one-argument functions: the fast path indexes it instead of calling ``fn``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chamberlain.caches import BoundedCache

VARIADIC = -1


@dataclass(slots=True)
class Implementation:
    fn: Callable[..., Any]
    needs_activation: bool = False
    #: The compiler's static type of every result (see ``compiler._ORDERED_STATIC``), if known.
    result_type: str | None = None
    #: For a one-argument function: ``str_cache[s]`` is ``fn(s)`` for a plain str ``s``.
    str_cache: StringCache | None = None


class StringCache(BoundedCache):
    """A bounded, thread-safe memo of a pure function of a string: ``cache[s]`` is ``compute(s)``.

    For values parsed from request strings that repeat across requests (timestamps, scopes): a
    hit is one dict lookup. ``compute`` must return immutable values (they are shared) and may
    raise; errors are not cached. Bounded by ``maxsize`` entries and by ``max_bytes`` of keys and
    values (:func:`chamberlain.caches.string_cost`): the strings come from requests, and 4,096 of
    100 KB would otherwise stay alive. A full cache is emptied before the next entry goes in (see
    :class:`~chamberlain.caches.BoundedCache`).

    Index it only with plain ``str`` keys: a str subclass would hit the entry of an equal string.
    """

    __slots__ = ()

    def __init__(self, compute: Callable[[str], Any], maxsize: int = 4096, max_bytes: int = 16 << 20):
        super().__init__(compute, max_bytes=max_bytes, max_entries=maxsize)

    @property
    def maxsize(self) -> int:
        return self.max_entries


@dataclass(slots=True)
class Overloads:
    """Implementations of one function name, keyed by arity (``VARIADIC`` for ``*args``)."""

    name: str
    global_impls: dict[int, Implementation] = field(default_factory=dict)
    member_impls: dict[int, Implementation] = field(default_factory=dict)

    def lookup(self, member: bool, arity: int) -> Implementation | None:
        impls = self.member_impls if member else self.global_impls
        return impls.get(arity) or impls.get(VARIADIC)


REGISTRY: dict[str, Overloads] = {}


def _arity(fn: Callable[..., Any], member: bool, needs_activation: bool) -> int:
    params = list(inspect.signature(fn).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return VARIADIC
    n = len(params) - (1 if needs_activation else 0)
    return n - 1 if member else n


def function(
    name: str,
    *,
    member: bool = False,
    needs_activation: bool = False,
    also_global: bool = False,
    result_type: str | None = None,
    str_cache: StringCache | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated callable as CEL function ``name``.

    ``member=True`` registers ``target.name(args)``; ``also_global=True`` additionally registers
    ``name(target, args)`` with the same implementation (e.g. ``size(x)`` and ``x.size()``).
    ``result_type`` and ``str_cache``: hints for the compiler's fast path (see the module's doc).
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        entry = REGISTRY.setdefault(name, Overloads(name))
        impl = Implementation(fn, needs_activation, result_type, str_cache)
        if member:
            entry.member_impls[_arity(fn, True, needs_activation)] = impl
        if not member or also_global:
            entry.global_impls[_arity(fn, False, needs_activation)] = impl
        return fn

    return register


def lookup(name: str) -> Overloads | None:
    """The registered overloads of ``name``, loading the standard libraries on first use."""
    _load_libraries()
    return REGISTRY.get(name)


_loaded = False


def _load_libraries() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for module in LIBRARY_MODULES:
        importlib.import_module(module)


#: Modules whose import registers functions. Each is one library of the CEL environment.
LIBRARY_MODULES = (
    "chamberlain.cel.lib.core",
    "chamberlain.cel.lib.time",
    "chamberlain.cel.lib.strings",
    "chamberlain.cel.lib.math",
    "chamberlain.cel.lib.encoders",
    "chamberlain.cel.lib.lists",
    "chamberlain.cel.lib.sets",
    "chamberlain.cel.lib.optional",
    "chamberlain.cel.lib.network",
    "chamberlain.cel.lib.regex",
    "chamberlain.cel.lib.cerbos",
    "chamberlain.cel.lib.hierarchy",
    "chamberlain.cel.lib.spiffe",
)
