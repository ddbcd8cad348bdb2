"""Exceptions raised by the client and the controls a task function may raise in a worker."""

from __future__ import annotations


class EventLoopError(Exception):
    """Base class of the errors this package raises about tasks."""


class TaskNotFound(EventLoopError, LookupError):
    """The server does not know the id: it never existed, or its result expired."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id} is unknown (never submitted, or its result expired)")
        self.task_id = task_id


class TaskFailed(EventLoopError):
    """The task failed with no retries left; ``error`` is its last error message."""

    def __init__(self, task_id: str, error: str) -> None:
        super().__init__(f"task {task_id} failed: {error}")
        self.task_id = task_id
        self.error = error


class TaskCancelled(EventLoopError):
    """The task was cancelled before it finished."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id} was cancelled")
        self.task_id = task_id


class NoRetry(Exception):
    """Raised by a task function: fail this attempt for good (``FAIL … NORETRY``), whatever retries remain."""


class Retry(Exception):
    """Raised by a task function: run the task again after ``delay_ms`` without counting a failure (``NACK``)."""

    def __init__(self, delay_ms: int = 0, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay_ms} ms")
        self.delay_ms = delay_ms
