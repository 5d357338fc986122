"""``strictjson.loads`` refuses every repeated key, whether its fast count clears a document or its scanner
looks: documents built to fool the count (colons and escapes inside strings, repeats whose values hold
colons), and generated documents checked against the standard library's own reading of their keys."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chamberlain import strictjson
from chamberlain.strictjson import DuplicateKeyError, _keys_as_written


@pytest.mark.parametrize(
    ("text", "key", "path"),
    [
        ('{"a": 1, "a": 2}', "a", ()),
        ('{"a": "x:y", "a": "z"}', "a", ()),  # the dropped value held the colon
        ('{"a": "z", "b": "::", "a": "x"}', "a", ()),
        ('{"a": 1, "\\u0061": 2}', "a", ()),  # the same key, escaped
        ('{"x": "\\u003a", "a": 1, "a": 2}', "a", ()),  # an escaped colon inside a string
        ('{"p": {"k": "v:1", "k": "v:2"}, "q": ":"}', "k", ("p",)),
        ('[{"id": "a", "n": 1}, {"id": "b", "id": "c"}]', "id", (1,)),
        ('{"t": "12:00", "u": "http://x", "m": {"n": 1, "n": 1}}', "n", ("m",)),
        ('{"a:b": 1, "a:b": 2}', "a:b", ()),  # colons inside the repeated key itself
    ],
)
def test_every_repeated_key_is_refused(text, key, path):
    for data in (text, text.encode()):
        with pytest.raises(DuplicateKeyError) as caught:
            strictjson.loads(data)
        assert caught.value.key == key and caught.value.path == path


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [1, 2, {"c": "d"}]}',
        '{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "t", "arguments": {"z": "Europe/Paris"}}}',
        "[]",
        '{"": 0}',
        '{"actions": ["view:public"], "at": "12:00"}',  # colons inside strings are not keys
        '{"a:b": 1}',
    ],
)
def test_documents_without_escapes_or_repeats_skip_the_scanner(text):
    assert _keys_as_written(text, json.loads(text)) and _keys_as_written(text.encode(), json.loads(text))
    assert strictjson.loads(text) == json.loads(text)


@pytest.mark.parametrize(
    "text", ['{"a": "\\n"}', '{"a": 1, "a": 1}', '{"a:b": 1, "a:b": 1}', '{"a": "x:y", "a": 1}']
)
def test_escapes_and_repeats_go_to_the_scanner(text):
    assert not _keys_as_written(text, json.loads(text))


def _pairs_hook(seen: list[bool]):
    def hook(pairs):
        if len({k for k, _ in pairs}) != len(pairs):
            seen.append(True)
        return dict(pairs)

    return hook


_KEYS = st.sampled_from(["a", "b", "a:b", ":", "\u00e9", "id", "x"])
_SCALARS = st.one_of(
    st.integers(-5, 5),
    st.booleans(),
    st.none(),
    st.sampled_from(["", "v", "12:00", "a:b:c", "é", "\n", "\\"]),
)


def _document(draw, depth: int) -> str:
    if depth == 0 or draw(st.booleans()):
        return json.dumps(draw(_SCALARS))
    if draw(st.booleans()):
        return "[" + ", ".join(_document(draw, depth - 1) for _ in range(draw(st.integers(0, 3)))) + "]"
    keys = draw(st.lists(_KEYS, max_size=4))  # repeats allowed: raw JSON text may hold them
    return "{" + ", ".join(f"{json.dumps(k)}: {_document(draw, depth - 1)}" for k in keys) + "}"


@st.composite
def documents(draw):
    return _document(draw, 3)


@settings(max_examples=400, deadline=None)
@given(documents())
def test_refused_exactly_when_a_key_repeats(text):
    repeats: list[bool] = []
    expected = json.loads(text, object_pairs_hook=_pairs_hook(repeats))
    for data in (text, text.encode()):
        if repeats:
            with pytest.raises(DuplicateKeyError):
                strictjson.loads(data)
        else:
            assert strictjson.loads(data) == expected
