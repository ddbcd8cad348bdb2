"""The asyncio producer API (eventloop.aio), run with asyncio.run inside each test."""

from __future__ import annotations

import asyncio

import pytest

import eventloop
import eventloop.aio
from conftest import Server
from eventloop import TaskState


def test_submit_get_status_and_wait(server: Server) -> None:
    async def scenario() -> None:
        async with eventloop.aio.App(server.url) as app:
            handles = await asyncio.gather(*(app.submit("echo", f"n{i}") for i in range(10)))
            assert await app.wait(handles, timeout=20) == 10
            results = await asyncio.gather(*(h.get(timeout=20) for h in handles))
            assert results == [f"n{i}".encode() for i in range(10)]
            status = await handles[0].status()
            assert status is not None and status.state is TaskState.SUCCEEDED and status.attempt == 1
            assert await app.handle("no-such-id").status() is None

    asyncio.run(scenario())


def test_errors_match_the_blocking_api(server: Server, queue: str) -> None:
    async def scenario() -> None:
        async with eventloop.aio.App(server.url) as app:
            with pytest.raises(eventloop.TaskFailed, match="no luck"):
                await (await app.submit("fail", "no luck")).get(timeout=20)
            with pytest.raises(eventloop.TaskNotFound):
                await app.handle("no-such-id").get(timeout=1)
            pending = await app.submit("nobody-runs-this", queue=queue)
            with pytest.raises(TimeoutError):
                await pending.get(timeout=0.2)
            assert await pending.cancel() is True
            with pytest.raises(eventloop.TaskCancelled):
                await pending.get(timeout=5)
            assert await pending.cancel() is False

    asyncio.run(scenario())


def test_get_waits_without_blocking_the_loop(server: Server, queue: str) -> None:
    async def scenario() -> None:
        async with eventloop.aio.App(server.url) as app:
            pending = await app.submit("nobody-runs-this", queue=queue)
            waiter = asyncio.create_task(pending.get(timeout=30))
            await asyncio.sleep(0.2)
            assert not waiter.done()
            assert await app.submit("echo", "meanwhile") is not None
            await pending.cancel()
            with pytest.raises(eventloop.TaskCancelled):
                await waiter

    asyncio.run(scenario())


def test_queues_schedules_and_dead(server: Server, queue: str) -> None:
    async def scenario() -> None:
        async with eventloop.aio.App(server.url, default_queue=queue) as app:
            await app.submit("nobody-runs-this")
            failed = await app.submit("fail", "x")
            with pytest.raises(eventloop.TaskFailed):
                await failed.get(timeout=20)
            row = next(q for q in await app.queues() if q.name == queue)
            assert (row.queued, row.paused) == (1, False)
            assert await app.dead(queue=queue) == [failed]
            await app.schedule(f"{queue}-s", cron="*/5 * * * *", task="echo")
            assert [s.spec for s in await app.schedules() if s.name == f"{queue}-s"] == ["CRON */5 * * * *"]
            assert await app.unschedule(f"{queue}-s") is True

    asyncio.run(scenario())
