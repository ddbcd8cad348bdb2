"""Worker processes (``python -m eventloop worker tests_app:app``) against the real server."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

import pytest
import redis

import eventloop
from conftest import WorkerFactory, eventually, start_server
from eventloop import TaskState


def running(handle: eventloop.TaskHandle, attempt: int = 1) -> bool:
    status = handle.status()
    return status is not None and status.state is TaskState.RUNNING and status.attempt == attempt


def test_worker_acks_results_and_fails_with_the_exception_text(
        app: eventloop.App, queue: str, start_worker: WorkerFactory) -> None:
    start_worker("--queues", queue, "--concurrency", "4")
    upper = app.submit("upper", b"hello", queue=queue)
    noop = app.submit("noop", queue=queue)
    boom = app.submit("boom", "bad input", queue=queue, retries=1, backoff_ms=1)
    assert upper.get(timeout=30) == b"HELLO"
    assert noop.get(timeout=30) == b""
    with pytest.raises(eventloop.TaskFailed) as failed:
        boom.get(timeout=30)
    assert failed.value.error == "ValueError: bad input"
    status = boom.status()
    assert status is not None and status.attempt == 2


def test_worker_nacks_tasks_it_has_no_function_for(
        app: eventloop.App, queue: str, start_worker: WorkerFactory) -> None:
    start_worker("--queues", queue)
    orphan = app.submit("no-function-for-this", queue=queue)
    # handed back with NACK (no failure counted, no error) and fetched again after the NACK's delay
    status = eventually(lambda: (s := orphan.status()) and s.attempt >= 2 and s, what="a second delivery")
    assert isinstance(status, eventloop.TaskStatus)
    assert status.error == "" and not status.state.finished


def test_worker_runs_concurrency_tasks_at_once(app: eventloop.App, queue: str, start_worker: WorkerFactory) -> None:
    naps = [app.submit("nap", "1", queue=queue) for _ in range(4)]
    start_worker("--queues", queue, "--concurrency", "4")
    assert app.wait(naps, timeout=40) == 4
    statuses = [n.status() for n in naps]
    assert all(s is not None and s.state is TaskState.SUCCEEDED for s in statuses)
    assert max(s.started_ms for s in statuses if s) < min(s.finished_ms for s in statuses if s)
    # side by side, not one thread's batch after the other: by default slow tasks are fetched one at a time
    assert max(s.finished_ms for s in statuses if s) - min(s.started_ms for s in statuses if s) < 3000


def test_killed_worker_task_is_requeued_at_once_and_completes_elsewhere(
        app: eventloop.App, queue: str, start_worker: WorkerFactory) -> None:
    handle = app.submit("hang_first", queue=queue)
    doomed = start_worker("--queues", queue)
    eventually(lambda: running(handle), what="the first worker to start the task")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    # the lease is 30 s, so a requeue within seconds comes from the closed connection, not an expiry
    status = eventually(lambda: (s := handle.status()) and s.state is TaskState.QUEUED and s, timeout=5,
                        what="the task to be requeued")
    assert isinstance(status, eventloop.TaskStatus)
    assert status.error == "lease lost: the worker's connection closed"
    start_worker("--queues", queue)
    assert handle.get(timeout=30).startswith(b"attempt 2 in ")
    status = handle.status()
    assert status is not None and status.attempt == 2 and status.state is TaskState.SUCCEEDED


def test_sigterm_drains_running_tasks_and_loses_nothing(
        app: eventloop.App, queue: str, start_worker: WorkerFactory) -> None:
    naps = [app.submit("nap", "1.5", queue=queue) for _ in range(6)]
    worker = start_worker("--queues", queue, "--concurrency", "2")
    eventually(lambda: sum(running(n) for n in naps) == 2, what="two running tasks")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    statuses = [n.status() for n in naps]
    finished = [s for s in statuses if s and s.state is TaskState.SUCCEEDED]
    assert len(finished) >= 2 and all(s.attempt == 1 for s in finished)
    assert all(s and s.state in (TaskState.SUCCEEDED, TaskState.QUEUED) for s in statuses)
    start_worker("--queues", queue, "--concurrency", "4")
    assert app.wait(naps, timeout=40) == 6
    assert all(n.get(timeout=1) for n in naps)


def test_touch_keeps_a_long_task_alive_past_its_lease(
        app: eventloop.App, queue: str, start_worker: WorkerFactory) -> None:
    start_worker("--queues", queue, "--lease-ms", "1500")  # renewed every 0.5 s: a stall of 1 s would lose it
    handle = app.submit("nap", "4", queue=queue)
    assert handle.get(timeout=40)
    status = handle.status()
    assert status is not None and status.attempt == 1 and status.error == ""


def test_cancellation_reaches_the_running_function(
        app: eventloop.App, queue: str, start_worker: WorkerFactory, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    start_worker("--queues", queue, "--lease-ms", "900")
    handle = app.submit("until_cancelled", str(marker), queue=queue)
    eventually(lambda: running(handle), what="the task to start")
    assert handle.cancel() is True
    eventually(marker.exists, what="the function to see its cancellation")
    assert marker.read_text() == "cancelled"
    with pytest.raises(eventloop.TaskCancelled):
        handle.get(timeout=5)


def test_worker_in_a_thread_with_retry_and_noretry(app: eventloop.App, queue: str) -> None:
    calls: list[int] = []

    @app.task("flaky", bind=True)
    def flaky(context: eventloop.TaskContext) -> str:
        calls.append(context.attempt)
        if context.attempt == 1:
            raise eventloop.Retry(delay_ms=10)
        return f"ok on {context.attempt}"

    @app.task("hopeless")
    def hopeless() -> None:
        raise eventloop.NoRetry("not worth it")

    @app.task("wrong_type")  # type: ignore[type-var]
    def wrong_type() -> int:
        return 42

    worker = app.worker([queue], concurrency=2, lease_ms=5_000, grace_s=5)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert app.submit("flaky", queue=queue, retries=0).get(timeout=30) == b"ok on 2"
        hopeless_handle = app.submit("hopeless", queue=queue, retries=5)
        with pytest.raises(eventloop.TaskFailed, match="NoRetry: not worth it"):
            hopeless_handle.get(timeout=30)
        status = hopeless_handle.status()
        assert status is not None and status.attempt == 1
        with pytest.raises(eventloop.TaskFailed, match="must return bytes, str or None, not int"):
            app.submit("wrong_type", queue=queue).get(timeout=30)
    finally:
        worker.stop()
        thread.join(30)
    assert not thread.is_alive() and calls == [1, 2]


def test_a_task_fetched_after_stop_is_handed_back(app: eventloop.App, queue: str) -> None:
    @app.task("late")
    def late() -> str:
        return "ran"

    worker = app.worker([queue], lease_ms=30_000)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        eventually(lambda: app.redis.info("workers")["external_blocked_fetchers"] >= 1, what="a blocked FETCH")
        worker.stop()
        handle = app.submit("late", queue=queue)  # reaches the FETCH still parked, or nobody
    finally:
        thread.join(30)
    assert not thread.is_alive()
    status = handle.status()
    assert status is not None and status.state is TaskState.QUEUED and status.attempt in (0, 1)
    again = app.worker([queue])
    thread = threading.Thread(target=again.run)
    thread.start()
    try:
        assert handle.get(timeout=30) == b"ran"
    finally:
        again.stop()
        thread.join(30)


def test_a_task_outliving_the_grace_period_is_handed_back_and_its_late_result_dropped(
        app: eventloop.App, queue: str, caplog: pytest.LogCaptureFixture) -> None:
    started, release, returned = threading.Event(), threading.Event(), threading.Event()
    saw_cancelled: list[bool] = []

    @app.task("stuck", bind=True)
    def stuck(context: eventloop.TaskContext) -> str:
        started.set()
        release.wait(30)
        saw_cancelled.append(context.cancelled)
        returned.set()
        return "too late"

    worker = app.worker([queue], concurrency=2, grace_s=0.3)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        handle = app.submit("stuck", queue=queue)
        assert started.wait(20)  # the function runs (RUNNING alone may be a FETCH reply still on its way)
        worker.stop()
        thread.join(10)
        assert not thread.is_alive()  # returned after the grace period, the function still running
        # NACKed before run returned: queued again, no failure and no lost lease (whose error would say so)
        status = handle.status()
        assert status is not None and status.state is TaskState.QUEUED
        assert status.attempt == 1 and status.error == ""
    finally:
        release.set()
    assert returned.wait(10) and saw_cancelled == [True]
    eventually(lambda: not any(t.name.startswith("eventloop-task-") for t in threading.enumerate()),
               what="the fetching thread to end once its function returned")
    status = handle.status()  # the late result was dropped: the task still waits for a worker
    assert status is not None and status.state is TaskState.QUEUED and status.attempt == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    handle.cancel()


def test_sigterm_nacks_what_outlives_the_grace_period_and_exits_0(
        queue: str, start_worker: WorkerFactory, tmp_path: Path) -> None:
    # A server of its own: its counters are this test's alone, and a single lost lease fails a task outright.
    own = start_server(tmp_path / "server", "--max-lease-losses", "1")
    try:
        with eventloop.App(own.url) as app:
            markers = [tmp_path / f"started-{i}" for i in range(3)]
            handles = [app.submit("slow_first", str(marker), queue=queue) for marker in markers]
            # one FETCH leases all three: the first runs (for 10 min), the other two wait their turn
            worker = start_worker("--url", own.url, "--queues", queue, "--prefetch", "3", "--grace", "1")
            eventually(markers[0].exists, what="the first function to start")
            signalled = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(15) == 0
            assert time.monotonic() - signalled < 10
            assert not any(marker.exists() for marker in markers[1:])
            for handle in handles:  # NACKed, running and waiting alike: back in the queue, nothing counted
                status = handle.status()
                assert status is not None and status.state is TaskState.QUEUED
                assert status.attempt == 1 and status.error == ""
            leases = app.redis.info("workers")
            assert leases["external_leases_total"] == 3 and leases["external_leased_tasks"] == 0
            assert leases["external_leases_lost"] == 0 and leases["external_requeued_on_close"] == 0
            totals = app.redis.info("queueing")
            assert totals["failed_total"] == 0 and totals["retried_total"] == 0
            start_worker("--url", own.url, "--queues", queue)
            assert [h.get(timeout=30).split(b" in ")[0] for h in handles] == [b"attempt 2"] * 3
            assert all((s := h.status()) is not None and s.state is TaskState.SUCCEEDED for h in handles)
    finally:
        own.stop()


def test_the_default_worker_fetches_short_tasks_in_batches(
        queue: str, start_worker: WorkerFactory, tmp_path: Path) -> None:
    tasks = 200
    own = start_server(tmp_path / "server")  # a server of its own: its command count is this test's alone
    try:
        with eventloop.App(own.url) as app:
            handles = [app.submit("noop", queue=queue) for _ in range(tasks)]
            before = app.redis.info("stats")["total_commands_processed"]
            start_worker("--url", own.url, "--queues", queue)  # default concurrency and prefetch
            assert app.wait(handles, timeout=60) == tasks
            commands = app.redis.info("stats")["total_commands_processed"] - before
            leased = app.redis.info("workers")["external_leases_total"]
    finally:
        own.stop()
    assert leased == tasks  # each delivered once
    # One ACK a task, and the FETCHes: one a task with FETCH COUNT 1; in batches, a small fraction of that
    # (the rest is the test's INFO and WAIT, and any FETCH that found nothing).
    fetches = commands - tasks
    assert fetches < tasks / 4, f"{fetches} commands besides the {tasks} ACKs"


def test_a_refused_fetch_stops_the_worker_and_run_raises_it(app: eventloop.App, queue: str) -> None:
    worker = app.worker([queue], concurrency=2, lease_ms=100_000_000)  # past the server's longest lease
    with pytest.raises(redis.ResponseError, match="LEASE"):
        worker.run()


def test_cancellation_wakes_a_waiting_function_whichever_comes_first() -> None:
    early = eventloop.TaskContext("id", 1, "task", [])
    early._cancel()
    assert early.cancelled and early.wait_cancelled(0)

    late = eventloop.TaskContext("id", 1, "task", [])
    assert not late.wait_cancelled(0.01)
    threading.Timer(0.05, late._cancel).start()
    assert late.wait_cancelled(10) and late.cancelled


def test_prefetch_leases_a_batch_per_thread_and_settles_every_task(
        app: eventloop.App, queue: str, start_worker: WorkerFactory) -> None:
    naps = [app.submit("nap", "0.3", queue=queue) for _ in range(8)]
    start_worker("--queues", queue, "--concurrency", "1", "--prefetch", "4")
    # One thread, but its FETCH leased four: they show as running while the first one naps.
    eventually(lambda: sum(running(n) for n in naps) == 4, what="a batch of four leased at once")
    assert app.wait(naps, timeout=40) == 8
    assert all((s := n.status()) is not None and s.state is TaskState.SUCCEEDED and s.attempt == 1 for n in naps)
    assert len({n.get(timeout=5) for n in naps}) == 1  # every one ran in the one worker process


def test_a_stop_hands_back_the_prefetched_tasks_not_started_yet(app: eventloop.App, queue: str) -> None:
    started: list[int] = []

    @app.task("slow_one")
    def slow_one(number: bytes) -> str:
        started.append(int(number))
        threading.Event().wait(0.5)
        return number.decode()

    handles = [app.submit("slow_one", str(i), queue=queue) for i in range(4)]
    worker = app.worker([queue], 1, prefetch=4)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        eventually(lambda: len(started) == 1, what="the first task to start")
        worker.stop()
    finally:
        thread.join(30)
    assert not thread.is_alive()
    assert started == [0] and handles[0].get(timeout=5) == b"0"  # the running one finished within the grace period
    for handle in handles[1:]:  # the others went back to the queue with NACK: no failure, no attempt used up
        status = handle.status()
        assert status is not None and status.state is TaskState.QUEUED and status.attempt == 1 and status.error == ""
    again = app.worker([queue], 2, prefetch=4)
    thread = threading.Thread(target=again.run)
    thread.start()
    try:
        assert [h.get(timeout=30) for h in handles[1:]] == [b"1", b"2", b"3"]
    finally:
        again.stop()
        thread.join(30)


def test_prefetch_must_be_positive(app: eventloop.App) -> None:
    with pytest.raises(ValueError, match="prefetch must be at least 1"):
        app.worker(prefetch=0)
