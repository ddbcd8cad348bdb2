"""The worker: FETCHes tasks for an app's registered functions and runs them in a thread pool.

One connection fetches (leases are tied to it: if the process dies, the server requeues its tasks at
once); the app's pool ACKs, FAILs, NACKs and TOUCHes, since any connection may settle a delivery.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from types import FrameType
from typing import TYPE_CHECKING

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._connection import Link
from ._protocol import Arg, text
from .errors import NoRetry, Retry

if TYPE_CHECKING:
    from .client import App

log = logging.getLogger("eventloop.worker")

FETCH_BLOCK_MS = 500
"""How long one FETCH waits for work, which bounds how long a stop request waits for the fetch loop."""

UNKNOWN_TASK_DELAY_MS = 1000
"""NACK delay for a task this worker has no function for, so it does not bounce between FETCH and NACK."""


@dataclass(eq=False)
class TaskContext:
    """One delivery of a task, given first to functions registered with ``bind=True``."""

    id: str
    attempt: int
    task: str
    args: list[bytes]
    _cancelled: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once the task was cancelled or this delivery's lease was lost: stop working, the result is refused."""
        return self._cancelled.is_set()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Sleeps up to ``timeout`` seconds or until :attr:`cancelled`; returns :attr:`cancelled`."""
        return self._cancelled.wait(timeout)


class Worker:
    """Runs an app's task functions for tasks FETCHed from ``queues``, ``concurrency`` at a time.

    Each running task's lease (``lease_ms``) is renewed with TOUCH every third of it; a TOUCH that
    answers ``-CANCELLED`` sets the task's :attr:`TaskContext.cancelled`. :meth:`run` returns after
    :meth:`stop` (SIGTERM or SIGINT when run in the main thread): fetching stops, tasks fetched but not
    started are NACKed, running ones get ``grace_s`` seconds to finish (a second signal cuts it short);
    tasks still running then are requeued by the server when the fetching connection closes.
    """

    def __init__(self, app: App, queues: Sequence[str], concurrency: int = 1, *,
                 lease_ms: int = 30_000, grace_s: float = 30.0) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease_ms < 30:
            raise ValueError("lease_ms must be at least 30")
        if not queues:
            raise ValueError("at least one queue is needed")
        self.app = app
        self.queues = list(queues)
        self.concurrency = concurrency
        self.lease_ms = lease_ms
        self.grace_s = grace_s
        self._functions = app.tasks
        self._settler = app.redis  # the app's pool: ACK, FAIL, NACK, TOUCH
        self._stopping = threading.Event()
        self._hurry = threading.Event()
        self._done = threading.Event()
        self._changed = threading.Condition()
        self._held: dict[tuple[str, int], TaskContext] = {}  # fetched, not yet settled
        self._running = 0  # handed to the pool, function not yet returned
        self._fetcher_waiting = False  # the fetch loop waits for a free slot: settlements go through _outbox
        self._outbox: list[tuple[TaskContext, list[Arg]]] = []
        self._unknown_tasks: set[str] = set()
        self._jobs: SimpleQueue[TaskContext | None] = SimpleQueue()

    def stop(self) -> None:
        """Asks :meth:`run` to drain and return (thread-safe); a second call skips the grace period."""
        if self._stopping.is_set():
            self._hurry.set()
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()

    def run(self) -> None:
        """Fetches and runs tasks until :meth:`stop`, then drains (see the class docstring)."""
        restore = self._install_signal_handlers()
        fetcher = Link(self.app.new_connection())
        threads = [threading.Thread(target=self._execute_loop, name=f"eventloop-task-{i}", daemon=True)
                   for i in range(self.concurrency)]
        threads.append(threading.Thread(target=self._touch_loop, name="eventloop-touch", daemon=True))
        for thread in threads:
            thread.start()
        log.info("worker ready: queues %s, concurrency %d, tasks %s",
                 ",".join(self.queues), self.concurrency, ", ".join(sorted(self._functions)) or "none")
        try:
            self._fetch_loop(fetcher)
        finally:
            finished = self._drain(fetcher)
            self._done.set()
            fetcher.close()  # any lease still held goes back to its queue at once
            if finished:  # else some threads still run abandoned tasks: leave them (they are daemons)
                for thread in threads:
                    thread.join()
            restore()

    # -- fetching -------------------------------------------------------------------------------

    def _fetch_loop(self, fetcher: Link) -> None:
        fetch: list[Arg] = ["FETCH", "COUNT", 1, "BLOCK", FETCH_BLOCK_MS, "LEASE", self.lease_ms, "FROM", *self.queues]
        pause = 0.1
        while True:
            with self._changed:
                self._fetcher_waiting = True
                while self._running >= self.concurrency and not self._stopping.is_set():
                    self._changed.wait()
                self._fetcher_waiting = False
                outbox, self._outbox = self._outbox, []
                fetch[2] = self.concurrency - self._running
            if self._stopping.is_set():
                for context, command in outbox:
                    self._settle(fetcher, context, command)
                return
            # the settlements handed over while every slot was busy go in the same write as the FETCH
            replies = fetcher.call_many([*(command for _, command in outbox), fetch])
            for (context, command), reply in zip(outbox, replies):
                self._settled(context, command, reply if isinstance(reply, RedisError) else None)
            fetched = replies[-1]
            if isinstance(fetched, (RedisConnectionError, RedisTimeoutError)):
                log.warning("fetch failed (%s); retrying in %.1f s", fetched, pause)
                self._stopping.wait(pause)
                pause = min(pause * 2, 5.0)
                continue
            if isinstance(fetched, ResponseError):
                raise fetched
            pause = 0.1
            for task_id, attempt, task, args in fetched:
                context = TaskContext(text(task_id), int(attempt), text(task), list(args))
                if self._stopping.is_set():
                    self._settle(fetcher, context, ["NACK", context.id, context.attempt])
                    continue
                with self._changed:
                    self._held[(context.id, context.attempt)] = context
                    self._running += 1
                self._jobs.put(context)

    def _drain(self, fetcher: Link) -> bool:
        """NACKs the unstarted tasks and waits for the running ones; False if some still run after the grace period."""
        unstarted: list[TaskContext] = []
        while True:
            try:
                context = self._jobs.get_nowait()
            except Empty:
                break
            if context is not None:
                unstarted.append(context)
        for context in unstarted:
            self._finish(fetcher, context, ["NACK", context.id, context.attempt])
        for _ in range(self.concurrency):
            self._jobs.put(None)
        deadline = time.monotonic() + self.grace_s
        with self._changed:
            while self._held and not self._hurry.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.5))
            abandoned = len(self._held)
        if abandoned:
            log.warning("stopping with %d task(s) still running: the server requeues them", abandoned)
        log.info("worker stopped (%d unstarted task(s) handed back)", len(unstarted))
        return not abandoned

    # -- running --------------------------------------------------------------------------------

    def _execute_loop(self) -> None:
        settler = Link(self._settler)  # this thread's own connection: no pool round trip per ACK
        try:
            while (context := self._jobs.get()) is not None:
                self._execute(settler, context)
        finally:
            settler.close()

    def _execute(self, settler: Link, context: TaskContext) -> None:
        self._finish(settler, context, None if context.cancelled else self._call(context))

    def _call(self, context: TaskContext) -> list[Arg] | None:
        """Runs the task's function; returns the command that settles the delivery (None: nothing to settle)."""
        registered = self._functions.get(context.task)
        if registered is None:
            if context.task not in self._unknown_tasks:
                self._unknown_tasks.add(context.task)
                log.warning("no function for task %r: handing such tasks back (NACK DELAY %d)",
                            context.task, UNKNOWN_TASK_DELAY_MS)
            return ["NACK", context.id, context.attempt, "DELAY", UNKNOWN_TASK_DELAY_MS]
        function, bind = registered
        command: list[Arg]
        try:
            result = function(context, *context.args) if bind else function(*context.args)
            command = ["ACK", context.id, context.attempt, *_result_words(result)]
        except Retry as retry:
            command = ["NACK", context.id, context.attempt, "DELAY", max(0, int(retry.delay_ms))]
        except NoRetry as error:
            command = ["FAIL", context.id, context.attempt, _error_text(error), "NORETRY"]
        except Exception as error:  # a task's failure, reported to the server
            command = ["FAIL", context.id, context.attempt, _error_text(error)]
        return None if context.cancelled else command

    def _finish(self, settler: Link, context: TaskContext, command: list[Arg] | None) -> None:
        """Frees the task's slot and settles it: through the fetcher if it waits for a slot, else on ``settler``."""
        with self._changed:
            self._running -= 1
            handed = False
            if command is not None and self._fetcher_waiting:
                self._outbox.append((context, command))
                handed = True
            elif command is None:
                self._held.pop((context.id, context.attempt), None)
            self._changed.notify_all()
        if command is not None and not handed:
            self._settle(settler, context, command)

    def _settle(self, link: Link, context: TaskContext, command: list[Arg]) -> None:
        try:
            link.call(*command)
        except RedisError as error:
            self._settled(context, command, error)
        else:
            self._settled(context, command, None)

    def _settled(self, context: TaskContext, command: list[Arg], error: RedisError | None) -> None:
        if isinstance(error, ResponseError):
            log.info("%s %s (attempt %d) refused: %s", command[0], context.id, context.attempt, error)
        elif error is not None:
            log.warning("%s %s (attempt %d) not delivered (%s): the lease will run out and the task run again",
                        command[0], context.id, context.attempt, error)
        with self._changed:
            self._held.pop((context.id, context.attempt), None)
            self._changed.notify_all()

    # -- leases ---------------------------------------------------------------------------------

    def _touch_loop(self) -> None:
        interval = self.lease_ms / 3000
        while not self._done.wait(interval):
            with self._changed:
                held = list(self._held.values())
            if held:
                self._touch(held)

    def _touch(self, held: list[TaskContext]) -> None:
        pipeline = self._settler.pipeline(transaction=False)
        for context in held:
            pipeline.execute_command("TOUCH", context.id, context.attempt, "LEASE", self.lease_ms)
        try:
            replies = pipeline.execute(raise_on_error=False)
        except RedisError as error:
            log.warning("lease renewal failed: %s", error)
            return
        for context, reply in zip(held, replies):
            if isinstance(reply, ResponseError):
                if not context.cancelled:
                    log.info("task %s (attempt %d): %s, telling its function", context.id, context.attempt, reply)
                context._cancelled.set()

    # -- signals --------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("%s received: %s", signal.Signals(signum).name,
                     "stopping now" if self._stopping.is_set() else f"draining (up to {self.grace_s:g} s)")
            self.stop()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore


def _result_words(result: object) -> list[Arg]:
    if result is None:
        return []
    if isinstance(result, (bytes, str)):
        return [result]
    if isinstance(result, (bytearray, memoryview)):
        return [bytes(result)]
    raise TypeError(f"a task must return bytes, str or None, not {type(result).__name__}")


def _error_text(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
