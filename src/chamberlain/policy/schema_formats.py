"""JSON Schema ``format`` checks as Cerbos's validator (santhosh-tekuri/jsonschema) makes them.

``jsonschema`` checks ``date``, ``ipv4``, ``ipv6`` and ``uuid`` itself, but ``date-time``,
``time``, ``uri``, ``uri-reference``, ``hostname``, ``json-pointer`` and ``duration`` only with
optional packages, and ``email`` only for an ``@``; these are written here from the RFCs (``uri``
and ``uri-reference`` from Go's ``url.Parse``, :mod:`.go_url`), so every deployment checks the same. ``regex`` is RE2's syntax (Go's, as Cerbos compiles it: ``(?<name>x)`` but not a lookahead
``(?=x)``), ``iri`` and ``iri-reference`` are checked as ``uri`` and ``uri-reference``,
``uri-template`` by its braces and ``period`` as RFC 3339's (Cerbos's validator checks them,
jsonschema does not), and ``idn-email`` and ``idn-hostname`` are not checked (Cerbos does not).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re

import jsonschema

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.lib.core import compile_regex
from chamberlain.policy import go_url

_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$")
#: A host name's label: letters, digits and hyphens, ending with a letter or digit (only the whole
#: name may not start with a hyphen: Cerbos takes ``a.-b``).
_LABEL = re.compile(r"^[A-Za-z0-9\-]{0,62}[A-Za-z0-9]$")
#: An email's unquoted local part: dot-separated runs of RFC 5322 ``atext`` or non-ASCII characters.
_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+"
_DOT_ATOM = re.compile(rf"^{_ATOM}(\.{_ATOM})*$")
_QUOTED = re.compile(r'^"([^"\\]|\\.)+"$')
_POINTER = re.compile(r"^(/([^~/]|~[01])*)*$")
#: RFC 3339 appendix A ``duration``: units in order, none skipped within the date or the time part
#: (``PT1H1S`` and ``P1Y1D`` fail), weeks alone, whole numbers only.
_DUR_TIME = r"T(?:[0-9]+H(?:[0-9]+M(?:[0-9]+S)?)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S)"
_DUR_DATE = r"(?:[0-9]+D|[0-9]+M(?:[0-9]+D)?|[0-9]+Y(?:[0-9]+M(?:[0-9]+D)?)?)"
_DURATION = re.compile(rf"^P(?:{_DUR_DATE}(?:{_DUR_TIME})?|{_DUR_TIME}|[0-9]+W)$")


def _time(text: str) -> bool:
    """RFC 3339 ``full-time``: hh:mm:ss[.frac] and an offset; second 60 only at 23:59 UTC (a leap second)."""
    match = _TIME.match(text)
    if match is None:
        return False
    hour, minute, second = int(match[1]), int(match[2]), int(match[3])
    off_h, off_m = int(match[6] or 0), int(match[7] or 0)
    if hour > 23 or minute > 59 or second > 60 or off_h > 23 or off_m > 59:
        return False
    if second == 60:
        sign = -1 if match[5][:1] == "-" else 1
        utc = (hour * 60 + minute - sign * (off_h * 60 + off_m)) % (24 * 60)
        return utc == 23 * 60 + 59
    return True


def _date(text: str) -> bool:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return False
    try:
        dt.date(int(text[:4]), int(text[5:7]), int(text[8:]))
    except ValueError:
        return False
    return text[:4].isdigit() and text[5:7].isdigit() and text[8:].isdigit()


def _date_time(text: str) -> bool:
    return len(text) > 11 and text[10] in "Tt" and _date(text[:10]) and _time(text[11:])


def _uri_reference(text: str) -> bool:
    """What Go's ``url.Parse`` takes, without a backslash."""
    return "\\" not in text and go_url.parse(text) is not None


def _uri(text: str) -> bool:
    """An absolute URI (it has a scheme), as Go's ``url.Parse`` and ``IsAbs`` accept it."""
    url = go_url.parse(text)
    return url is not None and url.scheme != ""


def _uri_template(text: str) -> bool:
    """What Go's ``url.Parse`` takes, each segment of its path with balanced, unnested braces."""
    url = go_url.parse(text)
    return url is not None and all(_braces_balanced(segment) for segment in url.path.split("/"))


def _braces_balanced(segment: str) -> bool:
    depth = 0
    for c in segment:
        if c == "{":
            depth += 1
            if depth != 1:
                return False
        elif c == "}":
            depth -= 1
            if depth != 0:
                return False
    return depth == 0


def _period(text: str) -> bool:
    """RFC 3339 ``period``: a date-time and a date-time or duration, or a duration and a date-time."""
    start, slash, end = text.partition("/")
    if not slash:
        return False
    if _date_time(start):
        return _date_time(end) or _duration(end)
    return _duration(start) and _date_time(end)


def _duration(text: str) -> bool:
    return _DURATION.match(text) is not None


def _hostname(text: str) -> bool:
    name = text[:-1] if text.endswith(".") else text
    return (
        0 < len(name) <= 253
        and not name.startswith("-")
        and all(_LABEL.match(label) for label in name.split("."))
    )


def _email(text: str) -> bool:
    """RFC 5321's mailbox as Cerbos checks it: a dot-atom (non-ASCII allowed) or quoted local part of
    at most 64 characters, ``@``, then a host name without a final dot or an address literal
    (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``)."""
    local, at, domain = text.rpartition("@")
    if not at or not 0 < len(local) <= 64 or not (_DOT_ATOM.match(local) or _QUOTED.match(local)):
        return False
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        if literal.startswith("IPv6:"):
            return _ip(literal[5:], ipaddress.IPv6Address)
        return _ip(literal, ipaddress.IPv4Address)
    return not domain.endswith(".") and _hostname(domain)


def _ip(text: str, kind: type) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _regex(text: str) -> bool:
    try:
        compile_regex(text)
    except EvaluationError:
        return False
    return True


def format_checker() -> jsonschema.FormatChecker:
    """Draft 2020-12's checker with the formats above."""
    checker = jsonschema.FormatChecker()
    unchecked = ("idn-email", "idn-hostname")
    checker.checkers = {
        name: check
        for name, check in jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers.items()
        if name not in unchecked
    }
    for name, check in (
        ("date-time", _date_time),
        ("time", _time),
        ("date", _date),
        ("uri", _uri),
        ("uri-reference", _uri_reference),
        ("iri", _uri),  # as Cerbos's validator checks them: IRIs as URIs
        ("iri-reference", _uri_reference),
        ("uri-template", _uri_template),
        ("period", _period),
        ("hostname", _hostname),
        ("email", _email),
        ("json-pointer", lambda s: _POINTER.match(s) is not None),
        ("duration", _duration),
        ("regex", _regex),
    ):
        checker.checks(name)(lambda value, check=check: not isinstance(value, str) or check(value))
    return checker


FORMAT_CHECKER = format_checker()
