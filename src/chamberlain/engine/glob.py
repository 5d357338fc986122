"""Cerbos's glob patterns for actions, roles and resources (``view:*``, ``*``, ``{a,b}:read``).

Cerbos matches these with gobwas/glob using ``:`` as the separator: ``*`` matches any run of
characters except ``:``, ``**`` any run at all, ``?`` one character except ``:``, ``[a-z]`` /
``[!a-z]`` a character class, ``{x,y}`` alternatives, ``\\`` escapes. A lone ``*`` means ``**``
(everything). In the rule table a key is a pattern only when it contains ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from chamberlain.caches import memoize

_SEPARATOR = ":"


def is_pattern(key: str) -> bool:
    """Whether the rule table treats ``key`` as a glob (it contains ``*``)."""
    return "*" in key


@memoize(max_bytes=16 << 20, max_entries=4096, cost=lambda pattern, matcher: 1024 + 10 * len(pattern))
def compile_glob(pattern: str) -> Callable[[str], bool] | None:
    """A matcher for ``pattern``, or ``None`` when the pattern is invalid (it then matches nothing)."""
    if pattern == "*":
        pattern = "**"
    try:
        regex, rest = _translate(pattern, 0, in_braces=False)
        if rest != len(pattern):
            return None
        compiled = re.compile(regex, re.DOTALL)
    except (ValueError, re.error):
        return None
    fullmatch = compiled.fullmatch
    return lambda value: fullmatch(value) is not None


def matches(pattern: str, value: str) -> bool:
    """``value`` matches ``pattern`` (util.MatchesGlob)."""
    matcher = compile_glob(pattern)
    return matcher is not None and matcher(value)


def _translate(pattern: str, i: int, *, in_braces: bool) -> tuple[str, int]:
    """Translate from ``i`` until the end (or, inside braces, until ``,`` or ``}``)."""
    out: list[str] = []
    not_sep = f"[^{re.escape(_SEPARATOR)}]"
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if in_braces and c in ",}":
            break
        if c == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                out.append(".*")
                i += 2
            else:
                out.append(not_sep + "*")
                i += 1
        elif c == "?":
            out.append(not_sep)
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise ValueError("dangling escape")
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError("unclosed class")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            if not body:
                raise ValueError("empty class")
            items = re.escape(body).replace("\\-", "-")
            out.append(f"[{'^' if negate else ''}{items}]")
            i = end + 1
        elif c == "{":
            alternatives: list[str] = []
            i += 1
            while True:
                alt, i = _translate(pattern, i, in_braces=True)
                alternatives.append(alt)
                if i >= n:
                    raise ValueError("unclosed alternatives")
                if pattern[i] == "}":
                    i += 1
                    break
                i += 1  # ","
            out.append("(?:" + "|".join(alternatives) + ")")
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out), i
