"""The asyncio producer API (on ``redis.asyncio``): the same as :class:`eventloop.App`'s, as coroutines.

::

    async with eventloop.aio.App("127.0.0.1:7379") as app:
        handle = await app.submit("resize", b"img")
        result = await handle.get(timeout=5)

Waiting calls (``get`` with a timeout, ``wait``) park one pooled connection each, not a thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import redis.asyncio
from redis.exceptions import ResponseError

from . import _protocol as wire
from ._protocol import Arg, QueueInfo, ScheduleInfo, TaskStatus


class TaskHandle(wire.HandleBase):
    """A submitted task, known by its id; its methods are coroutines."""

    __slots__ = ()

    _app: App

    def __repr__(self) -> str:
        return f"<aio.TaskHandle {self.id}>"

    async def status(self) -> TaskStatus | None:
        """The task's status, or None if the server does not know the id."""
        return wire.parse_status(await self._app.execute("STATUS", self.id))

    async def get(self, timeout: float | None = 5.0) -> bytes:
        """Waits up to ``timeout`` seconds (None: no limit, 0: do not wait) and returns the result.

        Raises :class:`~eventloop.TaskFailed`, :class:`~eventloop.TaskCancelled`,
        :class:`~eventloop.TaskNotFound`, or :class:`TimeoutError` when the task has not finished in time.
        """
        try:
            reply = await self._app.execute(*wire.result_command(self.id, timeout))
        except ResponseError as error:
            wire.raise_result_error(self.id, error)
        return wire.result_value(self.id, reply)

    async def cancel(self) -> bool:
        """Cancels the task: True if it will not run again, False if it had already finished."""
        return wire.parse_cancel(self.id, await self._app.execute("CANCEL", self.id))


class App:
    """An EventLoop server seen from asyncio code; ``url`` and ``password`` as for :class:`eventloop.App`."""

    def __init__(self, url: str | None = None, *, password: str | None = None, default_queue: str = "default") -> None:
        self.default_queue = default_queue
        url, kwargs = wire.connection_kwargs(url, password)
        self.redis: redis.asyncio.Redis[bytes] = redis.asyncio.Redis.from_url(url, **kwargs)
        """The underlying ``redis.asyncio`` client (a pool)."""

    async def close(self) -> None:
        """Closes the connection pool."""
        await self.redis.close(close_connection_pool=True)

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def execute(self, *command: Arg) -> Any:
        """Sends one raw command and returns its reply (error replies raise ``redis.ResponseError``)."""
        # redis.asyncio leaves execute_command unannotated; its reply is Any either way.
        return await cast(Any, self.redis).execute_command(*command)

    async def submit(
        self,
        task: str,
        *args: Arg,
        queue: str | None = None,
        priority: int | None = None,
        delay_ms: int | None = None,
        at_ms: int | None = None,
        retries: int | None = None,
        backoff_ms: int | None = None,
        timeout_ms: int | None = None,
        key: str | None = None,
        result_ttl_s: int | None = None,
    ) -> TaskHandle:
        """Submits ``task(*args)`` and returns its handle; see :meth:`eventloop.App.submit`."""
        command = wire.submit_command(
            task, args, queue=queue or self.default_queue, priority=priority, delay_ms=delay_ms, at_ms=at_ms,
            retries=retries, backoff_ms=backoff_ms, timeout_ms=timeout_ms, key=key, result_ttl_s=result_ttl_s,
        )
        return TaskHandle(self, wire.text(await self.execute(*command)))

    def handle(self, task_id: str) -> TaskHandle:
        """The handle of a task submitted earlier, from its id."""
        return TaskHandle(self, task_id)

    async def wait(self, tasks: Iterable[TaskHandle | str], timeout: float | None = None) -> int:
        """Waits until every task has finished or ``timeout`` seconds passed (None: no limit); returns how many finished."""
        ids = [t.id if isinstance(t, TaskHandle) else t for t in tasks]
        if not ids:
            return 0
        return int(await self.execute(*wire.wait_command(ids, timeout)))

    async def schedule(
        self,
        name: str,
        *,
        task: str,
        args: Sequence[Arg] = (),
        cron: str | None = None,
        every_ms: int | None = None,
        tz: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        retries: int | None = None,
        backoff_ms: int | None = None,
        timeout_ms: int | None = None,
        result_ttl_s: int | None = None,
    ) -> None:
        """Adds (or replaces) a periodic task; see :meth:`eventloop.App.schedule`."""
        await self.execute(*wire.schedule_command(
            name, task, args, cron=cron, every_ms=every_ms, tz=tz, queue=queue or self.default_queue,
            priority=priority, retries=retries, backoff_ms=backoff_ms, timeout_ms=timeout_ms,
            result_ttl_s=result_ttl_s,
        ))

    async def unschedule(self, name: str) -> bool:
        """Removes a schedule; False if there was none of that name."""
        return bool(await self.execute("SCHEDULE", "DEL", name))

    async def schedules(self) -> list[ScheduleInfo]:
        """The schedules, sorted by name."""
        return wire.parse_schedules(await self.execute("SCHEDULE", "LIST"))

    async def queues(self) -> list[QueueInfo]:
        """Every queue with its counts, sorted by name."""
        return wire.parse_queues(await self.execute("QUEUES"))

    async def dead(self, queue: str | None = None, count: int | None = None) -> list[TaskHandle]:
        """The failed tasks (the dead set), oldest failure first; ``count`` defaults to the server's 100."""
        return [TaskHandle(self, wire.text(i)) for i in await self.execute(*wire.dead_command(queue, count))]
