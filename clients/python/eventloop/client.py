"""The blocking client: :class:`App` submits tasks, inspects queues and registers task functions for workers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import redis
from redis import Redis
from redis.exceptions import ResponseError

from . import _protocol as wire
from ._connection import Links
from ._protocol import Arg, QueueInfo, ScheduleInfo, TaskStatus

if TYPE_CHECKING:
    from .worker import Worker

TaskFunction = Callable[..., bytes | str | None]
"""A task function: called with the task's arguments as ``bytes`` (after a ``TaskContext`` when bound)."""

F = TypeVar("F", bound=TaskFunction)


class TaskHandle(wire.HandleBase):
    """A submitted task, known by its id (Celery's ``AsyncResult``)."""

    __slots__ = ()

    _app: App

    def __repr__(self) -> str:
        return f"<TaskHandle {self.id}>"

    def status(self) -> TaskStatus | None:
        """The task's status, or None if the server does not know the id."""
        return wire.parse_status(self._app.execute("STATUS", self.id))

    def get(self, timeout: float | None = 5.0) -> bytes:
        """Waits up to ``timeout`` seconds (None: no limit, 0: do not wait) and returns the result.

        Raises :class:`TaskFailed`, :class:`TaskCancelled`, :class:`TaskNotFound`, or :class:`TimeoutError`
        when the task has not finished in time.
        """
        try:
            reply = self._app.execute(*wire.result_command(self.id, timeout))
        except ResponseError as error:
            wire.raise_result_error(self.id, error)
        return wire.result_value(self.id, reply)

    def cancel(self) -> bool:
        """Cancels the task: True if it will not run again, False if it had already finished."""
        return wire.parse_cancel(self.id, self._app.execute("CANCEL", self.id))


class App:
    """An EventLoop server seen from Python: producer API plus the registry of task functions.

    ``url`` is ``host:port`` or a ``redis://[:password@]host:port`` URL; it defaults to the
    ``EVENTLOOP_URL`` environment variable, then to ``127.0.0.1:7379``. The app is thread-safe;
    it connects on first use.
    """

    def __init__(self, url: str | None = None, *, password: str | None = None, default_queue: str = "default") -> None:
        self.default_queue = default_queue
        self._tasks: dict[str, tuple[TaskFunction, bool]] = {}
        self._connect(url, password)

    def configure(self, url: str | None = None, *, password: str | None = None) -> None:
        """Points the app at another server (the worker command line's ``--url``); closes the old connections."""
        self.close()
        self._connect(url, password)

    def _connect(self, url: str | None, password: str | None) -> None:
        self._url, self._connection_kwargs = wire.connection_kwargs(url, password)
        self._client = self.new_connection()
        self._links = Links(self._client)

    @property
    def url(self) -> str:
        """The server's URL."""
        return self._url

    @property
    def redis(self) -> Redis[bytes]:
        """The underlying redis-py client (a thread-safe pool)."""
        return self._client

    def new_connection(self) -> Redis[bytes]:
        """A new redis-py client with its own pool, for a worker's fetching connection."""
        return Redis.from_url(self._url, **self._connection_kwargs)

    def close(self) -> None:
        """Closes the app's connections (a later command opens new ones)."""
        self._client.connection_pool.disconnect()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def execute(self, *command: Arg) -> Any:
        """Sends one raw command and returns its reply (error replies raise ``redis.ResponseError``)."""
        return self._links.call(*command)

    # -- producer -------------------------------------------------------------------------------

    def submit(
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
        """Submits ``task(*args)`` and returns its handle at once; options left as None take the server's defaults.

        ``queue`` defaults to the app's ``default_queue``; ``key`` makes the submission idempotent while a
        task with that key is unfinished (the existing task's handle is returned).
        """
        command = wire.submit_command(
            task, args, queue=queue or self.default_queue, priority=priority,
            delay_ms=delay_ms, at_ms=at_ms, retries=retries, backoff_ms=backoff_ms, timeout_ms=timeout_ms,
            key=key, result_ttl_s=result_ttl_s,
        )
        return TaskHandle(self, wire.text(self.execute(*command)))

    def handle(self, task_id: str) -> TaskHandle:
        """The handle of a task submitted earlier, from its id."""
        return TaskHandle(self, task_id)

    def wait(self, tasks: Iterable[TaskHandle | str], timeout: float | None = None) -> int:
        """Waits until every task has finished or ``timeout`` seconds passed (None: no limit); returns how many finished."""
        ids = [t.id if isinstance(t, TaskHandle) else t for t in tasks]
        if not ids:
            return 0
        return int(self.execute(*wire.wait_command(ids, timeout)))

    def schedule(
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
        """Adds (or replaces) a periodic task: exactly one of ``cron`` (5 or 6 fields, in ``tz``, default UTC) or ``every_ms``.

        Each firing submits ``task(*args)`` with the id ``name@<fire unix ms>``.
        """
        self.execute(*wire.schedule_command(
            name, task, args, cron=cron, every_ms=every_ms, tz=tz,
            queue=queue or self.default_queue, priority=priority, retries=retries,
            backoff_ms=backoff_ms, timeout_ms=timeout_ms, result_ttl_s=result_ttl_s,
        ))

    def unschedule(self, name: str) -> bool:
        """Removes a schedule; False if there was none of that name."""
        return bool(self.execute("SCHEDULE", "DEL", name))

    def schedules(self) -> list[ScheduleInfo]:
        """The schedules, sorted by name."""
        return wire.parse_schedules(self.execute("SCHEDULE", "LIST"))

    def queues(self) -> list[QueueInfo]:
        """Every queue with its counts, sorted by name."""
        return wire.parse_queues(self.execute("QUEUES"))

    def dead(self, queue: str | None = None, count: int | None = None) -> list[TaskHandle]:
        """The failed tasks (the dead set), oldest failure first; ``count`` defaults to the server's 100."""
        return [TaskHandle(self, wire.text(i)) for i in self.execute(*wire.dead_command(queue, count))]

    # -- workers --------------------------------------------------------------------------------

    @overload
    def task(self, name: F, /) -> F: ...

    @overload
    def task(self, name: str | None = None, /, *, bind: bool = False) -> Callable[[F], F]: ...

    def task(self, name: str | F | None = None, /, *, bind: bool = False) -> F | Callable[[F], F]:
        """Registers a task function: ``@app.task("resize")``, or ``@app.task`` to use the function's name.

        The function gets the task's arguments as ``bytes``; with ``bind=True`` a :class:`TaskContext`
        comes first (attempt, cancellation). Its return value (bytes, str or None) is the result; an
        exception fails the attempt with the exception's text.
        """
        if name is None or isinstance(name, str):
            label = name

            def decorate(function: F) -> F:
                return self._register(label or function.__name__, function, bind)

            return decorate
        return self._register(name.__name__, name, bind)

    def _register(self, name: str, function: F, bind: bool) -> F:
        self._tasks[name] = (function, bind)
        return function

    @property
    def tasks(self) -> dict[str, tuple[TaskFunction, bool]]:
        """The registered task functions by task name, each with its ``bind`` flag."""
        return dict(self._tasks)

    def worker(
        self,
        queues: Sequence[str] | None = None,
        concurrency: int = 1,
        *,
        lease_ms: int = 30_000,
        grace_s: float = 30.0,
        prefetch: int | None = None,
    ) -> Worker:
        """A worker running this app's task functions for ``queues`` (default: the app's default queue).

        See :class:`eventloop.worker.Worker`.
        """
        from .worker import Worker

        return Worker(self, queues or [self.default_queue], concurrency, lease_ms=lease_ms, grace_s=grace_s,
                      prefetch=prefetch)
