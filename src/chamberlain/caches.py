"""Memo tables bounded by a byte-aware measure, not only by their number of entries.

A cache keyed by what requests send (a principal id, a scope, a regular expression, an action)
holds what those requests made it hold: bounded by entries alone, 4,096 entries of 100 KB strings
are 400 MB, and 120 compiled 400 KB regular expressions are 1 GB. :class:`BoundedCache` charges
each entry ``cost(key, value)`` (an estimate of the bytes it keeps alive) and is emptied when the
total would pass ``max_bytes`` (or the entries ``max_entries``). An entry costing more than the
whole budget is computed and returned but never kept.

Emptying the whole table, rather than evicting one entry at a time, keeps a hit at one dict lookup
(the class is a ``dict`` whose ``__missing__`` computes) and a miss O(1) amortised: after a
clear, each live entry is computed once again. Every operation is a single dict operation under
the GIL; ``used`` may drift by an entry or two when threads insert at the same moment, which the
bound tolerates (it is a budget, not an invariant).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable
from typing import Any

#: Bytes an entry keeps besides its key and value's contents: the dict slot, the objects' headers.
ENTRY_OVERHEAD = 200


def string_cost(key: Any, value: Any) -> int:
    """The default measure: a value derived from a string key is about as large as the key, twice."""
    return ENTRY_OVERHEAD + 3 * (len(key) if isinstance(key, str | bytes) else 64)


class BoundedCache(dict):
    """``cache[key]`` is ``compute(key)``, kept while the entries' total ``cost`` stays within ``max_bytes``.

    ``compute`` must be pure and return values that may be shared (immutable, or never mutated);
    an exception it raises is not cached.
    """

    __slots__ = ("compute", "cost", "max_bytes", "max_entries", "used")

    def __init__(
        self,
        compute: Callable[[Any], Any],
        *,
        max_bytes: int,
        max_entries: int = 1 << 20,
        cost: Callable[[Any, Any], int] = string_cost,
    ):
        super().__init__()
        self.compute = compute
        self.cost = cost
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.used = 0

    def __missing__(self, key: Hashable) -> Any:
        return self.put(key, self.compute(key))

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep ``value`` for ``key`` within the budget (a value computed elsewhere); return it."""
        size = self.cost(key, value)
        if size > self.max_bytes:
            return value
        if self.used + size > self.max_bytes or len(self) >= self.max_entries:
            self.clear()
        self[key] = value
        self.used += size
        return value

    def clear(self) -> None:
        super().clear()
        self.used = 0


class _Memo(BoundedCache):
    """A memoised function of one argument: calling it is ``dict.__getitem__`` (a hit costs what
    ``functools.lru_cache`` costs); ``cache`` is itself."""

    __call__ = dict.__getitem__

    @property
    def cache(self) -> BoundedCache:
        return self


def memoize(
    *, max_bytes: int, max_entries: int = 1 << 20, cost: Callable[[Any, Any], int] = string_cost
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator: a function of hashable arguments memoised in a :class:`BoundedCache` (keyed by the
    argument, or the tuple of arguments when there are several). The cache is the wrapper's ``cache``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if len(inspect.signature(fn).parameters) == 1:
            memo = _Memo(fn, max_bytes=max_bytes, max_entries=max_entries, cost=cost)
            memo.__doc__, memo.__wrapped__ = fn.__doc__, fn  # type: ignore[attr-defined]
            return memo

        cache = BoundedCache(
            lambda key: fn(*key.args) if type(key) is _Args else fn(key),
            max_bytes=max_bytes,
            max_entries=max_entries,
            cost=lambda key, value: cost(key.args if type(key) is _Args else key, value),
        )

        def cached(*args: Any) -> Any:
            return cache[args[0] if len(args) == 1 else _Args(args)]

        cached.cache = cache  # type: ignore[attr-defined]
        cached.__doc__ = fn.__doc__
        cached.__name__ = fn.__name__
        cached.__wrapped__ = fn  # type: ignore[attr-defined]
        return cached

    return decorate


class _Args:
    """Several arguments as one key (a plain tuple key would be ambiguous with a one-tuple argument)."""

    __slots__ = ("args", "hash")

    def __init__(self, args: tuple[Any, ...]):
        self.args = args
        self.hash = hash(args)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return type(other) is _Args and other.args == self.args
