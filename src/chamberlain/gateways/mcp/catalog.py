"""The names the agent sees: every upstream's tools and prompts under one namespace, and where each goes.

With ``toolNames: auto`` a name is shown as the upstream has it unless two items' names read alike (the
same name, or one differing only in case, compatibility forms, invisible characters or spaces); then
each is shown as ``<upstream>.<name>`` (dots are allowed in MCP tool names), and so is a name that
would read as such a prefixed one, or as one in another upstream's namespace. With ``prefixed`` every
name is. Policies always see the upstream's own name (``tools/call::git_status``) and the upstream
as the resource id, so the same policies serve the server with or without the gateway.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from chamberlain.audit.write.canonical import EncodingError, digest
from chamberlain.gateways.mcp.config import PREFIXED
from chamberlain.gateways.mcp.upstream import Upstream

_Item = TypeVar("_Item")


@dataclass(frozen=True, slots=True)
class Entry(Generic[_Item]):
    """One tool or prompt as the agent sees it: ``exposed`` name, its upstream and the upstream's item."""

    exposed: str
    upstream: Upstream
    item: _Item

    @property
    def name(self) -> str:
        """The upstream's own name (what policies see)."""
        return self.item.name  # type: ignore[attr-defined,no-any-return]

    def shown(self) -> _Item:
        """The item with its exposed name (a copy when it differs)."""
        if self.exposed == self.name:
            return self.item
        return self.item.model_copy(update={"name": self.exposed})  # type: ignore[attr-defined,no-any-return]


_DIGESTS: dict[int, tuple[Any, str]] = {}


def definition_digest(item: Any) -> str:
    """SHA-256 (hex) of the RFC 8785 canonical JSON of a tool or prompt as its upstream lists it (name,
    description, schemas, annotations, everything): another definition under the same name is another digest."""
    found = _DIGESTS.get(id(item))
    if found is not None and found[0] is item:
        return found[1]
    listed = item.model_dump(by_alias=True, mode="json", exclude_none=True)
    try:
        value = digest(listed)
    except EncodingError:  # a value without canonical JSON (a lone surrogate): its repr
        value = digest(repr(listed))
    if len(_DIGESTS) > 4096:  # lists reloaded many times: keep only the recent ones
        _DIGESTS.clear()
    _DIGESTS[id(item)] = (item, value)
    return value


def skeleton(name: str) -> str:
    """What a reader takes ``name`` for: compatibility-normalized (NFKC), case-folded, without invisible
    characters, spaces and controls (``Delete_File``, ``delete_file\u200b``, one with a fullwidth ``d`` and
    ``delete_file `` all read ``delete_file``)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(c for c in folded if unicodedata.category(c)[0] not in "CZ")


def _entries(upstreams: Sequence[Upstream], items_of: str, prefixed: bool) -> dict[str, Entry[Any]]:
    """The items by exposed name. Names collide when they read alike (:func:`skeleton`: ``Delete_File`` next to
    ``delete_file``), and then each is shown prefixed, so no upstream can show a tool the model would take for
    another's. A name shown as the upstream has it is prefixed too when it reads as another item's name (an
    upstream listing ``files.status`` next to the ``files`` upstream's prefixed ``status``), or as a name in
    another upstream's namespace (``files.status`` while ``files``'s ``status`` is shown unprefixed), so no
    upstream can take a name the gateway gives, or would give, another's item. Upstream names have no dots,
    so ``<upstream>.<name>`` names only that upstream's item."""
    pairs = [(u, item) for u in upstreams for item in getattr(u, items_of)]
    counts = Counter(skeleton(item.name) for _, item in pairs)
    spaces = {u.name: skeleton(f"{u.name}.") for u in upstreams}

    def foreign(upstream: Upstream, name: str) -> bool:
        read = skeleton(name)
        return any(read.startswith(space) for other, space in spaces.items() if other != upstream.name)

    prefix = {
        i
        for i, (u, item) in enumerate(pairs)
        if prefixed or counts[skeleton(item.name)] > 1 or foreign(u, item.name)
    }
    while True:
        names = [f"{u.name}.{item.name}" if i in prefix else item.name for i, (u, item) in enumerate(pairs)]
        claimed = Counter(skeleton(name) for name in names)
        clashing = {i for i, name in enumerate(names) if claimed[skeleton(name)] > 1 and i not in prefix}
        if not clashing:
            break
        prefix |= clashing
    out: dict[str, Entry[Any]] = {}
    for (upstream, item), exposed in zip(pairs, names, strict=True):
        out.setdefault(exposed, Entry(exposed, upstream, item))  # twice only within one upstream's list
    return out


class Catalog:
    """The upstreams' tools, prompts and resources under the names the agent sees."""

    def __init__(self, upstreams: Sequence[Upstream], tool_names: str):
        self.upstreams = list(upstreams)
        self.prefixed = tool_names == PREFIXED
        self._key: tuple[int, ...] = ()
        self._tools: dict[str, Entry[Any]] = {}
        self._prompts: dict[str, Entry[Any]] = {}

    def _current(self) -> None:
        key = tuple(u.generation for u in self.upstreams)
        if key != self._key:  # an upstream reloaded its lists: rebuild the names
            self._tools = _entries(self.upstreams, "tools", self.prefixed)
            self._prompts = _entries(self.upstreams, "prompts", self.prefixed)
            self._key = key

    def tools(self) -> Iterable[Entry[Any]]:
        self._current()
        return self._tools.values()

    def tool(self, exposed: str) -> Entry[Any] | None:
        self._current()
        return self._tools.get(exposed)

    def prompts(self) -> Iterable[Entry[Any]]:
        self._current()
        return self._prompts.values()

    def prompt(self, exposed: str) -> Entry[Any] | None:
        self._current()
        return self._prompts.get(exposed)

    def listing(self, uri: str) -> Upstream | None:
        """The upstream that lists ``uri`` among its resources, if one does."""
        return next((u for u in self.upstreams if any(str(r.uri) == uri for r in u.resources)), None)

    def resource_upstream(self, uri: str) -> Upstream | None:
        """The upstream that lists ``uri``; else the only upstream serving resources, if there is one."""
        listing = self.listing(uri)
        if listing is not None:
            return listing
        serving = [u for u in self.upstreams if u.resources or u.templates]
        return serving[0] if len(serving) == 1 else None

    def names(self, entries: Iterable[Entry[Any]], limit: int = 20) -> str:
        """``a, b, c`` (and how many more), for error messages."""
        names = sorted(e.exposed for e in entries)
        shown = ", ".join(names[:limit])
        return (
            shown + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "(none)"
        )
