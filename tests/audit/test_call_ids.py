"""Call ids are ULIDs: 26 Crockford base32 characters spelling 48 bits of milliseconds then 80 random bits."""

from __future__ import annotations

import random
import time

from chamberlain.audit.write.ids import CROCKFORD, new_call_id, ulid


def _spelled(value: int) -> str:
    """The ULID of ``value`` a character (5 bits) at a time, as the ULID spec spells it."""
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def test_a_ulid_spells_its_value_as_the_spec_does():
    rng = random.Random(22)
    values = [0, 1, (1 << 128) - 1, 1 << 127, *(rng.getrandbits(128) for _ in range(2000))]
    for value in values:
        assert ulid(value) == _spelled(value)
    assert ulid(0) == "0" * 26 and ulid((1 << 128) - 1) == "7" + "Z" * 25


def test_a_new_call_id_carries_the_time_and_sorts_by_it():
    before = int(time.time() * 1000)
    ids = [new_call_id() for _ in range(200)]
    after = int(time.time() * 1000)
    for call_id in ids:
        assert len(call_id) == 26 and set(call_id) <= set(CROCKFORD)
        millis = int("".join(f"{CROCKFORD.index(c):05b}" for c in call_id), 2) >> 80
        assert before <= millis <= after
    assert len(set(ids)) == 200  # 80 random bits each
    time.sleep(0.002)
    assert new_call_id() > max(ids)
