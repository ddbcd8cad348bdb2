"""The worker: runs an app's registered functions for tasks FETCHed from the server, in ``concurrency`` threads.

Each thread fetches up to ``prefetch`` tasks at a time (default 1) on a connection of its own, runs them
one after the other, and sends their ACKs (FAILs, NACKs) in the same write as its next FETCH: no hand-off
between threads and one round trip per batch.
Leases are tied to the connection that fetched them, so if the process dies the server requeues its
tasks at once. One more thread renews the leases of every running task with TOUCH.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import _resp
from ._connection import Link
from ._protocol import Arg, text
from .errors import NoRetry, Retry

if TYPE_CHECKING:
    from .client import App

log = logging.getLogger("eventloop.worker")

FETCH_BLOCK_MS = 500
"""How long one FETCH waits for work, which bounds how long a stop request waits for the fetching threads."""

UNKNOWN_TASK_DELAY_MS = 1000
"""NACK delay for a task this worker has no function for, so it does not bounce between FETCH and NACK."""

_cancel_lock = threading.Lock()  # orders a context's cancellation against the lazy creation of its event


@dataclass(eq=False)
class TaskContext:
    """One delivery of a task, given first to functions registered with ``bind=True``."""

    id: str
    attempt: int
    task: str
    args: list[bytes]
    _cancelled: bool = field(default=False, init=False, repr=False)
    _event: threading.Event | None = field(default=None, init=False, repr=False)  # made by the first wait only

    @property
    def cancelled(self) -> bool:
        """True once the task was cancelled or this delivery's lease was lost: stop working, the result is refused."""
        return self._cancelled

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Sleeps up to ``timeout`` seconds or until :attr:`cancelled`; returns :attr:`cancelled`."""
        with _cancel_lock:
            if self._event is None:
                self._event = threading.Event()
                if self._cancelled:
                    self._event.set()
        return self._event.wait(timeout)

    def _cancel(self) -> None:
        with _cancel_lock:
            self._cancelled = True
            if self._event is not None:
                self._event.set()


class Worker:
    """Runs an app's task functions for tasks FETCHed from ``queues``, ``concurrency`` at a time.

    Each running task's lease (``lease_ms``) is renewed with TOUCH every third of it; a TOUCH that
    answers ``-CANCELLED`` sets the task's :attr:`TaskContext.cancelled`. :meth:`run` returns after
    :meth:`stop` (SIGTERM or SIGINT when run in the main thread): fetching stops, a task fetched after
    that is NACKed, running ones get ``grace_s`` seconds to finish (a second signal cuts it short);
    tasks still running then are requeued by the server when their fetching connections close.
    """

    def __init__(self, app: App, queues: Sequence[str], concurrency: int = 1, *,
                 lease_ms: int = 30_000, grace_s: float = 30.0, prefetch: int = 1) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        if lease_ms < 30:
            raise ValueError("lease_ms must be at least 30")
        if not queues:
            raise ValueError("at least one queue is needed")
        self.app = app
        self.queues = list(queues)
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.lease_ms = lease_ms
        self.grace_s = grace_s
        self._functions = app.tasks
        self._stopping = threading.Event()
        self._hurry = threading.Event()
        self._done = threading.Event()
        self._exited = threading.Condition()  # notified as each fetching thread ends
        self._serving = 0  # fetching threads not yet ended
        self._failure: BaseException | None = None  # what ended a fetching thread early, raised by run
        # each fetching thread's connection (None once the thread ended) and the deliveries it holds, not yet settled
        self._links: list[Link | None] = [None] * concurrency
        self._held: list[list[TaskContext]] = [[] for _ in range(concurrency)]
        self._unknown_tasks: set[str] = set()

    def stop(self) -> None:
        """Asks :meth:`run` to drain and return (thread-safe); a second call skips the grace period."""
        if self._stopping.is_set():
            self._hurry.set()
        self._stopping.set()
        with self._exited:
            self._exited.notify_all()

    def run(self) -> None:
        """Fetches and runs tasks until :meth:`stop`, then drains (see the class docstring)."""
        self._links = self._connect()
        restore = self._install_signal_handlers()
        self._serving = self.concurrency
        threads = [threading.Thread(target=self._serve, args=(slot,), name=f"eventloop-task-{slot}", daemon=True)
                   for slot in range(self.concurrency)]
        threads.append(threading.Thread(target=self._touch_loop, name="eventloop-touch", daemon=True))
        for thread in threads:
            thread.start()
        log.info("worker ready: queues %s, concurrency %d, tasks %s",
                 ",".join(self.queues), self.concurrency, ", ".join(sorted(self._functions)) or "none")
        try:
            self._stopping.wait()
        finally:
            self._stopping.set()  # run interrupted (KeyboardInterrupt outside a signal handler): stop all the same
            finished = self._drain()
            self._done.set()
            if finished:  # else some threads still run abandoned tasks: leave them (they are daemons)
                for thread in threads:
                    thread.join()
            restore()
        if self._failure is not None:
            raise self._failure

    def _connect(self) -> list[Link | None]:
        """A connection for each fetching thread (each on a client of its own, so none is shared)."""
        links: list[Link | None] = []
        try:
            while len(links) < self.concurrency:
                links.append(Link(self.app.new_connection()))
        except BaseException:
            for link in filter(None, links):
                link.close()
            raise
        return links

    def _drain(self) -> bool:
        """Waits for the fetching threads to end; False if some still run a task after the grace period.

        The connections of those threads are shut down, so the server requeues their tasks at once.
        """
        deadline = time.monotonic() + self.grace_s
        with self._exited:
            while self._serving and not self._hurry.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._exited.wait(min(left, 0.5))
            abandoned = [link for link in self._links if link is not None]
            for link in abandoned:  # under the lock: a thread clears its slot under it before closing its link
                link.abort()
            running = sum(len(held) for held in self._held)
        if running:
            log.warning("stopping with %d task(s) still running: the server requeues them", running)
        log.info("worker stopped")
        return not abandoned

    # -- fetching and running --------------------------------------------------------------------

    def _serve(self, slot: int) -> None:
        """One fetching thread: FETCH up to ``prefetch`` tasks, run them, settle them in the same write as the next FETCH."""
        link = self._links[slot]
        assert link is not None
        held = self._held[slot]
        fetch = _resp.encode(["FETCH", "COUNT", self.prefetch, "BLOCK", FETCH_BLOCK_MS, "LEASE", self.lease_ms,
                              "FROM", *self.queues])
        settlements: list[tuple[TaskContext, list[Arg]]] = []  # the last batch's, sent with the next FETCH
        pause = 0.1
        try:
            while not self._stopping.is_set():
                *settled, fetched = link.call_many([command for _, command in settlements] + [fetch])
                for (context, command), reply in zip(settlements, settled):
                    self._settled(slot, context, command, reply)
                settlements = []
                if isinstance(fetched, (RedisConnectionError, RedisTimeoutError)):
                    log.warning("fetch failed (%s); retrying in %.1f s", fetched, pause)
                    self._stopping.wait(pause)
                    pause = min(pause * 2, 5.0)
                    continue
                if isinstance(fetched, ResponseError):
                    raise fetched
                pause = 0.1
                batch = [TaskContext(text(task_id), int(attempt), text(task), args) for task_id, attempt, task, args in fetched]
                held.extend(batch)  # renewed by the TOUCH loop from now on, the ones waiting their turn too
                for context in batch:
                    if self._stopping.is_set():
                        settlements.append((context, ["NACK", context.id, context.attempt]))
                        continue
                    outcome = self._call(context)
                    if outcome is None:  # cancelled or lost: the server refuses any settlement
                        held.remove(context)
                    else:
                        settlements.append((context, outcome))
            if settlements and not self._done.is_set():  # after the drain gave up, they were requeued
                replies = link.call_many([command for _, command in settlements])
                for (context, command), reply in zip(settlements, replies):
                    self._settled(slot, context, command, reply)
        except BaseException as error:  # a bug or a refused FETCH: stop the worker, run() raises it
            self._failure = error
            self.stop()
        finally:
            with self._exited:
                self._serving -= 1
                self._links[slot] = None
                self._exited.notify_all()
            link.close()

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
            command = ["ACK", context.id, context.attempt] if result is None else \
                ["ACK", context.id, context.attempt, _result_word(result)]
        except Retry as retry:
            command = ["NACK", context.id, context.attempt, "DELAY", max(0, int(retry.delay_ms))]
        except NoRetry as error:
            command = ["FAIL", context.id, context.attempt, _error_text(error), "NORETRY"]
        except Exception as error:  # a task's failure, reported to the server
            command = ["FAIL", context.id, context.attempt, _error_text(error)]
        return None if context.cancelled else command

    def _settled(self, slot: int, context: TaskContext, command: list[Arg], reply: Any) -> None:
        if isinstance(reply, ResponseError):
            log.info("%s %s (attempt %d) refused: %s", command[0], context.id, context.attempt, reply)
        elif isinstance(reply, RedisError):
            log.warning("%s %s (attempt %d) not delivered (%s): the task will run again",
                        command[0], context.id, context.attempt, reply)
        self._held[slot].remove(context)

    # -- leases ---------------------------------------------------------------------------------

    def _touch_loop(self) -> None:
        """Renews every held lease each third of ``lease_ms`` on one connection, all TOUCHes in one write."""
        interval = self.lease_ms / 3000
        link: Link | None = None
        try:
            while not self._done.wait(interval):
                held = [context for slot in self._held for context in list(slot)]
                if not held:
                    continue
                try:
                    link = link or Link(self.app.redis)
                except RedisError as error:
                    log.warning("lease renewal failed: %s", error)
                    continue
                self._touch(link, held)
        finally:
            if link is not None:
                link.close()

    def _touch(self, link: Link, held: list[TaskContext]) -> None:
        replies = link.call_many([["TOUCH", c.id, c.attempt, "LEASE", self.lease_ms] for c in held])
        for context, reply in zip(held, replies):
            if isinstance(reply, ResponseError):
                if any(context in slot for slot in self._held):  # else settled meanwhile: the refusal is its ACK's race
                    log.info("task %s (attempt %d): %s, telling its function", context.id, context.attempt, reply)
                    context._cancel()
            elif isinstance(reply, RedisError):
                log.warning("lease renewal failed: %s", reply)
                return

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


def _result_word(result: object) -> Arg:
    if isinstance(result, (bytes, str)):
        return result
    if isinstance(result, (bytearray, memoryview)):
        return bytes(result)
    raise TypeError(f"a task must return bytes, str or None, not {type(result).__name__}")


def _error_text(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
