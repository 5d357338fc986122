"""Canonical JSON: the fast path gives exactly what the reference RFC 8785 implementation gives."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from chamberlain.audit.write.canonical import EncodingError, canonical, digest, normalise, slow_canonical

_numbers = st.one_of(
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-6, 1.5e-6, 9.99e-6, 1e-7, 1e21, 1e20, 2.0**53, -0.0, 5e-324, 1e16]),
)
_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=8)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), _numbers, _text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_fast_path_equals_rfc8785(value):
    plain, _ = normalise(value)
    assert canonical(value) == rfc8785.dumps(plain)


def test_values_where_orjson_and_jcs_differ():
    assert canonical(1.0) == b"1" and canonical(-0.0) == b"0"
    assert canonical(0.000001) == b"0.000001"  # orjson would write 1e-6
    assert canonical(1e21) == b"1e+21"
    assert canonical({"\ue000": 1, "\U0001f600": 2}) == rfc8785.dumps({"\ue000": 1, "\U0001f600": 2})
    # integers beyond 2^53 are JCS doubles, as any JCS implementation reads them
    assert canonical(2**60) == rfc8785.dumps(float(2**60))


def test_non_json_values_become_json():
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert canonical({"t": when, "b": b"\x00\x01", "s": {3, 1}, "k": (1, 2)}) == (
        b'{"b":"AAE=","k":[1,2],"s":[1,3],"t":"2026-01-02T03:04:05Z"}'
    )


def test_unencodable_values_raise_encoding_error():
    with pytest.raises(EncodingError):
        canonical({"x": "\ud800"})
    with pytest.raises(EncodingError):
        slow_canonical(10**400)


def test_digest_is_sha256_of_the_canonical_bytes():
    assert digest({"b": 1, "a": [True, None]}) == hashlib.sha256(b'{"a":[true,null],"b":1}').hexdigest()
