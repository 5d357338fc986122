"""Cerbos's SPIFFE functions."""

from __future__ import annotations

import pytest

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.lib import spiffe as sp
from chamberlain.cel.values import type_of

CURL = "spiffe://cerbos.dev/ns/privileged/sa/curl"
FOO = "spiffe://cerbos.dev/ns/privileged/sa/foo"
UNPRIVILEGED = "spiffe://cerbos.dev/ns/unprivileged/sa/curl"


def test_id_members():
    sid = sp.spiffe_id(CURL)
    assert sp.id_trust_domain(sid) == sp.spiffe_trust_domain("cerbos.dev")
    assert sp.id_path(sid) == "/ns/privileged/sa/curl"
    assert sp.is_member_of(sid, sp.spiffe_trust_domain("cerbos.dev"))
    assert sp.is_member_of(sid, sp.spiffe_trust_domain("spiffe://cerbos.dev"))
    assert not sp.is_member_of(sid, sp.spiffe_trust_domain("example.com"))
    assert sp.id_path(sp.spiffe_id("spiffe://cerbos.dev")) == ""
    assert sp.spiffe_id(sid) is sid
    assert sid == CURL  # Cerbos's Equal takes a string (no string(id) overload though)
    assert sp.spiffe_id(CURL) != "spiffe://cerbos.dev/ns/privileged/sa/foo"
    assert type_of(sid).name == "cerbos.lib.spiffeID"


def test_trust_domain_members():
    td = sp.spiffe_trust_domain("spiffe://cerbos.dev")
    assert sp.trust_domain_name(td) == "cerbos.dev"
    # Cerbos 0.55's td.id() gives the trust domain itself, which equals its ID and its name.
    assert sp.trust_domain_id(td) is td
    assert sp.trust_domain_id(sp.spiffe_trust_domain("cerbos.dev")) == "spiffe://cerbos.dev"
    assert td == "cerbos.dev" and td == CURL and td != "Cerbos.dev" and td != "example.com"
    assert sp.spiffe_trust_domain(CURL) == td
    assert sp.spiffe_trust_domain(sp.spiffe_id(CURL)) == td
    assert type_of(td).name == "cerbos.lib.spiffeTrustDomain"


def test_matchers():
    curl = sp.spiffe_id(CURL)
    assert sp.matches_id(sp.spiffe_match_any(), CURL)
    assert sp.matches_id(sp.spiffe_match_any(), curl)
    assert sp.matches_id(sp.spiffe_match_exact(curl), curl)
    assert sp.matches_id(sp.spiffe_match_exact(CURL), curl)
    assert not sp.matches_id(sp.spiffe_match_exact(curl), sp.spiffe_id(FOO))
    one_of = sp.spiffe_match_one_of([curl, sp.spiffe_id(UNPRIVILEGED)])
    assert sp.matches_id(one_of, curl)
    assert not sp.matches_id(one_of, FOO)
    assert sp.matches_id(sp.spiffe_match_one_of([CURL, UNPRIVILEGED]), curl)
    assert not sp.matches_id(sp.spiffe_match_one_of([]), curl)
    assert sp.matches_id(sp.spiffe_match_trust_domain(sp.spiffe_trust_domain("spiffe://cerbos.dev")), curl)
    assert sp.matches_id(sp.spiffe_match_trust_domain("spiffe://cerbos.dev"), curl)
    assert not sp.matches_id(
        sp.spiffe_match_trust_domain("spiffe://cerbos.dev"), "spiffe://example.com/ns/privileged/sa/curl"
    )


def test_matchers_are_never_equal():
    matcher = sp.spiffe_match_any()
    assert matcher != matcher
    assert type_of(matcher).name == "cerbos.lib.spiffeMatcher"


def test_match_one_of_rejects_mixed_or_invalid_lists():
    with pytest.raises(EvaluationError, match="no such overload"):
        sp.spiffe_match_one_of([CURL, sp.spiffe_id(FOO)])
    with pytest.raises(EvaluationError, match="no such overload"):
        sp.spiffe_match_one_of(["spiffe://cerbos.dev/bad$"])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "cannot be empty"),
        ("http://cerbos.dev/x", "scheme is missing or invalid"),
        ("spiffe://", "trust domain is missing"),
        ("spiffe:///path", "trust domain is missing"),
        ("spiffe://Cerbos.dev/x", "trust domain characters"),
        ("spiffe://cerbos.dev/x/", "path cannot have a trailing slash"),
        ("spiffe://cerbos.dev/", "path cannot have a trailing slash"),
        ("spiffe://cerbos.dev//x", "path cannot contain empty segments"),
        ("spiffe://cerbos.dev/./x", "path cannot contain dot segments"),
        ("spiffe://cerbos.dev/x/..", "path cannot contain dot segments"),
        ("spiffe://cerbos.dev/a$b", "path segment characters"),
        ("spiffe://cerbos.dev/a$/", "path segment characters"),
    ],
)
def test_invalid_ids(text, reason):
    with pytest.raises(EvaluationError, match=f"failed to parse SPIFFE ID: {reason}"):
        sp.spiffe_id(text)


def test_valid_unusual_ids():
    assert sp.id_path(sp.spiffe_id("spiffe://a_b-c.d/A.b_C-1/..x")) == "/A.b_C-1/..x"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "trust domain is missing"),
        ("Cerbos.dev", "trust domain characters"),
        ("spiffe://x/", "path cannot have a trailing slash"),
    ],
)
def test_invalid_trust_domains(text, reason):
    with pytest.raises(EvaluationError, match=f"failed to parse SPIFFE trust domain: {reason}"):
        sp.spiffe_trust_domain(text)


def test_matches_id_with_invalid_string():
    with pytest.raises(EvaluationError, match="invalid SPIFFE ID"):
        sp.matches_id(sp.spiffe_match_any(), "not-an-id")


def test_type_errors():
    with pytest.raises(EvaluationError, match="no such overload"):
        sp.spiffe_id(1)
    with pytest.raises(EvaluationError, match="no such overload"):
        sp.is_member_of(sp.spiffe_id(CURL), "cerbos.dev")
    with pytest.raises(EvaluationError, match="no such overload"):
        sp.trust_domain_id(sp.spiffe_id(CURL))


@pytest.mark.parametrize(
    "expr",
    [
        f'spiffeID("{CURL}").trustDomain() == spiffeTrustDomain("cerbos.dev")',
        f'spiffeID("{CURL}").path() == "/ns/privileged/sa/curl"',
        f'spiffeID("{CURL}").isMemberOf(spiffeTrustDomain("spiffe://cerbos.dev"))',
        'spiffeTrustDomain("spiffe://cerbos.dev").name() == "cerbos.dev"',
        'spiffeTrustDomain("cerbos.dev").id() == "spiffe://cerbos.dev"',
        f'spiffeTrustDomain("{CURL}") == spiffeTrustDomain("spiffe://cerbos.dev")',
        f'spiffeMatchAny().matchesID("{CURL}") && spiffeMatchAny().matchesID(spiffeID("{CURL}"))',
        f'spiffeMatchExact(spiffeID("{CURL}")).matchesID(spiffeID("{CURL}"))',
        f'!spiffeMatchExact(spiffeID("{CURL}")).matchesID(spiffeID("{FOO}"))',
        f'spiffeMatchOneOf([spiffeID("{CURL}"), spiffeID("{UNPRIVILEGED}")]).matchesID(spiffeID("{CURL}"))',
        f'spiffeMatchOneOf(["{CURL}", "{UNPRIVILEGED}"]).matchesID(spiffeID("{CURL}"))',
        f'spiffeMatchTrustDomain("spiffe://cerbos.dev").matchesID(spiffeID("{CURL}"))',
        '!spiffeMatchTrustDomain("spiffe://cerbos.dev").matchesID(spiffeID("spiffe://example.com/x"))',
        "type(spiffeMatchAny()) == cerbos.lib.spiffeMatcher",
    ],
)
def test_compiled(expr):
    from chamberlain.cel import compile

    assert compile(expr).evaluate({}) is True
