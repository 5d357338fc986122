"""Cerbos's SPIFFE functions: ``spiffeID``, ``spiffeTrustDomain`` and the ``spiffeMatch*`` matchers.

Parsing follows go-spiffe's ``spiffeid`` package (without its back-compatibility charset):
``spiffe://<trust domain><path>``, the trust domain in ``[a-z0-9._-]``, the path made of
``/segment`` parts in ``[a-zA-Z0-9._-]``, with no empty, ``.`` or ``..`` segments and no trailing
slash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.values import (
    NO_SUCH_OVERLOAD,
    TYPE_IDENTIFIERS,
    CelType,
    no_such_overload,
    no_such_overload_for,
)

SPIFFE_ID_TYPE = CelType("cerbos.lib.spiffeID")
SPIFFE_TRUST_DOMAIN_TYPE = CelType("cerbos.lib.spiffeTrustDomain")
SPIFFE_MATCHER_TYPE = CelType("cerbos.lib.spiffeMatcher")
for _t in (SPIFFE_ID_TYPE, SPIFFE_TRUST_DOMAIN_TYPE, SPIFFE_MATCHER_TYPE):
    TYPE_IDENTIFIERS.setdefault(_t.name, _t)

_SCHEME = "spiffe://"
_TRUST_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")
_PATH_CHARS = _TRUST_DOMAIN_CHARS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class SpiffeError(ValueError):
    """An invalid SPIFFE ID or trust domain (the message is go-spiffe's)."""


def _validate_path(path: str) -> None:
    if not path:
        return
    if path[0] != "/":
        raise SpiffeError("path must have a leading slash")
    segments = path[1:].split("/")
    for i, segment in enumerate(segments, 1):
        if not segment:
            last = i == len(segments)
            raise SpiffeError(
                "path cannot have a trailing slash" if last else "path cannot contain empty segments"
            )
        if segment in (".", ".."):
            raise SpiffeError("path cannot contain dot segments")
        if not _PATH_CHARS.issuperset(segment):
            raise SpiffeError(
                "path segment characters are limited to letters, numbers, dots, dashes, and underscores"
            )


def _check_trust_domain_chars(name: str) -> None:
    if not _TRUST_DOMAIN_CHARS.issuperset(name):
        raise SpiffeError(
            "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores"
        )


class SpiffeTrustDomain:
    """A SPIFFE trust domain such as ``example.org``."""

    __slots__ = ("name",)
    cel_type = SPIFFE_TRUST_DOMAIN_TYPE
    cel_json_error = "unsupported native conversion from SPIFFETrustDomain to '*structpb.Value'"
    cel_receiver = (
        True  # Cerbos's SPIFFE values receive the calls they cannot serve (see values.no_such_overload_for)
    )

    def __init__(self, name: str):
        self.name = name

    @classmethod
    def parse(cls, text: str) -> SpiffeTrustDomain:
        """A trust domain name, or the trust domain of a SPIFFE ID (anything containing ``:/``)."""
        if not text:
            raise SpiffeError("trust domain is missing")
        if ":/" in text:
            return SpiffeID.parse(text).trust_domain
        _check_trust_domain_chars(text)
        return cls(text)

    @property
    def id_string(self) -> str:
        return _SCHEME + self.name

    def __eq__(self, other: object) -> bool:
        # A string too (Cerbos's Equal), as the fast path compares with a string by Python's ``==``
        # (so ``"a.io" == td`` is true here, where cel-go's string equality says false).
        if type(other) is str:
            return self.cel_equals(other)
        if not isinstance(other, SpiffeTrustDomain):
            return NotImplemented
        return self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"spiffeTrustDomain({self.name!r})"

    def cel_equals(self, other: Any) -> bool:
        """``td == x`` for ``x`` of another type (a string read as a trust domain), as Cerbos's
        ``Equal``; anything but a string is no such overload."""
        if type(other) is str:
            try:
                return SpiffeTrustDomain.parse(other).name == self.name
            except SpiffeError:
                return False
        raise EvaluationError("no such overload")

    def cel_compare(self, other: Any) -> int:
        """``td < x``: Cerbos's ``Compare`` compares the other operand with this one (the order is
        reversed: ``spiffeTrustDomain("a.io") < "b.io"`` is false)."""
        if type(other) is SpiffeTrustDomain:
            theirs = other.name
        elif type(other) is str:
            try:
                theirs = SpiffeTrustDomain.parse(other).name
            except SpiffeError as e:
                raise EvaluationError(f"failed to parse trust domain: {e}") from None
        else:
            raise EvaluationError("no such overload")
        return -1 if theirs < self.name else (1 if theirs > self.name else 0)


class SpiffeID:
    """A SPIFFE ID such as ``spiffe://example.org/ns/default``."""

    __slots__ = ("_path_at", "text")
    cel_type = SPIFFE_ID_TYPE
    cel_json_error = "unsupported native conversion from SPIFFEID to '*structpb.Value'"
    cel_receiver = True

    def __init__(self, text: str, path_at: int):
        self.text = text
        self._path_at = path_at

    @classmethod
    def parse(cls, text: str) -> SpiffeID:
        if not text:
            raise SpiffeError("cannot be empty")
        if not text.startswith(_SCHEME):
            raise SpiffeError("scheme is missing or invalid")
        path_at = text.find("/", len(_SCHEME))
        if path_at < 0:
            path_at = len(text)
        trust_domain = text[len(_SCHEME) : path_at]
        _check_trust_domain_chars(trust_domain)
        if not trust_domain:
            raise SpiffeError("trust domain is missing")
        _validate_path(text[path_at:])
        return cls(text, path_at)

    @property
    def path(self) -> str:
        return self.text[self._path_at :]

    @property
    def trust_domain(self) -> SpiffeTrustDomain:
        return SpiffeTrustDomain(self.text[len(_SCHEME) : self._path_at])

    def __eq__(self, other: object) -> bool:
        if type(other) is str:  # see SpiffeTrustDomain.__eq__
            return self.text == other
        if not isinstance(other, SpiffeID):
            return NotImplemented
        return self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"spiffeID({self.text!r})"

    def cel_equals(self, other: Any) -> bool:
        """``id == x`` for ``x`` of another type: a string compares with the ID's text (Cerbos's
        ``Equal``); anything else is no such overload."""
        if type(other) is str:
            return self.text == other
        raise EvaluationError("no such overload")


class SpiffeMatcher:
    """A predicate on SPIFFE IDs; never equal to anything, itself included (as in Cerbos)."""

    __slots__ = ("_accepts",)
    cel_type = SPIFFE_MATCHER_TYPE
    cel_json_error = "unsupported native conversion from SPIFFEMatcher to '*structpb.Value'"
    cel_receiver = True

    def __init__(self, accepts: Callable[[SpiffeID], bool]):
        self._accepts = accepts

    def matches(self, spiffe_id: SpiffeID) -> bool:
        return self._accepts(spiffe_id)

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


def _parse_id(text: str, prefix: str = "failed to parse SPIFFE ID") -> SpiffeID:
    try:
        return SpiffeID.parse(text)
    except SpiffeError as e:
        raise EvaluationError(f"{prefix}: {e}") from None


def _parse_trust_domain(text: str) -> SpiffeTrustDomain:
    try:
        return SpiffeTrustDomain.parse(text)
    except SpiffeError as e:
        raise EvaluationError(f"failed to parse SPIFFE trust domain: {e}") from None


@function("spiffeID")
def spiffe_id(value: Any) -> SpiffeID:
    """``spiffeID("spiffe://example.org/path")``."""
    if type(value) is SpiffeID:
        return value
    if type(value) is str:
        return _parse_id(value)
    raise no_such_overload("spiffeID", value)


@function("spiffeTrustDomain")
def spiffe_trust_domain(value: Any) -> SpiffeTrustDomain:
    """``spiffeTrustDomain("example.org")`` or ``spiffeTrustDomain("spiffe://example.org")``."""
    if type(value) is SpiffeTrustDomain:
        return value
    if type(value) is SpiffeID:
        return value.trust_domain
    if type(value) is str:
        return _parse_trust_domain(value)
    raise no_such_overload("spiffeTrustDomain", value)


@function("spiffeMatchAny")
def spiffe_match_any() -> SpiffeMatcher:
    """``spiffeMatchAny()``: matches every ID."""
    return SpiffeMatcher(lambda _: True)


@function("spiffeMatchExact")
def spiffe_match_exact(value: Any) -> SpiffeMatcher:
    """``spiffeMatchExact(id)``: matches that one ID."""
    expected = spiffe_id(value) if type(value) in (str, SpiffeID) else None
    if expected is None:
        raise no_such_overload("spiffeMatchExact", value)
    return SpiffeMatcher(lambda actual: actual == expected)


@function("spiffeMatchOneOf")
def spiffe_match_one_of(values: Any) -> SpiffeMatcher:
    """``spiffeMatchOneOf([ids])``: matches any of the IDs (all SPIFFE IDs, or all strings)."""
    if type(values) not in (list, tuple):
        raise no_such_overload("spiffeMatchOneOf", values)
    if all(type(v) is SpiffeID for v in values):
        expected = frozenset(values)
    elif all(type(v) is str for v in values):
        try:
            expected = frozenset(SpiffeID.parse(v) for v in values)
        except SpiffeError:
            raise no_such_overload("spiffeMatchOneOf", values) from None
    else:
        raise no_such_overload("spiffeMatchOneOf", values)
    return SpiffeMatcher(lambda actual: actual in expected)


@function("spiffeMatchTrustDomain")
def spiffe_match_trust_domain(value: Any) -> SpiffeMatcher:
    """``spiffeMatchTrustDomain(td)``: matches the IDs of that trust domain."""
    if type(value) is SpiffeTrustDomain:
        expected = value
    elif type(value) is str:
        expected = _parse_trust_domain(value)
    else:
        raise no_such_overload("spiffeMatchTrustDomain", value)
    return SpiffeMatcher(lambda actual: actual.trust_domain == expected)


@function("matchesID", member=True)
def matches_id(matcher: Any, value: Any) -> bool:
    """``matcher.matchesID(id)``, ``id`` a SPIFFE ID or a string."""
    if type(matcher) is not SpiffeMatcher:
        raise no_such_overload_for("matchesID", matcher)
    if type(value) not in (str, SpiffeID):
        raise EvaluationError(NO_SUCH_OVERLOAD)
    actual = value if type(value) is SpiffeID else _parse_id(value, "invalid SPIFFE ID")
    return matcher.matches(actual)


@function("isMemberOf", member=True)
def is_member_of(value: Any, trust_domain: Any) -> bool:
    """``id.isMemberOf(td)``."""
    if type(value) is not SpiffeID:
        raise no_such_overload_for("isMemberOf", value)
    if type(trust_domain) is not SpiffeTrustDomain:
        raise EvaluationError(NO_SUCH_OVERLOAD)
    return value.trust_domain == trust_domain


@function("path", member=True)
def id_path(value: Any) -> str:
    """``id.path()``: the path, such as ``/ns/default`` (may be empty)."""
    if type(value) is not SpiffeID:
        raise no_such_overload_for("path", value)
    return value.path


@function("trustDomain", member=True)
def id_trust_domain(value: Any) -> SpiffeTrustDomain:
    """``id.trustDomain()``."""
    if type(value) is not SpiffeID:
        raise no_such_overload_for("trustDomain", value)
    return value.trust_domain


@function("id", member=True)
def trust_domain_id(value: Any) -> SpiffeTrustDomain:
    """``td.id()``: declared a string, but Cerbos 0.55 gives the trust domain itself (so it equals
    ``"spiffe://<name>"`` and ``"<name>"`` alike, is no string to string functions and fails as an
    output)."""
    if type(value) is not SpiffeTrustDomain:
        raise no_such_overload_for("id", value)
    return value


@function("name", member=True)
def trust_domain_name(value: Any) -> str:
    """``td.name()``."""
    if type(value) is not SpiffeTrustDomain:
        raise no_such_overload_for("name", value)
    return value.name
