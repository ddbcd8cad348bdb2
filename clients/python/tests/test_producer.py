"""The producer API against the server's in-process tasks (echo, fail) and tasks no worker takes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import eventloop
from conftest import Server, eventually, start_server
from eventloop import TaskState


def test_submit_returns_a_handle_whose_get_returns_the_result(app: eventloop.App) -> None:
    handle = app.submit("echo", b"\x00binary\xff")
    assert handle.id and handle.id.isascii()
    assert handle.get(timeout=20) == b"\x00binary\xff"


def test_status_is_a_typed_dataclass_and_none_when_unknown(app: eventloop.App, queue: str) -> None:
    handle = app.submit("nobody-runs-this", "x", queue=queue, priority=7)
    status = handle.status()
    assert isinstance(status, eventloop.TaskStatus)
    assert (status.id, status.task, status.queue, status.state) == (handle.id, "nobody-runs-this", queue, TaskState.QUEUED)
    assert (status.attempt, status.priority, status.started_ms, status.finished_ms, status.error) == (0, 7, 0, 0, "")
    assert status.created_ms > 0 and not status.state.finished
    assert app.handle("no-such-id").status() is None


def test_get_raises_task_failed_with_the_error(app: eventloop.App) -> None:
    with pytest.raises(eventloop.TaskFailed) as failed:
        app.submit("fail", "disk full").get(timeout=20)
    assert "disk full" in failed.value.error


def test_retries_run_the_task_again_before_it_fails(app: eventloop.App) -> None:
    handle = app.submit("fail", "flaky", retries=2, backoff_ms=1)
    with pytest.raises(eventloop.TaskFailed):
        handle.get(timeout=30)
    status = handle.status()
    assert status is not None and status.state is TaskState.FAILED and status.attempt == 3
    assert handle in app.dead()


def test_get_raises_timeout_error_while_the_task_is_pending(app: eventloop.App, queue: str) -> None:
    handle = app.submit("nobody-runs-this", queue=queue)
    with pytest.raises(TimeoutError):
        handle.get(timeout=0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        handle.get(timeout=0.3)
    assert time.monotonic() - started >= 0.25


def test_unknown_ids_raise_task_not_found(app: eventloop.App) -> None:
    with pytest.raises(eventloop.TaskNotFound):
        app.handle("no-such-id").get(timeout=1)
    with pytest.raises(eventloop.TaskNotFound):
        app.handle("no-such-id").cancel()


def test_cancel_stops_a_queued_task(app: eventloop.App, queue: str) -> None:
    handle = app.submit("nobody-runs-this", queue=queue)
    assert handle.cancel() is True
    with pytest.raises(eventloop.TaskCancelled):
        handle.get(timeout=5)
    status = handle.status()
    assert status is not None and status.state is TaskState.CANCELLED and status.state.finished
    assert handle.cancel() is False


def test_wait_counts_the_finished_tasks(app: eventloop.App, queue: str) -> None:
    done = [app.submit("echo", str(i)) for i in range(5)]
    pending = app.submit("nobody-runs-this", queue=queue)
    assert app.wait(done, timeout=20) == 5
    assert app.wait([*done, pending, "no-such-id"], timeout=0.2) == 5
    assert app.wait([]) == 0


def test_submit_options_reach_the_server(app: eventloop.App, queue: str) -> None:
    now_ms = int(time.time() * 1000)
    delayed = app.submit("echo", "later", queue=queue, delay_ms=60_000, retries=3, timeout_ms=500, result_ttl_s=5)
    status = delayed.status()
    assert status is not None and status.state is TaskState.SCHEDULED
    assert status.run_at_ms >= now_ms + 59_000
    at = app.submit("echo", queue=queue, at_ms=now_ms + 3_600_000).status()
    assert at is not None and at.state is TaskState.SCHEDULED and at.run_at_ms == now_ms + 3_600_000
    first = app.submit("nobody-runs-this", queue=queue, key="order-42")
    assert app.submit("nobody-runs-this", queue=queue, key="order-42") == first
    with pytest.raises(Exception, match="PRIORITY must be an integer from 0 to 9"):
        app.submit("echo", priority=10)


def test_default_queue_of_the_app(server: Server, queue: str) -> None:
    with eventloop.App(server.url, default_queue=queue) as app:
        status = app.submit("nobody-runs-this").status()
    assert status is not None and status.queue == queue


def test_queues_lists_counts(app: eventloop.App, queue: str) -> None:
    for _ in range(3):
        app.submit("nobody-runs-this", queue=queue)
    app.submit("nobody-runs-this", queue=queue, delay_ms=60_000)
    row = next(q for q in app.queues() if q.name == queue)
    assert row == eventloop.QueueInfo(name=queue, queued=3, running=0, scheduled=1, paused=False)


def test_dead_lists_failed_tasks_by_queue(app: eventloop.App, queue: str) -> None:
    handle = app.submit("fail", "x", queue=queue)
    with pytest.raises(eventloop.TaskFailed):
        handle.get(timeout=20)
    assert app.dead(queue=queue) == [handle]
    assert app.dead(queue=queue, count=1) == [handle]


def test_schedule_every_and_cron_then_unschedule(app: eventloop.App, queue: str) -> None:
    app.schedule(f"{queue}-tick", every_ms=200, task="echo", args=["tick"], queue=queue)
    app.schedule(f"{queue}-nightly", cron="0 3 * * *", tz="Europe/Paris", task="echo")
    listed = {s.name: s for s in app.schedules()}
    assert listed[f"{queue}-tick"].spec == "EVERY 200" and listed[f"{queue}-tick"].task == "echo"
    assert listed[f"{queue}-nightly"].spec == "CRON 0 3 * * * TZ Europe/Paris"
    tick = listed[f"{queue}-tick"].next_fire_ms
    firing = app.handle(f"{queue}-tick@{tick}")
    eventually(firing.status, what="the schedule's firing")  # unknown (nil) until it fires
    assert firing.get(timeout=20) == b"tick"
    assert app.unschedule(f"{queue}-tick") is True
    assert app.unschedule(f"{queue}-nightly") is True
    assert app.unschedule(f"{queue}-nightly") is False
    with pytest.raises(ValueError):
        app.schedule("both", cron="* * * * *", every_ms=1000, task="echo")


def test_redis_url_with_password(tmp_path: Path) -> None:
    secured = start_server(tmp_path, "--requirepass", "s3cret")
    try:
        with eventloop.App(f"redis://:s3cret@{secured.url}/0") as by_url:
            assert by_url.submit("echo", "a").get(timeout=20) == b"a"
        with eventloop.App(secured.url, password="s3cret") as by_keyword:
            assert by_keyword.submit("echo", "b").get(timeout=20) == b"b"
    finally:
        secured.stop()
