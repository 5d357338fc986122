"""The check's state: both constructors (a full check's and the fast path's) set every field."""

from __future__ import annotations

import pytest

from chamberlain.engine import Principal, Resource
from chamberlain.engine.conditions import Evaluation
from chamberlain.engine.walk import FastState, State
from tests.engine.test_engine import DERIVED, DOCUMENT, _engine

FIELDS = (*State.__slots__, *Evaluation.__slots__)


@pytest.mark.parametrize("strict", [False, True])
def test_every_field_is_set_by_both_constructors(strict):
    engine = _engine(DERIVED, DOCUMENT, strict_evaluation=strict)
    route = engine.rows.route(Principal("alice", ["user"]), Resource("document", "1"))
    assert route is not None
    for state in (
        State(engine, {}, route),
        State.fast(engine, {}, route),
        engine.fast_state.fast(engine, {}, route),
    ):
        unset = [name for name in FIELDS if not hasattr(state, name)]
        assert unset == [], f"{type(state).__name__} leaves {unset} unset"


def test_generated_walks_run_only_on_the_fast_path():
    engine = _engine(DERIVED, DOCUMENT)
    route = engine.rows.route(Principal("alice", ["user"]), Resource("document", "1"))
    assert State.fast(engine, {}, route).generated and not State(engine, {}, route).generated
    strict = _engine(DERIVED, DOCUMENT, strict_evaluation=True)
    assert not State.fast(strict, {}, route).generated


def test_the_fast_state_holds_what_state_fast_sets():
    """FastState (class constants for what a fast check never changes) equals State.fast field by field."""
    engine = _engine(DERIVED, DOCUMENT)
    route = engine.rows.route(Principal("alice", ["user"]), Resource("document", "1"))
    assert engine.fast_state is FastState
    slow, fast = State.fast(engine, {}, route), FastState.fast(engine, {}, route)
    assert {n: getattr(fast, n) for n in FIELDS} == {n: getattr(slow, n) for n in FIELDS}
    assert _engine(DERIVED, DOCUMENT, strict_evaluation=True).fast_state is State
