"""``Authorization: Bearer`` read one way (chamberlain.bearer): RFC 6750 syntax, bounded, clear errors."""

from __future__ import annotations

import pytest

from chamberlain.bearer import MAX_TOKEN_BYTES, BearerError, bearer_token, scheme

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize("value", [f"Bearer {JWT}", f"bearer {JWT}", f"BEARER   {JWT}  ", f"  Bearer {JWT}"])
def test_the_scheme_is_case_insensitive_and_spaces_around_the_token_are_ignored(value: str) -> None:
    assert bearer_token(value) == JWT


def test_token68_characters_and_trailing_padding_are_accepted() -> None:
    assert bearer_token("Bearer a-b.c_d~e+f/g==") == "a-b.c_d~e+f/g=="


@pytest.mark.parametrize("value", [None, "", "Bearer", "Bearer   ", f"Basic {JWT}", JWT])
def test_no_bearer_token_is_missing(value: str | None) -> None:
    with pytest.raises(
        BearerError, match=r"Authorization: no bearer token \(expected 'Bearer <token>'\)"
    ) as exc:
        bearer_token(value)
    assert exc.value.missing


@pytest.mark.parametrize("token", ["a b", "a,b", "a=b", "tok\u00e9n", '"quoted"'])
def test_a_token_outside_rfc_6750_syntax_is_malformed(token: str) -> None:
    with pytest.raises(BearerError, match="not RFC 6750 token syntax") as exc:
        bearer_token(f"Bearer {token}", where="bearer token")
    assert not exc.value.missing
    assert str(exc.value).startswith("bearer token: ")


def test_a_token_over_the_bound_is_refused_before_it_is_read() -> None:
    assert bearer_token("Bearer " + "a" * MAX_TOKEN_BYTES) == "a" * MAX_TOKEN_BYTES
    with pytest.raises(BearerError, match=f"longer than {MAX_TOKEN_BYTES} bytes") as exc:
        bearer_token("Bearer " + "a" * (MAX_TOKEN_BYTES + 1))
    assert not exc.value.missing


def test_scheme_names_the_scheme_in_lower_case() -> None:
    assert scheme(f"Basic {JWT}") == "basic"
    assert scheme("  BEARER x") == "bearer"
    assert scheme(None) == ""
