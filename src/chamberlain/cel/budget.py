"""A time budget for evaluating conditions: long loops read the clock, and stop the check past its deadline.

Without loops, a CEL expression costs at most its own size times the size of the data it reads.
Comprehensions multiply: ``R.attr.tags.exists(t, t in P.attr.tags)`` over two lists of 20,000 is
400 million comparisons (6 s), and nested loops multiply again. So every comprehension over more
than :data:`SHORT` items is *paced*: it iterates in slices of :data:`SLICE` items and reads the
clock before each slice (about 10 ns an item; loops of up to 16 items, the common case, pay one
length test). Nested short loops are caught by the loops around them, or by their own entries.

Past the deadline a paced loop raises :class:`EvaluationTimeout`. It is deliberately *not* a CEL
error (an ``Exception``): CEL's error rules absorb errors (``true || error`` is true) and Cerbos
skips a rule whose condition fails, so a guarding DENY cut off that way would let an ALLOW
through. A ``BaseException`` passes through all of that; the engine catches it for the whole
check and denies every action not decided yet, naming the budget (:data:`EVALUATION_TIMEOUT`).

Where the budget comes from, first found wins:

* :func:`limit` — the caller bounds everything it evaluates on this thread (the server: one budget
  per request, which may also *preempt*: past ``preempt_at`` a paced loop raises
  :class:`Preempted`, so a check that is slow on the event loop can be decided again in a worker
  thread while the loop serves others; CEL has no side effects, so nothing is lost);
* the activation's :data:`BUDGET_KEY` — the engine puts its ``evaluation_timeout`` there (a float:
  the budget starts at the first paced loop), or one :class:`Budget` for all inputs of a call;
* otherwise :data:`DEFAULT_TIMEOUT`, started by the first paced loop of the activation.

A deadline makes a decision depend on the machine's speed; that is the price of a bound that
holds for any policy. Decisions cut off say so (in the response's policy, the evaluation errors
and the decision log), so they can be told apart from decisions of the policies themselves.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any, NoReturn

#: The activation key the engine keeps the check's budget (or its timeout) under; not a CEL name.
BUDGET_KEY = "@budget"
#: The policy a DENY names when the budget ran out before the action was decided.
EVALUATION_TIMEOUT = "chamberlain:evaluationTimeout"
#: Seconds a check's conditions may run when nobody said otherwise.
DEFAULT_TIMEOUT = 1.0
#: Loops over at most this many items are not paced.
SHORT = 16
#: Items iterated between two readings of the clock.
SLICE = 16

_monotonic = time.monotonic
_local = threading.local()


class EvaluationTimeout(BaseException):
    """The conditions of a check ran past their budget: the check stops and its open actions are denied."""


class Preempted(BaseException):
    """A check ran past its share of the event loop: its caller decides it again on another thread."""


class Budget:
    """One check's (or one request's) time: ``timeout`` seconds from its start.

    The clock starts at the first paced loop unless ``started`` (a ``time.monotonic()`` reading)
    is given. ``preempt_at``: a ``time.monotonic()`` past which a paced loop raises :class:`Preempted`
    instead of running on (``inf``: never).
    """

    __slots__ = ("deadline", "preempt_at", "timeout")

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        started: float | None = None,
        preempt_at: float = float("inf"),
    ):
        self.timeout = timeout
        self.deadline = started + timeout if started is not None else 0.0
        self.preempt_at = preempt_at

    def stop_time(self) -> float:
        """When a paced loop must stop (the deadline, or the preemption point if earlier)."""
        if not self.deadline:
            self.deadline = _monotonic() + self.timeout
        return min(self.deadline, self.preempt_at)

    def expired(self, now: float) -> NoReturn:
        """Raise what passing :meth:`stop_time` at ``now`` means: a timeout, or a preemption."""
        if now >= self.deadline:
            raise EvaluationTimeout(
                f"evaluation stopped after {self.timeout:g} s (chamberlain.limits.evaluationTimeout): "
                "the actions not yet decided are denied"
            )
        raise Preempted


def install(budget: Budget | None) -> Budget | None:
    """Make ``budget`` this thread's (None: the activations' own); returns the one it replaces, for
    :func:`install` again when done. :func:`limit` is the same as a ``with`` block."""
    previous = getattr(_local, "budget", None)
    _local.budget = budget
    return previous


@contextlib.contextmanager
def limit(budget: Budget | None) -> Iterator[Budget | None]:
    """Evaluate everything in the block, on this thread, within ``budget`` (None: the activations' own)."""
    previous = install(budget)
    try:
        yield budget
    finally:
        install(previous)


def current(act: Any) -> Budget:
    """The budget a paced loop over ``act`` charges (see the module's doc for the order)."""
    budget = getattr(_local, "budget", None)
    if budget is not None:
        return budget
    try:
        found = act[BUDGET_KEY]
    except (KeyError, TypeError, LookupError):
        found = None
    if type(found) is Budget:
        return found
    budget = Budget(found if type(found) is float else DEFAULT_TIMEOUT)
    with contextlib.suppress(TypeError, AttributeError):  # a read-only mapping: a budget per loop
        act[BUDGET_KEY] = budget
    return budget


def paced(act: Any, items: Any) -> Iterable[Any]:
    """``items`` (a list, tuple, or a dict's keys) as an iterable that reads the clock every :data:`SLICE` items.

    The first reading is at once, so a loop entered after the deadline stops at its start.
    """
    if type(items) is dict:
        items = list(items)
    budget = current(act)
    stop = budget.stop_time()

    def next_slice(start: int) -> Any:
        now = _monotonic()
        if now > stop:
            budget.expired(now)
        return items[start : start + SLICE]

    return chain.from_iterable(map(next_slice, range(0, len(items), SLICE)))


def paced_range(act: Any, target: Any) -> Any:
    """``target`` itself when short, else :func:`paced` (lists, tuples and dicts; others as they are)."""
    if len(target) <= SHORT:
        return target
    return paced(act, target)
