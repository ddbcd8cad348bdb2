"""EventLoop's Python client: submit tasks to an EventLoop server and run them in Python workers.

Producers::

    app = eventloop.App("127.0.0.1:7379")
    handle = app.submit("resize", b"img", retries=3)
    print(handle.get(timeout=5))

Workers::

    @app.task("resize")
    def resize(image: bytes) -> bytes: ...

    app.worker(queues=["default"], concurrency=8).run()   # or: python -m eventloop worker module:app

:mod:`eventloop.aio` has the same producer API for asyncio.
"""

from ._protocol import QueueInfo, ScheduleInfo, TaskState, TaskStatus
from .client import App, TaskFunction, TaskHandle
from .errors import EventLoopError, NoRetry, Retry, TaskCancelled, TaskFailed, TaskNotFound
from .worker import TaskContext, Worker

__all__ = [
    "App",
    "EventLoopError",
    "NoRetry",
    "QueueInfo",
    "Retry",
    "ScheduleInfo",
    "TaskCancelled",
    "TaskContext",
    "TaskFailed",
    "TaskFunction",
    "TaskHandle",
    "TaskNotFound",
    "TaskState",
    "TaskStatus",
    "Worker",
]
