"""Group commit under load (``commitDelay``): after a batch that answered several callers the writer waits
for as many before committing again; a caller alone is never held for it."""

from __future__ import annotations

import time

import pytest

from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.write.writer import WriterOptions
from tests.audit.support import decision, writer_held


def _open(tmp_path, delay: float) -> DecisionLog:
    return DecisionLog.open(
        f"sqlite:///{tmp_path / 'decisions.db'}",
        LogOptions(key_file=tmp_path / "log.key", commit_delay=delay, head_interval=3600),
    )


def _batch_of_three(log: DecisionLog) -> None:
    """Three callers answered by one commit: the writer is held while they queue."""
    with writer_held(log):
        tickets = [log.submit([decision(i)]) for i in range(3)]
    assert all(log.wait(t) is None for t in tickets)


@pytest.mark.parametrize("delay", [1.0, 0.0])
def test_after_a_batch_of_several_the_next_waits_for_as_many(tmp_path, delay):
    with _open(tmp_path, delay) as log:
        _batch_of_three(log)
        before = log.stats()["batches"]
        tickets = [log.submit([decision(10)])]
        if delay == 0.0:
            assert log.wait(tickets.pop()) is None  # nothing holds it: it is committed alone
        time.sleep(0.1)  # well inside the 1 s delay: the writer is still gathering
        tickets += [log.submit([decision(11)]), log.submit([decision(12)])]
        assert all(log.wait(t) is None for t in tickets)
        made = log.stats()["batches"] - before
        assert made == 1 if delay else made >= 2, made


def test_a_caller_alone_is_not_held_for_the_delay(tmp_path):
    with _open(tmp_path, 1.0) as log:
        log.record([decision(0)])  # a batch of one: nothing to gather for next time
        ticket = log.submit([decision(1)])
        assert log.writer.wait(ticket, timeout=0.5) is None  # would be withdrawn if held for 1 s


def test_the_commit_delay_is_bounded():
    with pytest.raises(ValueError, match="commit_delay must be between 0 and 1 second"):
        WriterOptions(commit_delay=2.0)
