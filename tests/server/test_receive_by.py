"""chamberlain.asgi.receive_by: the next ASGI message before a deadline, without a task or timer when the
message is already there (the server's read of a check's body)."""

from __future__ import annotations

import asyncio
import time

import pytest

from chamberlain.asgi import receive_by

BODY = {"type": "http.request", "body": b"{}", "more_body": False}


def run(coro):
    return asyncio.run(coro)


def test_a_message_already_there_is_taken_without_a_timer():
    async def receive():
        return BODY

    async def main():
        loop = asyncio.get_running_loop()
        timers = len(loop._scheduled)  # type: ignore[attr-defined]
        got = await receive_by(receive, time.monotonic() + 5)
        return got, len(loop._scheduled) - timers  # type: ignore[attr-defined]

    got, new_timers = run(main())
    assert got is BODY
    assert new_timers == 0


def test_a_message_that_arrives_later_is_awaited():
    async def main():
        arrived = asyncio.Event()

        async def receive():
            await arrived.wait()  # suspends: the message is not there yet
            return BODY

        asyncio.get_running_loop().call_later(0.05, arrived.set)
        return await receive_by(receive, time.monotonic() + 5)

    assert run(main()) is BODY


def test_a_message_that_does_not_arrive_by_the_deadline_times_out_and_the_receive_is_cancelled():
    cancelled = []

    async def main():
        async def receive():
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            return BODY

        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await receive_by(receive, started + 0.1)
        return time.monotonic() - started

    waited = run(main())
    assert 0.09 <= waited < 2
    assert cancelled == [True]


def test_a_deadline_already_past_times_out_a_receive_that_would_wait():
    async def main():
        async def receive():
            await asyncio.Event().wait()
            return BODY

        with pytest.raises(TimeoutError):
            await receive_by(receive, time.monotonic() - 1)

    run(main())


def test_a_receive_that_is_not_a_coroutine_is_awaited_under_the_deadline():
    async def main():
        loop = asyncio.get_running_loop()
        later: asyncio.Future = loop.create_future()
        loop.call_later(0.02, later.set_result, BODY)
        assert await receive_by(lambda: later, time.monotonic() + 5) is BODY
        never: asyncio.Future = loop.create_future()
        with pytest.raises(TimeoutError):
            await receive_by(lambda: never, time.monotonic() + 0.05)

    run(main())


def test_errors_of_the_receive_reach_the_caller_before_and_after_it_waits():
    async def main():
        async def at_once():
            raise ConnectionResetError("gone")

        with pytest.raises(ConnectionResetError):
            await receive_by(at_once, time.monotonic() + 5)

        async def later():
            await asyncio.sleep(0.01)
            raise ConnectionResetError("gone later")

        with pytest.raises(ConnectionResetError, match="later"):
            await receive_by(later, time.monotonic() + 5)

    run(main())


def test_cancelling_the_reader_is_a_cancellation_not_a_timeout():
    async def main():
        async def receive():
            await asyncio.Event().wait()
            return BODY

        task = asyncio.create_task(receive_by(receive, time.monotonic() + 5))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
