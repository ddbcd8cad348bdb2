"""The wire protocol shared by the blocking and the asyncio clients.

Commands are built as argument lists and replies are turned into typed values here, so
:mod:`eventloop.client` and :mod:`eventloop.aio` only differ in how they send a command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn, Sequence, TypeAlias

from redis.exceptions import ResponseError

from .errors import TaskCancelled, TaskFailed, TaskNotFound

DEFAULT_URL = "127.0.0.1:7379"
"""Where :class:`~eventloop.App` connects when neither a URL nor ``EVENTLOOP_URL`` is given."""

Arg: TypeAlias = bytes | str | int | float
"""A task argument: sent as bytes (``str`` as UTF-8, numbers in decimal)."""

Command: TypeAlias = list[Arg]


class TaskState(StrEnum):
    """Where a task is in its life (``STATUS``'s ``state`` field)."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True once the task will not run again."""
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """A task's ``STATUS``; times are Unix milliseconds, 0 where not yet."""

    id: str
    task: str
    queue: str
    state: TaskState
    attempt: int
    priority: int
    created_ms: int
    run_at_ms: int
    started_ms: int
    finished_ms: int
    error: str


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """One row of ``QUEUES``; ``scheduled`` counts scheduled and retrying tasks."""

    name: str
    queued: int
    running: int
    scheduled: int
    paused: bool


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """One row of ``SCHEDULE LIST``."""

    name: str
    spec: str
    task: str
    next_fire_ms: int


class HandleBase:
    """What the blocking and the asyncio task handles share: a task known by its id, equal by id."""

    __slots__ = ("id", "_app")

    def __init__(self, app: Any, task_id: str) -> None:
        self.id = task_id
        self._app = app

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.id == self.id  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.id)


def connection_kwargs(url: str | None, password: str | None) -> tuple[str, dict[str, Any]]:
    """Turns ``host:port`` or a ``redis://`` / ``rediss://`` / ``unix://`` URL into ``Redis.from_url`` arguments.

    ``url`` defaults to the ``EVENTLOOP_URL`` environment variable, then to ``127.0.0.1:7379``.
    """
    url = url or os.environ.get("EVENTLOOP_URL") or DEFAULT_URL
    if "://" not in url:
        url = f"redis://{url}"
    kwargs: dict[str, Any] = {"decode_responses": False}
    if password is not None:
        kwargs["password"] = password
    return url, kwargs


def text(value: bytes | str) -> str:
    """Decodes a bulk string the server sends as printable text (ids, names, errors)."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def submit_command(
    task: str,
    args: Sequence[Arg],
    *,
    queue: str | None,
    priority: int | None,
    delay_ms: int | None,
    at_ms: int | None,
    retries: int | None,
    backoff_ms: int | None,
    timeout_ms: int | None,
    key: str | None,
    result_ttl_s: int | None,
) -> Command:
    """Builds ``SUBMIT task [options] ARGS arg…``; options left as None are not sent (server defaults)."""
    command: Command = ["SUBMIT", task]
    command += _options(
        QUEUE=queue, PRIORITY=priority, DELAY=delay_ms, AT=at_ms, RETRIES=retries,
        BACKOFF=backoff_ms, TIMEOUT=timeout_ms, KEY=key, **{"RESULT-TTL": result_ttl_s},
    )
    if args:
        command.append("ARGS")
        command += args
    return command


def schedule_command(
    name: str,
    task: str,
    args: Sequence[Arg],
    *,
    cron: str | None,
    every_ms: int | None,
    tz: str | None,
    queue: str | None,
    priority: int | None,
    retries: int | None,
    backoff_ms: int | None,
    timeout_ms: int | None,
    result_ttl_s: int | None,
) -> Command:
    """Builds ``SCHEDULE ADD name EVERY ms | CRON expr [TZ zone] task [options] [ARGS arg…]``."""
    if (cron is None) == (every_ms is None):
        raise ValueError("give exactly one of cron= and every_ms=")
    if tz is not None and cron is None:
        raise ValueError("tz= applies to cron= schedules only")
    command: Command = ["SCHEDULE", "ADD", name]
    command += ["EVERY", every_ms] if every_ms is not None else ["CRON", cron or ""]
    if tz is not None:
        command += ["TZ", tz]
    command.append(task)
    command += _options(
        QUEUE=queue, PRIORITY=priority, RETRIES=retries, BACKOFF=backoff_ms,
        TIMEOUT=timeout_ms, **{"RESULT-TTL": result_ttl_s},
    )
    if args:
        command.append("ARGS")
        command += args
    return command


def dead_command(queue: str | None, count: int | None) -> Command:
    """Builds ``DEAD LIST [QUEUE q] [COUNT n]``."""
    return ["DEAD", "LIST", *_options(QUEUE=queue, COUNT=count)]


def result_command(task_id: str, timeout: float | None) -> Command:
    """Builds ``RESULT id [TIMEOUT ms]``: ``timeout`` None waits without limit, 0 answers at once."""
    if timeout is None:
        return ["RESULT", task_id, "TIMEOUT", 0]
    if timeout < 0:
        raise ValueError("timeout must be non-negative or None")
    milliseconds = _milliseconds(timeout)
    return ["RESULT", task_id] if milliseconds == 0 else ["RESULT", task_id, "TIMEOUT", milliseconds]


def wait_command(task_ids: Sequence[str], timeout: float | None) -> Command:
    """Builds ``WAIT timeout-ms id…``: ``timeout`` None waits without limit."""
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be non-negative or None")
    return ["WAIT", 0 if timeout is None else max(1, _milliseconds(timeout)), *task_ids]


def parse_status(reply: list[Any] | None) -> TaskStatus | None:
    """Turns ``STATUS``'s flat field/value array into a :class:`TaskStatus` (None when unknown)."""
    if reply is None:
        return None
    fields = {text(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}
    return TaskStatus(
        id=text(fields["id"]),
        task=text(fields["task"]),
        queue=text(fields["queue"]),
        state=TaskState(text(fields["state"])),
        attempt=int(fields["attempt"]),
        priority=int(fields["priority"]),
        created_ms=int(fields["created_ms"]),
        run_at_ms=int(fields["run_at_ms"]),
        started_ms=int(fields["started_ms"]),
        finished_ms=int(fields["finished_ms"]),
        error=text(fields["error"]),
    )


def parse_queues(reply: list[list[Any]]) -> list[QueueInfo]:
    """Turns ``QUEUES``'s rows into :class:`QueueInfo` values."""
    return [
        QueueInfo(name=text(name), queued=int(queued), running=int(running), scheduled=int(scheduled),
                  paused=bool(int(paused)))
        for name, queued, running, scheduled, paused in reply
    ]


def parse_schedules(reply: list[list[Any]]) -> list[ScheduleInfo]:
    """Turns ``SCHEDULE LIST``'s rows into :class:`ScheduleInfo` values."""
    return [
        ScheduleInfo(name=text(name), spec=text(spec), task=text(task), next_fire_ms=int(next_fire))
        for name, spec, task, next_fire in reply
    ]


def parse_cancel(task_id: str, reply: int | None) -> bool:
    """``CANCEL``: True if the task will not run again, False if it had already finished."""
    if reply is None:
        raise TaskNotFound(task_id)
    return bool(reply)


def result_value(task_id: str, reply: bytes | None) -> bytes:
    """``RESULT``'s bulk reply: the result, or :class:`TaskNotFound` for nil."""
    if reply is None:
        raise TaskNotFound(task_id)
    return reply


def raise_result_error(task_id: str, error: ResponseError) -> NoReturn:
    """Maps ``RESULT``'s error replies to :class:`TaskFailed`, :class:`TaskCancelled` or :class:`TimeoutError`."""
    message = str(error)
    word, _, rest = message.partition(" ")
    if word == "FAILED":
        raise TaskFailed(task_id, rest) from None
    if word == "CANCELLED":
        raise TaskCancelled(task_id) from None
    if word == "PENDING":
        raise TimeoutError(f"task {task_id} is still {rest}") from None
    raise error


def _options(**options: Arg | None) -> Command:
    words: Command = []
    for name, value in options.items():
        if value is not None:
            words += [name, value]
    return words


def _milliseconds(seconds: float) -> int:
    return int(round(seconds * 1000))
