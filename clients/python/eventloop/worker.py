"""The worker: runs an app's registered functions for tasks FETCHed from the server, in ``concurrency`` threads.

Each thread fetches a batch of tasks at a time on a connection of its own, runs them one after the other,
and sends their ACKs (FAILs, NACKs) in the same write as its next FETCH: no hand-off between threads and
one round trip per batch. A batch is as large as ``prefetch`` says, else sized from how long the thread's
last batch took (up to :data:`MAX_BATCH`, one task at a time for slow ones).
Leases are tied to the connection that fetched them, so if the process dies the server requeues its
tasks at once. One more thread renews the leases of every task held (running or waiting its turn) with TOUCH.
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

MAX_BATCH = 16
"""The most tasks one FETCH asks for when ``prefetch`` is not set, so one worker holds at most 16 per thread."""

BATCH_BUDGET_S = 0.01
"""When ``prefetch`` is not set, a thread's next FETCH asks for as many tasks as its last batch's pace runs in
this time (1 to :data:`MAX_BATCH`): short tasks come in batches, a result waits about this long at most behind
its batch, and tasks slower than this come one at a time, so one thread does not sit on work others could run."""

HAND_OVER_WAIT_S = FETCH_BLOCK_MS / 1000 + 5
"""After the grace period, how long a stop waits for threads in the middle of a FETCH (or of sending their last
settlements) to end by themselves before it shuts their connections."""

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
        """True once the task was cancelled, this delivery's lease was lost, or the worker stopped and handed the task
        back (its grace period ended): stop working, the result is not sent."""
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


class _Slot:
    """A fetching thread's connection and the deliveries it holds.

    ``lock`` orders the thread's record of each outcome against :meth:`Worker._drain` taking the slot over: once
    ``abandoned``, what the slot held was settled by the drain and the thread sends nothing more.
    """

    __slots__ = ("link", "held", "settlements", "lock", "running", "abandoned")

    def __init__(self, link: Link) -> None:
        self.link: Link | None = link  # None once the thread ended
        self.held: list[TaskContext] = []  # fetched, not settled yet: TOUCHed, the ones waiting their turn too
        self.settlements: list[tuple[TaskContext, list[Arg]]] = []  # outcomes for the next write (still held)
        self.lock = threading.Lock()
        self.running = False  # running a batch (not on the network): the drain may settle for it
        self.abandoned = False


class Worker:
    """Runs an app's task functions for tasks FETCHed from ``queues``, ``concurrency`` at a time.

    Each thread's FETCH asks for ``prefetch`` tasks; by default (None) for 1 to :data:`MAX_BATCH`, as many
    as its last batch's pace runs in :data:`BATCH_BUDGET_S`. Every held task's lease (``lease_ms``), running
    or waiting its turn in a batch, is renewed with TOUCH every third of it; a TOUCH that answers
    ``-CANCELLED`` sets the task's :attr:`TaskContext.cancelled`. :meth:`run` returns after :meth:`stop`
    (SIGTERM or SIGINT when run in the main thread): fetching stops, a task fetched after that is NACKed,
    running ones get ``grace_s`` seconds to finish (a second signal cuts it short). Then every delivery still
    held is settled on a connection of its own: the outcomes not sent yet as they are, the running and the
    waiting tasks with ``NACK`` (back to their queues, no failure and no lost lease counted; their contexts
    are cancelled, and a function that returns later has its result dropped). Nothing is held when it returns
    (if that connection fails, the server requeues the leases as the fetching connections close).
    """

    def __init__(self, app: App, queues: Sequence[str], concurrency: int = 1, *,
                 lease_ms: int = 30_000, grace_s: float = 30.0, prefetch: int | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if prefetch is not None and prefetch < 1:
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
        self._slots: list[_Slot] = []
        self._fetches: dict[int, bytes] = {}  # FETCH encoded once for each batch size
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
        self._slots = [_Slot(link) for link in self._connect()]
        restore = self._install_signal_handlers()
        self._serving = self.concurrency
        threads = [threading.Thread(target=self._serve, args=(slot,), name=f"eventloop-task-{number}", daemon=True)
                   for number, slot in enumerate(self._slots)]
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
            if finished:  # else some threads still run functions whose tasks were handed back: leave them (daemons)
                for thread in threads:
                    thread.join()
            restore()
        if self._failure is not None:
            raise self._failure

    def _connect(self) -> list[Link]:
        """A connection for each fetching thread (each on a client of its own, so none is shared)."""
        links: list[Link] = []
        try:
            while len(links) < self.concurrency:
                links.append(Link(self.app.new_connection()))
        except BaseException:
            for link in links:
                link.close()
            raise
        return links

    # -- stopping -------------------------------------------------------------------------------

    def _drain(self) -> bool:
        """Waits for the fetching threads to end, then settles what they still hold; False if some still run a task.

        After the grace period (or a second stop), threads in the middle of a FETCH get up to
        :data:`HAND_OVER_WAIT_S` to end by themselves (NACKing what it brings), so that none takes back what
        is handed back next; then the slots of threads running a batch are taken over: their outcomes not sent
        yet and NACKs for the rest go out on a connection of the drain's own. The connections still open are
        shut (a thread that did not end in time has its leases requeued by the server).
        """
        self._wait_for(lambda: self._serving == 0, time.monotonic() + self.grace_s, hurried=True)
        deadline = time.monotonic() + HAND_OVER_WAIT_S
        self._wait_for(lambda: all(slot.link is None or slot.running for slot in self._slots), deadline)
        taken = [slot for slot in self._slots if self._take_over(slot)]
        if taken:
            self._hand_back(taken)
        self._wait_for(lambda: all(slot.link is None or slot.abandoned for slot in self._slots), deadline)
        with self._exited:  # a thread clears its slot's link under this lock before closing it
            for slot in self._slots:
                if slot.link is not None:  # abandoned, so it holds nothing now; else its leases are requeued
                    slot.link.abort()
            finished = self._serving == 0
        log.info("worker stopped")
        return finished

    def _wait_for(self, done: Callable[[], bool], deadline: float, hurried: bool = False) -> None:
        """Waits until ``done()`` (checked as fetching threads end, and every 0.5 s) or ``deadline`` (monotonic);
        if ``hurried``, a second :meth:`stop` ends the wait too."""
        with self._exited:
            while not done() and not (hurried and self._hurry.is_set()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._exited.wait(min(left, 0.5))

    def _take_over(self, slot: _Slot) -> bool:
        """Marks the slot abandoned if its thread runs a batch, so it sends nothing more; False if not."""
        with slot.lock:
            if not slot.running or slot.abandoned or slot.link is None:
                return False
            slot.abandoned = True
            return True

    def _hand_back(self, slots: list[_Slot]) -> None:
        """Sends the outcomes the slots did not send yet, and NACKs every other delivery they hold."""
        settlements: list[tuple[TaskContext, list[Arg]]] = []
        undecided: list[TaskContext] = []
        for slot in slots:  # abandoned: their threads no longer change them
            decided = {context for context, _ in slot.settlements}
            settlements += slot.settlements
            undecided += [context for context in slot.held if context not in decided]
        for context in undecided:
            context._cancel()  # its function may look; what it returns is dropped
            settlements.append((context, ["NACK", context.id, context.attempt]))
        log.warning("grace period over: handing back %d task(s) with NACK; results of functions still running "
                    "will be dropped", len(undecided))
        try:
            link = Link(self.app.new_connection())
        except RedisError as error:
            log.warning("could not hand tasks back (%s): the server requeues them as the connections close", error)
            return
        try:
            replies = link.call_many([command for _, command in settlements])
        finally:
            link.close()
        for (context, command), reply in zip(settlements, replies):
            self._settled(context, command, reply)
        for slot in slots:
            slot.held.clear()
            slot.settlements.clear()

    # -- fetching and running --------------------------------------------------------------------

    def _fetch(self, count: int) -> bytes:
        """The FETCH command for ``count`` tasks, encoded once."""
        command = self._fetches.get(count)
        if command is None:
            command = self._fetches[count] = _resp.encode(
                ["FETCH", "COUNT", count, "BLOCK", FETCH_BLOCK_MS, "LEASE", self.lease_ms, "FROM", *self.queues])
        return command

    def _serve(self, slot: _Slot) -> None:
        """One fetching thread: FETCH a batch, run it, settle it in the same write as the next FETCH."""
        link = slot.link
        assert link is not None
        count = self.prefetch or 1
        pause = 0.1
        try:
            while True:
                stopping = self._stopping.is_set()
                with slot.lock:
                    slot.running = False
                    if slot.abandoned:
                        break
                    settlements, slot.settlements = slot.settlements, []
                commands: list[list[Arg] | bytes] = [command for _, command in settlements]
                if stopping:
                    if commands:
                        for (context, command), reply in zip(settlements, link.call_many(commands)):
                            self._settled(context, command, reply, slot)
                    break
                *settled, fetched = link.call_many([*commands, self._fetch(count)])
                for (context, command), reply in zip(settlements, settled):
                    self._settled(context, command, reply, slot)
                if isinstance(fetched, (RedisConnectionError, RedisTimeoutError)):
                    log.warning("fetch failed (%s); retrying in %.1f s", fetched, pause)
                    self._stopping.wait(pause)
                    pause = min(pause * 2, 5.0)
                    continue
                if isinstance(fetched, ResponseError):
                    raise fetched
                pause = 0.1
                batch = [TaskContext(text(task_id), int(attempt), text(task), args) for task_id, attempt, task, args in fetched]
                if not batch:
                    continue
                with slot.lock:
                    slot.held.extend(batch)  # renewed by the TOUCH loop from now on, the ones waiting their turn too
                    slot.running = True
                began = time.monotonic()
                for context in batch:
                    outcome: list[Arg] | None = \
                        ["NACK", context.id, context.attempt] if self._stopping.is_set() else self._call(context)
                    with slot.lock:
                        if slot.abandoned:  # the drain handed the batch back: drop the outcome
                            break
                        if outcome is None:  # cancelled or lost: the server refuses any settlement
                            slot.held.remove(context)
                        else:
                            slot.settlements.append((context, outcome))
                if self.prefetch is None:
                    count = _batch_size(len(batch), time.monotonic() - began)
        except BaseException as error:  # a bug or a refused FETCH: stop the worker, run() raises it
            self._failure = error
            self.stop()
        finally:
            with self._exited:
                self._serving -= 1
                slot.link = None
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

    def _settled(self, context: TaskContext, command: list[Arg], reply: Any, slot: _Slot | None = None) -> None:
        """Logs a refused or undelivered settlement (``-STALE``: the delivery was no longer current, nothing to do)
        and stops holding the delivery in ``slot``."""
        if isinstance(reply, ResponseError):
            log.info("%s %s (attempt %d) refused: %s", command[0], context.id, context.attempt, reply)
        elif isinstance(reply, RedisError):
            log.warning("%s %s (attempt %d) not delivered (%s): the task will run again",
                        command[0], context.id, context.attempt, reply)
        if slot is not None:
            slot.held.remove(context)

    # -- leases ---------------------------------------------------------------------------------

    def _touch_loop(self) -> None:
        """Renews every held lease each third of ``lease_ms`` on one connection, all TOUCHes in one write."""
        interval = self.lease_ms / 3000
        link: Link | None = None
        try:
            while not self._done.wait(interval):
                held = [context for slot in self._slots for context in list(slot.held)]
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
                if any(context in slot.held for slot in self._slots):  # else settled meanwhile: its ACK's race
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


def _batch_size(tasks: int, seconds: float) -> int:
    """The next FETCH's COUNT after a batch of ``tasks`` ran in ``seconds`` (see :data:`BATCH_BUDGET_S`)."""
    if seconds <= 0:
        return MAX_BATCH
    return max(1, min(MAX_BATCH, int(BATCH_BUDGET_S * tasks / seconds)))


def _result_word(result: object) -> Arg:
    if isinstance(result, (bytes, str)):
        return result
    if isinstance(result, (bytearray, memoryview)):
        return bytes(result)
    raise TypeError(f"a task must return bytes, str or None, not {type(result).__name__}")


def _error_text(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
