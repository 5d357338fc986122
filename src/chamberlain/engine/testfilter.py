"""``--test-filter`` as ``cerbos compile`` reads it: ``dimension=glob1,glob2;dimension=glob...``.

The dimensions are ``suite``, ``test`` (the test table's name), ``principal``, ``resource`` and
``action``; each value is a comma-separated list of Cerbos globs (``album*``, ``{view,edit}``). Several
filters merge dimension by dimension; a test runs when every dimension with globs matches one of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from chamberlain.errors import Error

DIMENSIONS = ("suite", "test", "principal", "resource", "action")
#: Bounds on what a filter may hold: a handful of globs is the use, not thousands.
MAX_GLOBS = 256


class TestFilterError(Error):
    """A ``--test-filter`` that cannot be read: the message names the part and the format."""

    __test__ = False  # not a pytest class


def parse_test_filters(texts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The globs of every filter, merged by dimension; ``{}`` when no filter is given."""
    merged: dict[str, list[str]] = {}
    for text in texts:
        if not text.strip():
            continue  # as Cerbos: an empty filter restricts nothing
        found = _parse_one(text)
        if not found:
            raise TestFilterError(
                f"--test-filter {text!r}: a filter must contain at least one glob pattern in at least one dimension"
            )
        for dimension, globs in found.items():
            merged.setdefault(dimension, []).extend(globs)
    if sum(map(len, merged.values())) > MAX_GLOBS:
        raise TestFilterError(f"--test-filter: more than {MAX_GLOBS} globs")
    return {dimension: tuple(globs) for dimension, globs in merged.items()}


def _parse_one(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, values = part.partition("=")
        if not sep:
            raise TestFilterError(
                f"--test-filter: invalid filter dimension format {part!r}: expected 'dimension=glob1,glob2'"
            )
        dimension = name.strip().lower()
        if dimension not in DIMENSIONS:
            raise TestFilterError(
                f"--test-filter: unknown filter dimension {name!r}: valid dimensions are {', '.join(DIMENSIONS)}"
            )
        globs = [g.strip() for g in values.split(",") if g.strip()]
        if globs:
            found.setdefault(dimension, []).extend(globs)
    return found
