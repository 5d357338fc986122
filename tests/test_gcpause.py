"""The collector pause around policy loads: nested, restored, and never turning on a collector left off."""

from __future__ import annotations

import gc

import pytest

from chamberlain.gcpause import paused


@pytest.fixture(autouse=True)
def _collector_restored():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_a_pause_turns_the_collector_off_and_back_on():
    gc.enable()
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_nested_pauses_resume_only_at_the_outermost():
    gc.enable()
    with paused():
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    with paused():
        pass
    assert not gc.isenabled()


def test_an_error_in_the_body_still_resumes():
    gc.enable()
    with pytest.raises(ValueError), paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_loading_a_policy_set_leaves_the_collector_as_it_was(tmp_path):
    from chamberlain import PDP

    (tmp_path / "doc.yaml").write_text(
        "apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: doc\n  version: default\n"
        "  rules:\n    - actions: [view]\n      effect: EFFECT_ALLOW\n      roles: [user]\n"
    )
    gc.enable()
    PDP.from_directory(tmp_path)
    assert gc.isenabled()
    gc.disable()
    PDP.from_directory(tmp_path)
    assert not gc.isenabled()
