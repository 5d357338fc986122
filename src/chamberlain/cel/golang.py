"""Go's text formats, as cel-go (and so Cerbos) uses them: number syntax, float formatting, quoting.

* :func:`parse_int` / :func:`parse_uint`: ``strconv.ParseInt(s, 10, 64)`` / ``ParseUint(s, 10, 64)``
  (``int("...")``, ``uint("...")``): ASCII digits, a sign only for ints, no underscores, no spaces;
* :func:`parse_float`: ``strconv.ParseFloat(s, 64)`` (``double("...")``): decimal and hexadecimal
  (``0x1.8p1``, an exponent is required) floats, underscores between digits (``1_000``,
  ``0x_1p0``), ``inf``/``infinity`` with an optional sign and ``nan`` in any case; out of range is
  an error, underflow is zero;
* :func:`format_float_g` / :func:`format_float_f`: ``strconv.FormatFloat(x, 'g' | 'f', -1, 64)``;
* :func:`quote`: ``strconv.Quote`` (Go's ``%q``);
* :func:`compile_regexp`: RE2 with Go's ``regexp`` error texts.

Every accepted spelling was checked against the Cerbos 0.55 binary (tests/cel/test_cerbos_binary.py).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import re2

from chamberlain.cel.errors import EvaluationError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

_DECIMAL_INT = re.compile(r"[+-]?[0-9]+")
_UNSIGNED_INT = re.compile(r"[0-9]+")
# The shape readFloat accepts; where its underscores may go is _underscores_ok's business.
_DECIMAL_FLOAT = re.compile(r"[+-]?(?=[0-9_]*\.?[0-9_]*[0-9])[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9][0-9_]*)?")
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?=[0-9a-fA-F_]*\.?[0-9a-fA-F_]*[0-9a-fA-F])[0-9a-fA-F_]*\.?[0-9a-fA-F_]*[pP][+-]?[0-9][0-9_]*"
)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_int(text: str) -> int | None:
    """``text`` as Go's ``strconv.ParseInt(text, 10, 64)`` reads it, or None where Go fails."""
    if _DECIMAL_INT.fullmatch(text):
        value = int(text)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    return None


def parse_uint(text: str) -> int | None:
    """``text`` as Go's ``strconv.ParseUint(text, 10, 64)`` reads it, or None where Go fails."""
    if _UNSIGNED_INT.fullmatch(text):
        value = int(text)
        if value <= UINT64_MAX:
            return value
    return None


def parse_float(text: str) -> float | None:
    """``text`` as Go's ``strconv.ParseFloat(text, 64)`` reads it, or None where Go fails."""
    special = _special_float(text)
    if special is not None:
        return special
    hexadecimal = _HEX_FLOAT.fullmatch(text) is not None
    if not hexadecimal and _DECIMAL_FLOAT.fullmatch(text) is None:
        return None
    if "_" in text:
        if not _underscores_ok(text, hexadecimal):
            return None
        text = text.replace("_", "")
    try:
        value = float.fromhex(text) if hexadecimal else float(text)
    except (ValueError, OverflowError):  # fromhex raises OverflowError past the largest double
        return None
    return None if math.isinf(value) else value  # Go: ErrRange


def _special_float(text: str) -> float | None:
    """Go's ``special``: ``[+-]inf``, ``[+-]infinity`` and ``nan``, in any case."""
    lowered = text.lower()
    unsigned = lowered[1:] if lowered[:1] in ("+", "-") else lowered
    if unsigned in ("inf", "infinity"):
        return -math.inf if lowered[0] == "-" else math.inf
    if lowered == "nan":
        return math.nan
    return None


def _underscores_ok(text: str, hexadecimal: bool) -> bool:
    """Go's ``underscoreOK``: every underscore sits between digits (a base prefix counts as one)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    saw = "^"  # ^ start, 0 digit or prefix, _ underscore, ! anything else
    position = 0
    if hexadecimal:
        position, saw = 2, "0"
    for char in body[position:]:
        if "0" <= char <= "9" or (hexadecimal and char in _HEX_DIGITS):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


# ---------------------------------------------------------------- formatting


def _shortest_digits(x: float) -> tuple[str, int]:
    """The shortest round-tripping digits of finite non-zero ``|x|`` and the decimal point's
    position in them: ``|x| == 0.<digits> * 10**point``."""
    _, digits, exponent = Decimal(repr(abs(x))).as_tuple()
    return "".join(map(str, digits)).rstrip("0"), len(digits) + int(exponent)


def _plain(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _float_text(x: float, exponent_form: bool) -> str:
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    digits, point = _shortest_digits(x)
    exponent = point - 1
    if exponent_form and (exponent < -4 or exponent >= 6):
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return sign + _plain(digits, point)


def format_float_g(x: float) -> str:
    """``x`` as Go's ``strconv.FormatFloat(x, 'g', -1, 64)`` (and ``%g``): shortest digits, exponent
    form below 1e-4 or from 1e6."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return _float_text(x, exponent_form=True)


def format_float_f(x: float) -> str:
    """Finite ``x`` as Go's ``strconv.FormatFloat(x, 'f', -1, 64)``: shortest digits, no exponent."""
    return _float_text(x, exponent_form=False)


# ---------------------------------------------------------------- quoting

_QUOTE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def quote(text: str) -> str:
    """``text`` as Go's ``strconv.Quote`` (``%q``) writes it: printable characters as they are."""
    out = ['"']
    for char in text:
        escaped = _QUOTE_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char.isprintable():
            out.append(char)
        elif 0xD800 <= ord(char) <= 0xDFFF:  # a lone surrogate is not valid UTF-8: Go writes U+FFFD
            out.append("\ufffd")
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- regular expressions

#: RE2's (C++) words for a syntax error, and Go's ``regexp/syntax`` words for the same error.
_RE2_TO_GO_ERRORS = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "bad repetition operator": "invalid nested repetition operator",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "trailing \\": "trailing backslash at end of expression",
    "pattern too large - compile failed": "expression too large",
}
_ESCAPED_C = re.compile(r"\\Q.*?(?:\\E|$)|\\(.)", re.DOTALL)


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # invalid patterns become CEL errors, not stderr noise
    return options


_RE2_OPTIONS = _re2_options()


def compile_regexp(pattern: str | bytes) -> Any:
    """``pattern`` compiled by RE2 (str patterns match str, bytes patterns bytes); a pattern that
    Go's ``regexp`` refuses is an :class:`EvaluationError` with Go's text
    (``error parsing regexp: missing closing ): `(```), as Cerbos reports it."""
    text = pattern if isinstance(pattern, str) else pattern.decode("utf-8", "surrogatepass")
    refused = regexp_syntax_error(text)
    if refused is not None:
        raise EvaluationError(refused)
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else str(exc)
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise EvaluationError(regexp_error(reason)) from None
    finally:
        # re2.compile keeps the last 128 programs in an lru_cache bounded by entries (10 MB each for a
        # 240 KB pattern: 1.3 GB); the callers keep theirs in caches bounded by bytes (chamberlain.caches).
        re2.purge()


def regexp_syntax_error(pattern: str) -> str | None:
    """Go's error for a pattern RE2 (C++) accepts but Go's ``regexp`` refuses: ``\\C`` (any byte)."""
    for m in _ESCAPED_C.finditer(pattern):
        if m.group(1) == "C":
            return "error parsing regexp: invalid escape sequence: `\\C`"
    return None


def regexp_error(reason: str) -> str:
    """Go's ``regexp.Compile`` error text for RE2's error ``reason`` (``missing ): (a``)."""
    code, _, fragment = reason.partition(": ")
    return f"error parsing regexp: {_RE2_TO_GO_ERRORS.get(code, code)}: `{fragment}`"


# ---------------------------------------------------------------- base64

_BASE64_VALUES = {
    c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}
_LINE_BREAKS = frozenset(b"\r\n")


class Base64Error(ValueError):
    """Go's ``base64.CorruptInputError``: the input byte where decoding failed."""

    def __init__(self, offset: int):
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


def base64_decode(data: bytes, padded: bool) -> bytes:
    """``data`` decoded as Go's ``base64.StdEncoding`` (``padded``) or ``RawStdEncoding`` decodes it:
    line breaks skipped, trailing bits ignored; raises :class:`Base64Error` with Go's offset."""
    out = bytearray()
    position, end = 0, len(data)
    while position < end:
        quantum: list[int] = []
        while len(quantum) < 4:
            if position == end:
                if not quantum:
                    return bytes(out)
                if len(quantum) == 1 or padded:
                    raise Base64Error(position - len(quantum))
                break
            char = data[position]
            position += 1
            value = _BASE64_VALUES.get(char)
            if value is not None:
                quantum.append(value)
                continue
            if char in _LINE_BREAKS:
                continue
            if not padded or char != 0x3D:  # '='
                raise Base64Error(position - 1)
            position = _padding_end(data, position, len(quantum))
            break
        bits = 0
        for value in quantum + [0] * (4 - len(quantum)):
            bits = bits << 6 | value
        out += bits.to_bytes(3, "big")[: len(quantum) - 1]
        if len(quantum) < 4:
            return bytes(out)
    return bytes(out)


def _padding_end(data: bytes, position: int, digits: int) -> int:
    """After the first ``=`` of a quantum holding ``digits`` digits: where the input may end, or the
    offset of what is wrong (too little or too much padding, data after it)."""
    end = len(data)
    if digits < 2:
        raise Base64Error(position - 1)
    if digits == 2:  # a second "=" must follow
        while position < end and data[position] in _LINE_BREAKS:
            position += 1
        if position == end:
            raise Base64Error(end)
        if data[position] != 0x3D:
            raise Base64Error(position - 1)
        position += 1
    while position < end and data[position] in _LINE_BREAKS:
        position += 1
    if position < end:
        raise Base64Error(position)
    return position


# ---------------------------------------------------------------- IP addresses


def _ip_error(text: str, message: str, at: str = "") -> str:
    where = f" (at {quote(at)})" if at else ""
    return f"ParseAddr({quote(text)}): {message}{where}"


def _ipv4_fields_error(text: str, start: int, end: int) -> str | None:
    """Go's ``parseIPv4Fields`` over ``text[start:end]``: its error, or None."""
    part = text[start:end]
    value, position, digits = 0, 0, 0
    for i, char in enumerate(part):
        if "0" <= char <= "9":
            if digits == 1 and value == 0:
                return _ip_error(text, "IPv4 field has octet with leading zero")
            value = value * 10 + ord(char) - 48
            digits += 1
            if value > 255:
                return _ip_error(text, "IPv4 field has value >255")
        elif char == ".":
            if i == 0 or i == len(part) - 1 or part[i - 1] == ".":
                return _ip_error(text, "IPv4 field must have at least one digit", part[i:])
            if position == 3:
                return _ip_error(text, "IPv4 address too long")
            position += 1
            value, digits = 0, 0
        else:
            return _ip_error(text, "unexpected character", part[i:])
    if position < 3:
        return _ip_error(text, "IPv4 address too short")
    return None


def _ipv6_error(text: str) -> str | None:
    """Go's ``parseIPv6``: its error, or None."""
    rest, zone = text, ""
    if "%" in text:
        rest, zone = text.split("%", 1)
        if not zone:
            return _ip_error(text, "zone must be a non-empty string")
    ellipsis = -1
    if rest.startswith("::"):
        ellipsis, rest = 0, rest[2:]
        if not rest:
            return None
    filled = 0
    while filled < 16:
        offset, value = 0, 0
        while offset < len(rest) and rest[offset] in _HEX_DIGITS:
            value = value * 16 + int(rest[offset], 16)
            if offset > 3:
                return _ip_error(text, "each group must have 4 or less digits", rest)
            if value > 0xFFFF:
                return _ip_error(text, "IPv6 field has value >=2^16", rest)
            offset += 1
        if offset == 0:
            return _ip_error(text, "each colon-separated field must have at least one digit", rest)
        if offset < len(rest) and rest[offset] == ".":
            if ellipsis < 0 and filled != 12:
                return _ip_error(
                    text, "embedded IPv4 address must replace the final 2 fields of the address", rest
                )
            if filled + 4 > 16:
                return _ip_error(
                    text, "too many hex fields to fit an embedded IPv4 at the end of the address", rest
                )
            end = len(text) - (len(zone) + 1 if zone else 0)
            error = _ipv4_fields_error(text, end - len(rest), end)
            if error is not None:
                return error
            rest, filled = "", filled + 4
            break
        filled += 2
        rest = rest[offset:]
        if not rest:
            break
        if rest[0] != ":":
            return _ip_error(text, "unexpected character, want colon", rest)
        if len(rest) == 1:
            return _ip_error(text, "colon must be followed by more characters", rest)
        rest = rest[1:]
        if rest[0] == ":":
            if ellipsis >= 0:
                return _ip_error(text, "multiple :: in address", rest)
            ellipsis, rest = filled, rest[1:]
            if not rest:
                break
    if rest:
        return _ip_error(text, "trailing garbage after address", rest)
    if filled < 16 and ellipsis < 0:
        return _ip_error(text, "address string too short")
    if filled == 16 and ellipsis >= 0:
        return _ip_error(text, "the :: must expand to at least one field of zeros", rest)
    return None


def ip_parse_error(text: str) -> str | None:
    """Why Go's ``netip.ParseAddr`` refuses ``text`` (its error text), or None if it accepts it."""
    for char in text:
        if char == ".":
            return _ipv4_fields_error(text, 0, len(text))
        if char == ":":
            return _ipv6_error(text)
        if char == "%":
            return _ip_error(text, "missing IPv6 address")
    return _ip_error(text, "unable to parse IP")


def prefix_parse_error(text: str) -> str | None:
    """Why Go's ``netip.ParsePrefix`` refuses ``text`` (its error text), or None if it accepts it."""
    address, slash, bits = text.rpartition("/")

    def error(message: str) -> str:
        return f"netip.ParsePrefix({quote(text)}): {message}"

    if not slash:
        return error("no '/'")
    refused = ip_parse_error(address)
    if refused is not None:
        return error(refused)
    is6 = ":" in address
    if is6 and "%" in address:
        return error("IPv6 zones cannot be present in a prefix")
    if (len(bits) > 1 and not "1" <= bits[0] <= "9") or parse_int(bits) is None:
        return error(f"bad bits after slash: {quote(bits)}")
    if not 0 <= int(bits) <= (128 if is6 else 32):
        return error("prefix length out of range")
    return None
