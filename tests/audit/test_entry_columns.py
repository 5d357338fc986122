"""An entry's search columns are what its leaf and content say (verify's rule), whether the call's
entries take them from the check directly or, when an enforcement point's fields name their sources,
from the content."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from chamberlain.audit.write.content import Limits
from chamberlain.audit.write.decisions import decision_call
from chamberlain.audit.write.entry import columns_of, leaf_body
from chamberlain.engine import CheckInput, Principal, Resource, compile_policies
from chamberlain.policy import load_directory


@pytest.mark.parametrize(
    "extra",
    [None, {"mcp": {"tool": "x"}}, {"principal": "someone-else", "session_id": "s-9", "actor_chain": ["z"]}],
    ids=["plain", "gateway-fields", "fields-naming-columns"],
)
@pytest.mark.parametrize("chain", [(), ("planner", "tool")], ids=["no-chain", "chain"])
def test_columns_match_leaf_and_content(policies, extra, chain):
    engine = compile_policies(load_directory(policies))
    now = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    inputs = [
        CheckInput(
            Principal("alice", ["user"], {"level": 3}),
            Resource("document", f"d{i}", {"owner": "alice", "status": "draft"}),
            ("edit", "view", "delete"),
            session_id="s-1" if i else "",
            actor_chain=chain,
        )
        for i in range(2)
    ]
    call = decision_call(inputs, engine.check(inputs, now), when=now, call_id="c", point="p", extra=extra)
    entries = call.prepare(Limits()).entries
    assert len(entries) == 6
    for seq, entry in enumerate(entries):
        body = orjson.loads(leaf_body(entry, seq))
        assert entry.cols == columns_of(body, orjson.loads(entry.content))
    if extra and "principal" in extra:
        assert {e.cols[3] for e in entries} == {"someone-else"}  # the content's, as verify reads it
